"""Settings for the whole project, read from environment variables.

Defaults are safe for local use: SQLite and files under var/, an embedded Celery broker that
needs no server. docker/.env.example lists every variable read here.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from csp.constants import NONE as CSP_NONE
from csp.constants import SELF as CSP_SELF
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var"))).resolve()

# The default key is for local use only; its "django-insecure-" prefix makes
# `manage.py check --deploy` refuse it. Production: DJANGO_SECRET_KEY or DJANGO_SECRET_KEY_FILE.
SECRET_KEY = env_str(
    "DJANGO_SECRET_KEY", "django-insecure-local-only-key-change-me-in-production-0123456789"
)
DEBUG = env_bool("DJANGO_DEBUG", True)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "template_partials",
    "django_htmx",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI files for the API page, served locally
    "csp",
    "curation",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "curation.middleware.LoginRateLimitMiddleware",
    "curation.middleware.RejectNulBytesMiddleware",
    "curation.middleware.BadParameterMiddleware",
    "curation.middleware.DatabaseErrorMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["template_partials.templatetags.partials"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0),
        # A persistent connection the server dropped is replaced at the next request.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker write to the same file: WAL lets readers go on while
    # one writes, and IMMEDIATE transactions wait for the lock instead of failing mid-way.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so tests with several threads or a worker process share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# The cache holds rendered dashboard boards (and failed-login counters with
# CURATION_LOGIN_STORE=cache): one per process by default; give several web processes a
# shared one (redis://…) so a board is rendered once for all of them, and sessions are read
# from it.
CACHE_URL = env_str("CACHE_URL")
SHARED_CACHE = CACHE_URL.startswith(("redis://", "rediss://"))
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if SHARED_CACHE
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
# Sessions: read through the cache when every process shares it (a query less per request);
# with per-process caches a logout in one process would not reach the others, so the
# database alone.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cached_db"
    if SHARED_CACHE
    else "django.contrib.sessions.backends.db"
)

AUTHENTICATION_BACKENDS = ["curation.login_limit.RateLimitedModelBackend"]
# Failed log-ins within the window that lock: one username from one address, one username
# from any address, one address for any usernames (curation/login_limit.py).
CURATION_LOGIN_MAX_FAILURES = env_int("CURATION_LOGIN_MAX_FAILURES", 5)
CURATION_LOGIN_MAX_FAILURES_PER_USERNAME = env_int("CURATION_LOGIN_MAX_FAILURES_PER_USERNAME", 10)
CURATION_LOGIN_MAX_FAILURES_PER_ADDRESS = env_int("CURATION_LOGIN_MAX_FAILURES_PER_ADDRESS", 20)
CURATION_LOGIN_WINDOW_SECONDS = env_int("CURATION_LOGIN_WINDOW_SECONDS", 900)
# Where failed log-ins are counted: "database" (every process and machine sees them) or
# "cache" (Django's cache: shared only when CACHE_URL points at Redis; check --deploy warns).
CURATION_LOGIN_STORE = env_str("CURATION_LOGIN_STORE", "database")
if CURATION_LOGIN_STORE not in ("database", "cache"):
    raise ImproperlyConfigured(
        f"CURATION_LOGIN_STORE={CURATION_LOGIN_STORE!r}: give 'database' or 'cache'"
    )
# Reverse proxies in front of the app that append to X-Forwarded-For (0: use REMOTE_ADDR).
DJANGO_NUM_PROXIES = env_int("DJANGO_NUM_PROXIES", 0)
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "curation:dataset_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Outside VAR_DIR in images: collectstatic runs at build time, VAR_DIR is a volume.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
MEDIA_URL = "media/"
MEDIA_ROOT = VAR_DIR / "media"

# Storage: local files under var/media by default; S3 (any S3-compatible server) when a
# bucket is configured. Originals, thumbnails and model artifacts all go through it.
AWS_STORAGE_BUCKET_NAME = env_str("AWS_STORAGE_BUCKET_NAME")
AWS_S3_ENDPOINT_URL = env_str("AWS_S3_ENDPOINT_URL") or None
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME", "us-east-1")
AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID") or None
AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY") or None
if AWS_STORAGE_BUCKET_NAME:
    default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": AWS_S3_ENDPOINT_URL,
            "region_name": AWS_S3_REGION_NAME,
            "access_key": AWS_ACCESS_KEY_ID,
            "secret_key": AWS_SECRET_ACCESS_KEY,
            "file_overwrite": True,  # content-addressed keys: same key means same bytes
            "querystring_auth": True,
        },
    }
else:
    default_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": f"/{MEDIA_URL}"},
    }
STORAGES = {
    "default": default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Where `s3://bucket/prefix/` import sources are read from (defaults to the storage's server).
CURATION_SOURCE_S3_ENDPOINT_URL = env_str("CURATION_SOURCE_S3_ENDPOINT_URL") or AWS_S3_ENDPOINT_URL

# Image intake limits.
CURATION_MAX_IMAGE_PIXELS = env_int("CURATION_MAX_IMAGE_PIXELS", 40_000_000)
CURATION_MAX_FILE_MB = env_int("CURATION_MAX_FILE_MB", 50)
# How long a crowd export's signed image links work.
CURATION_CROWD_LINK_HOURS = env_int("CURATION_CROWD_LINK_HOURS", 168)
CURATION_MAX_UPLOAD_MB = env_int("CURATION_MAX_UPLOAD_MB", 200)
# Promoted models a web process keeps loaded for classifying photos (LRU, by run id).
CURATION_CLASSIFY_CACHE_MODELS = env_int("CURATION_CLASSIFY_CACHE_MODELS", 8)
# Folders an import started from the web page may read: by default only var/catalogs, a drop
# folder (a .zip upload or s3:// work from anywhere). The command line is not limited:
# whoever runs it has the server's files anyway.
CURATION_IMPORT_ROOTS = env_list("CURATION_IMPORT_ROOTS", [str(VAR_DIR / "catalogs")])
# The only folder a weights_path given through the page or the API may name (the command
# line, again, is not limited).
CURATION_WEIGHTS_DIR = Path(env_str("CURATION_WEIGHTS_DIR", str(VAR_DIR / "weights")))
CURATION_THUMBNAIL_PX = env_int("CURATION_THUMBNAIL_PX", 160)
# Side of the square the similarity embedder sees (pretrained EfficientNet-Lite0 backbone);
# smaller is faster on CPU workers.
CURATION_EMBED_SIZE = env_int("CURATION_EMBED_SIZE", 128)
CURATION_IMPORT_WORKERS = env_int("CURATION_IMPORT_WORKERS", 2)
CURATION_DEFAULT_TEST_FRACTION = env_float("CURATION_DEFAULT_TEST_FRACTION", 0.2)
# A running training run whose heartbeat is older than this is taken as orphaned (its worker
# died) and is resumed from its last checkpoint by the next worker that starts.
CURATION_RUN_STALE_SECONDS = env_int("CURATION_RUN_STALE_SECONDS", 60)
CURATION_RUNS_DIR = Path(env_str("CURATION_RUNS_DIR", str(VAR_DIR / "runs")))
# Scoring jobs (the promoted models over new arrivals): the queue they go to ("train", the
# GPU workers, or "cpu"; `make run` starts a worker on each), the device, the decode
# processes per job (0 decodes in the worker itself) and the batch size.
CURATION_SCORE_QUEUE = env_str("CURATION_SCORE_QUEUE", "train")
if CURATION_SCORE_QUEUE not in ("train", "cpu"):
    raise ValueError(f"CURATION_SCORE_QUEUE={CURATION_SCORE_QUEUE!r}: use train or cpu")
CURATION_SCORE_DEVICE = env_str("CURATION_SCORE_DEVICE", "auto")
CURATION_SCORE_WORKERS = env_int("CURATION_SCORE_WORKERS", 0)
CURATION_SCORE_BATCH_SIZE = env_int("CURATION_SCORE_BATCH_SIZE", 128)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# The largest JSON body the API reads (a bigger one is a 413); no body it takes comes near.
CURATION_API_MAX_JSON_BYTES = env_int("CURATION_API_MAX_JSON_BYTES", 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Where uploads larger than FILE_UPLOAD_MAX_MEMORY_SIZE are spooled ([] = the system's).
FILE_UPLOAD_TEMP_DIR = env_str("DJANGO_FILE_UPLOAD_TEMP_DIR") or None
# Largest body of any request but an upload page's (forms, JSON), refused with a 413 before a
# byte past it is read (config/body_limit.py, which also holds the upload pages' limits).
CURATION_MAX_BODY_KB = env_int("CURATION_MAX_BODY_KB", 1024)

# Celery. The default broker is kombu's filesystem transport under var/: a real worker
# process, no server. Point CELERY_BROKER_URL at redis:// or amqp:// in production.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {
    # Longer than the longest training run, so an unacked long task is not redelivered early.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 24 * 3600),
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    broker_dir = VAR_DIR / "broker"
    for sub in ("queue", "processed", "control"):
        (broker_dir / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS.update(
        data_folder_in=str(broker_dir / "queue"),
        data_folder_out=str(broker_dir / "queue"),
        processed_folder=str(broker_dir / "processed"),
        control_folder=str(broker_dir / "control"),
        store_processed=False,
    )
CELERY_TASK_IGNORE_RESULT = True  # job state lives on rows, not in a result backend
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_ROUTES = {"curation.train_*": {"queue": "train"}}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A broker restart: workers reconnect for ever (None), and a running task is left to finish;
# its late ack may be lost, and the redelivery is a no-op because tasks are idempotent.
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Publishing while the broker is down gives up after a few seconds with a clear error.
CELERY_BROKER_CONNECTION_TIMEOUT = 4
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 3,
    "interval_start": 0.2,
    "interval_step": 0.5,
    "interval_max": 1,
}
# Celery beat (one `celery -A config beat` process per deployment): every minute it starts
# the datasets' scheduled re-syncs that are due (curation/services/dataset_sync.py); every
# CURATION_SWEEP_SECONDS it re-queues training runs and scoring jobs whose heartbeat went
# stale, so a run whose worker died is resumed by a live worker without waiting for the
# broker's visibility timeout or for a worker to start.
CURATION_SWEEP_SECONDS = env_int("CURATION_SWEEP_SECONDS", 60)
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-jobs": {
        "task": "curation.sweep_stale_jobs",
        "schedule": float(CURATION_SWEEP_SECONDS),
        # A sweep that waited longer than its interval is superseded by the next one.
        "options": {"queue": "cpu", "expires": float(CURATION_SWEEP_SECONDS)},
    },
    # Datasets with a scheduled re-sync (Dataset.sync_every_minutes) that are due.
    "resync-datasets": {
        "task": "curation.resync_datasets",
        "schedule": 60.0,
        "options": {"queue": "cpu", "expires": 60.0},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = env_str(
    "CELERY_BEAT_SCHEDULE_FILENAME", str(VAR_DIR / "celerybeat-schedule")
)

REST_FRAMEWORK = {
    # Token first: a request with no credentials gets a 401 that names the scheme
    # (WWW-Authenticate: Token); a browser's session is still read after it.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # JSON with size and depth limits (curation/api/parsers.py), forms, uploads.
    "DEFAULT_PARSER_CLASSES": [
        "curation.api.parsers.LimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    # Every error JSON, ours and Django's request-size refusals included.
    "EXCEPTION_HANDLER": "curation.api.errors.exception_handler",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "curation.api.openapi.ApiAutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fashion label QA API",
    "DESCRIPTION": "Catalog, labels and label history for fashion attribute classifiers.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "ENUM_NAME_OVERRIDES": {"LabelSourceEnum": "curation.models.LabelSource"},
}

SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
# Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it from clients).
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REDIRECT_EXEMPT = [r"^healthz/$"]  # load balancers probe over plain HTTP
SECURE_CONTENT_TYPE_NOSNIFF = True

# Content-Security-Policy on every response (django-csp) that hasn't set its own (the image
# views send a stricter one): scripts and styles from this origin only, so no inline
# <script>, no on...= handlers and no style="..." attributes (data-driven sizes are set by
# static/js through the CSSOM); images from this origin and data: URIs (the classify page's
# crop preview). DJANGO_CSP_REPORT_ONLY=true sends it as Content-Security-Policy-Report-Only
# instead, to try a change to the policy without breaking pages.
_CSP = {
    "DIRECTIVES": {
        "default-src": [CSP_SELF],
        "script-src": [CSP_SELF],
        "style-src": [CSP_SELF],
        "img-src": [CSP_SELF, "data:"],
        "font-src": [CSP_SELF],
        "connect-src": [CSP_SELF],
        "object-src": [CSP_NONE],
        "base-uri": [CSP_NONE],
        "form-action": [CSP_SELF],
        "frame-ancestors": [CSP_NONE],
    }
}
if env_bool("DJANGO_CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}

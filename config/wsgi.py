import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_app = get_wsgi_application()

from config.body_limit import BodyLimit  # noqa: E402  (reads settings: after Django's setup)

# Request-body limits come first: a body past its URL's limit is refused before Django (and
# its CSRF middleware) reads a byte of it.
application = BodyLimit(django_app)

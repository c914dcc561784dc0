"""Security: every URL needs a login, every write needs its role, CSRF is enforced, log-ins
are rate limited, uploads and source paths are bounded and kept inside their roots."""

from __future__ import annotations

import io
import re
import uuid
import zipfile

import pytest
from django.apps import apps
from django.core.cache import cache
from django.db.models import Sum
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern
from rest_framework.test import APIClient

from curation.models import Annotation, ImportJob, Label, LabelEvent, TrainingRun
from curation.services.runs.classifier_start import start_training_run
from curation.services.sources import SourceError, UnsafePath, clean_relpath, open_source

pytestmark = pytest.mark.django_db

PUBLIC = {"login", "healthz"}  # reachable without a login, on purpose
# A crowd export's image link: its signature is the access check (expired 410, forged 403;
# tests/curation/views/test_review_batches.py), so an outside crowd needs no account.
SIGNED = {"curation:crowd_image"}
# A person's own bookmarks, not the catalog: a viewer may save a gallery view.
OWN = {"curation:saved_view_save"}
PARAM = re.compile(r"<(?:(?P<converter>\w+):)?(?P<name>\w+)>")


def _routes(patterns=None, prefix: str = "", namespace: str = ""):
    """(route template, url name) for every URL outside the Django admin."""
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if pattern.app_name == "admin":
                continue  # the admin has its own login; checked in test_the_admin_needs_staff
            ns = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            assert isinstance(pattern.pattern, RoutePattern), (
                f"{pattern} is a regex route: teach this test how to fill it in"
            )
            yield prefix + str(pattern.pattern), f"{namespace}{pattern.name}"


ROUTES = sorted(set(_routes()))
PRIVATE = [(route, name) for route, name in ROUTES if name not in PUBLIC | SIGNED]
WRITABLE = [(route, name) for route, name in PRIVATE if name not in {"logout"} | OWN]


@pytest.fixture
def objects(imported, data_scientist):
    """Real objects for every URL parameter, so a view can't answer 404 before its checks."""
    image = imported.images.order_by("id").first()
    attribute = imported.attributes.get(name="neckline")
    run = start_training_run(
        dataset=imported, attribute=attribute, options={"epochs": 1}, actor=data_scientist
    )
    job = ImportJob.objects.create(source="/nowhere", dataset_name="dresses")
    values = {
        "name": imported.name,
        "attribute": attribute.name,
        "image_id": image.pk,
        "event_id": LabelEvent.objects.filter(image=image).first().pk,
        "label_id": attribute.labels.first().pk,
        "run_id": run.pk,
        "job_id": job.pk,
    }
    return values


def _fill(route: str, values: dict) -> str:
    """The URL for a route template: real objects where known, placeholders elsewhere."""

    def value(match: re.Match) -> str:
        if match["name"] in values:
            return str(values[match["name"]])
        return {"int": "1", "uuid": str(uuid.uuid4())}.get(match["converter"] or "str", "x")

    return "/" + PARAM.sub(value, route)


def _state() -> tuple:
    """Row counts of every app table, label versions and label order: any write changes it."""
    counts = tuple(m.objects.count() for m in apps.get_app_config("curation").get_models())
    versions = Annotation.objects.aggregate(v=Sum("version"))["v"]
    order = tuple(Label.objects.order_by("id").values_list("position", flat=True))
    runs = tuple(TrainingRun.objects.order_by("id").values_list("status", "cancel_requested"))
    return counts, versions, order, runs


def _anonymous_problems(client, route: str, url: str) -> list[str]:
    problems, refused = [], 0
    for method in ("get", "post"):
        response = getattr(client, method)(url)
        status, where = response.status_code, response.get("Location", "")
        if route.startswith("api/"):
            ok = status in (401, 403)
        elif status == 405:
            continue  # that method is not served at all
        else:
            ok = status == 302 and where.startswith("/login/")
        refused += ok
        if not ok:
            problems.append(f"anonymous {method.upper()} {url} gave {status} {where}")
    if not refused and not problems:
        problems.append(f"{url} refused neither GET nor POST")
    return problems


def test_every_url_needs_a_login(objects):
    """Walks every route of the URLconf (one test, so the objects are made once)."""
    client = Client()
    problems = [
        p for route, _ in PRIVATE for p in _anonymous_problems(client, route, _fill(route, objects))
    ]
    assert len(PRIVATE) >= 30 and not problems, "\n".join(problems)


def test_the_public_urls_are_only_login_and_health(client):
    assert {name for _, name in ROUTES} & PUBLIC == PUBLIC
    assert client.get("/login/").status_code == 200
    assert client.get("/healthz/").content == b"ok\n"


def test_the_admin_needs_staff(client, viewer):
    for url in ("/admin/", "/admin/auth/user/", "/admin/curation/labelevent/"):
        assert client.get(url)["Location"].startswith("/admin/login/")
    client.force_login(viewer)
    assert client.get("/admin/auth/user/")["Location"].startswith("/admin/login/")


def test_a_viewer_can_write_nothing(objects, viewer):
    """Any unsafe request by a viewer, to any route, is refused with a 4xx (403 once the
    request is well formed: test_each_write_needs_its_role) and changes nothing."""
    client = APIClient()
    client.force_login(viewer)
    before = _state()
    problems = []
    for route, _ in WRITABLE:
        url = _fill(route, objects)
        methods = ("post", "put", "patch", "delete") if route.startswith("api/") else ("post",)
        for method in methods:
            status = getattr(client, method)(url, {}, format="json").status_code
            if not 400 <= status < 500:
                problems.append(f"viewer {method.upper()} {url} gave {status}, not a 4xx")
    assert not problems, "\n".join(problems)
    assert _state() == before


def _named_writes(v: dict) -> list[tuple[str, str, str, dict, str]]:
    """(what, method, url, body, least role allowed) for each write the issue names."""
    return [
        (
            "relabel",
            "post",
            f"/images/{v['image_id']}/relabel/",
            {"attribute": "neckline", "label": str(v["label_id"])},
            "merchandiser",
        ),
        ("revert", "post", f"/history/{v['event_id']}/revert/", {}, "merchandiser"),
        (
            "retrain page",
            "get",
            f"/datasets/{v['name']}/attributes/neckline/retrain/",
            {},
            "data_scientist",
        ),
        (
            "retrain",
            "post",
            f"/datasets/{v['name']}/attributes/neckline/retrain/",
            {
                "arch": "resnet18",
                "epochs": 1,
                "image_size": 16,
                "class_weighting": "none",
                "cv_folds": 2,
            },
            "data_scientist",
        ),
        ("cancel", "post", f"/runs/{v['run_id']}/cancel/", {}, "data_scientist"),
        ("promote", "post", f"/runs/{v['run_id']}/promote/", {}, "data_scientist"),
        ("import page", "get", "/import/", {}, "data_scientist"),
        (
            "import",
            "post",
            "/import/",
            {"dataset": "other", "source": "/nowhere", "create": "on"},
            "data_scientist",
        ),
        (
            "label move",
            "post",
            f"/datasets/{v['name']}/labels/{v['label_id']}/move/",
            {"direction": "down"},
            "data_scientist",
        ),
        (
            "api relabel",
            "patch",
            f"/api/images/{v['image_id']}/labels/",
            {"attribute": "neckline", "label": "boat"},
            "merchandiser",
        ),
        (
            "api retrain",
            "post",
            "/api/runs/",
            {"dataset": v["name"], "attribute": "neckline", "options": {"epochs": 1}},
            "data_scientist",
        ),
        ("api cancel", "post", f"/api/runs/{v['run_id']}/cancel/", {}, "data_scientist"),
        ("api promote", "post", f"/api/runs/{v['run_id']}/promote/", {}, "data_scientist"),
        (
            "auto-accept target",
            "post",
            f"/datasets/{v['name']}/attributes/neckline/auto-accept/",
            {"target": "0.95"},
            "data_scientist",
        ),
        (
            "auto-accept apply",
            "post",
            f"/datasets/{v['name']}/attributes/neckline/auto-accept/apply/",
            {"confirm": "yes"},
            "data_scientist",
        ),
    ]


ROLE_ORDER = ["viewer", "merchandiser", "data_scientist"]
WRITES = [
    w[0]
    for w in _named_writes(dict.fromkeys(["image_id", "event_id", "name", "run_id", "label_id"], 0))
]


@pytest.mark.parametrize("what", WRITES)
def test_each_write_needs_its_role(objects, viewer, merchandiser, data_scientist, what):
    users = {"viewer": viewer, "merchandiser": merchandiser, "data_scientist": data_scientist}
    _, method, url, body, least = next(w for w in _named_writes(objects) if w[0] == what)
    for role in ROLE_ORDER[: ROLE_ORDER.index(least)]:
        client = APIClient()
        client.force_login(users[role])
        before = _state()
        response = getattr(client, method)(url, body, **_extra(url))
        assert response.status_code == 403, f"{role} {what}: {response.status_code}"
        assert _state() == before, f"{role} {what} changed something"
    client = APIClient()
    client.force_login(users[least])
    response = getattr(client, method)(url, body, **_extra(url))
    assert response.status_code != 403, f"{least} may {what}, but got 403"


def _extra(url: str) -> dict:
    if url.startswith("/api/"):
        return {"format": "json", "HTTP_IF_MATCH": '"1"'}
    return {}


def _csrf_client(user) -> Client:
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def test_a_page_post_without_the_csrf_token_is_refused(objects, merchandiser):
    client = _csrf_client(merchandiser)
    url = f"/images/{objects['image_id']}/relabel/"
    body = {"attribute": "neckline", "label": str(objects["label_id"])}
    before = _state()
    assert client.post(url, body).status_code == 403
    assert _state() == before
    client.get(f"/images/{objects['image_id']}/")  # sets the csrftoken cookie
    token = client.cookies["csrftoken"].value
    assert client.post(url, {**body, "csrfmiddlewaretoken": token}).status_code == 302
    assert client.post(url, body, HTTP_X_CSRFTOKEN=token).status_code == 302  # htmx's way


def test_an_api_write_with_a_session_needs_the_csrf_token(objects, merchandiser):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(merchandiser)
    url = f"/api/images/{objects['image_id']}/labels/"
    body = {"attribute": "neckline", "label": "boat"}
    response = client.patch(url, body, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]


def test_an_api_write_with_a_token_needs_no_csrf_token(objects, merchandiser):
    from rest_framework.authtoken.models import Token

    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=merchandiser).key}")
    url = f"/api/images/{objects['image_id']}/labels/"
    response = client.patch(
        url, {"attribute": "neckline", "label": "boat"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 200


def test_the_login_form_needs_the_csrf_token(merchandiser):
    client = Client(enforce_csrf_checks=True)
    body = {"username": "max_merch", "password": "max_merch-password"}
    assert client.post("/login/", body).status_code == 403


@pytest.fixture
def fresh_limits(settings):
    settings.CURATION_LOGIN_MAX_FAILURES = 3
    settings.CURATION_LOGIN_WINDOW_SECONDS = 60
    cache.clear()
    yield
    cache.clear()


def _login(client, username, password, ip="10.0.0.1", path="/login/"):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_failed_logins_lock_that_username_from_that_address(fresh_limits, merchandiser):
    client = Client()
    for _ in range(3):
        assert _login(client, "max_merch", "wrong").status_code == 200  # the form, with an error
    locked = _login(client, "max_merch", "max_merch-password")
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    page = locked.content.decode()
    assert "Too many failed log-ins for &#x27;max_merch&#x27;" in page and "1 minute" in page
    # The right password doesn't get through while locked, even on the admin's form.
    assert (
        _login(client, "max_merch", "max_merch-password", path="/admin/login/").status_code == 429
    )
    assert "_auth_user_id" not in client.session
    # Another address, or another username from this address, is not locked.
    assert _login(Client(), "max_merch", "max_merch-password", ip="10.0.0.2").status_code == 302
    assert _login(Client(), "someone", "wrong").status_code == 200


def test_the_lock_ends_after_the_window(fresh_limits, merchandiser, monkeypatch):
    import time

    client = Client()
    for _ in range(3):
        _login(client, "max_merch", "wrong")
    assert _login(client, "max_merch", "max_merch-password").status_code == 429
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 61)
    assert _login(client, "max_merch", "max_merch-password").status_code == 302


def test_a_successful_login_resets_the_count(fresh_limits, merchandiser):
    client = Client()
    for _ in range(2):
        _login(client, "max_merch", "wrong")
    assert _login(client, "max_merch", "max_merch-password").status_code == 302
    client = Client()
    for _ in range(2):
        assert _login(client, "max_merch", "wrong").status_code == 200
    assert _login(client, "max_merch", "max_merch-password").status_code == 302


def test_behind_proxies_the_client_address_comes_from_x_forwarded_for(fresh_limits, settings):
    from django.test import RequestFactory

    from curation.login_limit import client_ip

    settings.DJANGO_NUM_PROXIES = 1
    request = RequestFactory().post(
        "/login/", REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7"
    )
    assert client_ip(request) == "203.0.113.7"  # the entry our proxy added; the left is forgeable
    settings.DJANGO_NUM_PROXIES = 0
    assert client_ip(request) == "10.9.9.9"


def test_an_oversized_upload_is_refused_before_it_is_read(client, data_scientist, settings):
    settings.CURATION_MAX_UPLOAD_MB = 1
    client.force_login(data_scientist)
    big = io.BytesIO(b"\0" * (2 * 1024 * 1024 + 10))
    big.name = "catalog.zip"
    response = client.post("/import/", {"dataset": "big", "upload": big})
    assert response.status_code == 413 and "the limit is 1 MB" in response.content.decode()
    assert not ImportJob.objects.exists()
    assert not (settings.VAR_DIR / "uploads").exists() or not any(
        (settings.VAR_DIR / "uploads").iterdir()
    )


def test_a_zip_that_unpacks_too_large_is_refused(client, data_scientist, settings):
    settings.CURATION_MAX_UPLOAD_MB = 1
    client.force_login(data_scientist)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("labels.csv", "path\n")
        archive.writestr("zeros.png", b"\0" * (3 * 1024 * 1024))  # compresses to a few KB
    buffer.seek(0)
    buffer.name = "bomb.zip"
    response = client.post("/import/", {"dataset": "bomb", "upload": buffer})
    assert response.status_code == 400 and "unpacks to more than 1 MB" in response.content.decode()
    assert not any((settings.VAR_DIR / "uploads").iterdir())


def test_the_import_page_reads_only_under_the_import_roots(
    client, data_scientist, settings, small_catalog, tmp_path
):
    settings.CURATION_IMPORT_ROOTS = [str(tmp_path / "allowed")]
    client.force_login(data_scientist)
    for source in (str(small_catalog), "/etc/passwd", str(tmp_path / "allowed" / ".." / "catalog")):
        response = client.post("/import/", {"dataset": "x", "source": source, "create": "on"})
        assert response.status_code == 400 and "CURATION_IMPORT_ROOTS" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_decoding_is_guarded_against_decompression_bombs(settings):
    from PIL import Image as PILImage

    from curation.imaging import Rejection, inspect_image

    assert PILImage.MAX_IMAGE_PIXELS is not None  # Pillow's own guard is on
    out = io.BytesIO()
    PILImage.new("1", (8000, 8000)).save(out, format="PNG")  # 64 Mpx in a few KB
    result = inspect_image(out.getvalue(), name="a.png", max_pixels=40_000_000)
    assert isinstance(result, Rejection) and "decompression bomb" in result.reason
    svg = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
    assert "unsupported file extension" in inspect_image(svg, name="x.svg", max_pixels=1).reason


@pytest.mark.parametrize(
    "raw", ["../x.png", "a/../../x.png", "/etc/passwd", "C:/x.png", "a\\..\\x.png", "a\x00.png", ""]
)
def test_manifest_paths_cannot_leave_the_catalog(raw):
    with pytest.raises(UnsafePath):
        clean_relpath(raw)


@pytest.mark.parametrize(
    "uri", ["s3://bucket/../other/", "s3://bucket/a/../../other/labels.csv", "s3://bucket/./x/"]
)
def test_s3_sources_cannot_leave_their_prefix(uri):
    with pytest.raises(SourceError, match="'..'"):
        open_source(uri)


def test_stored_files_are_served_inert(objects, client, viewer):
    client.force_login(viewer)
    for kind in ("file", "thumb"):
        response = client.get(f"/images/{objects['image_id']}/{kind}/")
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert "sandbox" in response["Content-Security-Policy"]
        assert "default-src 'none'" in response["Content-Security-Policy"]

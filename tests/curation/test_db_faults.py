"""PostgreSQL drops the app's connection (pg_terminate_backend) in the middle of a request: a
read is retried and answers normally, a write answers 503 and leaves nothing half-written,
and an idle persistent connection that died is replaced before the next request uses it."""

from __future__ import annotations

import psycopg
import pytest
from django.db import connection
from django.test import RequestFactory
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from config.wsgi import application
from curation.models import Annotation, LabelEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("runs in make test's PostgreSQL pass (DATABASE_URL=postgres://…)")
    yield
    if connection.connection is not None and not connection.is_usable():
        connection.close()  # so the database flush after the test gets a live connection


def _kill_app_connection() -> None:
    """Terminate this process's database session from a second, independent connection."""
    pid = connection.connection.info.backend_pid
    db = connection.settings_dict
    with psycopg.connect(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        dbname=db["NAME"],
        password=db["PASSWORD"] or None,
        autocommit=True,
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


class KillOnce:
    """Wrap a function so that its first call kills the connection before running it."""

    def __init__(self, func):
        self.func, self.killed = func, 0

    def __call__(self, *args, **kwargs):
        if not self.killed:
            self.killed += 1
            _kill_app_connection()
        return self.func(*args, **kwargs)


def _neckline(image):
    return Annotation.objects.get(image=image, attribute__name="neckline")


def test_a_page_read_is_retried_on_a_fresh_connection(imported, client, viewer, monkeypatch):
    from curation.queries import catalog

    kill = KillOnce(catalog.label_counts)
    monkeypatch.setattr(catalog, "label_counts", kill)
    client.force_login(viewer)
    response = client.get("/datasets/dresses/")
    assert kill.killed == 1
    assert response.status_code == 200 and "neckline" in response.content.decode()


def test_an_api_read_is_retried_on_a_fresh_connection(imported, viewer, monkeypatch):
    from curation.api import views

    kill = KillOnce(views.image_rows)  # dies just before the view's main query
    monkeypatch.setattr(views, "image_rows", kill)
    client = APIClient()
    client.force_authenticate(viewer)
    image = imported.images.order_by("id").first()
    response = client.get(f"/api/images/{image.pk}/")
    assert kill.killed == 1 and response.status_code == 200
    assert response.json()["source_path"] == image.source_path


def test_a_write_cut_mid_transaction_answers_503_and_keeps_nothing(
    imported, client, merchandiser, monkeypatch
):
    image = imported.images.order_by("id").first()
    before = _neckline(image)
    events = LabelEvent.objects.count()
    boat = imported.attributes.get(name="neckline").labels.get(name="boat")
    # The label row is already updated inside the transaction when the connection dies.
    kill = KillOnce(LabelEvent.objects.create)
    monkeypatch.setattr(LabelEvent.objects, "create", kill)
    client.force_login(merchandiser)
    body = {"attribute": "neckline", "label": str(boat.pk), "version": str(before.version)}
    response = client.post(f"/images/{image.pk}/relabel/", body)
    assert kill.killed == 1
    assert response.status_code == 503 and "rolled back" in response.content.decode()
    assert response["Retry-After"]
    after = _neckline(image)
    assert (after.label_id, after.version) == (before.label_id, before.version)
    assert LabelEvent.objects.count() == events
    # Sending it again (what the page tells the person to do) applies it exactly once.
    assert client.post(f"/images/{image.pk}/relabel/", body).status_code == 302
    after = _neckline(image)
    assert after.label_id == boat.pk and after.version == before.version + 1
    assert LabelEvent.objects.count() == events + 1


def test_an_api_write_cut_mid_transaction_answers_a_json_503(imported, merchandiser, monkeypatch):
    image = imported.images.order_by("id").first()
    before = _neckline(image)
    monkeypatch.setattr(LabelEvent.objects, "create", KillOnce(LabelEvent.objects.create))
    client = APIClient()
    client.force_authenticate(merchandiser)
    response = client.patch(
        f"/api/images/{image.pk}/labels/",
        {"attribute": "neckline", "label": "boat"},
        format="json",
        HTTP_IF_MATCH=f'"{before.version}"',
    )
    assert response.status_code == 503 and "try again" in response.json()["detail"].lower()
    assert _neckline(image).version == before.version


def _wsgi(request) -> int:
    """Send a request through the real WSGI handler (request signals included, unlike the
    test client, which skips the connection housekeeping they trigger)."""
    statuses = []
    body = b"".join(application(request.environ, lambda status, headers: statuses.append(status)))
    assert statuses, body
    return int(statuses[0].split()[0])


def test_a_dead_idle_persistent_connection_is_replaced_before_a_write(
    imported, merchandiser, settings
):
    connection.settings_dict["CONN_MAX_AGE"] = 60  # keep the connection between requests
    try:
        token = Token.objects.create(user=merchandiser).key
        image = imported.images.order_by("id").first()
        factory = RequestFactory(HTTP_AUTHORIZATION=f"Token {token}")
        assert _wsgi(factory.get(f"/api/images/{image.pk}/")) == 200
        assert connection.connection is not None  # kept open for the next request
        _kill_app_connection()
        request = factory.patch(
            f"/api/images/{image.pk}/labels/",
            data=b'{"attribute": "neckline", "label": "boat"}',
            content_type="application/json",
            HTTP_IF_MATCH='"1"',
        )
        assert _wsgi(request) == 200  # the health check reconnected before the write
        assert _neckline(image).label.name == "boat"
    finally:
        connection.settings_dict["CONN_MAX_AGE"] = 0
        connection.close()

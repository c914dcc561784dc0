"""Every error under /api/ is JSON {"detail": ...} (400, 401, 403, 404, 405, 412, 413, 415,
428, 500), whatever raised it: DRF, our views, curation.params, the JSON parser's limits, or
Django itself (an unknown URL, a refused Host, an exception nobody caught). Pages keep their
HTML error pages."""

from __future__ import annotations

import io
import json

import pytest
from django.test import Client
from rest_framework.exceptions import ParseError

from curation.api.parsers import MAX_DEPTH, LimitedJSONParser, RequestTooLarge, depth_over
from curation.models import Annotation, Image

pytestmark = pytest.mark.django_db


def _client(user=None) -> Client:
    client = Client(raise_request_exception=False)
    if user is not None:
        client.force_login(user)
    return client


def _json_error(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body, dict) and body, body
    text = json.dumps(body).lower()
    for word in words:
        assert word.lower() in text, body
    return body


def _image() -> Image:
    image = Image.objects.order_by("id").first()
    assert image is not None
    return image


def _patch(client, image: Image, body: bytes | str, **headers):
    return client.patch(
        f"/api/images/{image.pk}/labels/", body, content_type="application/json", **headers
    )


def test_a_bad_number_is_a_400_that_names_the_parameter(imported, viewer):
    response = _client(viewer).get("/api/images/", {"dataset": "dresses", "page_size": "١٢"})
    body = _json_error(response, 400, "page_size", "digits 0-9")
    assert body["parameter"] == "page_size"


def test_no_credentials_is_a_401_naming_the_scheme(imported):
    response = _client().get("/api/datasets/")
    _json_error(response, 401, "credentials")
    assert response["WWW-Authenticate"] == "Token"


def test_a_bad_token_is_a_401(imported):
    response = _client().get("/api/datasets/", HTTP_AUTHORIZATION="Token nope")
    _json_error(response, 401, "token")


def test_no_role_is_a_403(imported, outsider):
    _json_error(_client(outsider).get("/api/datasets/"), 403, "role")


def test_a_missing_row_and_an_unknown_api_url_are_404s(imported, viewer):
    _json_error(_client(viewer).get("/api/images/99999999/"), 404, "no image")
    _json_error(_client(viewer).get("/api/no-such-thing/"), 404, "/api/no-such-thing/")
    _json_error(_client().get("/api/no-such-thing/"), 404)  # before any login check


def test_a_wrong_method_is_a_405(imported, viewer):
    _json_error(_client(viewer).delete("/api/datasets/"), 405, "delete")


def test_a_stale_version_is_a_412_and_none_is_a_428(imported, merchandiser):
    client, image = _client(merchandiser), _image()
    body = json.dumps({"attribute": "neckline", "label": "boat"})
    _json_error(_patch(client, image, body, HTTP_IF_MATCH='"999999"'), 412, "current")
    _json_error(_patch(client, image, body), 428, "If-Match")


def test_an_unreadable_content_type_is_a_415(imported, merchandiser):
    response = _client(merchandiser).patch(
        f"/api/images/{_image().pk}/labels/", b"x", content_type="text/plain"
    )
    _json_error(response, 415, "text/plain")


def test_a_body_over_the_limit_is_a_413_before_it_is_parsed(imported, merchandiser, settings):
    settings.CURATION_API_MAX_JSON_BYTES = 1000
    before = list(Annotation.objects.order_by("id").values_list("version", flat=True))
    body = json.dumps({"attribute": "neckline", "label": "boat", "note": "x" * 2000})
    response = _patch(_client(merchandiser), _image(), body, HTTP_IF_MATCH='"1"')
    _json_error(response, 413, "1,000 bytes")
    assert list(Annotation.objects.order_by("id").values_list("version", flat=True)) == before


def test_a_form_field_over_djangos_limit_is_a_413(imported, viewer, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = _client(viewer).post("/api/similar/", {"dataset": "x" * 5000, "k": "3"})
    _json_error(response, 413, "larger")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("[" * 100_000, "nested more than"),  # the standard parser's RecursionError: a 500
        ("{" * 100_000, ""),
        ('{"a":' * 50_000 + "1" + "}" * 50_000, "nested more than"),
        ("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "nested more than"),
        ('{"attribute": NaN}', "NaN"),
        ("\ufeff{}", "parse error"),
        (b"\xff\xfe{}", "UTF-8"),
        ('{"attribute": "neckline"', "parse error"),
    ],
    ids=[
        "deep arrays",
        "deep objects",
        "deep valid",
        "one level too deep",
        "NaN",
        "BOM",
        "not UTF-8",
        "truncated",
    ],
)
def test_a_hostile_json_body_is_a_400(imported, merchandiser, body, words):
    response = _patch(_client(merchandiser), _image(), body, HTTP_IF_MATCH='"1"')
    _json_error(response, 400, words)


def test_a_body_nested_to_the_limit_is_read(imported, merchandiser):
    nested = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    body = '{"attribute": "neckline", "label": "boat", "note": "ok", "extra": ' + nested + "}"
    response = _patch(_client(merchandiser), _image(), body)
    _json_error(response, 428, "If-Match")  # parsed: it got as far as the version check


def test_the_parser_stops_one_byte_past_the_limit_when_no_length_is_declared(settings):
    settings.CURATION_API_MAX_JSON_BYTES = 10
    stream = io.BytesIO(b"[" + b"1," * 1000 + b"1]")
    with pytest.raises(RequestTooLarge):
        LimitedJSONParser().parse(stream, parser_context={})
    assert stream.tell() == 11
    with pytest.raises(ParseError):
        LimitedJSONParser().parse(io.BytesIO(b"[[[[[[[[[["), parser_context={})  # 10 bytes


def test_depth_is_measured_without_recursion():
    deep: list = []
    for _ in range(50_000):
        deep = [deep]
    assert depth_over(deep, MAX_DEPTH)
    assert not depth_over({"a": [1, {"b": []}]}, 4)  # object, array, object, array
    assert depth_over({"a": [1, {"b": []}]}, 3)


def test_an_unexpected_api_error_is_a_json_500_and_a_page_error_stays_html(
    imported, viewer, monkeypatch
):
    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("curation.api.views.DatasetSerializer", fail)
    monkeypatch.setattr("curation.views.datasets.catalog.datasets_with_counts", fail)
    body = _json_error(_client(viewer).get("/api/datasets/"), 500, "logged")
    assert "boom" not in json.dumps(body)  # nothing of the exception leaks out
    page = _client(viewer).get("/")
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")


def test_a_refused_host_is_a_json_400_under_the_api(imported, viewer):
    response = _client(viewer).get("/api/datasets/", HTTP_HOST="evil.example")
    _json_error(response, 400, "bad request")


def test_a_schema_error_is_json_not_yaml(imported, viewer):
    response = _client(viewer).get("/api/schema/", {"version": "1\n2"})
    _json_error(response, 400, "version")


def test_a_page_answers_a_bad_number_with_its_400_page(imported, viewer):
    page = _client(viewer).get("/datasets/dresses/", {"after": "١٢"})
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")
    assert "after must be a whole number" in page.content.decode()

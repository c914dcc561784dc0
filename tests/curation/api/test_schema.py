"""The OpenAPI schema tells the truth: paginated lists as the cursor envelope they answer,
integer parameters with the bounds the views enforce, every error status an operation can
answer with the one JSON error body, and no warning from drf-spectacular's validator.
(test_schema_fuzz.py checks real answers against it.)"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from curation.params import MAX_ID

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
COMPONENTS = SCHEMA["components"]["schemas"]
OPERATIONS = [
    (f"{method.upper()} {path}", operation)
    for path, item in SCHEMA["paths"].items()
    for method, operation in item.items()
]
PAGINATED = {
    "GET /api/images/": "Image",
    "GET /api/images/{image_id}/history/": "LabelEvent",
    "GET /api/runs/{run_id}/suspects/": "ReviewRow",
    "GET /api/runs/{run_id}/predictions/": "RunImage",
}


def operation(label: str) -> dict:
    return dict(OPERATIONS)[label]


def resolve(schema: dict) -> dict:
    return COMPONENTS[schema["$ref"].rsplit("/", 1)[1]] if "$ref" in schema else schema


def test_spectacular_validates_the_schema_without_a_warning(tmp_path):
    GENERATOR_STATS.reset()  # only this generation's warnings count
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", tmp_path / "s.yml")
    assert (tmp_path / "s.yml").read_text().startswith("openapi: 3")


@pytest.mark.parametrize("label", PAGINATED)
def test_a_paginated_list_is_documented_as_its_cursor_envelope(label):
    op = operation(label)
    page = resolve(op["responses"]["200"]["content"]["application/json"]["schema"])
    assert page["type"] == "object"
    assert set(page["required"]) == {"next", "previous", "results"}
    for link in ("next", "previous"):
        assert page["properties"][link]["type"] == "string"
        assert page["properties"][link]["format"] == "uri"
        assert page["properties"][link]["nullable"] is True
    rows = page["properties"]["results"]
    assert rows["type"] == "array"
    assert rows["items"] == {"$ref": f"#/components/schemas/{PAGINATED[label]}"}
    query = {p["name"]: p for p in op["parameters"] if p["in"] == "query"}
    assert query["cursor"]["schema"]["type"] == "string"
    assert query["page_size"]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 500,
        "default": 50,
    }


def test_only_the_paginated_operations_are_documented_as_pages():
    paged = {
        label
        for label, op in OPERATIONS
        if any(p["name"] == "cursor" for p in op.get("parameters", []))
    }
    assert paged == set(PAGINATED)


@pytest.mark.parametrize(("label", "op"), OPERATIONS, ids=[label for label, _ in OPERATIONS])
def test_every_error_an_operation_can_answer_is_documented_as_json(label, op):
    method = label.split()[0]
    expected = {"400", "401", "403", "503"}
    if method != "GET" or "{" in label or op.get("parameters"):
        expected.add("404")
    if method in ("POST", "PATCH"):
        expected |= {"413", "415"}
    errors = {code: r for code, r in op["responses"].items() if code >= "400"}
    assert expected <= errors.keys()
    for code, response in errors.items():
        assert list(response["content"]) == ["application/json"], code
        assert response["description"], code
        if code not in ("409", "412"):
            assert response["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/Error"
            }, code


def test_the_error_component_is_what_the_api_answers():
    error = COMPONENTS["Error"]
    assert error["properties"] == {"detail": {"type": "string"}, "parameter": {"type": "string"}}
    assert "required" not in error  # a body that fails validation answers one key per field


def test_a_label_change_documents_its_preconditions_and_etag():
    op = operation("PATCH /api/images/{image_id}/labels/")
    assert {"200", "412", "428"} <= op["responses"].keys()
    for code in ("200", "412"):
        assert op["responses"][code]["headers"]["ETag"]["required"] is True
    stale = resolve(op["responses"]["412"]["content"]["application/json"]["schema"])
    assert set(stale["properties"]) == {"detail", "current"}
    if_match = next(p for p in op["parameters"] if p["name"] == "If-Match")
    assert if_match["in"] == "header" and if_match["required"] is True
    body = resolve(op["requestBody"]["content"]["application/json"]["schema"])
    assert {"attribute", "label"} <= set(body["required"])  # the view validates a whole body


def test_every_integer_parameter_carries_the_bounds_its_view_enforces():
    found = {}
    for label, op in OPERATIONS:
        for p in op.get("parameters", []):
            if p["schema"].get("type") == "integer":
                found[label, p["name"]] = (p["schema"].get("minimum"), p["schema"].get("maximum"))
    assert found
    for (label, name), bounds in found.items():
        expected = {"page_size": (1, 500), "k": (1, 100)}.get(name, (0, MAX_ID))
        assert bounds == expected, (label, name)
    form = operation("POST /api/similar/")["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["properties"]["k"]["maximum"] == 100


@pytest.mark.django_db
def test_a_page_is_the_documented_envelope_and_a_page_size_past_the_bound_a_400(
    imported, data_scientist
):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=data_scientist)}")
    page = client.get("/api/images/", {"dataset": imported.name, "page_size": 2}).json()
    assert page.keys() == {"next", "previous", "results"}
    assert len(page["results"]) == 2
    assert "cursor=" in page["next"] and page["previous"] is None

    too_big = client.get("/api/images/", {"dataset": imported.name, "page_size": 501})
    assert too_big.status_code == 400
    assert too_big.json()["parameter"] == "page_size"


def test_slug_path_parameters_carry_the_pattern_django_matches():
    name = operation("GET /api/datasets/{name}/")["parameters"][0]
    assert name["schema"]["pattern"] == r"^[-a-zA-Z0-9_]+$"


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "op"), OPERATIONS, ids=[label for label, _ in OPERATIONS])
def test_an_anonymous_request_gets_the_documented_401(label, op):
    method, path = label.split()
    path = path.replace("{name}", "dresses").replace("{image_id}", "1").replace("{run_id}", "1")
    response = getattr(APIClient(), method.lower())(path)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]
    documented = op["responses"]["401"]
    assert documented["headers"]["WWW-Authenticate"]["required"] is True
    assert response["WWW-Authenticate"] == "Token"


def test_an_operation_documents_the_body_it_reads_and_none_it_ignores():
    promote = operation("POST /api/runs/{run_id}/promote/")
    body = resolve(promote["requestBody"]["content"]["application/json"]["schema"])
    assert set(body["properties"]) == {"confirm_weak"}
    assert "requestBody" not in operation("POST /api/runs/{run_id}/resume/")  # it reads no body

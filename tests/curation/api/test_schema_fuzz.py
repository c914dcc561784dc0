"""Schemathesis against the OpenAPI schema the app serves at /api/schema/: generated requests
to every API operation, sent as a data scientist (token), get the statuses, content types,
headers and bodies the schema documents (and never a 5xx). Each generated request is also
sent aimed at objects that exist (the dataset, an image, a run), so the successful answers
(the paginated envelopes among them) are checked too, not only the 404s of made-up names.
Examples per operation are bounded: the file runs in about a minute."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from curation.api.urls import urlpatterns
from curation.services.runs.classifier_start import start_training_run

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

# Built at collection time (no database needed) by the generator behind /api/schema/;
# test_the_fuzzed_schema_is_the_served_one checks that they are the same document.
SCHEMA_DICT = SchemaGenerator().get_schema(request=None, public=True)
schema = schemathesis.openapi.from_dict(SCHEMA_DICT)
schema.app = application  # requests go through the whole WSGI stack, middleware included


@dataclass
class Known:
    token: str
    path: dict[str, object]  # a real value for each path parameter name
    dataset: str
    attribute: str


@pytest.fixture
def known(imported, data_scientist, transactional_db, monkeypatch):
    """A catalog, a run to read, cancel and promote, and the data scientist's API token."""
    for starts in ("classifier_start", "similarity_start"):  # no broker here: runs stay queued
        monkeypatch.setattr(f"curation.services.runs.{starts}.enqueue_run", lambda run: None)
    run = start_training_run(
        dataset=imported,
        attribute=imported.attributes.get(name="neckline"),
        options={"epochs": 1},
        actor=data_scientist,
    )
    return Known(
        token=Token.objects.create(user=data_scientist).key,
        path={"name": imported.name, "image_id": imported.images.first().pk, "run_id": run.pk},
        dataset=imported.name,
        attribute="neckline",
    )


def aim_at_known(case, known: Known) -> None:
    """Point the generated request at objects that exist; the rest stays as generated."""
    for name in case.path_parameters or {}:
        case.path_parameters[name] = known.path[name]
    for fields in (case.query, case.body):
        if isinstance(fields, dict):
            if "dataset" in fields:
                fields["dataset"] = known.dataset
            if "attribute" in fields and fields.get("kind") != "similarity":
                fields["attribute"] = known.attribute


@pytest.mark.slow  # about a minute on a loaded two-core box
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same examples on every run, so CI is reproducible
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_answer_is_the_one_the_schema_documents(case, known):
    headers = {"Authorization": f"Token {known.token}"}
    response = case.call(headers=headers)
    case.validate_response(response, checks=CHECKS)
    assert response.status_code not in (401, 403), "the token should open every operation"

    aim_at_known(case, known)
    response = case.call(headers=headers)
    case.validate_response(response, checks=CHECKS)
    assert response.status_code not in (401, 403)


@pytest.mark.django_db
def test_the_fuzzed_schema_is_the_served_one(data_scientist):
    client = APIClient()
    client.force_authenticate(data_scientist)
    served = client.get("/api/schema/", {"format": "json"}).json()
    assert served["paths"].keys() == SCHEMA_DICT["paths"].keys()
    assert len(served["paths"]) == len(urlpatterns)  # every API route is documented
    methods = {"get", "put", "post", "delete", "patch"}
    operations = sum(len(methods & item.keys()) for item in served["paths"].values())
    assert len(list(schema.get_all_operations())) == operations  # and every operation fuzzed

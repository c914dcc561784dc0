"""Schemathesis against the OpenAPI schema the app serves at /api/schema/: generated requests
to every API operation, sent as a data scientist (token), never get a 5xx. Examples per
operation are bounded, so the whole file runs in well under a minute."""

from __future__ import annotations

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error

from config.wsgi import application
from curation.services.runs.classifier_start import start_training_run

EXAMPLES_PER_OPERATION = 25

# Built at collection time (no database needed) by the generator behind /api/schema/;
# test_the_fuzzed_schema_is_the_served_one checks that they are the same document.
SCHEMA_DICT = SchemaGenerator().get_schema(request=None, public=True)
schema = schemathesis.openapi.from_dict(SCHEMA_DICT)
schema.app = application  # requests go through the whole WSGI stack, middleware included


@pytest.fixture
def token(imported, data_scientist, transactional_db, monkeypatch):
    """A catalog, a run to read, cancel and promote, and the data scientist's API token."""
    monkeypatch.setattr("curation.services.runs.classifier_start.enqueue_run", lambda run: None)
    start_training_run(
        dataset=imported,
        attribute=imported.attributes.get(name="neckline"),
        options={"epochs": 1},
        actor=data_scientist,
    )
    return Token.objects.create(user=data_scientist).key


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,  # the same examples on every run, so CI is reproducible
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_generated_request_gets_a_server_error(case, token):
    response = case.call(headers={"Authorization": f"Token {token}"})
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code not in (401, 403), "the token should open every operation"


@pytest.mark.django_db
def test_the_fuzzed_schema_is_the_served_one(data_scientist):
    client = APIClient()
    client.force_authenticate(data_scientist)
    served = client.get("/api/schema/", {"format": "json"}).json()
    assert served["paths"].keys() == SCHEMA_DICT["paths"].keys()
    assert len(list(schema.get_all_operations())) >= 12

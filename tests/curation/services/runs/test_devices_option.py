"""The `devices` run option at submit: read as 1, all or N, refused (400) beyond the
machine's devices with a message naming the option and what would work."""

from __future__ import annotations

import os

import pytest
from rest_framework.test import APIClient

from curation.models import TrainingRun

pytestmark = pytest.mark.django_db


def _post(user, options: dict):
    client = APIClient()
    client.force_authenticate(user)
    body = {"dataset": "dresses", "attribute": "neckline", "options": options}
    return client.post("/api/runs/", body, format="json")


def test_more_devices_than_the_machine_has_is_a_400_naming_the_option(imported, data_scientist):
    cores = os.cpu_count() or 1

    response = _post(data_scientist, {"device": "cpu", "devices": cores + 1})

    assert response.status_code == 400
    message = str(response.json())
    assert "devices" in message and f"use 1 to {cores}, or all" in message
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize("devices", ["two", "0", "1.5"])
def test_a_devices_value_that_is_not_a_count_is_a_400(imported, data_scientist, devices):
    response = _post(data_scientist, {"device": "cpu", "devices": devices})

    assert response.status_code == 400 and "devices" in str(response.json())


@pytest.mark.parametrize(("devices", "stored"), [(2, "2"), ("all", "all"), (None, "1")])
def test_a_run_keeps_the_devices_it_was_started_with(imported, data_scientist, devices, stored):
    options = {"device": "cpu"} if devices is None else {"device": "cpu", "devices": devices}
    if devices == 2 and (os.cpu_count() or 1) < 2:
        pytest.skip("needs two CPU cores")

    response = _post(data_scientist, options)

    assert response.status_code == 202, response.json()
    assert TrainingRun.objects.get(pk=response.json()["id"]).config["devices"] == stored


def test_the_retrain_form_offers_devices_with_help(imported, data_scientist, client):
    client.force_login(data_scientist)

    html = client.get("/datasets/dresses/attributes/neckline/retrain/").content.decode()

    assert 'name="devices"' in html and "with DDP" in html

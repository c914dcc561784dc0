"""The dataset page's scheduled re-sync form: data scientists set or clear the interval;
other roles neither see the form nor may post it; a refused source is named."""

from __future__ import annotations

import pytest

from curation.models import Dataset

pytestmark = pytest.mark.django_db

PAGE = "/datasets/dresses/"
SYNC = "/datasets/dresses/sync/"


def test_a_data_scientist_turns_the_resync_on_and_off(
    imported, client, data_scientist, small_catalog
):
    client.force_login(data_scientist)
    assert 'action="/datasets/dresses/sync/"' in client.get(PAGE).content.decode()
    response = client.post(SYNC, {"source": str(small_catalog), "every_minutes": "15"}, follow=True)
    dataset = Dataset.objects.get(name="dresses")
    assert (dataset.sync_source, dataset.sync_every_minutes) == (str(small_catalog), 15)
    assert "re-synced every 15 min" in response.content.decode()

    client.post(SYNC, {"source": str(small_catalog), "every_minutes": ""})
    assert Dataset.objects.get(name="dresses").sync_every_minutes is None


def test_a_source_outside_the_import_roots_is_refused_with_its_reason(
    imported, client, data_scientist
):
    client.force_login(data_scientist)
    response = client.post(SYNC, {"source": "/etc", "every_minutes": "5"}, follow=True)
    assert "CURATION_IMPORT_ROOTS" in response.content.decode()
    assert Dataset.objects.get(name="dresses").sync_every_minutes is None


def test_a_merchandiser_cannot_schedule_a_resync(imported, client, merchandiser, small_catalog):
    client.force_login(merchandiser)
    assert 'action="/datasets/dresses/sync/"' not in client.get(PAGE).content.decode()
    response = client.post(SYNC, {"source": str(small_catalog), "every_minutes": "5"})
    assert response.status_code == 403
    assert Dataset.objects.get(name="dresses").sync_every_minutes is None

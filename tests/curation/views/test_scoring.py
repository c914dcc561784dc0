"""The attribute card's scoring panel: Score images (data scientists), the polled progress
bar, Cancel, the refusals, and the page without JS."""

from __future__ import annotations

import pytest

from curation.models import Dataset, ImageScore, ScoringJob
from curation.services.imports import import_catalog
from tests.support.scoring import promote_tiny_model, write_arrivals
from tests.support.training import write_two_colour_catalog

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def colours(tmp_path):
    import_catalog(str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="c", create=True)
    return Dataset.objects.get(name="c").attributes.get(name="colour")


def _url(what: str = "") -> str:
    return f"/datasets/c/attributes/colour/scoring/{what}"


def test_a_data_scientist_sees_score_images_and_a_merchandiser_does_not(
    client, colours, data_scientist, merchandiser
):
    promote_tiny_model(colours)
    client.force_login(data_scientist)
    page = client.get("/datasets/c/").content.decode()
    assert f'id="scoring-{colours.pk}"' in page and "Score images" in page
    assert "has not scored images beyond its own run yet" in page
    client.force_login(merchandiser)
    page = client.get("/datasets/c/").content.decode()
    assert f'id="scoring-{colours.pk}"' in page and "Score images" not in page
    assert client.post(_url("start/"), **HTMX).status_code == 403
    assert not ScoringJob.objects.exists()


def test_score_images_shows_a_polled_progress_bar_and_cancel_stops_it(
    client, colours, data_scientist, settings
):
    settings.CURATION_SCORE_QUEUE = "cpu"
    promote_tiny_model(colours)
    client.force_login(data_scientist)
    body = client.post(_url("start/"), **HTMX).content.decode()
    job = ScoringJob.objects.get()
    assert (job.status, job.reason) == ("queued", "button")
    assert 'hx-trigger="every 2s"' in body and 'role="progressbar"' in body
    assert "Cancel scoring" in body and "Waiting for a worker" in body
    assert "worker -Q cpu</code>" in body  # the queue the job went to

    body = client.post(_url("cancel/"), **HTMX).content.decode()
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert "every 2s" not in body and f"Scoring job #{job.pk} (button) cancelled" in body


def test_the_panel_reports_a_finished_job(
    client, tmp_path, colours, data_scientist, django_capture_on_commit_callbacks
):
    run = promote_tiny_model(colours)
    with django_capture_on_commit_callbacks(execute=True):  # the import's job runs (eager)
        import_catalog(str(write_arrivals(tmp_path / "new", 5)), dataset_name="c")
    assert ImageScore.objects.filter(run=run).count() == 5
    client.force_login(data_scientist)
    text = " ".join(client.get(_url(), **HTMX).content.decode().split())
    assert "(import) succeeded" in text and f"5 new images scored with run #{run.pk}" in text


def test_starting_without_a_promoted_model_says_why(client, colours, data_scientist):
    client.force_login(data_scientist)
    page = client.get("/datasets/c/").content.decode()
    assert "No promoted model to score new images with yet." in page
    assert "Score images" not in page
    body = client.post(_url("start/"), **HTMX).content.decode()
    assert "&#x27;colour&#x27; has no promoted model" in body
    response = client.post(_url("start/"), follow=True)  # without JS: a message on the page
    assert "has no promoted model" in response.content.decode()


def test_without_js_the_panel_and_the_buttons_lead_back_to_the_card(
    client, colours, data_scientist
):
    promote_tiny_model(colours)
    client.force_login(data_scientist)
    for response in (client.get(_url()), client.post(_url("start/"))):
        assert response.status_code == 302
        assert response["Location"] == f"/datasets/c/#attribute-{colours.pk}"
    assert ScoringJob.objects.get().status == "queued"

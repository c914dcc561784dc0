"""Scoring from the attribute card in Chromium: Score images, the progress bar following the
job's row by polling, Cancel, and the finished job's summary, all without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from curation.models import Dataset, ImageScore, ScoringJob
from curation.services import scoring
from curation.services.imports import import_catalog
from tests.support.browser import screenshot
from tests.support.scoring import promote_tiny_model, write_arrivals
from tests.support.training import write_two_colour_catalog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_data_scientist_scores_new_arrivals_from_the_attribute_card(
    tmp_path, data_scientist, open_as, monkeypatch
):
    import_catalog(str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="c", create=True)
    import_catalog(str(write_arrivals(tmp_path / "new", 8)), dataset_name="c")
    attribute = Dataset.objects.get(name="c").attributes.get(name="colour")
    run = promote_tiny_model(attribute)
    queued: list[int] = []  # no worker here: the test delivers the job itself
    monkeypatch.setattr(scoring.queue, "enqueue", lambda task, job_id, **kw: queued.append(job_id))

    page = open_as(data_scientist, "/datasets/c/")
    panel = page.locator(f"#scoring-{attribute.pk}")
    panel.get_by_role("button", name="Score images").click()
    expect(panel.get_by_role("progressbar")).to_be_visible()
    expect(panel).to_contain_text("Waiting for a worker")
    job = ScoringJob.objects.get(pk=queued[0])

    ScoringJob.objects.filter(pk=job.pk).update(status="running", done=4, total=8)
    expect(panel).to_contain_text("4 of 8 images")  # polled, no reload
    expect(panel.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "50")
    screenshot(page, "scoring-progress")
    panel.get_by_role("button", name="Cancel scoring").click()
    expect(panel).to_contain_text("Stopping")
    assert scoring.run_scoring_job(job.pk) == "cancelled"  # the worker sees the flag
    expect(panel).to_contain_text(f"Scoring job #{job.pk} (button) cancelled")

    panel.get_by_role("button", name="Score images").click()
    expect(panel).to_contain_text("Waiting for a worker")
    assert scoring.run_scoring_job(queued[1]) == "succeeded"
    expect(panel).to_contain_text(f"8 new images scored with run #{run.pk}")
    expect(panel.get_by_role("progressbar")).to_have_count(0)
    assert ImageScore.objects.filter(run=run).count() == 8

"""Issue #17 in Chromium: an option the catalog can't support is refused at submit on the
Retrain form, next to the field; a cancelled run shows Resume, which queues it again, and
it continues from its checkpoint."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from curation.models import TrainingRun
from curation.services.imports import import_catalog
from curation.services.runs import control, worker
from curation.services.runs.execute import execute_training_run
from tests.support.training import write_two_colour_catalog

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
SHOTS = os.environ.get("BROWSER_SCREENSHOTS")  # docs/screenshots keeps run-resume.png


def test_an_impossible_option_is_refused_at_submit_and_a_cancelled_run_resumes(
    tmp_path, settings, data_scientist, open_as, monkeypatch
):
    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    catalog = write_two_colour_catalog(tmp_path / "cat", per_label=6)  # 4 training images a label
    import_catalog(str(catalog), dataset_name="tiny", create=True)
    queued: list[int] = []  # no worker here: the test delivers the run itself
    monkeypatch.setattr(control.queue, "enqueue", lambda task, run_id, **kw: queued.append(run_id))

    page = open_as(data_scientist, "/datasets/tiny/attributes/colour/retrain/")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.locator("#id_arch").select_option("resnet18")
    page.locator("#id_epochs").fill("3")
    page.locator("#id_cv_folds").fill("5")
    page.get_by_role("button", name="Start training").click()
    expect(page.locator("div.error", has_text="option 'cv_folds' is 5")).to_contain_text(
        "use 2 to 4"
    )
    assert not TrainingRun.objects.exists()

    page.locator("#id_cv_folds").fill("2")
    page.get_by_role("button", name="Start training").click()
    expect(page.locator("#run-progress")).to_contain_text("queued")
    run = TrainingRun.objects.get(pk=queued[0])
    real = worker.Reporter.train

    def train_and_cancel(self, p):  # Cancel pressed during epoch 2: epoch 1 is checkpointed
        real(self, p)
        if p.epoch == 2:
            TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
            self.last_check = 0.0

    with monkeypatch.context() as m:
        m.setattr(worker.Reporter, "train", train_and_cancel)
        assert execute_training_run(run.pk) == "cancelled"
    resume = page.get_by_role("button", name="Resume run")
    expect(resume).to_be_visible()  # the polled progress card turned cancelled
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / "run-resume.png"))
    resume.click()

    expect(page.locator("#run-progress")).to_contain_text("resumed after it was cancelled")
    assert queued == [run.pk, run.pk]
    assert execute_training_run(run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.progress["first_epoch_of_attempt"] >= 2  # from the checkpoint, not epoch 1
    page.reload()
    expect(page.locator("#run-progress")).to_contain_text("succeeded")

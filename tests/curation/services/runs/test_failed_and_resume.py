"""A run that fails after training keeps its model, test metrics and predictions and names
the failed phase (faults injected into cross-fitting and ranking); a cancelled or failed run
resumes from its checkpoint (in-process here; a real worker: test_resume_worker.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from curation.models import ReviewItem, RunImage, TrainingRun
from curation.services.runs.classifier_start import start_training_run
from curation.services.runs.execute import execute_training_run
from tests.support.training import FAST_OPTIONS, import_colours

pytestmark = pytest.mark.django_db


@pytest.fixture
def colours(tmp_path, settings):
    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    dataset = import_colours(tmp_path)
    return dataset, dataset.attributes.get(name="colour")


def _start(colours, user, **options):
    dataset, attribute = colours
    options = {**FAST_OPTIONS, "epochs": 1, **options}
    return start_training_run(dataset=dataset, attribute=attribute, options=options, actor=user)


def _api(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def _checkpoint(run) -> Path:
    return Path(settings.CURATION_RUNS_DIR) / str(run.pk) / "model" / "checkpoint.pt"


def _fault(*args, **kwargs):
    raise RuntimeError("injected fault")


def test_a_cross_fitting_failure_keeps_the_model_and_test_metrics_and_resumes(
    colours, data_scientist, client, monkeypatch
):
    import mlcore.audit

    run = _start(colours, data_scientist)
    with monkeypatch.context() as m:
        m.setattr(mlcore.audit, "out_of_sample_probs", _fault)
        assert execute_training_run(run.pk) == "failed"
    run.refresh_from_db()

    assert run.status == "failed" and run.failed_phase == "cross-fitting"
    assert "injected fault" in run.error
    assert run.artifact_uri and run.metrics["n"] == run.test_count
    test_rows = RunImage.objects.filter(run=run, split="test")
    assert test_rows.count() == run.test_count and not test_rows.filter(probs=None).exists()
    assert not RunImage.objects.filter(run=run, split="train").exclude(probs=None).exists()
    predictions = _api(data_scientist).get(f"/api/runs/{run.pk}/predictions/").json()["results"]
    assert sum(p["predicted_label"] is not None for p in predictions) == run.test_count
    client.force_login(data_scientist)
    page = client.get(f"/runs/{run.pk}/").content.decode()
    assert "Failed during <strong>cross-fitting</strong>" in page
    assert "Test split: accuracy" in page and "Resume run" in page

    trained_at = _checkpoint(run).stat().st_mtime_ns
    response = _api(data_scientist).post(f"/api/runs/{run.pk}/resume/")
    assert response.status_code == 202 and response.json()["status"] == "queued"
    assert execute_training_run(run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.failed_phase == "" and run.error == "" and run.attempts == 2
    assert _checkpoint(run).stat().st_mtime_ns == trained_at  # training was not redone
    assert not RunImage.objects.filter(run=run, split="train", probs=None).exists()


def test_a_ranking_failure_keeps_every_prediction_but_queues_no_review(
    colours, data_scientist, monkeypatch
):
    import mlcore.audit

    run = _start(colours, data_scientist)
    monkeypatch.setattr(mlcore.audit, "rank_label_issues", _fault)

    assert execute_training_run(run.pk) == "failed"
    run.refresh_from_db()
    assert run.failed_phase == "ranking" and run.metrics["accuracy"] is not None
    rows = RunImage.objects.filter(run=run)
    assert not rows.filter(probs=None).exists()  # cross-fitting finished: train rows too
    assert not rows.exclude(suspect_rank=None).exists()
    assert not ReviewItem.objects.filter(run=run).exists()


def test_a_training_failure_names_the_training_phase(colours, data_scientist, monkeypatch):
    import mlcore.audit

    run = _start(colours, data_scientist)
    monkeypatch.setattr(mlcore.audit, "fit_on_devices", _fault)

    assert execute_training_run(run.pk) == "failed"
    run.refresh_from_db()
    assert run.failed_phase == "training" and not run.artifact_uri


def test_a_cancelled_run_resumes_from_its_checkpoint(colours, data_scientist, monkeypatch):
    from curation.services.runs import worker

    run = _start(colours, data_scientist, epochs=3, batch_size=4, progress_every=1)
    real = worker.Reporter.train

    def train_and_cancel(self, p):
        real(self, p)
        if p.epoch == 2 and p.step == 1:
            TrainingRun.objects.filter(pk=run.pk).update(cancel_requested=True)
            self.last_check = 0.0

    with monkeypatch.context() as m:
        m.setattr(worker.Reporter, "train", train_and_cancel)
        assert execute_training_run(run.pk) == "cancelled"

    response = _api(data_scientist).post(f"/api/runs/{run.pk}/resume/")

    assert response.status_code == 202
    assert execute_training_run(run.pk) == "succeeded"
    run.refresh_from_db()
    assert run.progress["first_epoch_of_attempt"] == 2  # epoch 1 came from the checkpoint
    assert run.progress["resumed_after"] == "cancelled" and not run.cancel_requested


def test_only_a_cancelled_or_failed_run_resumes_and_only_for_data_scientists(
    colours, data_scientist, merchandiser
):
    run = _start(colours, data_scientist)

    queued = _api(data_scientist).post(f"/api/runs/{run.pk}/resume/")
    TrainingRun.objects.filter(pk=run.pk).update(status="cancelled")
    forbidden = _api(merchandiser).post(f"/api/runs/{run.pk}/resume/")

    assert queued.status_code == 409 and "cancelled or failed" in queued.json()["detail"]
    assert forbidden.status_code == 403
    assert TrainingRun.objects.get(pk=run.pk).status == "cancelled"

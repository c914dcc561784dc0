"""Scoring jobs in-process (eager): what gets scored, calibration, idempotency, resume,
cancel, the triggers and the refusals. (A real worker scoring an import of 1,000 new
arrivals: test_scoring_worker.py.)"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from curation.models import Dataset, Image, ImageScore, RunImage, ScoringJob, TrainingRun
from curation.services import scoring
from curation.services.imports import import_catalog
from curation.services.runs.control import promote_training_run
from curation.services.scoring import (
    ScoringError,
    cancel_scoring_job,
    run_scoring_job,
    start_scoring_job,
)
from curation.storage import item_uri
from tests.support.scoring import promote_tiny_model, write_arrivals
from tests.support.training import write_two_colour_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def colours(tmp_path):
    import_catalog(str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="c", create=True)
    dataset = Dataset.objects.get(name="c")
    return dataset.attributes.get(name="colour")


@pytest.fixture
def promoted(colours, data_scientist):
    return promote_tiny_model(colours, actor=data_scientist)


def _import_arrivals(tmp_path, n: int, capture) -> None:
    with capture(execute=True):  # the import's hook queues the job after commit (eager)
        report = import_catalog(str(write_arrivals(tmp_path / "new", n)), dataset_name="c")
    assert report.created == n, report.to_dict()


def _arrivals():
    return Image.objects.filter(source_path__startswith="new/")


def test_an_import_scores_each_new_arrival_once_and_no_image_of_the_run(
    tmp_path, promoted, django_capture_on_commit_callbacks
):
    _import_arrivals(tmp_path, 30, django_capture_on_commit_callbacks)

    job = ScoringJob.objects.get()
    assert (job.status, job.reason, job.run_id) == ("succeeded", "import", promoted.pk)
    assert job.done == job.total == 30 and job.percent == 100
    scores = ImageScore.objects.filter(run=promoted)
    assert sorted(scores.values_list("image_id", flat=True)) == sorted(
        _arrivals().values_list("pk", flat=True)
    )
    in_run = RunImage.objects.filter(run=promoted).values("image_id")
    assert not scores.filter(image_id__in=in_run).exists()
    for score in scores:
        assert len(score.probs) == 2 and abs(sum(score.probs) - 1) < 1e-3
        assert score.confidence == pytest.approx(max(score.probs), abs=1e-5)
        assert score.predicted_label.name == promoted.label_names[int(np.argmax(score.probs))]


def test_stored_probabilities_carry_the_runs_temperature(tmp_path, promoted, data_scientist):
    from mlcore.eval.calibration import apply_temperature
    from mlcore.infer import predict_items
    from mlcore.store import load_model

    calibration = scoring.run_calibration(promoted)
    assert calibration is not None
    promoted.metrics = {"calibration": {**calibration.to_dict(), "temperature": 3.0}}
    promoted.save(update_fields=["metrics"])
    import_catalog(str(write_arrivals(tmp_path / "new", 6)), dataset_name="c")
    job = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="test")
    assert run_scoring_job(job.pk) == "succeeded"

    images = list(_arrivals().order_by("pk"))
    saved = load_model(promoted.artifact_uri)
    items = [(item_uri(im.file), -1) for im in images]
    raw = predict_items(saved.model, items, config=saved.config)
    expected = apply_temperature(raw.probs, 3.0)  # (6, 2)
    stored = {s.image_id: s.probs for s in ImageScore.objects.filter(run=promoted)}
    got = np.array([stored[im.pk] for im in images])
    assert np.allclose(got, expected, atol=1e-4)
    assert not np.allclose(got, raw.probs, atol=1e-3)  # it really is calibrated


def test_a_second_job_and_a_redelivered_one_store_nothing_twice(tmp_path, promoted, data_scientist):
    import_catalog(str(write_arrivals(tmp_path / "new", 12)), dataset_name="c")
    first = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="t")
    run_scoring_job(first.pk)
    stored = dict(ImageScore.objects.values_list("image_id", "id"))
    assert len(stored) == 12

    assert run_scoring_job(first.pk) == "already finished"
    second = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="t")
    assert second.pk != first.pk
    assert run_scoring_job(second.pk) == "succeeded"
    second.refresh_from_db()
    assert (second.total, second.done) == (0, 0)
    assert dict(ImageScore.objects.values_list("image_id", "id")) == stored


def test_a_job_whose_worker_died_goes_on_where_it_stopped(
    tmp_path, promoted, data_scientist, monkeypatch
):
    monkeypatch.setattr(scoring, "CHUNK", 5)
    import_catalog(str(write_arrivals(tmp_path / "new", 12)), dataset_name="c")
    job = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="t")

    class WorkerDied(BaseException):  # not an Exception: the job can't catch it
        pass

    def die_after_first_chunk(j):
        raise WorkerDied

    with pytest.raises(WorkerDied):
        run_scoring_job(job.pk, progress=die_after_first_chunk)
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == ("running", 5, 12)
    first_rows = set(ImageScore.objects.values_list("id", flat=True))
    assert len(first_rows) == 5

    assert run_scoring_job(job.pk) == "succeeded"  # the re-delivery
    job.refresh_from_db()
    assert (job.status, job.done, job.total) == ("succeeded", 12, 12)
    assert ImageScore.objects.count() == 12 and first_rows <= set(
        ImageScore.objects.values_list("id", flat=True)
    )


def test_cancel_stops_a_running_job_and_keeps_what_it_stored(
    tmp_path, promoted, data_scientist, monkeypatch
):
    monkeypatch.setattr(scoring, "CHUNK", 4)
    import_catalog(str(write_arrivals(tmp_path / "new", 12)), dataset_name="c")
    job = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="t")

    def cancel_after_first_chunk(j):
        cancel_scoring_job(job=j, actor=data_scientist)

    assert run_scoring_job(job.pk, progress=cancel_after_first_chunk) == "cancelled"
    job.refresh_from_db()
    assert (job.status, job.done) == ("cancelled", 4) and job.finished_at is not None
    assert ImageScore.objects.count() == 4

    again = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="t")
    run_scoring_job(again.pk)
    assert ImageScore.objects.count() == 12


def test_a_queued_job_cancelled_never_runs(promoted, data_scientist):
    job = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="t")
    cancel_scoring_job(job=job, actor=data_scientist)
    assert job.status == "cancelled"
    assert run_scoring_job(job.pk) == "already finished"


def test_starting_again_returns_the_active_job_unless_its_worker_is_gone(promoted, data_scientist):
    first = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="t")
    again = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="t")
    assert again.pk == first.pk

    ScoringJob.objects.filter(pk=first.pk).update(
        status="running", heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    fresh = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="t")
    assert fresh.pk != first.pk
    first.refresh_from_db()
    assert first.status == "failed" and "replaced" in first.error
    assert scoring.resume_stale_scoring_jobs() == []  # the stale one is no longer running


def test_an_attribute_without_a_promoted_model_is_refused_by_name(colours, data_scientist):
    with pytest.raises(ScoringError, match="'colour' has no promoted model"):
        start_scoring_job(attribute=colours, actor=data_scientist, reason="t")
    assert not ScoringJob.objects.exists()


def test_a_merchandiser_cannot_start_or_cancel_scoring(promoted, merchandiser, data_scientist):
    with pytest.raises(PermissionDenied, match="score images"):
        start_scoring_job(attribute=promoted.attribute, actor=merchandiser, reason="t")
    job = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="t")
    with pytest.raises(PermissionDenied):
        cancel_scoring_job(job=job, actor=merchandiser)


def test_promoting_a_run_queues_a_job_for_its_model(
    promoted, data_scientist, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        promote_training_run(run=promoted, actor=data_scientist)
    job = ScoringJob.objects.get()
    assert (job.reason, job.run_id, job.status) == ("promote", promoted.pk, "succeeded")
    assert job.total == 0  # every image was in the run: nothing to re-score


def test_an_import_into_a_dataset_without_promoted_models_queues_nothing(tmp_path, colours):
    import_catalog(str(write_arrivals(tmp_path / "new", 3)), dataset_name="c")
    assert not ScoringJob.objects.exists()


def test_a_failure_is_written_on_the_job(tmp_path, promoted, data_scientist):
    TrainingRun.objects.filter(pk=promoted.pk).update(artifact_uri=str(tmp_path / "gone"))
    import_catalog(str(write_arrivals(tmp_path / "new", 2)), dataset_name="c")
    job = start_scoring_job(attribute=promoted.attribute, actor=data_scientist, reason="t")
    assert run_scoring_job(job.pk) == "failed"
    job.refresh_from_db()
    assert job.status == "failed" and "gone" in job.error


@pytest.mark.s3
def test_a_job_reads_the_model_and_the_images_from_s3(
    settings, s3_server, s3_bucket, tmp_path, data_scientist
):
    from tests.support.services import use_s3_storage

    use_s3_storage(settings, s3_server, s3_bucket)
    import_catalog(str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="c", create=True)
    attribute = Dataset.objects.get(name="c").attributes.get(name="colour")
    run = promote_tiny_model(attribute)
    assert run.artifact_uri.startswith(f"s3://{s3_bucket}/models/")
    import_catalog(str(write_arrivals(tmp_path / "new", 5)), dataset_name="c")
    assert item_uri(_arrivals().first().file).startswith("s3://")

    job = start_scoring_job(attribute=attribute, actor=data_scientist, reason="t")
    assert run_scoring_job(job.pk) == "succeeded", ScoringJob.objects.get(pk=job.pk).error
    assert ImageScore.objects.filter(run=run).count() == 5

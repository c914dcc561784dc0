"""Scoring jobs: the promoted model of an attribute scores the usable images it has not
scored yet, and each score is kept as an ImageScore (calibrated, every label's probability).

Imports (new arrivals), promotion, the attribute card's button and `manage.py score` start
a job. The job reads its work off the database each time it is delivered: every usable
image of the dataset that is neither in the promoted run (those read their scores from the
run's RunImage rows) nor already in ImageScore for that run. So it is idempotent, and a job
whose worker died goes on where it stopped when it is delivered again (a starting worker
re-queues jobs whose heartbeat went stale: resume_stale_scoring_jobs).

The model is loaded from run.artifact_uri and images are read by URI (local files or S3)
through mlcore.infer.predict_items, the path `python -m mlcore predict` runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from curation import roles
from curation.models import (
    Attribute,
    Image,
    ImageScore,
    ImageStatus,
    Label,
    PromotedModel,
    RunImage,
    ScoringJob,
    TrainingRun,
)
from curation.services import queue
from curation.services.calibration import run_calibration
from curation.services.job_rows import error_text, mark_unqueued
from curation.storage import item_uri, s3_options

log = logging.getLogger(__name__)
TASK = "curation.score_images"
CHUNK = 1024  # images per predict call, per write transaction and per progress update
HEARTBEAT_EVERY = 2.0  # seconds between heartbeats (and cancel checks) inside a chunk
Status = ScoringJob.Status
Progress = Callable[[ScoringJob], None]


class ScoringError(Exception):
    """A job that cannot start; the message names the attribute and what to do."""


def score_queue() -> str:
    """The queue scoring jobs go to: CURATION_SCORE_QUEUE, "train" (GPU) or "cpu"."""
    return settings.CURATION_SCORE_QUEUE


def stale_before() -> Any:
    """A running job whose heartbeat is older than this has lost its worker."""
    return timezone.now() - timedelta(seconds=settings.CURATION_RUN_STALE_SECONDS)


def scoring_run(attribute: Attribute) -> TrainingRun:
    """The promoted run whose model scores `attribute`'s images; ScoringError when there is
    none or it has no stored model."""
    promoted = (
        PromotedModel.objects.select_related("run")
        .defer(*(f"run__{f}" for f in TrainingRun.HEAVY_FIELDS))
        .filter(attribute_id=attribute.pk)
        .first()
    )
    if promoted is None:
        raise ScoringError(
            f"attribute '{attribute.name}' has no promoted model: promote a succeeded run "
            "on its run page first"
        )
    if not promoted.run.artifact_uri:
        raise ScoringError(
            f"the promoted run {promoted.run_id} of '{attribute.name}' has no stored model; "
            "promote a run that finished training"
        )
    return promoted.run


def start_scoring_job(
    *, attribute: Attribute, actor, reason: str, enqueue: bool = True
) -> ScoringJob:
    """Queue a job scoring `attribute`'s images with its promoted model (data scientists).
    A job already queued or running for that model is returned instead of a second one,
    unless its worker has stopped making progress. enqueue=False leaves the job for the
    caller to run in-process (`manage.py score`)."""
    roles.check(actor, "score_images")
    return queue_scoring_job(attribute=attribute, actor=actor, reason=reason, enqueue=enqueue)


def queue_scoring_job(
    *, attribute: Attribute, reason: str, actor=None, enqueue: bool = True
) -> ScoringJob:
    """start_scoring_job without the role check: for the app's own triggers (an import, a
    promotion), which the actor's role already allowed."""
    run = scoring_run(attribute)
    with transaction.atomic():
        active = (
            ScoringJob.objects.select_for_update()
            .filter(attribute_id=attribute.pk, status__in=ScoringJob.ACTIVE)
            .order_by("-id")
            .first()
        )
        if active is not None and active.run_id == run.pk and not is_stale(active):
            return active
        if active is not None:  # another model now, or a dead worker: give it up
            fail_job(active.pk, "replaced by a newer scoring job")
        job = ScoringJob.objects.create(
            attribute=attribute, run=run, reason=reason[:40], created_by=actor
        )
        if enqueue:
            queue.enqueue(TASK, job.pk, queue=score_queue(), on_broker_error=fail_unqueued)
    return job


def queue_scoring_after_import(dataset_id: int, *, actor=None) -> list[ScoringJob]:
    """After an import that created images: a job per attribute with a promoted model."""
    jobs = []
    attributes = Attribute.objects.filter(dataset_id=dataset_id, promoted__isnull=False)
    attributes = attributes.exclude(promoted__run__artifact_uri="")
    for attribute in attributes.order_by("id"):
        jobs.append(queue_scoring_job(attribute=attribute, reason="import", actor=actor))
    return jobs


def queue_scoring_after_promotion(run: TrainingRun, *, actor=None) -> ScoringJob | None:
    """After a promotion: score what the newly promoted model has not seen."""
    if not run.artifact_uri or run.attribute is None:
        return None
    return queue_scoring_job(attribute=run.attribute, reason="promote", actor=actor)


def cancel_scoring_job(*, job: ScoringJob, actor) -> ScoringJob:
    """Stop a job: a queued one at once, a running one at its next heartbeat. The scores
    stored so far stay (each is complete); starting again scores the rest."""
    roles.check(actor, "score_images")
    ScoringJob.objects.filter(pk=job.pk, status=Status.QUEUED).update(
        status=Status.CANCELLED, cancel_requested=True, finished_at=timezone.now()
    )
    ScoringJob.objects.filter(pk=job.pk, status=Status.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()
    return job


def is_stale(job: ScoringJob) -> bool:
    return (
        job.status == Status.RUNNING
        and job.heartbeat_at is not None
        and job.heartbeat_at < stale_before()
    )


def fail_unqueued(job_id: int, exc: Exception) -> None:
    """The broker was down: the job fails at once with a reason (cheap to start again)."""
    queued = ScoringJob.objects.filter(pk=job_id, status=Status.QUEUED)
    mark_unqueued(queued, Status.FAILED, exc, again="start scoring again")


def fail_job(job_id: int, error: str) -> None:
    ScoringJob.objects.filter(pk=job_id, status__in=ScoringJob.ACTIVE).update(
        status=Status.FAILED, error=error, finished_at=timezone.now()
    )


def resume_stale_scoring_jobs() -> list[int]:
    """Re-queue running jobs whose worker died (called when a worker starts); the job goes
    on from the images it has not stored yet."""
    ids = list(
        ScoringJob.objects.filter(status=Status.RUNNING, heartbeat_at__lt=stale_before())
        .order_by("id")
        .values_list("id", flat=True)
    )
    for job_id in ids:
        try:
            queue.publish(TASK, [job_id], queue=score_queue())
        except queue.BROKER_ERRORS as exc:
            log.warning("could not re-queue scoring job %s: %s", job_id, exc)
    return ids


# -- the worker's part ------------------------------------------------------------------


def pending_images(job: ScoringJob):
    """The usable images of the job's dataset its run has no score for yet, by id."""
    run_images = RunImage.objects.filter(run_id=job.run_id).values("image_id")
    scored = ImageScore.objects.filter(run_id=job.run_id).values("image_id")
    return (
        Image.objects.filter(dataset_id=job.attribute.dataset_id, status=ImageStatus.OK)
        .exclude(file="")
        .exclude(pk__in=run_images)
        .exclude(pk__in=scored)
    )


@dataclass
class Scorer:
    """What a job holds while it runs: the loaded model and how to turn its output into
    rows (label ids in run.label_names order, the run's temperature)."""

    model: Any
    config: Any
    label_ids: list[int]
    temperature: float
    s3: Any


def load_scorer(run: TrainingRun, attribute: Attribute) -> Scorer:
    from mlcore.device import resolve_device
    from mlcore.store import load_model

    names = list(run.label_names)
    by_name = dict(
        Label.objects.filter(attribute_id=attribute.pk, name__in=names).values_list("name", "id")
    )
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ScoringError(
            f"labels {missing} of run {run.pk} no longer exist in '{attribute.name}'; "
            "retrain and promote a new run"
        )
    s3 = s3_options()
    saved = load_model(
        run.artifact_uri, device=resolve_device(settings.CURATION_SCORE_DEVICE), s3=s3
    )
    calibration = run_calibration(run)
    return Scorer(
        model=saved.model,
        config=replace(saved.config, num_workers=settings.CURATION_SCORE_WORKERS),
        label_ids=[by_name[n] for n in names],
        temperature=calibration.temperature if calibration is not None else 1.0,
        s3=s3,
    )


def run_scoring_job(job_id: int, *, progress: Progress | None = None) -> str:
    """The task's body. A finished job does nothing; a re-delivered one goes on with the
    images not stored yet. progress(job) is called after each chunk (the command's bar)."""
    job = ScoringJob.objects.select_related("attribute", "run").get(pk=job_id)
    if job.status not in ScoringJob.ACTIVE:
        return "already finished"
    if job.cancel_requested:
        return finish(job, Status.CANCELLED)
    pending = pending_images(job)
    stored = job.done - job.skipped  # rows this job wrote before a worker died
    now = timezone.now()
    job.total, job.done, job.skipped = stored + pending.count(), stored, 0
    ScoringJob.objects.filter(pk=job.pk).update(
        status=Status.RUNNING,
        total=job.total,
        done=job.done,
        skipped=0,
        started_at=job.started_at or now,
        heartbeat_at=now,
    )
    try:
        if job.total == job.done:
            return finish(job, Status.SUCCEEDED)
        scorer = load_scorer(job.run, job.attribute)
        cancelled = score_pending(job, pending, scorer, progress)
    except Exception as exc:  # the row must say why; the worker log has the traceback
        log.exception("scoring job %s failed", job_id)
        fail_job(job.pk, error_text(exc))
        return "failed"
    return finish(job, Status.CANCELLED if cancelled else Status.SUCCEEDED)


def score_pending(job: ScoringJob, pending, scorer: Scorer, progress: Progress | None) -> bool:
    """Score `pending` CHUNK at a time in id order, each chunk stored with the job's
    progress in one transaction. Returns True when it stopped for a cancel."""
    after = 0
    watch = Watch(job.pk)
    while True:
        rows = list(pending.filter(pk__gt=after).order_by("pk").values_list("pk", "file")[:CHUNK])
        if not rows:
            return False
        out = predict_chunk(scorer, [key for _, key in rows], watch)
        ids = np.array([pk for pk, _ in rows], dtype=np.int64)
        store_chunk(job, scorer, ids[out.indices], out.probs, skipped=len(out.skipped))
        if progress is not None:
            progress(job)
        if watch.cancelled or watch.check(force=True):
            return True
        after = rows[-1][0]


class Watch:
    """Between batches: a heartbeat on the job's row and a look at its cancel flag, at most
    every HEARTBEAT_EVERY seconds (a query per batch would cost more than small batches)."""

    def __init__(self, job_id: int):
        self.job_id = job_id
        self.last = 0.0
        self.cancelled = False

    def check(self, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self.last < HEARTBEAT_EVERY:
            return self.cancelled
        self.last = now
        ScoringJob.objects.filter(pk=self.job_id).update(heartbeat_at=timezone.now())
        self.cancelled = ScoringJob.objects.filter(pk=self.job_id, cancel_requested=True).exists()
        return self.cancelled

    def on_batch(self, done: int) -> bool:
        return self.check()


def predict_chunk(scorer: Scorer, keys: list[str], watch: Watch):
    """mlcore's predict path over stored files: raw probs (N', K) of the readable ones."""
    from mlcore.infer import predict_items

    return predict_items(
        scorer.model,
        [(item_uri(key), -1) for key in keys],
        config=scorer.config,
        batch_size=settings.CURATION_SCORE_BATCH_SIZE,
        s3=scorer.s3,
        on_batch=watch.on_batch,
    )


def score_rows(job: ScoringJob, scorer: Scorer, image_ids: np.ndarray, raw: np.ndarray):
    """ImageScore objects from raw probs (N, K): calibrated with the run's temperature."""
    from mlcore.eval.calibration import apply_temperature

    probs = apply_temperature(raw, scorer.temperature) if len(raw) else raw  # (N, K)
    best = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)  # (N,)
    return [
        ImageScore(
            run_id=job.run_id,
            image_id=int(image_id),
            attribute_id=job.attribute_id,
            probs=[round(float(v), 5) for v in row],
            predicted_label_id=scorer.label_ids[int(k)],
            confidence=float(row[k]),
        )
        for image_id, row, k in zip(image_ids.tolist(), probs, best.tolist(), strict=True)
    ]


def store_chunk(
    job: ScoringJob, scorer: Scorer, image_ids: np.ndarray, raw: np.ndarray, *, skipped: int
) -> None:
    """One transaction: the chunk's scores (a row already there is kept: re-delivery) and
    the job's progress, so `done` never counts a row that is not stored."""
    rows = score_rows(job, scorer, image_ids, raw)
    job.done += len(rows) + skipped
    job.skipped += skipped
    with transaction.atomic():
        ImageScore.objects.bulk_create(rows, ignore_conflicts=True)
        ScoringJob.objects.filter(pk=job.pk).update(
            done=job.done, skipped=job.skipped, heartbeat_at=timezone.now()
        )


def finish(job: ScoringJob, status: str) -> str:
    ScoringJob.objects.filter(pk=job.pk, status__in=ScoringJob.ACTIVE).update(
        status=status, finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    job.status = status
    return str(status)

"""Queue, cancel and promote runs, and re-queue runs whose worker died (both kinds)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from curation import roles
from curation.models import PromotedModel, TrainingRun
from curation.queries.strength import run_strength
from curation.services import queue
from curation.services.runs.options import TrainingError
from curation.services.scoring import queue_scoring_after_promotion

TASK = "curation.train_run"
# progress key of a queued run whose task never reached the broker
NOT_QUEUED = "not_queued"


def mark_not_queued(run_id: int, exc: Exception) -> None:
    """The broker was down: the run stays queued with a note, and the next worker that
    starts queues it (resume_stale_runs)."""
    TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(
        progress={
            "phase": "queued",
            NOT_QUEUED: f"the task queue could not be reached ({exc}); "
            "the run will be queued when a worker starts",
        }
    )


def enqueue_run(run: TrainingRun) -> None:
    """Put the run on the `train` queue once the current transaction commits."""
    queue.enqueue(TASK, run.pk, queue=queue.TRAIN, on_broker_error=mark_not_queued)


def cancel_training_run(*, run: TrainingRun, actor) -> TrainingRun:
    """Ask a run to stop. A queued run stops at once; a running one within one step."""
    roles.check(actor, "train")
    now = timezone.now()
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.CANCELLED,
        cancel_requested=True,
        finished_at=now,
        progress={**run.progress, "phase": "cancelled"},
    )
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(
        cancel_requested=True
    )
    run.refresh_from_db()
    return run


class WeakRunError(TrainingError):
    """A weak run (see queries/strength.py) was promoted without confirm_weak."""


def promote_training_run(*, run: TrainingRun, actor, confirm_weak: bool = False) -> PromotedModel:
    """Make a succeeded run's model the attribute's current model. A weak run (test accuracy
    not clearly above the majority-class baseline) needs confirm_weak: its suggestions
    would be presented as a model's while they are little better than chance."""
    roles.check(actor, "train")
    if run.status != TrainingRun.Status.SUCCEEDED:
        raise TrainingError(f"only a succeeded run can be promoted; run {run.pk} is {run.status}")
    if run.attribute_id is None:
        raise TrainingError("this run has no attribute to promote it for")
    strength = run_strength(run)
    if strength is not None and strength.weak and not confirm_weak:
        raise WeakRunError(
            f"run {run.pk} is a weak model: test accuracy {strength.accuracy:.1%} "
            f"(95% interval {strength.low:.1%} to {strength.high:.1%} on {strength.n} images) "
            f"is not clearly above {strength.baseline:.1%}, what always answering "
            f"'{strength.majority}' scores; promote it anyway with confirm_weak"
        )
    promoted, _ = PromotedModel.objects.update_or_create(
        attribute_id=run.attribute_id, defaults={"run": run, "promoted_by": actor}
    )
    queue_scoring_after_promotion(run, actor=actor)
    return promoted


def stale_before() -> Any:
    """Heartbeats older than this belong to a dead worker."""
    return timezone.now() - timedelta(seconds=settings.CURATION_RUN_STALE_SECONDS)


def resume_stale_runs() -> list[int]:
    """Re-queue runs whose worker died (running with a stale heartbeat) and runs that never
    reached the broker (queued, with a note). Called when a worker starts; the task is
    idempotent, so a duplicate delivery is harmless."""
    Status = TrainingRun.Status
    ids = list(
        TrainingRun.objects.filter(
            Q(status=Status.RUNNING) & (Q(heartbeat_at__lt=stale_before()) | Q(heartbeat_at=None))
            | Q(status=Status.QUEUED, progress__has_key=NOT_QUEUED)
        ).values_list("id", flat=True)
    )
    for run_id in ids:
        try:
            queue.publish(TASK, [run_id], queue=queue.TRAIN)
        except queue.BROKER_ERRORS as exc:
            mark_not_queued(run_id, exc)
            continue
        TrainingRun.objects.filter(
            pk=run_id, status=Status.QUEUED, progress__has_key=NOT_QUEUED
        ).update(progress={"phase": "queued"})
    return ids

"""Resuming a cancelled or failed run: back on the `train` queue, where the worker continues
from the run's checkpoints (the model's last finished epoch, then the cross-fitting folds
already trained) instead of starting again. Runs whose worker died are re-queued by
control.resume_stale_runs without anyone asking."""

from __future__ import annotations

from collections import Counter

from django.db import transaction

from curation import roles
from curation.models import RunImage, Split, TrainingRun
from curation.services.runs.checks import check_run_options
from curation.services.runs.control import enqueue_run
from curation.services.runs.options import TrainingError

Status = TrainingRun.Status
RESUMABLE = (Status.CANCELLED, Status.FAILED)


def resume_training_run(*, run: TrainingRun, actor) -> TrainingRun:
    """Queue a cancelled or failed run again; TrainingError when it can't resume (another
    status, or options that can no longer work on this machine)."""
    roles.check(actor, "train")
    if run.status not in RESUMABLE:
        raise TrainingError(
            f"only a cancelled or failed run can be resumed; run {run.pk} is {run.status}"
        )
    if run.kind == TrainingRun.Kind.CLASSIFIER:
        recheck_options(run)
    with transaction.atomic():
        queued = TrainingRun.objects.filter(pk=run.pk, status__in=RESUMABLE).update(
            status=Status.QUEUED,
            cancel_requested=False,
            finished_at=None,
            heartbeat_at=None,
            error="",
            failed_phase="",
            progress={**run.progress, "phase": "queued", "resumed_after": run.status},
        )
        if not queued:  # resumed (or otherwise moved on) since it was read
            run.refresh_from_db()
            raise TrainingError(f"run {run.pk} is {run.status} now; it can't be resumed")
        enqueue_run(run)
    run.refresh_from_db()
    return run


def recheck_options(run: TrainingRun) -> None:
    """The run's options checked again as at its start (its checkpoints need the same
    config, so a config that can't work would only fail again): TrainingError if not."""
    from mlcore.config import ConfigError, TrainConfig

    try:
        TrainConfig.from_dict(run.config).validate()
    except ConfigError as exc:
        raise TrainingError(
            f"{exc}; this run can't resume with it: start a new run", option=exc.field
        ) from None
    labels = RunImage.objects.filter(run=run, split=Split.TRAIN).values_list(
        "given_label_id", flat=True
    )
    counts = Counter(labels.iterator(chunk_size=5000))
    check_run_options(
        run.config,
        given=set(run.config),
        train_counts=list(counts.values()),
        num_classes=len(run.label_names),
    )

"""Training runs: start (one click), cancel, promote, and resume runs whose worker died.

The heavy work happens in services/training_exec.py, on a `train` queue worker. The web
process never imports torch.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import fields
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from kombu.exceptions import OperationalError as KombuOperationalError

from curation.models import (
    Annotation,
    Attribute,
    Dataset,
    Image,
    ImageStatus,
    PromotedModel,
    RunImage,
    Split,
    TrainingRun,
)

log = logging.getLogger(__name__)
# progress key of a queued run whose task never reached the broker
NOT_QUEUED = "not_queued"
# What publishing raises when the broker is down (kombu wraps most in OperationalError).
BROKER_ERRORS = (KombuOperationalError, ConnectionError, OSError)


class TrainingError(ValueError):
    """A run can't start as asked; the message says why and what to do."""


def check_can_train(user) -> None:
    if user is None or not user.has_perm("curation.start_training"):
        raise PermissionDenied("your role cannot start training runs (data scientist needed)")


def typical_side(dataset: Dataset) -> int:
    """Median longer side of (up to 500 of) the dataset's usable images; 224 when unknown."""
    sizes = list(
        Image.objects.filter(dataset=dataset, status=ImageStatus.OK)
        .exclude(width=None)
        .exclude(height=None)
        .values_list("width", "height")[:500]
    )
    return int(statistics.median(max(w or 0, h or 0) for w, h in sizes)) if sizes else 224


def default_options(dataset: Dataset, arch: str | None = None) -> dict[str, Any]:
    """Sensible defaults for this catalog and architecture on a CPU worker.

    ResNets train from random weights (small images get a small stem); EfficientNet-Lite0
    fine-tunes from the ImageNet weights with AdamW, which needs far fewer epochs.
    """
    side = typical_side(dataset)
    small = side <= 64
    if arch == "efficientnet_lite0":
        # bench/quality.py's Lite0 recipe: 93.4% on Fashion-MNIST in 3 CPU epochs at 32 px.
        return {
            "arch": arch,
            "pretrained": True,
            "small_stem": small,
            "image_size": 32 if small else min(side, 128),
            "epochs": 3 if small else 5,
            "batch_size": 128 if small else 64,
            "optimizer": "adamw",
            "lr": 2e-3,
            "weight_decay": 0.02,
            "warmup_epochs": 0.3,
            "label_smoothing": 0.1,
            "crop_scale": (0.7, 1.0) if small else (0.25, 1.0),
            "eval_crop_fraction": 1.0 if small else 0.875,
            "cache_decoded": True if small else None,
            "cv_folds": 3,
            "cv_epochs": 1,
            "progress_every": 20 if small else 10,
        }
    if small:
        # bench/quality.py's Fashion-MNIST recipe: 93% test accuracy in 8-10 CPU epochs.
        return {
            "arch": arch or "resnet18",
            "small_stem": True,
            "image_size": side,
            "width": 32,
            "epochs": 8,
            "batch_size": 128,
            "lr": 0.1,
            "warmup_epochs": 0.5,
            "label_smoothing": 0.1,
            "crop_scale": (0.7, 1.0),
            "eval_crop_fraction": 1.0,
            "cache_decoded": True,
            "cv_folds": 3,
            "cv_epochs": 2,
            "progress_every": 20,
        }
    return {
        "arch": arch or "resnet18",
        "small_stem": False,
        "image_size": min(side, 128),
        "width": 32,
        "epochs": 10,
        "batch_size": 64,
        "lr": 0.05,
        "cv_folds": 3,
        "cv_epochs": 3,
        "progress_every": 10,
    }


def build_config(
    dataset: Dataset, options: dict[str, Any], *, trusted: bool = False
) -> dict[str, Any]:
    """Defaults overlaid with the user's options, validated by mlcore's TrainConfig.

    trusted: options from the command line. From the page or the API a weights_path must
    name a file in settings.CURATION_WEIGHTS_DIR, so a run can't be pointed at any file the
    worker can read.
    """
    from mlcore.config import TrainConfig  # light: no torch import

    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TrainingError(
            f"unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
        )
    types = {f.name: str(f.type) for f in fields(TrainConfig)}
    given = {k: _coerce(k, v, types[k]) for k, v in options.items() if v not in (None, "")}
    if given.get("weights_path") and not trusted:
        given["weights_path"] = str(_weights_file(str(given["weights_path"])))
    merged = {**default_options(dataset, given.get("arch")), **given}
    try:
        config = TrainConfig.from_dict(merged)
        config.validate()
    except (TypeError, ValueError) as exc:
        raise TrainingError(str(exc)) from exc
    return config.to_dict()


def _weights_file(raw: str) -> Path:
    folder = Path(settings.CURATION_WEIGHTS_DIR).resolve()
    path = (folder / raw).resolve()  # a bare file name is taken inside the folder
    if not path.is_relative_to(folder):
        raise TrainingError(
            f"weights_path must name a file in {folder} (CURATION_WEIGHTS_DIR); copy the "
            "weights there, or start the run with `manage.py train` on the server"
        )
    if not path.is_file():
        raise TrainingError(f"weights_path: there is no file {path.name} in {folder}")
    return path


# Upper bounds for options from the page and the API: beyond them a run would only exhaust
# the worker (memory, disk, or years of epochs).
OPTION_LIMITS = {
    "epochs": 500,
    "cv_epochs": 500,
    "image_size": 1024,
    "width": 512,
    "batch_size": 4096,
    "cv_folds": 20,
    "num_workers": 64,
    "cache_max_mb": 262_144,
}
_TRUE, _FALSE = {"1", "true", "on", "yes"}, {"0", "false", "off", "no"}


def _coerce(name: str, value: Any, type_name: str) -> Any:
    """`value` as the TrainConfig field's type, or TrainingError naming the option."""
    base = type_name.split("|")[0].strip()
    if base == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise TrainingError(f"option '{name}' must be true or false, got {value!r}")
    if base == "int":
        if isinstance(value, str) and value.strip().lstrip("-").isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise TrainingError(f"option '{name}' must be a whole number, got {value!r}")
        limit = OPTION_LIMITS.get(name)
        if limit is not None and value > limit:
            raise TrainingError(f"option '{name}' may be at most {limit}, got {value}")
        return value
    if base == "float":
        try:
            number = float(value) if isinstance(value, int | float | str) else math.nan
        except ValueError:
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number):
            raise TrainingError(f"option '{name}' must be a number, got {value!r}")
        return number
    if base.startswith("tuple"):
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise TrainingError(f"option '{name}' must be a pair of numbers, e.g. [0.25, 1.0]")
        return tuple(_coerce(name, v, "float") for v in value)
    if not isinstance(value, str) or "\x00" in value or len(value) > 1000:
        raise TrainingError(f"option '{name}' must be plain text, got {value!r:.80}")
    return value


@transaction.atomic
def start_training_run(
    *,
    dataset: Dataset,
    attribute: Attribute,
    options: dict[str, Any] | None = None,
    actor,
    trusted: bool = False,
) -> TrainingRun:
    """Snapshot the attribute's labels and queue a run on the `train` queue. trusted: the
    options come from the command line (see build_config)."""
    check_can_train(actor)
    if attribute.dataset_id != dataset.pk:
        raise TrainingError(f"attribute '{attribute.name}' is not part of dataset '{dataset.name}'")
    config = build_config(dataset, options or {}, trusted=trusted)
    labels = list(attribute.labels.order_by("position", "id"))
    rows = list(
        Annotation.objects.filter(
            attribute=attribute, label__isnull=False, image__status=ImageStatus.OK
        )
        .order_by("image_id")
        .values_list("image_id", "image__split", "label_id")
    )
    train = sum(1 for _, split, _ in rows if split == Split.TRAIN)
    test = len(rows) - train
    used = {label_id for _, split, label_id in rows if split == Split.TRAIN}
    if len(labels) < 2 or len(used) < 2:
        raise TrainingError(
            f"'{attribute.name}' needs labelled training images of at least two labels "
            f"(found {len(used)} label(s) in {train} training images)"
        )
    if test == 0:
        raise TrainingError(f"'{attribute.name}' has no labelled test images to evaluate on")
    run = TrainingRun.objects.create(
        dataset=dataset,
        attribute=attribute,
        config=config,
        label_names=[label.name for label in labels],
        created_by=actor,
        train_count=train,
        test_count=test,
        progress={"phase": "queued"},
    )
    RunImage.objects.bulk_create(
        (
            RunImage(run=run, image_id=image_id, split=split, given_label_id=label_id)
            for image_id, split, label_id in rows
        ),
        batch_size=5000,
    )
    transaction.on_commit(lambda: enqueue_training_run(run.pk))
    return run


def enqueue_training_run(run_id: int) -> bool:
    """Put the run on the `train` queue. If the broker can't be reached, the run stays queued
    with a note saying so, and the next worker that starts queues it (resume_stale_runs)."""
    from curation.tasks import train_run

    try:
        train_run.apply_async(args=[run_id], queue="train")
    except BROKER_ERRORS as exc:
        log.warning("could not queue training run %s: %s", run_id, exc)
        TrainingRun.objects.filter(pk=run_id, status=TrainingRun.Status.QUEUED).update(
            progress={
                "phase": "queued",
                NOT_QUEUED: f"the task queue could not be reached ({exc}); "
                "the run will be queued when a worker starts",
            }
        )
        return False
    return True


def cancel_training_run(*, run: TrainingRun, actor) -> TrainingRun:
    """Ask a run to stop. A queued run stops at once; a running one within one step."""
    check_can_train(actor)
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


def promote_training_run(*, run: TrainingRun, actor) -> PromotedModel:
    """Make a succeeded run's model the attribute's current model."""
    check_can_train(actor)
    if run.status != TrainingRun.Status.SUCCEEDED:
        raise TrainingError(f"only a succeeded run can be promoted; run {run.pk} is {run.status}")
    if run.attribute_id is None:
        raise TrainingError("this run has no attribute to promote it for")
    promoted, _ = PromotedModel.objects.update_or_create(
        attribute_id=run.attribute_id, defaults={"run": run, "promoted_by": actor}
    )
    return promoted


def stale_before() -> Any:
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
        if enqueue_training_run(run_id):
            TrainingRun.objects.filter(
                pk=run_id, status=Status.QUEUED, progress__has_key=NOT_QUEUED
            ).update(progress={"phase": "queued"})
    return ids

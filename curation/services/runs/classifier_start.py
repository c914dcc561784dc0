"""Starting a classifier run (web process, no torch): defaults for the catalog, options
validated by mlcore's TrainConfig, the attribute's labels snapshotted into RunImage rows,
then the run queued on the `train` queue (classifier_worker does the work)."""

from __future__ import annotations

from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from curation import roles
from curation.models import (
    Annotation,
    Attribute,
    Dataset,
    ImageStatus,
    RunImage,
    Split,
    TrainingRun,
)
from curation.queries.catalog import typical_side
from curation.services.runs.checks import check_run_options
from curation.services.runs.control import enqueue_run
from curation.services.runs.options import TrainingError, check_devices, coerce_option


def default_options(dataset: Dataset, arch: str | None = None) -> dict[str, Any]:
    """Sensible defaults for this catalog and architecture on a CPU worker (see recipe)."""
    return recipe(typical_side(dataset), arch)


def recipe(side: int, arch: str | None = None) -> dict[str, Any]:
    """The default options for images whose longer side is typically `side` pixels.

    ResNets train from random weights (small images get a small stem); EfficientNet-Lite0
    fine-tunes from the ImageNet weights with AdamW, which needs far fewer epochs. Without
    an architecture every catalog gets Lite0: on photos a ResNet-18 from random weights
    needs far more images than a catalog's few hundred per label (the synthetic necklines'
    form default, ResNet-18 for 10 epochs, stayed at chance: 24% on 4 classes), where
    ImageNet features already tell a collar from a strap.
    """
    small = side <= 64
    if arch == "efficientnet_lite0" or arch is None:
        # bench/quality.py's Lite0 recipe: 93.4% on Fashion-MNIST in 3 CPU epochs at 32 px.
        # Small catalogs cross-fit with 4 folds of the run's own 3 epochs: on 12,000 / 3,000
        # Fashion-MNIST images with 10% realistic label noise the fold models were 87%
        # accurate on the images they held out (ResNet-18 with 3 folds x 2 epochs: 69%),
        # and the mislabel ranking's precision at k rose from 0.53 to 0.77 (AUROC 0.90 ->
        # 0.975) for about the same CPU time.
        return {
            "arch": "efficientnet_lite0",
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
            "cv_folds": 4 if small else 3,
            "cv_epochs": 3 if small else 1,
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
    from mlcore.config import ConfigError, TrainConfig  # light: no torch import

    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(options) - known)
    if unknown:
        raise TrainingError(
            f"unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}"
        )
    types = {f.name: str(f.type) for f in fields(TrainConfig)}
    if isinstance(options.get("devices"), int):  # JSON's 2 means "2"
        options = {**options, "devices": str(options["devices"])}
    given = {k: coerce_option(k, v, types[k]) for k, v in options.items() if v not in (None, "")}
    if given.get("weights_path") and not trusted:
        given["weights_path"] = str(weights_file(str(given["weights_path"])))
    merged = {**default_options(dataset, given.get("arch")), **given}
    try:
        config = TrainConfig.from_dict(merged)
        config.validate()
    except ConfigError as exc:
        raise TrainingError(str(exc), option=exc.field) from exc
    except (TypeError, ValueError) as exc:
        raise TrainingError(str(exc)) from exc
    check_devices(config.devices, config.device)
    return config.to_dict()


def weights_file(raw: str) -> Path:
    """The weights file `raw` names inside CURATION_WEIGHTS_DIR, or TrainingError."""
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


@transaction.atomic
def start_training_run(
    *,
    dataset: Dataset,
    attribute: Attribute,
    options: dict[str, Any] | None = None,
    actor,
    trusted: bool = False,
    idempotency_key: str = "",
) -> TrainingRun:
    """Snapshot the attribute's labels and queue a run on the `train` queue. trusted: the
    options come from the command line (see build_config). idempotency_key: taken when the
    row is created, before the snapshot, so a repeat in flight waits on it
    (services/runs/idempotency.py)."""
    roles.check(actor, "train")
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
    counts = Counter(label_id for _, split, label_id in rows if split == Split.TRAIN)
    given = {k for k, v in (options or {}).items() if v not in (None, "")}
    config = check_run_options(
        config,
        given=given,
        train_counts=list(counts.values()),
        num_classes=len(labels),
    )
    run = TrainingRun.objects.create(
        dataset=dataset,
        attribute=attribute,
        config=config,
        label_names=[label.name for label in labels],
        created_by=actor,
        train_count=train,
        test_count=test,
        progress={"phase": "queued"},
        idempotency_key=idempotency_key,
    )
    RunImage.objects.bulk_create(
        (
            RunImage(run=run, image_id=image_id, split=split, given_label_id=label_id)
            for image_id, split, label_id in rows
        ),
        batch_size=5000,
    )
    enqueue_run(run)
    return run

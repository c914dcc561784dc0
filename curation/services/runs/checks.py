"""A classifier run's options checked as a whole, against its catalog, before it is queued:
every combination that would fail later in the worker (after minutes or hours of training)
is refused now with a TrainingError naming the option and what would work.

Single options are coerced and bounded in options.py; TrainConfig.validate() refuses
impossible values and pairs of its own fields (pretrained weights, the linear probe's
backbone). What needs the catalog's counts, this machine or a model is here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Sequence
from typing import Any

from curation.services.runs.options import TrainingError

DEVICE = re.compile(r"auto|cpu|cuda(:\d{1,3})?")


def check_run_options(
    config: dict[str, Any],
    *,
    given: Collection[str],
    train_counts: Sequence[int],
    num_classes: int,
) -> dict[str, Any]:
    """The config to queue, or TrainingError. given: the options the user set (the rest
    are defaults); train_counts: training images per label that has any."""
    from mlcore.config import ConfigError, TrainConfig
    from mlcore.preflight import check_weights

    config = fit_folds(config, given=given, counts=train_counts)
    config = fit_cache(config, given=given, n_train=sum(train_counts))
    train = TrainConfig.from_dict(config)
    check_device(train)
    check_folds(train, train_counts)
    check_batches(train, n_train=sum(train_counts), num_classes=num_classes)
    try:
        check_weights(train, num_classes)
    except ConfigError as exc:
        raise TrainingError(str(exc), option=exc.field) from None
    return config


def check_device(config) -> None:
    """device is one torch can use here; several devices can't all be one named GPU."""
    from mlcore.config import parse_devices

    device = config.device
    if not DEVICE.fullmatch(device):
        raise TrainingError(
            f"option 'device' must be auto, cpu, cuda or cuda:N, got {device!r:.40}",
            option="device",
        )
    if device.startswith("cuda"):
        import torch

        have = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if int(device.partition(":")[2] or 0) >= have:
            named = f", or cuda:0 to cuda:{have - 1}" if have else ""
            raise TrainingError(
                f"option 'device' asks for {device} but this machine has {have} GPU(s); "
                f"use auto or cpu{named}",
                option="device",
            )
    if ":" in device and parse_devices(config.devices) != 1:
        raise TrainingError(
            f"option 'devices' trains on several GPUs, so device can't name one ({device}); "
            "use device=cuda or auto, or devices=1",
            option="devices",
        )


def most_folds(counts: Sequence[int], cv_method: str) -> int:
    """The most folds these label counts stratify (the linear probe: two labels' worth)."""
    ordered = sorted(counts, reverse=True) + [0]
    return ordered[1] if cv_method == "linear_probe" else ordered[0]


def fit_folds(
    config: dict[str, Any], *, given: Collection[str], counts: Sequence[int]
) -> dict[str, Any]:
    """A recipe's cv_folds that this catalog's labels are too small for comes down to what
    they allow (at least 2); the user's own is left to check_folds."""
    most = most_folds(counts, str(config.get("cv_method", "kfold")))
    if "cv_folds" in given or not 2 <= most < int(config["cv_folds"]):
        return config
    return {**config, "cv_folds": most}


def check_folds(config, counts: Sequence[int]) -> None:
    """Stratified folds need a label with cv_folds images; the linear probe's regression
    needs two labels in every fold's training part."""
    k, n = config.cv_folds, sum(counts)
    ordered = sorted(counts, reverse=True)
    if k > n:
        raise TrainingError(
            f"option 'cv_folds' is {k}, more than the {n} training images; use 2 to {n}",
            option="cv_folds",
        )
    if k > ordered[0]:
        raise TrainingError(
            f"option 'cv_folds' is {k} but the largest label has {ordered[0]} training "
            f"images, too few to stratify {k} folds; use 2 to {ordered[0]}",
            option="cv_folds",
        )
    second = ordered[1] if len(ordered) > 1 else 0
    if config.cv_method == "linear_probe" and k > second:
        fewer = f"cv_folds 2 to {second}, or " if second >= 2 else ""
        raise TrainingError(
            f"option 'cv_folds' is {k}, but the linear probe needs two labels with {k} or "
            f"more training images (each fold's regression sees two labels); use {fewer}"
            "cv_method=kfold",
            option="cv_folds",
        )


def fit_cache(config: dict[str, Any], *, given: Collection[str], n_train: int) -> dict[str, Any]:
    """The decoded cache must fit cache_max_mb. A recipe's cache_decoded=True that no longer
    fits (the user raised image_size) falls back to auto; the user's own is refused."""
    from mlcore.config import cache_bytes

    size, limit = int(config["image_size"]), int(config["cache_max_mb"])
    need = math.ceil(cache_bytes(n_train, size) / 2**20)
    if config.get("cache_decoded") is not True or need <= limit:
        return config
    if "cache_decoded" not in given:
        return {**config, "cache_decoded": None}
    raise TrainingError(
        f"option 'cache_decoded': {n_train} training images at {size} px need {need} MB "
        f"decoded, more than cache_max_mb={limit}; lower image_size, raise cache_max_mb, "
        "or leave cache_decoded unset",
        option="cache_decoded",
    )


def check_batches(config, *, n_train: int, num_classes: int) -> None:
    """A batch of one image (batch_size 1, one image per device, a fold model with one
    image) can't train where the model's last feature map is 1x1 (batch norm)."""
    from mlcore.config import parse_devices, world_size_for
    from mlcore.preflight import trains_on_one_image

    world = 1 if parse_devices(config.devices) == 1 else world_size_for(config)
    per_device = math.ceil(n_train / world)
    fold_train = n_train - math.ceil(n_train / config.cv_folds)
    if config.cv_method != "kfold":
        fold_train = n_train
    if min(config.batch_size, per_device, fold_train) >= 2:
        return
    if trains_on_one_image(config, num_classes):
        return
    if config.batch_size == 1:
        option, why, fix = "batch_size", "batch_size=1", "use batch_size 2 or more"
    elif per_device == 1:
        option, why, fix = "devices", f"{world} devices for {n_train} images", "use fewer"
    else:
        option, why, fix = "cv_folds", f"{config.cv_folds} folds", "use fewer"
    raise TrainingError(
        f"option '{option}': {why} gives batches of one image, and {config.arch} at "
        f"{config.image_size} px can't train on one (batch norm needs more than one value "
        f"per channel); {fix}, or a larger image_size",
        option=option,
    )

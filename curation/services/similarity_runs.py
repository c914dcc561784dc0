"""Similarity runs: train the look-alike embedding (a triplet net, optionally with a dress
localizer) through the same run machinery as classifier runs: a TrainingRun of kind
"similarity" on the `train` queue, heartbeat, progress, cancel, resume from the checkpoint.

Starting a run (web process, no torch) validates the options; the worker (`train_similarity`,
called by training_exec) freezes its inputs in the run's folder on the first delivery, so a
redelivered task resumes on the same images, boxes and triplets however the labels changed
meanwhile. Triplets whose three images all lie in the train split train the net; triplets
whose three images all lie in the fixed test split measure it (held-out triplet accuracy,
chance 0.5), so no test product is ever trained on. A run that succeeds queues an index
build with its net, so search uses the trained embedding.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import fields
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from curation.models import Attribute, Dataset, Image, ImageStatus, Split, TrainingRun
from curation.services.training import (
    OPTION_LIMITS,
    TrainingError,
    _coerce,
    check_can_train,
    enqueue_training_run,
    typical_side,
)

# Options of the run itself (the rest are mlcore TripletConfig fields), with their types.
RUN_OPTIONS: dict[str, str] = {
    "localize": "bool",  # train a dress localizer on the boxes and crop with it
    "localize_epochs": "int",  # None: as many as the triplet net
    "flip_per_image": "int",  # automatic (i, re-cropped / flipped i, j) triplets per image
    "group_per_image": "int",  # (i, another photo of its product, another product)
    "attribute_per_image": "int",  # (i, same labels, labels differing in few attributes)
    "human_repeat": "int",  # each person's judgement counts this many times per epoch
    "held_per_image": "int",  # automatic triplets per test-split image, for the test rate
}
RUN_DEFAULTS: dict[str, Any] = {
    "localize": False,
    "localize_epochs": None,
    "flip_per_image": 1,
    "group_per_image": 2,
    "attribute_per_image": 2,
    "human_repeat": 2,
    "held_per_image": 4,
}
# Left to the worker, or not for the page and API (a path on the worker's disk).
HIDDEN = {"device", "weights_path"}
LIMITS = {"dim": 4096, "localize_epochs": 500, **dict.fromkeys(RUN_OPTIONS, 20), **OPTION_LIMITS}
LOCALIZE_MIN_BOXES = 20  # training-split images with a box before a localizer is worth it


def _triplet_fields() -> dict[str, str]:
    from mlcore.similarity.embed import TripletConfig

    return {f.name: str(f.type) for f in fields(TripletConfig) if f.name not in HIDDEN}


def default_similarity_options(dataset: Dataset) -> dict[str, Any]:
    """A CPU-friendly start: small catalogs images get a small-stem ResNet-18 from scratch,
    photos the ImageNet EfficientNet-Lite0 at the index's embedding size."""
    side = typical_side(dataset)
    if side <= 64:
        base = {
            "arch": "resnet18",
            "pretrained": False,
            "small_stem": True,
            "width": 32,
            "image_size": side,
            "lr": 0.01,
            "batch_size": 64,
        }
    else:
        # lr: TripletConfig's default, tuned for Lite0 in bench/similarity.py
        base = {
            "arch": "efficientnet_lite0",
            "pretrained": True,
            "small_stem": False,
            "image_size": settings.CURATION_EMBED_SIZE,
            "batch_size": 32,
        }
    return {**base, "epochs": 10, "dim": 128, "margin": 0.2, "progress_every": 10, **RUN_DEFAULTS}


def build_similarity_config(dataset: Dataset, options: dict[str, Any]) -> dict[str, Any]:
    """Defaults overlaid with the user's options, each coerced to its type and bounded,
    then validated by mlcore's TripletConfig. TrainingError names the option."""
    from mlcore.similarity.embed import TripletConfig

    types = {**_triplet_fields(), **RUN_OPTIONS}
    unknown = sorted(set(options) - set(types))
    if unknown:
        raise TrainingError(
            f"unknown option(s) {', '.join(unknown)}; allowed: {', '.join(sorted(types))}"
        )
    given = {}
    for name, value in options.items():
        if value in (None, ""):
            continue
        given[name] = _coerce(name, value, types[name])
        limit = LIMITS.get(name)
        if isinstance(given[name], int | float) and limit is not None and given[name] > limit:
            raise TrainingError(f"option '{name}' may be at most {limit}, got {given[name]}")
        if RUN_OPTIONS.get(name) == "int" and given[name] < 0:
            raise TrainingError(f"option '{name}' must be 0 or more, got {given[name]}")
    merged = {**default_similarity_options(dataset), **given}
    if merged["arch"] != "efficientnet_lite0" and "pretrained" not in given:
        merged["pretrained"] = False  # ImageNet weights ship for Lite0 only
    if not 0 < merged["margin"] <= 4:
        raise TrainingError(
            "option 'margin' must be in (0, 4] (squared distances of unit vectors), "
            f"got {merged['margin']}"
        )
    if merged["localize_epochs"] is not None and merged["localize_epochs"] < 1:
        raise TrainingError("option 'localize_epochs' must be at least 1")
    if not merged["flip_per_image"] + merged["group_per_image"] + merged["attribute_per_image"]:
        raise TrainingError(
            "flip_per_image, group_per_image and attribute_per_image are all 0: "
            "the net would have no automatic triplets"
        )
    try:
        config = TripletConfig.from_dict(merged)
        config.backbone_config()  # validates
    except (TypeError, ValueError) as exc:
        raise TrainingError(str(exc).replace("TrainConfig.", "")) from exc
    return {**config.to_dict(), **{k: merged[k] for k in RUN_OPTIONS}}


@transaction.atomic
def start_similarity_run(
    *, dataset: Dataset, options: dict[str, Any] | None = None, actor
) -> TrainingRun:
    """Queue a similarity run for the dataset on the `train` queue (data scientists)."""
    check_can_train(actor)
    config = build_similarity_config(dataset, options or {})
    usable = Image.objects.filter(dataset=dataset, status=ImageStatus.OK).exclude(file="")
    train = usable.filter(split=Split.TRAIN).count()
    test = usable.filter(split=Split.TEST).count()
    if train < 2:
        raise TrainingError(
            f"'{dataset.name}' needs at least two usable training-split images to learn "
            f"look-alikes from (found {train}); import more photos first"
        )
    names = list(
        Attribute.objects.filter(dataset=dataset)
        .order_by("position", "id")
        .values_list("name", flat=True)
    )
    run = TrainingRun.objects.create(
        dataset=dataset,
        attribute=None,
        kind=TrainingRun.Kind.SIMILARITY,
        config=config,
        label_names=names,
        created_by=actor,
        train_count=train,
        test_count=test,
        progress={"phase": "queued"},
    )
    transaction.on_commit(lambda: enqueue_training_run(run.pk))
    return run


# ---- models in storage ---------------------------------------------------------------------


def local_artifact(uri: str) -> str:
    """A local path for a stored model: the path itself, or an s3:// object downloaded once
    into VAR_DIR/cache/models (keys name one run's file, so a copy never goes stale)."""
    from curation.services.training_exec import _s3_options
    from mlcore.storage import is_s3, read_bytes

    if not is_s3(uri):
        return uri
    name = hashlib.sha256(uri.encode()).hexdigest()[:24] + "-" + uri.rsplit("/", 1)[-1]
    path = Path(settings.VAR_DIR) / "cache" / "models" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
        tmp.write_bytes(read_bytes(uri, s3=_s3_options()))
        os.replace(tmp, path)
    return str(path)


def run_embedder(run: TrainingRun):
    """The triplet net of a succeeded similarity run, on the CPU."""
    from mlcore.similarity import triplet_embedder

    return triplet_embedder(local_artifact(run.artifact_uri))


def run_localizer(run: TrainingRun | None):
    """The run's dress localizer, or None when it trained none."""
    uri = ((run.metrics or {}).get("localizer") or {}).get("uri") if run is not None else None
    if not uri:
        return None
    from mlcore.similarity import load_localizer

    return load_localizer(local_artifact(uri))


def store_artifact(path: Path, key: str) -> str:
    """Copy a checkpoint into the app's storage under `key`; returns the URI mlcore reads."""
    from django.core.files import File
    from django.core.files.storage import default_storage

    from curation.services.training_exec import item_uri

    if default_storage.exists(key):  # a redelivered task: replace, don't fork a copy
        default_storage.delete(key)
    with open(path, "rb") as handle:
        saved = default_storage.save(key, File(handle))
    return item_uri(saved)


def jsonable(value: Any) -> Any:
    """Floats rounded, NaN as None (PostgreSQL's jsonb refuses NaN)."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 5)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def write_json(path: Path, data: Any) -> None:
    """Atomically: a crash leaves the previous file or none, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)

"""Similarity runs: train the look-alike embedding (a triplet net, optionally with a dress
localizer) through the same run machinery as classifier runs: a TrainingRun of kind
"similarity" on the `train` queue, heartbeat, progress, cancel, resume from the checkpoint.

Starting a run (web process, no torch) validates the options; the worker
(similarity_worker.train_similarity, called by execute) freezes its inputs in the run's
folder on the first delivery, so a redelivered task resumes on the same images, boxes and
triplets however the labels changed meanwhile. Triplets whose three images all lie in the
train split train the net; triplets whose three images all lie in the fixed test split
measure it (held-out triplet accuracy, chance 0.5), so no test product is ever trained on.
A run that succeeds queues an index build with its net, so search uses the trained
embedding.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from django.conf import settings
from django.db import transaction

from curation import roles
from curation.models import Attribute, Dataset, Image, ImageStatus, Split, TrainingRun
from curation.queries.catalog import typical_side
from curation.services.runs.control import enqueue_run
from curation.services.runs.options import OPTION_LIMITS, TrainingError, coerce_option

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
        given[name] = coerce_option(name, value, types[name], LIMITS)
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
    *, dataset: Dataset, options: dict[str, Any] | None = None, actor, idempotency_key: str = ""
) -> TrainingRun:
    """Queue a similarity run for the dataset on the `train` queue (data scientists).
    idempotency_key: see services/runs/idempotency.py."""
    roles.check(actor, "train")
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
        idempotency_key=idempotency_key,
    )
    enqueue_run(run)
    return run

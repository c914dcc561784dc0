"""The worker's part of a similarity run (see similarity_start): freeze the inputs, train the
localizer (optional) and the triplet net with progress / cancel / resume, measure them on
the test split, store both models and queue an index build with the net.

execute.execute_training_run claims the run, keeps its heartbeat and sends runs of
kind "similarity" here. Everything a resumed delivery must see again (images, boxes,
triplets, the localizer's boxes) is written to the run's folder the first time, and with S3
storage copied to the bucket beside the checkpoints (artifacts.run_mirror), so a delivery
on another machine sees it too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.core.exceptions import PermissionDenied

from curation.artifacts import run_folder, run_mirror, store_artifact
from curation.models import Annotation, Attribute, Image, ImageStatus, Label, Split, TrainingRun
from curation.models import Triplet as TripletRow
from curation.services.runs.similarity_start import LOCALIZE_MIN_BOXES, RUN_DEFAULTS
from curation.services.runs.worker import Reporter, finish_cancelled, finish_run, jsonable
from curation.storage import item_uri, s3_options
from mlcore.storage import write_text_atomic

Status = TrainingRun.Status
TRAIN_SOURCES = ("flip", "group", "attribute", "human")
HELD_SOURCES = ("group", "attribute", "human")  # a flip triplet is trivially right untrained
# The localizer trains with the triplet net's settings of the same name (backbone, batch, lr,
# amp, device, seed, ...) except these, which stay at LocalizeConfig's own defaults.
LOCALIZER_KEEPS_OWN = frozenset({"weight_decay", "warmup_epochs", "num_threads"})


def train_similarity(run: TrainingRun) -> str:
    from mlcore.similarity import TripletConfig, fit_triplets

    config = TripletConfig.from_dict(run.config)
    options = {k: run.config.get(k, v) for k, v in RUN_DEFAULTS.items()}
    work = run_folder(run.pk)
    mirror = run_mirror(run.pk)
    s3 = s3_options()
    reporter = Reporter(run)
    reporter.progress.pop("first_epoch_of_attempt", None)
    reporter.phase("preparing", resumed=run.attempts > 1)
    snap = _snapshot(run, work / "inputs.json", options, seed=config.seed, mirror=mirror)
    uris = [item_uri(key) for key in snap["keys"]]
    boxes: list[Any] = [tuple(b) if b else None for b in snap["boxes"]]
    metrics: dict[str, Any] = {
        "triplets": {
            part: {k: len(v) for k, v in snap[part].items()} for part in ("train", "held")
        },
        "human_unused": snap["human_unused"],
        "images": len(uris),
    }
    if options["localize"]:
        found = _localize(snap, uris, boxes, work, config, options, reporter, s3, mirror)
        if found is None:
            return finish_cancelled(run, reporter)
        metrics["localizer"], located = found
        boxes = [b if b is not None else located.get(str(i)) for i, b in enumerate(boxes)]
    train = np.concatenate(
        [np.asarray(snap["train"][k], np.int64).reshape(-1, 3) for k in TRAIN_SOURCES]
    )
    reporter.phase("training")
    result = fit_triplets(
        config,
        uris,
        train,
        out_dir=work / "triplet",
        boxes=boxes,
        progress=reporter.train,
        should_cancel=reporter.cancelled,
        s3=s3,
        mirror=mirror,
    )
    if result.cancelled:
        return finish_cancelled(run, reporter)
    reporter.phase("evaluating")
    metrics.update(_accuracy(result.embedder, uris, boxes, snap, s3))
    metrics["baseline_triplet_accuracy"] = baseline_accuracy(uris, boxes, snap, s3)
    metrics["dropped_triplets"] = result.dropped_triplets
    metrics["skipped"] = [{"uri": u, "reason": why} for u, why in result.skipped][:200]
    reporter.phase("saving")
    assert result.checkpoint_path is not None
    folder = f"models/similarity/{run.dataset.name}-run{run.pk}"
    artifact = store_artifact(result.checkpoint_path, f"{folder}/triplet.pt")
    if (metrics.get("localizer") or {}).get("trained_on"):
        metrics["localizer"]["uri"] = store_artifact(
            work / "localizer" / "checkpoint.pt", f"{folder}/localizer.pt"
        )
    finish_run(
        run.pk,
        Status.SUCCEEDED,
        metrics=jsonable(metrics),
        artifact_uri=artifact,
        progress={**reporter.progress, "phase": "done"},
    )
    held, baseline = metrics["triplet_accuracy"], metrics["baseline_triplet_accuracy"]
    if _known(held) and _known(baseline) and held < baseline:
        # Replacing the pretrained index with a worse embedding would make search worse.
        metrics["index_error"] = (
            f"no index was built with this net: on held-out triplets it scores {held:.3f}, "
            f"below the pretrained embedder's {baseline:.3f}; build one from this page to use "
            "it anyway"
        )
    else:
        metrics.update(_queue_index(run))
    TrainingRun.objects.filter(pk=run.pk).update(metrics=jsonable(metrics))
    return "succeeded"


def _known(value: float | None) -> bool:
    return value is not None and not math.isnan(value)


def _queue_index(run: TrainingRun) -> dict[str, int | str]:
    """Index the dataset with the new net (the run's starter builds it): its id, or why not."""
    from curation.services.indexes import SimilarityError, start_index_build

    run.refresh_from_db()
    try:
        return {"index": start_index_build(dataset=run.dataset, actor=run.created_by, run=run).pk}
    except (PermissionDenied, SimilarityError) as exc:
        return {"index_error": f"no index was queued: {exc}"}


# ---- the frozen inputs ---------------------------------------------------------------------


def _kept(path: Path, mirror) -> bool:
    """Whether the run's file `path` exists here, once fetched from the mirror if it can."""
    return mirror.get_file(path) if mirror is not None else path.exists()


def _keep(path: Path, text: str, mirror) -> None:
    """Write the run's file `path`, and copy it to the mirror when there is one."""
    write_text_atomic(path, text)
    if mirror is not None:
        mirror.put_file(path)


def _snapshot(
    run: TrainingRun, path: Path, options: dict[str, Any], *, seed: int, mirror=None
) -> dict:
    if _kept(path, mirror):
        return json.loads(path.read_text())
    images = list(
        Image.objects.filter(dataset=run.dataset, status=ImageStatus.OK)
        .exclude(file="")
        .select_related("box")
        .order_by("id")
    )
    ids = np.array([im.pk for im in images], np.int64)
    test = np.array([im.split == Split.TEST for im in images], bool)
    boxes = [
        im.box.pixels(im.width, im.height)
        if hasattr(im, "box") and im.width and im.height
        else None
        for im in images
    ]
    groups = np.array([im.product_id for im in images], np.int64)
    labels = _labels(run, ids)
    snap = {
        "ids": ids.tolist(),
        "keys": [im.file for im in images],
        "test": test.tolist(),
        "sizes": [[im.width or 0, im.height or 0] for im in images],
        "boxes": boxes,
        **_triplets(run, ids, test, groups, labels, options, seed),
    }
    _keep(path, json.dumps(snap), mirror)
    return snap


def _labels(run: TrainingRun, ids: np.ndarray) -> np.ndarray:
    """(N, A) int64 label positions of today's labels, -1 unknown, attributes as at start."""
    attributes = {a.name: a.pk for a in Attribute.objects.filter(dataset=run.dataset)}
    columns = [attributes[n] for n in run.label_names if n in attributes]
    position = {
        pk: i
        for attr in columns
        for i, pk in enumerate(
            Label.objects.filter(attribute_id=attr)
            .order_by("position", "id")
            .values_list("id", flat=True)
        )
    }
    row_of = {int(v): r for r, v in enumerate(ids.tolist())}
    out = np.full((len(ids), len(columns)), -1, np.int64)
    col_of = {pk: c for c, pk in enumerate(columns)}
    rows = Annotation.objects.filter(
        attribute_id__in=columns, label__isnull=False, image__dataset=run.dataset
    )
    for image_id, attr, label in rows.values_list("image_id", "attribute_id", "label_id"):
        if image_id in row_of:
            out[row_of[image_id], col_of[attr]] = position[label]
    return out


def _triplets(run, ids, test, groups, labels, options, seed: int) -> dict[str, Any]:
    """Positions (T, 3) per source: "train" inside the train split, "held" inside the test
    split; people's judgements that mix the splits are left out (counted)."""
    from mlcore.similarity.triplets import (
        attribute_triplets,
        flip_triplets,
        group_triplets,
        human_triplets,
    )

    def within(part: np.ndarray, counts: dict[str, int], s: int) -> dict[str, np.ndarray]:
        found = dict.fromkeys(counts, np.zeros((0, 3), np.int64))
        if len(part) < 2:
            return found
        if counts.get("flip"):
            found["flip"] = part[flip_triplets(len(part), per_item=counts["flip"], seed=s)]
        if counts["group"]:
            found["group"] = part[group_triplets(groups[part], per_item=counts["group"], seed=s)]
        if counts["attribute"] and labels.shape[1]:
            # its own seed: on a catalog where each product has its own labels, the same seed
            # would draw the same (reference, closer) pairs as the product-group source
            found["attribute"] = part[
                attribute_triplets(labels[part], per_item=counts["attribute"], seed=s + 7)
            ]
        return found

    train = within(
        np.flatnonzero(~test),
        {k: options[f"{k}_per_image"] for k in ("flip", "group", "attribute")},
        seed,
    )
    held = within(
        np.flatnonzero(test),
        dict.fromkeys(("group", "attribute"), options["held_per_image"]),
        seed + 1,
    )
    known = set(ids.tolist())
    judged = list(
        TripletRow.objects.filter(dataset=run.dataset)
        .order_by("id")
        .values_list("reference_id", "closer_id", "farther_id")
    )
    usable = [t for t in judged if known.issuperset(t)]
    human = human_triplets(usable, ids) if usable else np.zeros((0, 3), np.int64)
    in_test = test[human]  # (T, 3)
    train["human"] = np.repeat(human[~in_test.any(1)], options["human_repeat"], axis=0)
    held["human"] = human[in_test.all(1)]
    mixed = int((in_test.any(1) & ~in_test.all(1)).sum())
    return {
        "train": {k: v.tolist() for k, v in train.items()},
        "held": {k: v.tolist() for k, v in held.items()},
        "human_unused": {"mixed_splits": mixed, "unusable_image": len(judged) - len(usable)},
    }


# ---- localizer and measurements ------------------------------------------------------------


def _localize(snap, uris, boxes, work: Path, config, options, reporter, s3, mirror):
    """Train on the train split's boxes, score on the test split's against the whole image,
    and predict a box for every image without one. (metrics, {position: box}) or None when
    cancelled."""
    from mlcore.similarity import LocalizeConfig, evaluate_boxes, fit_localizer, locate

    test = np.array(snap["test"], bool)
    train_idx = [i for i, b in enumerate(boxes) if b is not None and not test[i]]
    if len(train_idx) < LOCALIZE_MIN_BOXES:
        why = (
            f"only {len(train_idx)} training-split images have a box; "
            f"a localizer needs {LOCALIZE_MIN_BOXES} (draw them in the box editor)"
        )
        return {"skipped": why}, {}
    shared = {k: v for k, v in config.to_dict().items() if k not in LOCALIZER_KEEPS_OWN}
    epochs = options["localize_epochs"] or config.epochs
    lconfig = LocalizeConfig.from_dict({**shared, "epochs": epochs})
    reporter.phase("localizing")
    result = fit_localizer(
        lconfig,
        [(uris[i], boxes[i]) for i in train_idx],
        out_dir=work / "localizer",
        progress=reporter.localize,
        should_cancel=reporter.cancelled,
        s3=s3,
        mirror=mirror,
    )
    if result.cancelled:
        return None
    metrics: dict[str, Any] = {"trained_on": len(train_idx), "epochs": lconfig.epochs}
    test_idx = [i for i, b in enumerate(boxes) if b is not None and test[i]]
    found = locate(result.model, [uris[i] for i in test_idx], s3=s3)
    rows = [test_idx[j] for j in found.indices.tolist()]
    true = np.array([boxes[i] for i in rows], np.float32).reshape(-1, 4)
    whole = np.array([[0, 0, *snap["sizes"][i]] for i in rows], np.float32).reshape(-1, 4)
    model, baseline = evaluate_boxes(found.boxes, true), evaluate_boxes(whole, true)
    metrics.update(
        tested_on=model.n,
        mean_iou=model.mean_iou,
        share_iou50=model.share_iou50,
        baseline_mean_iou=baseline.mean_iou,
        baseline_share_iou50=baseline.share_iou50,
    )
    cache = work / "located.json"  # a resumed delivery must crop exactly as before
    if _kept(cache, mirror):
        located = json.loads(cache.read_text())
    else:
        missing = [i for i, b in enumerate(boxes) if b is None]
        guess = locate(result.model, [uris[i] for i in missing], s3=s3) if missing else None
        located = (
            {}
            if guess is None
            else {
                str(missing[j]): [float(v) for v in guess.boxes[r]]
                for r, j in enumerate(guess.indices.tolist())
            }
        )
        _keep(cache, json.dumps(located), mirror)
    metrics["cropped_by_localizer"] = len(located)
    return metrics, {k: tuple(v) for k, v in located.items()}


def _accuracy(embedder, uris, boxes, snap, s3) -> dict[str, Any]:
    """Held-out ("test rate") and training triplet accuracy, overall and per source."""
    from mlcore.similarity import embed_images
    from mlcore.similarity.evaluate import triplet_accuracy

    found = embed_images(embedder, uris, boxes=boxes, s3=s3)
    row = np.full(len(uris), -1, np.int64)
    row[found.indices] = np.arange(len(found.indices))

    def score(parts: dict[str, list], sources: tuple[str, ...]) -> tuple[float, dict[str, float]]:
        per, every = {}, []
        for name in sources:
            t = row[np.asarray(parts.get(name, []), np.int64).reshape(-1, 3)]
            t = t[(t >= 0).all(1)]
            if len(t):
                per[name] = triplet_accuracy(found.vectors, t)
                every.append(t)
        both = np.concatenate(every) if every else np.zeros((0, 3), np.int64)
        return triplet_accuracy(found.vectors, both), per

    held, held_per = score(snap["held"], HELD_SOURCES)
    train, train_per = score(snap["train"], HELD_SOURCES)  # flips are right by construction
    return {
        "triplet_accuracy": held,
        "train_triplet_accuracy": train,
        "accuracy_by_source": {"held": held_per, "train": train_per},
    }


def baseline_accuracy(uris, boxes, snap, s3) -> float:
    """Held-out triplet accuracy of the pretrained embedder an index uses without a run
    (NaN without held-out triplets): what the trained net has to beat."""
    from mlcore.similarity import embed_images, pretrained_embedder
    from mlcore.similarity.evaluate import triplet_accuracy

    held = np.concatenate(
        [np.asarray(snap["held"][k], np.int64).reshape(-1, 3) for k in HELD_SOURCES]
    )
    if not len(held):
        return float("nan")
    used = np.unique(held)
    embedder = pretrained_embedder(image_size=settings.CURATION_EMBED_SIZE)
    found = embed_images(embedder, [uris[i] for i in used], boxes=[boxes[i] for i in used], s3=s3)
    row = np.full(len(uris), -1, np.int64)
    row[used[found.indices]] = np.arange(len(found.indices))
    t = row[held]
    return triplet_accuracy(found.vectors, t[(t >= 0).all(1)])

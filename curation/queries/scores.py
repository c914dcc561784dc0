"""The promoted models' scores for images: what the image page, galleries, the new-arrivals
queue and the API show.

An image that was in the promoted run reads its scores from the run's RunImage row (the
test prediction, or the out-of-sample probabilities of cross-fitting for a training image);
any other image reads the ImageScore a scoring job wrote. RunImage probabilities are raw and
get the run's temperature here; ImageScore probabilities are stored calibrated.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from django.db.models import QuerySet

from curation.models import (
    Annotation,
    Attribute,
    ImageScore,
    Label,
    PromotedModel,
    RunImage,
    TrainingRun,
)
from mlcore.eval.calibration import apply_temperature

TOP = 3  # labels shown per attribute


@dataclass(frozen=True)
class Suggestion:
    label_id: int
    name: str
    probability: float  # calibrated


@dataclass(frozen=True)
class ModelScores:
    """One attribute's promoted-model scores for one image."""

    attribute_id: int
    attribute: str
    run_id: int
    top: list[Suggestion]  # most probable first, TOP of them
    given_label_id: int | None
    given: str | None  # the current label's name
    from_run: bool  # the image was in the model's own run (its row, not a later scoring)
    out_of_sample: bool  # a training image's cross-fitted score

    @property
    def predicted(self) -> Suggestion:
        return self.top[0]

    @property
    def disagrees(self) -> bool:
        return self.given_label_id is not None and self.given_label_id != self.top[0].label_id


def run_temperature(run: TrainingRun) -> float:
    """The temperature stored on the run (1.0 until services.calibration has fitted one)."""
    calibration = (run.metrics or {}).get("calibration") or {}
    return float(calibration.get("temperature") or 1.0)


def promoted_run(attribute: Attribute) -> TrainingRun | None:
    """The attribute's promoted run, read now (not from a relation cached on `attribute`:
    auto-accept recomputes its plan at apply time against the current model)."""
    found = PromotedModel.objects.filter(attribute_id=attribute.pk).select_related("run").first()
    return found.run if found else None


def decoded_probs(raw) -> list[float]:
    """A stored probability list (JSON text from raw SQL on some backends, or a list)."""
    return json.loads(raw) if isinstance(raw, str) else list(raw)


def probs_and_given_labels(
    run: TrainingRun, attribute_id: int, rows: QuerySet[RunImage]
) -> tuple[np.ndarray, np.ndarray]:
    """(probs (N, K) float64 raw, in run.label_names order; labels (N,) int64: the given label
    as a run class index, -1 for one the run doesn't know) of the `rows` of `run` that have
    probabilities, in the rows' order."""
    index_of = {name: i for i, name in enumerate(run.label_names)}
    names = dict(Label.objects.filter(attribute_id=attribute_id).values_list("id", "name"))
    scored = rows.exclude(probs=None).values_list("given_label_id", "probs")
    probs, labels = [], []
    for given_id, raw in scored.iterator(chunk_size=2000):
        probs.append(decoded_probs(raw))
        labels.append(index_of.get(names.get(given_id, ""), -1))
    k = len(run.label_names)
    return np.array(probs, dtype=np.float64).reshape(-1, k), np.array(labels, dtype=np.int64)


def top_suggestions(
    probs: list[float], label_names: list[str], by_name: dict[str, int], *, top: int = TOP
) -> list[Suggestion]:
    """The `top` most probable labels (probs in label_names order), most probable first; a
    label renamed or removed since the run has id 0."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])[:top]
    return [
        Suggestion(
            label_id=by_name.get(label_names[i], 0),
            name=label_names[i],
            probability=float(probs[i]),
        )
        for i in order
    ]


def promoted_runs(dataset_id: int) -> list[PromotedModel]:
    """The dataset's promoted models, in attribute order, with their runs."""
    return list(
        PromotedModel.objects.filter(attribute__dataset_id=dataset_id)
        .select_related("run", "attribute")
        .order_by("attribute__position", "attribute_id")
    )


def scores_for_images(
    image_ids: Sequence[int], *, dataset_id: int, top: int = TOP
) -> dict[int, list[ModelScores]]:
    """image id -> one ModelScores per attribute with a promoted model that has scored the
    image (attribute order). Five queries whatever the number of images."""
    ids = list(image_ids)
    promoted = promoted_runs(dataset_id)
    if not ids or not promoted:
        return {}
    runs = {p.run_id: p for p in promoted}
    names = {
        label_id: (attribute_id, name)
        for label_id, attribute_id, name in Label.objects.filter(
            attribute_id__in=[p.attribute_id for p in promoted]
        ).values_list("id", "attribute_id", "name")
    }
    by_name: dict[int, dict[str, int]] = {}  # attribute id -> label name -> Label id
    for label_id, (a, n) in names.items():
        by_name.setdefault(a, {})[n] = label_id
    given = {
        (image_id, attribute_id): label_id
        for image_id, attribute_id, label_id in Annotation.objects.filter(
            image_id__in=ids, attribute_id__in=[p.attribute_id for p in promoted]
        ).values_list("image_id", "attribute_id", "label_id")
    }
    found: dict[tuple[int, int], tuple[list[float], bool, bool]] = {}
    run_rows = RunImage.objects.filter(run_id__in=runs, image_id__in=ids).exclude(probs=None)
    for run_id, image_id, probs, out_of_sample in run_rows.values_list(
        "run_id", "image_id", "probs", "out_of_sample"
    ):
        raw = np.array([decoded_probs(probs)], dtype=np.float64)  # (1, K)
        calibrated = apply_temperature(raw, run_temperature(runs[run_id].run))[0]
        found[(run_id, image_id)] = (calibrated.tolist(), True, out_of_sample)
    scored = ImageScore.objects.filter(run_id__in=runs, image_id__in=ids)
    for run_id, image_id, probs in scored.values_list("run_id", "image_id", "probs"):
        found.setdefault((run_id, image_id), (decoded_probs(probs), False, False))
    out: dict[int, list[ModelScores]] = {}
    for image_id in ids:
        for p in promoted:
            hit = found.get((p.run_id, image_id))
            if hit is None:
                continue
            probs, from_run, out_of_sample = hit
            suggestions = top_suggestions(
                probs, list(p.run.label_names), by_name.get(p.attribute_id, {}), top=top
            )
            given_id = given.get((image_id, p.attribute_id))
            out.setdefault(image_id, []).append(
                ModelScores(
                    attribute_id=p.attribute_id,
                    attribute=p.attribute.name,
                    run_id=p.run_id,
                    top=suggestions,
                    given_label_id=given_id,
                    given=names[given_id][1] if given_id in names else None,
                    from_run=from_run,
                    out_of_sample=out_of_sample,
                )
            )
    return out

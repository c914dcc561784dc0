"""Auto-accept preview: what the attribute's target precision would tag among new arrivals,
and how many of those tags are expected to be wrong. Read-only; services/auto_accept.py
applies the same plan.

Held-out rows: the promoted run's out-of-sample training predictions (cross-fitting), with
the labels they were given, calibrated with the run's temperature. New arrivals: the
attribute's unlabelled usable images with an ImageScore from the promoted run (stored
calibrated with the same temperature). Thresholds come from the first and tag the second
(mlcore.eval.auto_accept).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace

import numpy as np

from curation.dataclass_fields import from_fields
from curation.models import (
    Attribute,
    Label,
    RunImage,
    Split,
    TrainingRun,
)
from curation.queries import arrivals
from curation.queries.scores import (
    decoded_probs,
    probs_and_given_labels,
    promoted_run,
    run_temperature,
)
from mlcore.eval.auto_accept import class_thresholds, forecast_tags, tag_mask
from mlcore.eval.calibration import apply_temperature


@dataclass(frozen=True)
class ClassPreview:
    """One class: its threshold from the held-out rows and what it would tag (the figures of
    mlcore's ClassThreshold and TagForecast of the same names, with the label's id and name)."""

    label_id: int | None  # None: the run's label no longer exists on the attribute
    name: str
    threshold: float | None  # None: no threshold meets the target; the class tags nothing
    support: int  # held-out rows at or above the threshold
    precision: float  # their precision against the given labels
    lower_bound: float  # its one-sided 95% lower bound
    predicted: int  # held-out rows predicted as the class, at any confidence
    tagged: int  # new arrivals it would tag
    expected_wrong: float
    wrong_low: int
    wrong_high: int


@dataclass(frozen=True)
class Plan:
    """The preview, and exactly which arrivals it tags with which label."""

    attribute_id: int
    run: TrainingRun | None
    target: float | None
    held_out: int  # out-of-sample training rows the thresholds come from
    arrivals: int  # unlabelled usable images the promoted model has scored
    classes: list[ClassPreview] = field(default_factory=list)
    tags: list[tuple[int, int, float]] = field(default_factory=list)  # image, label, confidence

    @property
    def empty_reason(self) -> str:
        """Why nothing would be tagged ("" when something would)."""
        if self.run is None:
            return "This attribute has no promoted model yet: promote a run first."
        if self.target is None:
            return "No target precision is set: nothing is tagged without a person."
        if not self.held_out:
            return (
                f"Run {self.run.pk} has no out-of-sample training predictions (it was trained "
                "without cross-fitting), so no threshold can be checked: retrain with folds."
            )
        if not self.arrivals:
            return (
                f"No unlabelled image has a score from run {self.run.pk} yet: score the "
                "new arrivals first."
            )
        if not self.tags:
            return "No class's threshold meets the target on these arrivals: nothing to tag."
        return ""

    @property
    def tagged(self) -> int:
        return len(self.tags)

    @property
    def expected_wrong(self) -> float:
        return sum(c.expected_wrong for c in self.classes)

    @property
    def fingerprint(self) -> str:
        """Names the exact set of (image, label) pairs, so an apply can check that it writes
        what the person saw."""
        pairs = sorted((image_id, label_id) for image_id, label_id, _ in self.tags)
        digest = hashlib.sha256(json.dumps([self.target, pairs]).encode())
        return digest.hexdigest()[:16]


def held_out_predictions(run: TrainingRun) -> tuple[np.ndarray, np.ndarray]:
    """The run's out-of-sample training rows: (N, K) calibrated probabilities and (N,) the
    given labels as run class indices; -1 for a label that is no longer one of the run's
    (renamed or deleted since), which counts as wrong for every class: dropping those rows
    would make the other classes look more precise than they were."""
    assert run.attribute_id is not None, "a classifier run has an attribute"
    rows = RunImage.objects.filter(run=run, split=Split.TRAIN, out_of_sample=True)
    held, labels = probs_and_given_labels(run, run.attribute_id, rows)
    if len(held):
        held = apply_temperature(held, run_temperature(run))
    return held, labels


def arrival_scores(attribute: Attribute, run: TrainingRun) -> tuple[list[int], np.ndarray]:
    """The attribute's unlabelled usable images the run has scored: their ids and (M, K)
    calibrated probabilities, in id order."""
    rows = (
        arrivals.arrival_scores(attribute, run.pk)
        .order_by("image_id")
        .values_list("image_id", "probs")
    )
    ids, probs = [], []
    for image_id, raw in rows.iterator(chunk_size=2000):
        ids.append(image_id)
        probs.append(decoded_probs(raw))
    return ids, np.array(probs, dtype=np.float64).reshape(-1, len(run.label_names))


def auto_accept_plan(attribute: Attribute) -> Plan:
    """What the attribute's saved target would tag now (the preview, and what apply writes)."""
    run = promoted_run(attribute)
    target = attribute.auto_accept_target
    if run is None:
        return Plan(attribute.pk, None, target, 0, 0)
    held_probs, held_labels = held_out_predictions(run)
    ids, probs = arrival_scores(attribute, run)
    if target is None or not len(held_labels):
        return Plan(attribute.pk, run, target, len(held_labels), len(ids))
    label_ids = dict(Label.objects.filter(attribute_id=attribute.pk).values_list("name", "id"))
    by_class = [label_ids.get(name) for name in run.label_names]
    # A class whose label was deleted or renamed since the run can't be written: it tags nothing.
    thresholds = [
        t if by_class[t.label] is not None else replace(t, threshold=None)
        for t in class_thresholds(held_probs, held_labels, target=target)
    ]
    forecasts = forecast_tags(thresholds, probs)
    predicted = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
    tags = [
        (ids[i], int(by_class[predicted[i]] or 0), float(probs[i].max()))
        for i in np.flatnonzero(tag_mask(thresholds, probs))
    ]
    classes = [
        from_fields(ClassPreview, t, f, label_id=by_class[t.label], name=run.label_names[t.label])
        for t, f in zip(thresholds, forecasts, strict=True)
    ]
    return Plan(attribute.pk, run, target, len(held_labels), len(ids), classes, tags)

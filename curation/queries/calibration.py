"""Per-class reliability of a run on its test split (the run page), read from its RunImage
rows with the run's temperature (services/calibration.py fits and keeps it)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from curation.models import Label, RunImage, Split, TrainingRun
from curation.queries.scores import run_temperature
from mlcore.eval.calibration import ReliabilityBin, apply_temperature, class_reliability_bins

CLASS_BINS = 10


@dataclass(frozen=True)
class ClassReliability:
    name: str
    bins: list[ReliabilityBin]  # one-vs-rest, after temperature scaling
    ece: float  # count-weighted mean |share - mean probability| over the bins
    support: int  # test images given this label


def class_reliability(run: TrainingRun) -> list[ClassReliability]:
    """One entry per label of the run, in run order; [] without test predictions."""
    if run.kind != TrainingRun.Kind.CLASSIFIER or run.status != TrainingRun.Status.SUCCEEDED:
        return []
    if run.attribute_id is None:
        return []
    index_of = {name: i for i, name in enumerate(run.label_names)}
    names = dict(Label.objects.filter(attribute_id=run.attribute_id).values_list("id", "name"))
    rows = (
        RunImage.objects.filter(run=run, split=Split.TEST)
        .exclude(probs=None)
        .values_list("given_label_id", "probs")
    )
    probs, labels = [], []
    for given_id, raw in rows.iterator(chunk_size=2000):
        probs.append(json.loads(raw) if isinstance(raw, str) else raw)
        labels.append(index_of.get(names.get(given_id, ""), -1))
    if not probs:
        return []
    calibrated = apply_temperature(np.array(probs, dtype=np.float64), run_temperature(run))
    given = np.array(labels, dtype=np.int64)
    out = []
    for i, name in enumerate(run.label_names):
        bins = class_reliability_bins(calibrated, given, label=i, bins=CLASS_BINS)
        total = sum(b.count for b in bins)
        ece = sum(b.count * abs(b.accuracy - b.confidence) for b in bins) / total
        out.append(ClassReliability(name, bins, float(ece), int((given == i).sum())))
    return out

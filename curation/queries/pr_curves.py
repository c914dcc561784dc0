"""Per-class precision-recall curves of a run on its test split (the run page), from the
probabilities its RunImage rows store (raw: the run's temperature rescales a row, and the
page shows what the model itself ranked)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.models import Label, RunImage, Split, TrainingRun
from curation.queries.scores import decoded_probs
from mlcore.eval.pr_curves import PRCurve, pr_curves


@dataclass(frozen=True)
class ClassPR:
    name: str
    curve: PRCurve


def run_test_probabilities(run: TrainingRun, attribute_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(probs (N, K) float64 in run.label_names order, labels (N,) int64: the label the run
    saw, −1 for one it doesn't know) of the run's scored test rows."""
    index_of = {name: i for i, name in enumerate(run.label_names)}
    names = dict(Label.objects.filter(attribute_id=attribute_id).values_list("id", "name"))
    rows = (
        RunImage.objects.filter(run=run, split=Split.TEST)
        .exclude(probs=None)
        .order_by("id")
        .values_list("given_label_id", "probs")
    )
    probs, labels = [], []
    for given_id, raw in rows.iterator(chunk_size=2000):
        probs.append(decoded_probs(raw))
        labels.append(index_of.get(names.get(given_id, ""), -1))
    k = len(run.label_names)
    return np.array(probs, dtype=np.float64).reshape(-1, k), np.array(labels, dtype=np.int64)


def class_pr_curves(run: TrainingRun) -> list[ClassPR]:
    """One entry per label of the run, in run order; [] without test predictions."""
    if run.kind != TrainingRun.Kind.CLASSIFIER or run.status != TrainingRun.Status.SUCCEEDED:
        return []
    if run.attribute_id is None or not run.label_names:
        return []
    probs, labels = run_test_probabilities(run, run.attribute_id)
    if not probs.shape[0]:
        return []
    curves = pr_curves(probs, labels)
    return [ClassPR(name, curve) for name, curve in zip(run.label_names, curves, strict=True)]

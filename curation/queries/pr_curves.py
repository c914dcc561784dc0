"""Per-class precision-recall curves of a run on its test split (the run page), from the
probabilities its RunImage rows store (raw: the run's temperature rescales a row, and the
page shows what the model itself ranked)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from curation.models import RunImage, Split, TrainingRun
from curation.queries.scores import probs_and_given_labels
from mlcore.eval.pr_curves import PRCurve, pr_curves


@dataclass(frozen=True)
class ClassPR:
    name: str
    curve: PRCurve


def run_test_probabilities(run: TrainingRun, attribute_id: int) -> tuple[np.ndarray, np.ndarray]:
    """(probs (N, K) float64 in run.label_names order, labels (N,) int64: the label the run
    saw, −1 for one it doesn't know) of the run's scored test rows."""
    rows = RunImage.objects.filter(run=run, split=Split.TEST).order_by("id")
    return probs_and_given_labels(run, attribute_id, rows)


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

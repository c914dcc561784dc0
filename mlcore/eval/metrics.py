"""Classification metrics from labels and class probabilities, with the mistakes listed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class ClassMetrics:
    name: str
    precision: float  # TP / (TP + FP): of the images predicted as this class, how many are
    recall: float  # TP / (TP + FN): of the images of this class, how many were found
    f1: float
    support: int  # images whose true label is this class


@dataclass
class Metrics:
    label_names: list[str]
    n: int
    accuracy: float
    macro_f1: float  # mean F1 over classes present in the labels or the predictions
    weighted_f1: float  # F1 weighted by support
    per_class: list[ClassMetrics]
    confusion: np.ndarray  # (K, K) int64, rows = true label, columns = predicted label
    false_positives: dict[str, list[int]]  # class -> rows predicted as it, wrongly
    false_negatives: dict[str, list[int]]  # class -> rows of it, predicted as another

    def to_dict(self) -> dict[str, Any]:
        """JSON-able: numbers, strings, lists and dicts only."""
        return {
            "label_names": list(self.label_names),
            "n": self.n,
            "accuracy": self.accuracy,
            "macro_f1": self.macro_f1,
            "weighted_f1": self.weighted_f1,
            "per_class": [c.__dict__.copy() for c in self.per_class],
            "confusion": self.confusion.tolist(),
            "false_positives": {k: list(v) for k, v in self.false_positives.items()},
            "false_negatives": {k: list(v) for k, v in self.false_negatives.items()},
        }


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, 0 where den is 0 (scikit-learn's zero_division=0)."""
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def compute_metrics(
    labels: np.ndarray | Sequence[int],
    probs: np.ndarray,
    label_names: Sequence[str],
) -> Metrics:
    """labels: (N,) int in [0, K); probs: (N, K) float, one row per image.

    The predicted label is argmax(probs). Mistakes are ranked by the model's confidence,
    probs[i, predicted], highest first (ties by row): false_positives[c] are the rows
    predicted c whose label is not c, false_negatives[c] the rows labelled c predicted
    otherwise.
    """
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    k = len(label_names)
    if p.ndim != 2 or p.shape != (len(y), k):
        raise ValueError(f"probs must be (N, K) = ({len(y)}, {k}), got {p.shape}")
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise ValueError(f"labels must lie in [0, {k})")
    pred = p.argmax(axis=1) if len(y) else np.zeros(0, dtype=np.int64)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y, pred), 1)
    summary = metrics_from_confusion(confusion, label_names)
    n = len(y)

    confidence = p[np.arange(n), pred] if n else np.zeros(0)
    order = np.lexsort((np.arange(n), -confidence))  # confidence desc, then row asc
    wrong = pred[order] != y[order]
    false_pos: dict[str, list[int]] = {}
    false_neg: dict[str, list[int]] = {}
    for c, name in enumerate(label_names):
        false_pos[name] = order[wrong & (pred[order] == c)].tolist()
        false_neg[name] = order[wrong & (y[order] == c)].tolist()

    return Metrics(
        **summary.__dict__,
        false_positives=false_pos,
        false_negatives=false_neg,
    )


@dataclass
class ConfusionSummary:
    label_names: list[str]
    n: int
    accuracy: float
    macro_f1: float
    weighted_f1: float
    per_class: list[ClassMetrics]
    confusion: np.ndarray


def metrics_from_confusion(confusion: np.ndarray, label_names: Sequence[str]) -> ConfusionSummary:
    """confusion: (K, K) counts, rows = true label, columns = predicted label.

    The same numbers as scikit-learn's precision_recall_fscore_support with zero_division=0;
    macro F1 averages over classes present in the labels or the predictions.
    """
    confusion = np.asarray(confusion, dtype=np.int64)
    k = len(label_names)
    if confusion.shape != (k, k):
        raise ValueError(f"confusion must be ({k}, {k}), got {confusion.shape}")
    tp = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0).astype(np.float64)  # column sums: TP + FP
    support = confusion.sum(axis=1)  # row sums: TP + FN
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support.astype(np.float64))
    f1 = _ratio(2 * precision * recall, precision + recall)
    present = (support > 0) | (predicted > 0)
    n = int(support.sum())
    return ConfusionSummary(
        label_names=list(label_names),
        n=n,
        accuracy=float(tp.sum() / n) if n else 0.0,
        macro_f1=float(f1[present].mean()) if present.any() else 0.0,
        weighted_f1=float((f1 * support).sum() / n) if n else 0.0,
        per_class=[
            ClassMetrics(name, float(precision[c]), float(recall[c]), float(f1[c]), int(support[c]))
            for c, name in enumerate(label_names)
        ],
        confusion=confusion,
    )

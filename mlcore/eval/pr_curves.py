"""Precision-recall curves per class (one versus the rest) from a run's test probabilities,
with scikit-learn's precision_recall_curve, and average precision read off the same curve.

Average precision is the step sum  AP = Σ (R_n − R_{n−1}) P_n  over the curve's thresholds,
which is what sklearn.metrics.average_precision_score computes; the curve handed to a chart
is thinned to at most `points` vertices, the AP always comes from the full curve.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import precision_recall_curve


@dataclass(frozen=True)
class PRCurve:
    label: int  # class index into the probability columns
    precision: np.ndarray  # (m,) float64, recall decreasing (sklearn's order), thinned
    recall: np.ndarray  # (m,) float64
    average_precision: float  # nan when no image has the class
    support: int  # images of the class
    prevalence: float  # support / images: a random ranking's precision


def _thin(precision: np.ndarray, recall: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    """At most `points` vertices, evenly over the curve, keeping both ends."""
    if precision.shape[0] <= points:
        return precision, recall
    keep = np.unique(np.linspace(0, precision.shape[0] - 1, points).round().astype(np.int64))
    return precision[keep], recall[keep]


def pr_curves(probs: np.ndarray, labels: np.ndarray, *, points: int = 200) -> list[PRCurve]:
    """One curve per column of `probs`.

    probs: (N, K) float, each class's probability; labels: (N,) int64 class index per image
    (−1: a label the run doesn't know, counted as "not the class" everywhere)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if probs.ndim != 2 or probs.shape[0] != labels.shape[0]:
        raise ValueError(f"probs {probs.shape} and labels {labels.shape} do not match")
    n, k = probs.shape
    out = []
    for c in range(k):
        truth = labels == c
        support = int(truth.sum())
        if not support or n == 0:
            empty = np.zeros(0)
            out.append(PRCurve(c, empty, empty, float("nan"), support, 0.0))
            continue
        precision, recall, _ = precision_recall_curve(truth, probs[:, c])
        ap = float(-np.sum(np.diff(recall) * precision[:-1]))
        precision, recall = _thin(precision, recall, points)
        out.append(PRCurve(c, precision, recall, ap, support, support / n))
    return out

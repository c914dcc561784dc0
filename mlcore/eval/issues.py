"""Ranking likely label errors with cleanlab, from out-of-sample probabilities."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class LabelIssues:
    ranked: np.ndarray  # (M,) int64 rows flagged as likely mislabelled, worst first
    quality: np.ndarray  # (N,) float64 label quality in [0, 1], low = suspect; nan: no probs
    suggested: np.ndarray  # (N,) int64 argmax of the probabilities; -1: no probs
    is_issue: np.ndarray  # (N,) bool
    # (V,) int64: every row with probabilities, the flagged rows of `first` leading, then
    # lowest label quality first (ties by row): the review order over the whole catalog;
    # `ranked` is its flagged subsequence
    order: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ranked": self.ranked.tolist(),
            "quality": [None if np.isnan(q) else float(q) for q in self.quality],
            "suggested": self.suggested.tolist(),
            "is_issue": self.is_issue.tolist(),
            "order": None if self.order is None else self.order.tolist(),
        }


def rank_label_issues(
    labels: np.ndarray,
    probs: np.ndarray,
    *,
    filter_by: str = "prune_by_noise_rate",
    score_method: str = "self_confidence",
    first: np.ndarray | None = None,
) -> LabelIssues:
    """labels: (N,) int; probs: (N, K) out-of-sample probabilities (rows of nan for images
    that had none, e.g. unreadable ones: they are never flagged); first: (N,) bool or None,
    rows whose flagged ones lead the review order (the test split's: a wrong test label
    distorts the figures people decide on, a wrong training label only the model).

    Flags with cleanlab.filter.find_label_issues (confident learning) and scores with
    cleanlab.rank.get_label_quality_scores; the flagged rows are ranked by that score.
    """
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or len(p) != len(y):
        raise ValueError(f"probs must be (N, K) with N = {len(y)}, got {p.shape}")
    n = len(y)
    valid = ~np.isnan(p).any(axis=1)
    quality = np.full(n, np.nan)
    suggested = np.full(n, -1, dtype=np.int64)
    is_issue = np.zeros(n, dtype=bool)
    rows = np.flatnonzero(valid)
    if len(rows):
        pv = p[rows] / p[rows].sum(axis=1, keepdims=True)  # float32 sums drift from 1
        quality[rows] = get_label_quality_scores(y[rows], pv, method=score_method)
        suggested[rows] = pv.argmax(axis=1)
        is_issue[rows] = find_label_issues(y[rows], pv, filter_by=filter_by, n_jobs=1)
    order = rows[np.lexsort((rows, quality[rows]))]
    if first is not None:
        lead = np.asarray(first, dtype=bool)[order] & is_issue[order]
        order = np.concatenate([order[lead], order[~lead]])
    ranked = order[is_issue[order]]
    return LabelIssues(
        ranked=ranked, quality=quality, suggested=suggested, is_issue=is_issue, order=order
    )


def estimate_wrong_labels(labels: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """(K,) float64: how many of the given labels of each class are likely wrong, from the
    calibrated confident joint (cleanlab.count: its off-diagonal row sums), over the rows
    with probabilities. labels: (N,) int; probs: (N, K) out-of-sample probabilities.

    A count, not a list: it says how many wrong labels remain where the flagged set says
    which images to look at first, and it is what tells a reviewer when to stop.
    """
    from cleanlab.count import compute_confident_joint

    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    k = p.shape[1]
    valid = ~np.isnan(p).any(axis=1)
    y, p = y[valid], p[valid]
    if len(y) < 2 or len(np.unique(y)) < 2:
        return np.zeros(k)
    p = p / p.sum(axis=1, keepdims=True)
    present = np.unique(y)  # cleanlab needs every class of the matrix among the labels
    index = np.searchsorted(present, y)
    sub = p[:, present]
    sub = sub / sub.sum(axis=1, keepdims=True)
    joint = compute_confident_joint(index, sub, calibrate=True)  # (k', k'), rows: given
    out = np.zeros(k)
    out[present] = joint.sum(axis=1) - np.diag(joint)
    return out

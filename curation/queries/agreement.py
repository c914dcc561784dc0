"""Reviewer agreement: Fleiss' kappa over items, Cohen's kappa (scikit-learn) of each reviewer
against the decisions, and per-class agreement."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import cohen_kappa_score

from curation.models import ReviewItem, ReviewVote, TrainingRun


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """counts: (items, categories) votes per category. Items may have different numbers of
    votes (each needs at least 2). Returns None when it is undefined."""
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError("counts must be (items, categories)")
    per_item = counts.sum(axis=1)
    counts, per_item = counts[per_item >= 2], per_item[per_item >= 2]
    if len(counts) == 0:
        return None
    p_i = ((counts**2).sum(axis=1) - per_item) / (per_item * (per_item - 1))
    p_bar = p_i.mean()
    p_j = counts.sum(axis=0) / per_item.sum()
    p_e = float((p_j**2).sum())
    if p_e >= 1.0:
        return None  # everyone always picks the same category: agreement is not informative
    return float((p_bar - p_e) / (1 - p_e))


@dataclass
class ReviewerAgreement:
    name: str
    votes: int
    decided: int  # votes on items that are decided
    agree_share: float | None  # share of those votes that match the decision
    kappa: float | None  # Cohen's kappa of the reviewer's votes vs the decisions


@dataclass
class ClassAgreement:
    label_id: int
    items: int  # decided items with this label
    agree_share: float  # share of their votes naming it


@dataclass
class Agreement:
    fleiss: float | None
    items_with_votes: int
    reviewers: list[ReviewerAgreement]
    classes: list[ClassAgreement]


def run_agreement(run: TrainingRun) -> Agreement:
    votes = list(
        ReviewVote.objects.filter(item__run=run)
        .select_related("reviewer")
        .values_list("item_id", "reviewer__username", "worker", "label_id")
    )
    decided = dict(
        ReviewItem.objects.filter(run=run, status=ReviewItem.Status.DECIDED).values_list(
            "id", "decided_label_id"
        )
    )
    label_ids = sorted({v[3] for v in votes} | set(decided.values()))
    col = {label_id: i for i, label_id in enumerate(label_ids)}
    by_item: dict[int, Counter] = defaultdict(Counter)
    by_reviewer: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for item_id, username, worker, label_id in votes:
        by_item[item_id][label_id] += 1
        by_reviewer[username or f"crowd:{worker}"].append((item_id, label_id))
    matrix = np.zeros((len(by_item), len(label_ids)))
    for r, counter in enumerate(by_item.values()):
        for label_id, n in counter.items():
            matrix[r, col[label_id]] = n

    reviewers = []
    for name, pairs in sorted(by_reviewer.items()):
        mine = [(label_id, decided[item]) for item, label_id in pairs if item in decided]
        agree = sum(a == b for a, b in mine)
        kappa = None
        if len(mine) >= 2 and len({x for pair in mine for x in pair}) > 1:
            kappa = float(cohen_kappa_score([a for a, _ in mine], [b for _, b in mine]))
        reviewers.append(
            ReviewerAgreement(
                name, len(pairs), len(mine), agree / len(mine) if mine else None, kappa
            )
        )
    classes = []
    for label_id in label_ids:
        items = [i for i, d in decided.items() if d == label_id and i in by_item]
        total = sum(sum(by_item[i].values()) for i in items)
        if items:
            naming = sum(by_item[i][label_id] for i in items)
            classes.append(ClassAgreement(label_id, len(items), naming / total if total else 0.0))
    return Agreement(
        fleiss_kappa(matrix) if len(matrix) else None, len(by_item), reviewers, classes
    )

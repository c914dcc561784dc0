"""How much reviewers agree, from the libraries that define the figures: Fleiss' kappa
(statsmodels) over items and Cohen's kappa (scikit-learn) for each pair of reviewers."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def fleiss_kappa(counts: np.ndarray) -> float | None:
    """Fleiss' kappa of a table of votes (statsmodels).

    counts: (N, K) int, votes per category of each item; every row must hold the same number
    of votes, at least 2 (Fleiss' formula assumes it: statsmodels would give a wrong number
    for ragged rows, so they are refused). Returns None when kappa is undefined (no items, or
    every vote names one category).
    """
    from statsmodels.stats.inter_rater import fleiss_kappa as statsmodels_fleiss

    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2:
        raise ValueError("counts must be (items, categories)")
    if len(counts) == 0:
        return None
    raters = counts.sum(axis=1)
    if (raters != raters[0]).any():
        raise ValueError("every item needs the same number of votes for Fleiss' kappa")
    if raters[0] < 2:
        raise ValueError("Fleiss' kappa needs at least 2 votes per item")
    with np.errstate(divide="ignore", invalid="ignore"):
        kappa = float(statsmodels_fleiss(counts, method="fleiss"))
    return kappa if np.isfinite(kappa) else None


@dataclass
class FleissKappa:
    kappa: float | None  # None: undefined (too few items, or one category only)
    raters: int  # votes per item it is computed on: the first `raters` of each item
    items: int  # items it covers
    left_out: int  # items with votes but fewer than `raters` of them


def fleiss_kappa_first_votes(
    votes: Sequence[Sequence[int]], *, raters: int, num_classes: int
) -> FleissKappa:
    """Fleiss' kappa on the first `raters` votes of every item that has that many.

    votes: per item, its votes' category indices in the order they were cast. Taking the
    first votes (rather than items with the most common vote count) keeps the items where
    reviewers disagreed: a sequential rule ("k of n agree") asks for more votes exactly where
    the first ones differ, so items with extra votes are the disagreements, and the first
    `raters` votes of each item were cast before the rule looked at them.
    """
    if raters < 2:
        raise ValueError("Fleiss' kappa needs at least 2 votes per item")
    rows = [item[:raters] for item in votes if len(item) >= raters]
    left_out = sum(1 for item in votes if 0 < len(item) < raters)
    counts = np.zeros((len(rows), num_classes), dtype=np.int64)
    for r, row in enumerate(rows):
        np.add.at(counts[r], np.asarray(row, dtype=np.int64), 1)
    return FleissKappa(fleiss_kappa(counts), raters, len(rows), left_out)


@dataclass
class PairKappa:
    a: int  # reviewer columns of the votes matrix
    b: int
    items: int  # items both voted on
    agree: float  # share of those items where they gave the same label
    kappa: float | None  # Cohen's kappa; None when undefined (one category only)


def pairwise_cohen_kappa(votes: np.ndarray, *, min_items: int = 2) -> list[PairKappa]:
    """Cohen's kappa (scikit-learn) of every pair of reviewers that share `min_items` items.

    votes: (N, M) float, the category index each of M reviewers gave each of N items, nan
    where they gave none. Pairs in column order.
    """
    from sklearn.metrics import cohen_kappa_score

    votes = np.asarray(votes, dtype=np.float64)
    if votes.ndim != 2:
        raise ValueError("votes must be (items, reviewers)")
    voted = ~np.isnan(votes)  # (N, M)
    labels = np.unique(votes[voted]).astype(np.int64)
    pairs = []
    for a in range(votes.shape[1]):
        for b in range(a + 1, votes.shape[1]):
            both = voted[:, a] & voted[:, b]
            if both.sum() < min_items:
                continue
            ya, yb = votes[both, a].astype(np.int64), votes[both, b].astype(np.int64)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # undefined kappa: reported as None below
                kappa = float(cohen_kappa_score(ya, yb, labels=labels, replace_undefined_by=np.nan))
            pairs.append(
                PairKappa(
                    a,
                    b,
                    int(both.sum()),
                    float((ya == yb).mean()),
                    None if np.isnan(kappa) else kappa,
                )
            )
    return pairs

"""Reviewer consensus and reviewer quality with CROWDLAB (cleanlab.multiannotator).

CROWDLAB weighs each reviewer's votes by how often they agree with the others and the
model's probabilities by how often the model agrees with the consensus, so a consensus can
overrule a majority that a weak reviewer tipped, and a reviewer who votes at random ends up
with the lowest quality.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np


@dataclass
class Consensus:
    label: np.ndarray  # (N,) int64 consensus category of each item
    quality: np.ndarray  # (N,) float64 in [0, 1]: how likely the consensus is right
    agreement: np.ndarray  # (N,) float64 share of the item's votes naming the consensus
    reviewer_quality: np.ndarray  # (M,) float64 in [0, 1]; nan: shares no item with others
    reviewer_agreement: (
        np.ndarray
    )  # (M,) float64 share of votes matching the consensus; nan: as above
    reviewer_votes: np.ndarray  # (M,) int64
    model_weight: float  # the model's weight in the consensus, against...
    reviewer_weight: np.ndarray  # (M,) float64 ...each reviewer's


def consensus_problem(votes: np.ndarray) -> str | None:
    """Why CROWDLAB can't weigh these votes, in words, or None when it can.

    votes: (N, M) float, category index per item and reviewer, nan where none.
    """
    votes = np.asarray(votes, dtype=np.float64)
    if votes.ndim != 2:
        raise ValueError("votes must be (items, reviewers)")
    voted = ~np.isnan(votes)
    reviewers = int(voted.any(axis=0).sum())
    if reviewers < 2:
        return "needs votes from at least 2 reviewers"
    if not (voted.sum(axis=1) >= 2).any():
        return "needs an item with votes from 2 reviewers or more"
    return None


def crowd_consensus(votes: np.ndarray, probs: np.ndarray) -> Consensus:
    """CROWDLAB consensus of each item and the quality of each reviewer.

    votes: (N, M) float, the category index reviewer m gave item n, nan where none; every
    item needs a vote and every reviewer one (drop empty rows and columns first).
    probs: (N, K) float, the model's out-of-sample probabilities for the items.
    """
    from cleanlab.multiannotator import get_label_quality_multiannotator

    votes = np.asarray(votes, dtype=np.float64)
    probs = np.asarray(probs, dtype=np.float64)
    problem = consensus_problem(votes)
    if problem:
        raise ValueError(f"CROWDLAB {problem}")
    if probs.ndim != 2 or len(probs) != len(votes) or probs.shape[1] < 2:
        raise ValueError(f"probs must be ({len(votes)}, K) with K >= 2, got {probs.shape}")
    voted = ~np.isnan(votes)  # (N, M)
    if not voted.any(axis=1).all() or not voted.any(axis=0).all():
        raise ValueError("every item and every reviewer needs at least one vote")
    if (votes[voted] >= probs.shape[1]).any() or (votes[voted] < 0).any():
        raise ValueError(f"a vote names no category of the {probs.shape[1]} the model has")

    with warnings.catch_warnings():
        # "Annotators do not agree on any example": true and harmless; the qualities say so.
        warnings.simplefilter("ignore")
        found = get_label_quality_multiannotator(
            votes, probs, return_weights=True, return_detailed_quality=False, verbose=False
        )
    items = found["label_quality"]
    stats = found["annotator_stats"].reindex(range(votes.shape[1]))  # worst first -> column order
    return Consensus(
        label=items["consensus_label"].to_numpy(dtype=np.int64),
        quality=items["consensus_quality_score"].to_numpy(dtype=np.float64),
        agreement=items["annotator_agreement"].to_numpy(dtype=np.float64),
        reviewer_quality=stats["annotator_quality"].to_numpy(dtype=np.float64),
        reviewer_agreement=stats["agreement_with_consensus"].to_numpy(dtype=np.float64),
        reviewer_votes=voted.sum(axis=0).astype(np.int64),
        model_weight=float(found["model_weight"]),
        reviewer_weight=np.asarray(found["annotator_weight"], dtype=np.float64),
    )

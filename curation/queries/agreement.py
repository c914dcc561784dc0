"""How reviewers agree on a run's review items: CROWDLAB consensus per item and quality per
reviewer (cleanlab.multiannotator, weighing the votes against the run's probabilities),
Fleiss' kappa (statsmodels) over items, Cohen's kappa (scikit-learn) per reviewer pair and
of each reviewer against the decisions, and per-class agreement.

The dataset's rule ("one expert, or k of n agree") still decides; the consensus is shown
beside it, so a decision the consensus doubts can be looked at again.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import cohen_kappa_score

from curation.models import Label, ReviewItem, ReviewVote, RunImage, TrainingRun
from mlcore.eval.agreement import FleissKappa, fleiss_kappa_first_votes, pairwise_cohen_kappa
from mlcore.eval.consensus import consensus_problem, crowd_consensus


@dataclass
class ReviewerAgreement:
    name: str
    votes: int
    decided: int  # votes on items decided, less those the reviewer decided alone
    agree_share: float | None  # share of those votes that match the decision
    kappa: float | None  # Cohen's kappa of the reviewer's votes vs the decisions
    quality: float | None = None  # CROWDLAB reviewer quality in [0, 1]; None: not computed
    consensus_share: float | None = None  # share of their votes matching the consensus
    weight: float | None = None  # CROWDLAB's trust in their votes (the model's is beside it)


@dataclass
class PairAgreement:
    a: str
    b: str
    items: int  # items both voted on
    agree: float
    kappa: float | None  # Cohen's kappa; None: undefined (both always named one label)


@dataclass
class ClassAgreement:
    label_id: int
    items: int  # decided items with this label
    agree_share: float  # share of their votes naming it


@dataclass
class ItemConsensus:
    item: ReviewItem  # with image, given_label and case__decided_label loaded
    votes: list[tuple[str, int]]  # (reviewer, label id) in the order cast
    label_id: int  # CROWDLAB consensus
    quality: float  # CROWDLAB consensus quality in [0, 1], low = doubtful
    agreement: float  # share of the item's votes naming the consensus

    @property
    def doubts_decision(self) -> bool:
        decided = self.item.case.decided_label_id
        return decided is not None and decided != self.label_id


@dataclass
class Consensus:
    items: list[ItemConsensus]  # lowest consensus quality first
    model_weight: float  # CROWDLAB's trust in the run's probabilities, against a reviewer's
    left_out_items: int  # items with votes but no probabilities in the run
    left_out_votes: int  # votes for labels the run did not know (added after it)

    @property
    def doubted(self) -> int:
        return sum(i.doubts_decision for i in self.items)


@dataclass
class Agreement:
    items_with_votes: int
    fleiss: FleissKappa  # items == 0: no item has enough votes
    reviewers: list[ReviewerAgreement]  # lowest CROWDLAB quality first
    pairs: list[PairAgreement]
    classes: list[ClassAgreement]
    consensus: Consensus | None
    consensus_problem: str = ""  # why there is no consensus, in words
    label_names: dict[int, str] = field(default_factory=dict)


@dataclass
class Votes:
    """A run's votes as the computations take them."""

    by_item: dict[int, list[tuple[str, int]]]  # item id -> (reviewer, label id), in order
    decided: dict[int, int]  # item id -> decided label id
    reviewers: list[str]


def run_agreement(run: TrainingRun) -> Agreement:
    assert run.attribute_id is not None, "a classifier run has an attribute"
    votes = collect_votes(run)
    label_ids = sorted(
        {lab for pairs in votes.by_item.values() for _, lab in pairs} | set(votes.decided.values())
    )
    reviewers = reviewer_rows(votes)
    consensus, problem = None, "needs votes"
    if votes.by_item:
        consensus, problem = run_consensus(run, votes, reviewers)
    reviewers.sort(key=lambda r: (r.quality is None, r.quality or 0.0, r.name))
    return Agreement(
        items_with_votes=len(votes.by_item),
        fleiss=fleiss(run, votes, label_ids),
        reviewers=reviewers,
        pairs=pair_rows(votes, label_ids),
        classes=class_rows(votes, label_ids),
        consensus=consensus,
        consensus_problem=problem,
        label_names=dict(
            Label.objects.filter(attribute_id=run.attribute_id).values_list("id", "name")
        ),
    )


def collect_votes(run: TrainingRun) -> Votes:
    """The votes on the cases of the run's items (cast in this run's queue or carried over
    from an earlier one), keyed by the run's item."""
    by_item: dict[int, list[tuple[str, int]]] = defaultdict(list)
    item_of = dict(ReviewItem.objects.filter(run=run).values_list("case_id", "id"))
    rows = (
        ReviewVote.objects.filter(case__items__run=run)
        .order_by("id")
        .values_list("case_id", "reviewer__username", "worker", "label_id")
    )
    for case_id, username, worker, label_id in rows:
        by_item[item_of[case_id]].append((username or f"crowd:{worker}", label_id))
    decided = dict(
        ReviewItem.objects.filter(run=run, status=ReviewItem.Status.DECIDED).values_list(
            "id", "case__decided_label_id"
        )
    )
    names = sorted({name for pairs in by_item.values() for name, _ in pairs})
    return Votes(dict(by_item), decided, names)


def fleiss(run: TrainingRun, votes: Votes, label_ids: list[int]) -> FleissKappa:
    """Fleiss' kappa on the first `review_agree` votes of each item (at least 2): the rule
    looks at nothing before that many are in, so those votes are free of its stopping."""
    col = {label_id: i for i, label_id in enumerate(label_ids)}
    raters = max(2, run.dataset.review_agree)
    ordered = [[col[lab] for _, lab in pairs] for pairs in votes.by_item.values()]
    return fleiss_kappa_first_votes(ordered, raters=raters, num_classes=len(label_ids))


def matrix(votes: Votes, item_ids: list[int], category: dict[int, int]) -> np.ndarray:
    """(items, reviewers) category index of each vote, nan where none; votes for a label
    outside `category` are left as nan."""
    column = {name: m for m, name in enumerate(votes.reviewers)}
    out = np.full((len(item_ids), len(votes.reviewers)), np.nan)
    for n, item_id in enumerate(item_ids):
        for name, label_id in votes.by_item[item_id]:
            if label_id in category:
                out[n, column[name]] = category[label_id]
    return out


def pair_rows(votes: Votes, label_ids: list[int]) -> list[PairAgreement]:
    col = {label_id: i for i, label_id in enumerate(label_ids)}
    found = pairwise_cohen_kappa(matrix(votes, list(votes.by_item), col))
    names = votes.reviewers
    return [PairAgreement(names[p.a], names[p.b], p.items, p.agree, p.kappa) for p in found]


def reviewer_rows(votes: Votes) -> list[ReviewerAgreement]:
    by_reviewer: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for item_id, pairs in votes.by_item.items():
        for name, label_id in pairs:
            by_reviewer[name].append((item_id, label_id))
    rows = []
    for name in votes.reviewers:
        cast = by_reviewer[name]
        mine = [
            (lab, votes.decided[item])
            for item, lab in cast
            if item in votes.decided and not decided_alone(votes, item, name)
        ]
        agree = sum(a == b for a, b in mine)
        kappa = None
        if len(mine) >= 2 and len({x for pair in mine for x in pair}) > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # undefined: reported as None
                value = cohen_kappa_score([a for a, _ in mine], [b for _, b in mine])
            kappa = None if np.isnan(value) else float(value)
        share = agree / len(mine) if mine else None
        rows.append(ReviewerAgreement(name, len(cast), len(mine), share, kappa))
    return rows


def decided_alone(votes: Votes, item_id: int, name: str) -> bool:
    """Whether `name` named the item's decided label and nobody else did: a decision they
    made alone (an expert's vote), which their agreement with the decisions leaves out."""
    decided = votes.decided[item_id]
    named = {voter for voter, label_id in votes.by_item[item_id] if label_id == decided}
    return named == {name}


def class_rows(votes: Votes, label_ids: list[int]) -> list[ClassAgreement]:
    rows = []
    for label_id in label_ids:
        items = [i for i, d in votes.decided.items() if d == label_id and i in votes.by_item]
        if not items:
            continue
        total = sum(len(votes.by_item[i]) for i in items)
        naming = sum(lab == label_id for i in items for _, lab in votes.by_item[i])
        rows.append(ClassAgreement(label_id, len(items), naming / total if total else 0.0))
    return rows


def run_consensus(
    run: TrainingRun, votes: Votes, reviewers: list[ReviewerAgreement]
) -> tuple[Consensus | None, str]:
    """CROWDLAB over the voted items that have the run's probabilities; fills in each
    reviewer's quality. Returns (None, why) when there are too few votes for it."""
    assert run.attribute_id is not None, "a classifier run has an attribute"
    names: list[str] = list(run.label_names)
    ids = Label.objects.filter(attribute_id=run.attribute_id, name__in=names)
    category = {label_id: names.index(name) for label_id, name in ids.values_list("id", "name")}
    items = {
        i.pk: i
        for i in ReviewItem.objects.filter(run=run).select_related(
            "image", "given_label", "case__decided_label"
        )
        if i.pk in votes.by_item
    }
    probs_of = dict(
        RunImage.objects.filter(
            run=run, image_id__in=ReviewItem.objects.filter(run=run).values("image_id")
        ).values_list("image_id", "probs")
    )
    with_probs = [i for i in votes.by_item if probs_of.get(items[i].image_id) is not None]
    table = matrix(votes, with_probs, category)  # (items, reviewers)
    keep_rows = ~np.isnan(table).all(axis=1)  # items whose votes the run can place
    keep_cols = ~np.isnan(table[keep_rows]).all(axis=0)  # reviewers left with a vote
    table = table[keep_rows][:, keep_cols]
    item_ids = [i for i, keep in zip(with_probs, keep_rows, strict=True) if keep]
    problem = consensus_problem(table)
    if problem:
        return None, problem
    probs = np.asarray([probs_of[items[i].image_id] for i in item_ids])  # (items, K)
    found = crowd_consensus(table, probs)

    kept = [name for name, keep in zip(votes.reviewers, keep_cols, strict=True) if keep]
    by_name = {r.name: r for r in reviewers}
    for m, name in enumerate(kept):
        by_name[name].quality = _number(found.reviewer_quality[m])
        by_name[name].consensus_share = _number(found.reviewer_agreement[m])
        by_name[name].weight = float(found.reviewer_weight[m])
    label_of = {pos: label_id for label_id, pos in category.items()}
    rows = [
        ItemConsensus(
            items[item_id],
            votes.by_item[item_id],
            label_of[int(found.label[n])],
            float(found.quality[n]),
            float(found.agreement[n]),
        )
        for n, item_id in enumerate(item_ids)
    ]
    rows.sort(key=lambda c: (c.quality, c.item.rank))
    placed = set(with_probs)
    unplaced = sum(lab not in category for i in placed for _, lab in votes.by_item[i])
    return Consensus(rows, found.model_weight, len(votes.by_item) - len(placed), unplaced), ""


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)

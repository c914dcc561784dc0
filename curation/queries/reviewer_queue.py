"""What a reviewer sees in a run's review queue: the batch assigned to them first, then the
open items nobody was given, with gold items mixed in (one tile in ten), and the gold scores
of each reviewer."""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet

from curation.models import (
    Annotation,
    Attribute,
    GoldAnswer,
    GoldItem,
    Label,
    ReviewItem,
    RunImage,
    TrainingRun,
)

GOLD_EVERY = 10  # one tile in ten is a gold item, while the reviewer has any left to answer
ASSIGNED_MAX = 200  # the most assigned items shown above the queue


@dataclass
class GoldTile:
    """A gold item dressed as a review item: the same caption, never its answer."""

    gold: GoldItem
    given_label: Label | None  # today's label
    suggested_label: Label | None  # the run's prediction, where it differs
    score: float | None
    rank: int | None
    my_answer: GoldAnswer | None = None
    is_gold = True


@dataclass
class GoldScore:
    name: str
    answered: int
    correct: int

    @property
    def share(self) -> float:
        return self.correct / self.answered if self.answered else 0.0


def item_rows(run: TrainingRun, status: str) -> QuerySet[ReviewItem]:
    return (
        ReviewItem.objects.filter(run=run, status=status)
        .select_related("image", "given_label", "suggested_label", "case__decided_label")
        .prefetch_related("case__votes__reviewer", "case__votes__label")
    )


def assigned_items(run: TrainingRun, status: str, user) -> list[ReviewItem]:
    """The items of the run given to `user`, in rank order."""
    rows = item_rows(run, status).filter(assigned_to_id=user.pk).order_by("rank")
    return list(rows[:ASSIGNED_MAX])


def unassigned_items(
    run: TrainingRun, status: str, *, after: int | None, limit: int
) -> list[ReviewItem]:
    """Up to `limit` items nobody was given, ranked after `after`."""
    rows = item_rows(run, status).filter(assigned_to=None)
    if after is not None:
        rows = rows.filter(rank__gt=after)
    return list(rows.order_by("rank")[:limit])


def gold_tiles(attribute: Attribute, run: TrainingRun, user, *, count: int) -> list[GoldTile]:
    """Up to `count` gold items of the attribute that `user` has not answered, in an order of
    their own (so two reviewers don't meet them alike)."""
    golds = list(
        GoldItem.objects.filter(attribute=attribute)
        .exclude(answers__reviewer_id=user.pk)
        .select_related("image", "answer")
        .order_by("id")
    )
    random.Random(user.pk).shuffle(golds)
    return gold_tiles_for(attribute, run, golds[:count])


def gold_tiles_for(attribute: Attribute, run: TrainingRun, golds: list[GoldItem]) -> list[GoldTile]:
    """Gold items with the caption a review item of `run` would have."""
    image_ids = [g.image_id for g in golds]
    given = {
        a.image_id: a.label
        for a in Annotation.objects.filter(
            attribute=attribute, image_id__in=image_ids
        ).select_related("label")
    }
    scored = {
        r.image_id: r
        for r in RunImage.objects.filter(run=run, image_id__in=image_ids).select_related(
            "predicted_label"
        )
    }
    tiles = []
    for gold in golds:
        label = given.get(gold.image_id)
        row = scored.get(gold.image_id)
        predicted = row.predicted_label if row else None
        suggested = predicted if predicted and (label is None or predicted.pk != label.pk) else None
        tiles.append(
            GoldTile(
                gold,
                label,
                suggested,
                row.quality if row else None,
                (row.review_rank or row.suspect_rank) if row else None,
            )
        )
    return tiles


def mix_gold(items: list, golds: list[GoldTile], *, seed: int) -> list:
    """`items` with one gold tile in each run of GOLD_EVERY tiles, at a place of its own."""
    rng = random.Random(seed)
    out: list = []
    block = GOLD_EVERY - 1
    for start in range(0, max(len(items), 1), block):
        chunk = list(items[start : start + block])
        if golds and chunk:
            chunk.insert(rng.randint(0, len(chunk)), golds.pop(0))
        out.extend(chunk)
    return out


def golds_per_page(items: int) -> int:
    return -(-items // (GOLD_EVERY - 1))  # one for each started run of nine items


def reviewers() -> QuerySet[User]:
    """Users who may vote: the people a batch can go to."""
    may_vote = Q(groups__permissions__codename="review_label") | Q(is_superuser=True)
    return User.objects.filter(may_vote, is_active=True).distinct().order_by("username")


def gold_items(attribute: Attribute) -> list[GoldItem]:
    return list(
        GoldItem.objects.filter(attribute=attribute)
        .select_related("image", "answer", "created_by")
        .annotate(
            answered=Count("answers"), right=Count("answers", filter=Q(answers__correct=True))
        )
        .order_by("-id")
    )


def gold_scores(attribute: Attribute) -> list[GoldScore]:
    """Each reviewer's answers to the attribute's gold items, the worst share first."""
    rows = (
        GoldAnswer.objects.filter(gold__attribute=attribute)
        .values("reviewer__username")
        .annotate(answered=Count("id"), correct=Count("id", filter=Q(correct=True)))
    )
    scores = [GoldScore(r["reviewer__username"], r["answered"], r["correct"]) for r in rows]
    scores.sort(key=lambda s: (s.share, s.name))
    return scores

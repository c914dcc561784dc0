"""Which look-alike question the triplet page asks next: a reference image and two candidates.

With an index, one candidate comes from the reference's 10 nearest neighbours and the other
from ranks 10-50, in random order: both look alike, so the answer teaches the net something
an automatic triplet can't. Without one, three random images. Candidates come from the
reference's split when it has enough images, so a similarity run can use the answer (it
trains on train-split triplets and tests on test-split ones).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from django.db.models import Max, Min, QuerySet

from curation.models import Dataset, Image, ImageStatus
from curation.queries import search

NEAR, FAR = 10, 50  # candidate A among the first NEAR neighbours, B among ranks NEAR..FAR
FETCH = 200  # neighbours fetched before keeping the reference's split


@dataclass
class Question:
    reference: Image
    left: Image
    right: Image
    source: str  # "index" (near vs farther neighbours) or "random"


def next_question(dataset: Dataset, rng: random.Random | None = None) -> Question | None:
    """None when the dataset has fewer than three usable images."""
    rng = rng or random.Random()
    row = search.current_index(dataset)
    if row is not None:
        found = _from_index(dataset, row, rng)
        if found is not None:
            return found
    return _at_random(dataset, rng)


def _usable(dataset: Dataset) -> QuerySet[Image]:
    return Image.objects.filter(dataset=dataset, status=ImageStatus.OK).exclude(file="")


def _from_index(dataset: Dataset, row, rng: random.Random) -> Question | None:
    index = search.loaded_index(row)
    ids = index.ids
    for _ in range(5):  # the drawn image may be quarantined since the build: draw again
        if not len(ids):
            return None
        ref_id = int(ids[rng.randrange(len(ids))])
        reference = _usable(dataset).filter(pk=ref_id).first()
        if reference is None:
            continue
        hits = index.search(index.vectors([ref_id])[0], FETCH, exclude_ids=[ref_id])
        candidates = _usable(dataset).filter(pk__in=hits.ids.tolist()).in_bulk()
        same = [
            candidates[i]
            for i in hits.ids.tolist()
            if i in candidates and candidates[i].split == reference.split
        ]
        ranked = (
            same
            if len(same) >= 2
            else [candidates[i] for i in hits.ids.tolist() if i in candidates]
        )
        ranked = ranked[:FAR]
        if len(ranked) < 2:
            continue
        cut = NEAR if len(ranked) > NEAR else len(ranked) // 2
        pair = [rng.choice(ranked[:cut]), rng.choice(ranked[cut:])]
        rng.shuffle(pair)
        return Question(reference, pair[0], pair[1], "index")
    return None


def _at_random(dataset: Dataset, rng: random.Random) -> Question | None:
    usable = _usable(dataset)
    bounds = usable.aggregate(lo=Min("id"), hi=Max("id"))
    if bounds["lo"] is None:
        return None

    def draw(qs: QuerySet[Image], exclude: list[int]) -> Image | None:
        # An id drawn uniformly, then the next usable image: no ORDER BY random() over the catalog.
        qs = qs.exclude(pk__in=exclude).order_by("pk")
        return qs.filter(pk__gte=rng.randint(bounds["lo"], bounds["hi"])).first() or qs.first()

    reference = draw(usable, [])
    if reference is None:
        return None
    pool = usable.filter(split=reference.split)
    if pool.exclude(pk=reference.pk)[:2].count() < 2:
        pool = usable
    left = draw(pool, [reference.pk])
    right = draw(pool, [reference.pk, left.pk]) if left is not None else None
    if left is None or right is None:
        return None
    return Question(reference, left, right, "random")

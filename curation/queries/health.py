"""Data health of a dataset, read side: near-duplicate photos by difference hash.

- leaked pairs: a train image and a test image within the Hamming radius. A test image that
  is (nearly) a training image inflates test F1: the model has seen it.
- conflicts: two images of one split within the radius whose labels disagree for an
  attribute (one of them is probably wrong).
- crowds: more than MAX_GROUP usable images with one identical hash (blank or placeholder
  photos). They are listed as one group each, not expanded into pairs (n² pairs of blanks
  would swamp the page and the search).
- look-alikes: images with more than MAX_NEIGHBOURS near hashes. A copy has a twin or two;
  dozens of near hashes mean the images are too plain for the hash (small silhouettes on
  black), so their pairs are counted, not listed.

Usable images only (status ok, with a hash). The search runs over (id, hash, split) arrays
by banded hashing (queries/near_duplicates.py), never over all pairs; its result is cached
under a fingerprint of what it depends on, so the pages don't repeat it until the catalog
changes.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np
from django.core.cache import cache
from django.db.models import Max

from curation.models import (
    Annotation,
    Attribute,
    Dataset,
    Image,
    ImageStatus,
    Label,
    RunImage,
    Split,
    SplitMove,
    SplitTally,
    TrainingRun,
)
from curation.queries import catalog
from curation.queries.near_duplicates import MAX_BUCKET, hex_to_u64, near_pairs
from mlcore.eval.metrics import metrics_from_confusion

# dHash bits a copy of one photo loses: re-encoding or resizing flips 0-2 of 64, a small crop
# or colour change a few more; two different photos differ in about 32 (half the bits), and
# even similar products of one catalog rarely come within 8. 4 catches re-encoded, resized
# and lightly edited copies while staying far from chance (bench/health.py counts both).
DEFAULT_RADIUS = 4
MAX_RADIUS = 12  # beyond this, pairs are mostly chance for simple images
MAX_GROUP = 200  # images with one identical hash: beyond this, a crowd, not pairs
IN_CHUNK = 5000  # ids per `IN (...)` query
# A copy has one or a few twins; an image with more near hashes than this is a look-alike
# the hash cannot tell apart (plain images, such as 28-px silhouettes on black, share most
# dHash bits without being copies: bench/README.md, "Data health"). Its pairs are counted,
# not listed.
MAX_NEIGHBOURS = 10
# The fingerprint changes with what the search depends on; the timeout only bounds a change
# it cannot see (a hash rewritten in place, which the importer never does).
CACHE_SECONDS = 24 * 3600


@dataclass(frozen=True)
class Crowd:
    phash: str
    train: int
    test: int
    example_id: int


@dataclass
class Search:
    """What the hash search found, as image ids (cached; labels are read fresh)."""

    radius: int
    n_images: int
    leaked: list[tuple[int, int, int]]  # (train image id, test image id, distance)
    same_split: list[tuple[int, int, int]]  # (image id, image id, distance), one split
    crowds: list[Crowd]
    skipped: int  # images in an over-full band group: some of their pairs may be missing
    lookalikes: int = 0  # images with more than MAX_NEIGHBOURS near hashes: not listed

    @property
    def leaked_test_ids(self) -> set[int]:
        return {test for _, test, _ in self.leaked}


@dataclass(frozen=True)
class Conflict:
    a: int  # image ids
    b: int
    distance: int
    attributes: tuple[int, ...]  # attribute ids whose labels disagree


@dataclass
class Health:
    search: Search
    conflicts: list[Conflict] = field(default_factory=list)

    @property
    def leaked_count(self) -> int:
        return len(self.search.leaked)

    @property
    def leaked_test_count(self) -> int:
        return len(self.search.leaked_test_ids)


def hash_arrays(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ids (N,) int64, hashes (N,) uint64 and is_test (N,) bool of the usable hashed images."""
    rows = list(
        Image.objects.filter(dataset=dataset, status=ImageStatus.OK)
        .exclude(phash="")
        .order_by()
        .values_list("id", "phash", "split")
    )
    good = [r for r in rows if len(r[1]) == 16]  # a malformed hash is left out, not fatal
    ids = np.fromiter((r[0] for r in good), dtype=np.int64, count=len(good))
    hashes = hex_to_u64([r[1] for r in good])
    is_test = np.fromiter((r[2] == Split.TEST for r in good), dtype=bool, count=len(good))
    return ids, hashes, is_test


def search_arrays(
    ids: np.ndarray,
    hashes: np.ndarray,
    is_test: np.ndarray,
    *,
    radius: int = DEFAULT_RADIUS,
    max_group: int = MAX_GROUP,
    max_bucket: int = MAX_BUCKET,
    max_neighbours: int = MAX_NEIGHBOURS,
) -> Search:
    """The search itself over arrays (see hash_arrays), sorted nearest first."""
    uniq, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
    crowded = counts[inverse] > max_group
    crowds = []
    for k in np.flatnonzero(counts > max_group):
        members = inverse == k
        crowds.append(
            Crowd(
                phash=f"{int(uniq[k]):016x}",
                train=int((members & ~is_test).sum()),
                test=int((members & is_test).sum()),
                example_id=int(ids[members].min()),
            )
        )
    keep = ~crowded
    ids, hashes, is_test = ids[keep], hashes[keep], is_test[keep]
    found = near_pairs(hashes, radius=radius, max_bucket=max_bucket)
    neighbours = np.bincount(np.r_[found.i, found.j], minlength=len(hashes))
    crowded_pair = (neighbours[found.i] > max_neighbours) | (neighbours[found.j] > max_neighbours)
    lookalikes = int((neighbours > max_neighbours).sum())
    fi, fj = found.i[~crowded_pair], found.j[~crowded_pair]
    cross = is_test[fi] != is_test[fj]
    a, b, d = ids[fi], ids[fj], found.distance[~crowded_pair]
    test_first = is_test[fi]
    train_side = np.where(test_first, b, a)
    test_side = np.where(test_first, a, b)
    leaked = sorted(
        zip(train_side[cross].tolist(), test_side[cross].tolist(), d[cross].tolist(), strict=True),
        key=lambda t: (t[2], t[1], t[0]),
    )
    lo, hi = np.minimum(a, b)[~cross], np.maximum(a, b)[~cross]
    same = sorted(
        zip(lo.tolist(), hi.tolist(), d[~cross].tolist(), strict=True),
        key=lambda t: (t[2], t[0], t[1]),
    )
    return Search(
        radius=radius,
        n_images=int(keep.size),
        lookalikes=lookalikes,
        leaked=leaked,
        same_split=same,
        crowds=sorted(crowds, key=lambda c: -(c.train + c.test)),
        skipped=found.skipped,
    )


def fingerprint(dataset: Dataset) -> tuple:
    """What the search depends on, read from a few index lookups: the usable images per split
    (a quarantine or a split move changes them), the newest image and the newest split move."""
    tallies = sorted(SplitTally.objects.filter(dataset=dataset).values_list("split", "n"))
    newest = Image.objects.filter(dataset=dataset).order_by("-id").values_list("id", flat=True)
    quarantined = Image.objects.filter(dataset=dataset, status=ImageStatus.QUARANTINED).count()
    moves = SplitMove.objects.filter(product__dataset=dataset).aggregate(m=Max("id"))["m"]
    return (dataset.pk, tuple(tallies), newest.first(), quarantined, moves)


def _cache_key(dataset: Dataset, radius: int) -> str:
    digest = hashlib.blake2b(repr(fingerprint(dataset)).encode(), digest_size=16).hexdigest()
    return f"health:v1:{dataset.pk}:{radius}:{digest}"


def search(dataset: Dataset, *, radius: int = DEFAULT_RADIUS) -> Search:
    """The dataset's hash search at `radius`, from the cache while the catalog is unchanged."""
    if not 0 <= radius <= MAX_RADIUS:
        raise ValueError(f"radius must be between 0 and {MAX_RADIUS} bits, not {radius}")
    key = _cache_key(dataset, radius)
    found = cache.get(key)
    if found is None:
        ids, hashes, is_test = hash_arrays(dataset)
        found = search_arrays(ids, hashes, is_test, radius=radius)
        cache.set(key, found, CACHE_SECONDS)
    return found


INLINE_MAX_IMAGES = 20_000  # a search this small takes well under a second: pages run it


def search_if_cheap(dataset: Dataset) -> Search | None:
    """The default search for pages that only warn (the quality dashboard): from the cache,
    or run now on a catalog of at most INLINE_MAX_IMAGES usable images; None when neither
    (a million images take seconds: the data-health page runs it)."""
    found = cache.get(_cache_key(dataset, DEFAULT_RADIUS))
    if found is None and catalog.usable_count(dataset) <= INLINE_MAX_IMAGES:
        found = search(dataset)
    return found


def cached_health(dataset: Dataset) -> Health | None:
    """The default search's findings if they are cached, else None (the dataset page shows
    counts without paying for a search: a million images take seconds)."""
    found = cache.get(_cache_key(dataset, DEFAULT_RADIUS))
    return None if found is None else Health(search=found, conflicts=conflicts(found.same_split))


def conflicts(pairs: list[tuple[int, int, int]]) -> list[Conflict]:
    """Same-split pairs whose labels disagree for some attribute (both labelled, different)."""
    ids = sorted({i for a, b, _ in pairs for i in (a, b)})
    labels: dict[int, dict[int, int]] = defaultdict(dict)  # image -> attribute -> label
    for start in range(0, len(ids), IN_CHUNK):
        rows = Annotation.objects.filter(
            image_id__in=ids[start : start + IN_CHUNK], label__isnull=False
        ).values_list("image_id", "attribute_id", "label_id")
        for image_id, attribute_id, label_id in rows:
            labels[image_id][attribute_id] = label_id
    out = []
    for a, b, d in pairs:
        la, lb = labels.get(a, {}), labels.get(b, {})
        differ = tuple(sorted(k for k in la.keys() & lb.keys() if la[k] != lb[k]))
        if differ:
            out.append(Conflict(a, b, d, differ))
    return out


def health(dataset: Dataset, *, radius: int = DEFAULT_RADIUS) -> Health:
    found = search(dataset, radius=radius)
    return Health(search=found, conflicts=conflicts(found.same_split))


@dataclass(frozen=True)
class Side:
    """One image of a pair as the page shows it."""

    image: Image
    labels: list[tuple[Attribute, Label | None]]


def sides(image_ids: list[int], dataset: Dataset) -> dict[int, Side]:
    """Images with their product and every attribute's current label, for one page of pairs."""
    images = Image.objects.filter(dataset=dataset, pk__in=image_ids).select_related("product")
    attributes = list(Attribute.objects.filter(dataset=dataset).order_by("position", "id"))
    current: dict[int, dict[int, Label | None]] = defaultdict(dict)
    for ann in Annotation.objects.filter(image_id__in=image_ids).select_related("label"):
        current[ann.image_id][ann.attribute_id] = ann.label
    return {
        im.pk: Side(im, [(attr, current[im.pk].get(attr.pk)) for attr in attributes])
        for im in images
    }


@dataclass(frozen=True)
class LeakEffect:
    """A run's test numbers with and without the test images that leaked from train."""

    leaked: int  # leaked test images the run scored
    n: int
    macro_f1: float
    accuracy: float
    n_without: int
    macro_f1_without: float
    accuracy_without: float


def leak_effect(run: TrainingRun, confusion: np.ndarray, labels: list[Label], leaked_ids: set[int]):
    """confusion: the run's test confusion (K, K) in `labels` order (the dashboard's). The
    leaked test images' rows come out of it; None when the run scored none of them."""
    at = {lab.pk: i for i, lab in enumerate(labels)}
    ids = sorted(leaked_ids)
    without = confusion.copy()
    removed = 0
    for start in range(0, len(ids), IN_CHUNK):
        rows = RunImage.objects.filter(
            run=run,
            split=Split.TEST,
            image_id__in=ids[start : start + IN_CHUNK],
            predicted_label__isnull=False,
        ).values_list("given_label_id", "predicted_label_id")
        for given, predicted in rows:
            if given in at and predicted in at:
                without[at[given], at[predicted]] -= 1
                removed += 1
    if not removed:
        return None
    names = [lab.name for lab in labels]
    full, rest = metrics_from_confusion(confusion, names), metrics_from_confusion(without, names)
    return LeakEffect(
        leaked=removed,
        n=full.n,
        macro_f1=full.macro_f1,
        accuracy=full.accuracy,
        n_without=rest.n,
        macro_f1_without=rest.macro_f1,
        accuracy_without=rest.accuracy,
    )

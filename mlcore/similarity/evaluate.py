"""How good an embedding is for look-alike search.

- `triplet_accuracy`: share of held-out (reference, closer, farther) triplets the vectors
  order correctly (TiefVision's "test rate").
- `recall_at_k`: share of queries with a known look-alike among their k nearest.
- `differs_scores`: precision of "similar but differs in X" (a result counts when it
  differs from the query in X and matches it on every other attribute) and how often the
  query's own X-variant is found.
`render_lookalikes` draws a synthetic test bed where all of this is known: per product a
base photo, a look-alike (one non-attribute generator parameter changed) and one variant
per attribute (that attribute changed, everything else kept), each on a new background.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from mlcore.datasets.synthetic_dresses import ATTRIBUTES, DressSpec, random_spec, render
from mlcore.similarity.index import IndexConfig, VectorIndex
from mlcore.similarity.search import LabelTable, differs_search

ROLES = ("base", "lookalike", *ATTRIBUTES)  # the images of one product, in this order
_FABRIC = ("colour", "pattern", "pattern_colour", "pattern_scale", "pattern_seed")


def triplet_accuracy(vectors: np.ndarray, triplets: np.ndarray) -> float:
    """vectors (N, D) unit rows; triplets (T, 3) positions -> share with
    |ref - closer| < |ref - farther| (NaN when T = 0)."""
    t = np.asarray(triplets, dtype=np.int64).reshape(-1, 3)
    if not t.shape[0]:
        return float("nan")
    v = np.asarray(vectors, dtype=np.float32)
    closer = np.einsum("td,td->t", v[t[:, 0]], v[t[:, 1]])  # cosine: higher is nearer
    farther = np.einsum("td,td->t", v[t[:, 0]], v[t[:, 2]])
    return float((closer > farther).mean())


def _nearest(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """(Q, k) positions of the k most similar rows to each query row, itself excluded."""
    sims = vectors[queries] @ vectors.T  # (Q, N)
    sims[np.arange(queries.shape[0]), queries] = -np.inf
    k = min(k, vectors.shape[0] - 1)
    top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(sims, top, 1), axis=1, kind="stable")
    return np.take_along_axis(top, order, 1)


def recall_at_k(
    vectors: np.ndarray,
    groups: np.ndarray,
    *,
    queries: np.ndarray | None = None,
    ks: tuple[int, ...] = (1, 10),
) -> dict[int, float]:
    """vectors (N, D) unit rows, groups (N,) look-alike group per row -> {k: share of the
    queries (positions; default: every row with a group-mate) that have at least one
    group-mate among their k nearest other rows} (exact search)."""
    v = np.asarray(vectors, dtype=np.float32)
    g = np.asarray(groups, dtype=np.int64)
    if queries is None:
        _, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
        queries = np.flatnonzero(counts[inverse.ravel()] >= 2)
    q = np.asarray(queries, dtype=np.int64)
    if not q.size:
        return {k: float("nan") for k in ks}
    near = _nearest(v, q, max(ks))  # (Q, K)
    hit = g[near] == g[q][:, None]  # (Q, K)
    return {k: float(hit[:, :k].any(1).mean()) for k in ks}


@dataclass
class DiffersScores:
    precision: float  # share of results that differ in X and match on the other attributes
    variant_hit: float  # share of searches whose own X-variant (same group) is returned
    searches: int


def differs_scores(
    vectors: np.ndarray,
    labels: np.ndarray,
    *,
    queries: np.ndarray,
    groups: np.ndarray | None = None,
    k: int = 10,
) -> DiffersScores:
    """ "Similar but differs in X" for every query and every attribute X, with
    search.differs_search over an exact index of all rows (ids = positions).

    vectors (N, D), labels (N, A) int (-1 unknown), queries (Q,) positions; groups (N,)
    marks each query's own variants (same group, differs only in X) for `variant_hit`."""
    lab = np.asarray(labels, dtype=np.int64)
    n, a = lab.shape
    index = VectorIndex(vectors.shape[1], IndexConfig(hnsw_threshold=n + 1))
    index.add(np.arange(n), vectors)
    table = LabelTable(np.arange(n), lab)
    g = np.asarray(groups, dtype=np.int64) if groups is not None else None
    good = returned = hits = searches = 0
    for qpos in np.asarray(queries, dtype=np.int64).tolist():
        for col in range(a):
            if lab[qpos, col] < 0:
                continue
            found = differs_search(
                index, vectors[qpos], lab[qpos], table, col, k=k, exclude_ids=[qpos]
            )
            rows = lab[found.ids]  # (k', A)
            others = np.delete(np.arange(a), col)
            ok = (rows[:, col] != lab[qpos, col]) & (rows[:, others] == lab[qpos, others]).all(1)
            good += int(ok.sum())
            returned += len(found)
            searches += 1
            if g is not None:
                hits += int((ok & (g[found.ids] == g[qpos])).any())
    return DiffersScores(
        precision=good / returned if returned else float("nan"),
        variant_hit=hits / searches if searches and g is not None else float("nan"),
        searches=searches,
    )


@dataclass
class LookalikeSet:
    paths: list[str]  # (N,) PNG files, product by product, in ROLES order
    groups: np.ndarray  # (N,) int64 product number
    roles: list[str]  # (N,) one of ROLES
    labels: np.ndarray  # (N, 4) int64 label index per attribute (ATTRIBUTES order)
    boxes: np.ndarray  # (N, 4) float32 tight dress box (x0, y0, x1, y1), pixels

    def positions(self, role: str) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.roles) == role)


def _lookalike(spec: DressSpec, rng: random.Random) -> DressSpec:
    """The same dress with one non-attribute parameter changed."""
    what = rng.choice(("colour", "pattern_seed", "length", "width"))
    if what == "colour":
        shift = [max(0, min(255, c + rng.randint(-40, 40))) for c in spec.colour]
        return replace(spec, colour=(shift[0], shift[1], shift[2]))
    if what == "pattern_seed":
        return replace(spec, pattern_seed=rng.getrandbits(31))
    if what == "length":
        return replace(spec, length=round(rng.uniform(1.5, 2.6), 3))
    return replace(spec, width=round(rng.uniform(0.3, 0.36), 3))


def _variant(spec: DressSpec, attribute: str, rng: random.Random) -> DressSpec:
    """The same dress with `attribute` changed. Occasion shows through the fabric, so an
    occasion variant also gets a fabric typical of its new occasion."""
    value = rng.choice([v for v in ATTRIBUTES[attribute] if v != getattr(spec, attribute)])
    changes: dict[str, Any] = {attribute: value}
    if attribute == "occasion":
        donor = random_spec(rng)
        while donor.occasion != value:
            donor = random_spec(rng)
        changes.update({f: getattr(donor, f) for f in _FABRIC})
    return replace(spec, **changes)


def render_lookalikes(
    out_dir: str | Path, *, n_products: int, size: int = 64, seed: int = 0
) -> LookalikeSet:
    """Write 6 PNGs per product (ROLES) to out_dir and describe them. Deterministic in
    (n_products, size, seed); a larger n_products gives a superset."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths, groups, roles, labels, boxes = [], [], [], [], []
    for i in range(n_products):
        spec = random_spec(random.Random(f"{seed}:lookalike-spec:{i}"))
        change = random.Random(f"{seed}:lookalike-change:{i}")
        specs = [spec, _lookalike(spec, change), *(_variant(spec, a, change) for a in ATTRIBUTES)]
        for role, s in zip(ROLES, specs, strict=True):
            image, box = render(
                s, size=size, rng=random.Random(f"{seed}:lookalike-photo:{i}:{role}")
            )
            path = out / f"p{i:05d}-{role}.png"
            image.save(path)
            paths.append(str(path))
            groups.append(i)
            roles.append(role)
            labels.append([ATTRIBUTES[a].index(getattr(s, a)) for a in ATTRIBUTES])
            boxes.append(box)
    return LookalikeSet(
        paths,
        np.asarray(groups, np.int64),
        roles,
        np.asarray(labels, np.int64).reshape(-1, len(ATTRIBUTES)),
        np.asarray(boxes, np.float32).reshape(-1, 4),
    )


def lookalike_triplets(data: LookalikeSet, *, seed: int = 0) -> np.ndarray:
    """Held-out triplets with a known answer: (base photo, its look-alike, a random photo
    of another product) -> (n_products, 3) positions."""
    base, look = data.positions("base"), data.positions("lookalike")
    rng = np.random.default_rng(seed)
    other: np.ndarray = rng.integers(0, len(data.paths), size=int(base.shape[0]))
    same = data.groups[other] == data.groups[base]
    while same.any():
        other[same] = rng.integers(0, len(data.paths), int(same.sum()))
        same = data.groups[other] == data.groups[base]
    return np.stack([base, look, other], 1)


@dataclass
class SimilarityScores:
    triplet_accuracy: float
    recall_at_1: float
    recall_at_10: float
    differs_precision: float
    variant_hit: float


def evaluate_lookalikes(
    vectors: np.ndarray, data: LookalikeSet, *, k: int = 10, seed: int = 0
) -> SimilarityScores:
    """All the scores above on a LookalikeSet: vectors (N, D), one row per image, in order.
    Queries are the base photos; their group-mates are the look-alikes to find."""
    base = data.positions("base")
    recall = recall_at_k(vectors, data.groups, queries=base, ks=(1, 10))
    differs = differs_scores(vectors, data.labels, queries=base, groups=data.groups, k=k)
    return SimilarityScores(
        triplet_accuracy=triplet_accuracy(vectors, lookalike_triplets(data, seed=seed)),
        recall_at_1=recall[1],
        recall_at_10=recall[10],
        differs_precision=differs.precision,
        variant_hit=differs.variant_hit,
    )

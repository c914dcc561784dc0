"""Where training triplets come from. A triplet is (reference, closer, farther), three
positions in the list of images a triplet net trains on; every source returns (T, 3) int64.

Automatic sources: `flip_triplets` (the closer image is a re-cropped / flipped copy of the
reference, as in TiefVision), `group_triplets` (another photo of the same product),
`attribute_triplets` (same attribute labels vs different ones). Human judgements:
`human_triplets`. Concatenate several with np.concatenate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def flip_triplets(n: int, *, per_item: int = 1, seed: int = 0) -> np.ndarray:
    """(n * per_item, 3): (i, i, j) with j != i uniform. fit_triplets re-crops and flips
    every view, so the closer view is an augmented copy of the reference."""
    if n < 2:
        raise ValueError(f"flip triplets need at least two images, got {n}.")
    rng = np.random.default_rng(seed)
    ref = np.repeat(np.arange(n, dtype=np.int64), per_item)
    other = rng.integers(0, n - 1, ref.shape[0])
    other += other >= ref  # uniform over everything but ref
    return np.stack([ref, ref, other], 1)


def group_triplets(
    groups: np.ndarray | Sequence[int], *, per_item: int = 1, seed: int = 0
) -> np.ndarray:
    """groups: (N,) int, e.g. product ids -> (T, 3): (i, j in i's group, k outside it).
    Items alone in their group, or in a group holding everything, give no triplet."""
    g = np.asarray(groups, dtype=np.int64).ravel()
    rng = np.random.default_rng(seed)
    order = np.argsort(g, kind="stable")
    sorted_g = g[order]
    start = np.searchsorted(sorted_g, g, side="left")  # (N,) first slot of i's group
    size = np.searchsorted(sorted_g, g, side="right") - start
    own = np.empty_like(order)
    own[order] = np.arange(g.shape[0])  # slot of i in sorted order
    ok = (size >= 2) & (size < g.shape[0])
    ref = np.repeat(np.flatnonzero(ok), per_item)
    if not ref.size:
        return np.zeros((0, 3), np.int64)
    offset = rng.integers(0, size[ref] - 1)  # a slot of the group other than ref's own
    slot = start[ref] + offset
    slot += slot >= own[ref]
    closer = order[slot]
    farther = _draw_other(g, ref, rng)
    return np.stack([ref, closer, farther], 1)


def attribute_triplets(
    labels: np.ndarray, *, per_item: int = 1, hard: int = 8, seed: int = 0
) -> np.ndarray:
    """labels: (N, A) int, -1 unknown -> (T, 3): (i, j with i's exact labels, k with other
    labels). Rows with an unknown label take no part. hard > 1: k is the candidate, of
    `hard` drawn, that differs in the fewest attributes (but at least one), so the net
    learns single-attribute differences."""
    lab = np.asarray(labels, dtype=np.int64)
    if lab.ndim != 2:
        raise ValueError(f"labels must have shape (N, A), got {lab.shape}.")
    known = np.flatnonzero((lab >= 0).all(1))
    if not known.size:
        return np.zeros((0, 3), np.int64)
    _, combo = np.unique(lab[known], axis=0, return_inverse=True)
    local = group_triplets(combo.ravel(), per_item=per_item, seed=seed)  # positions in known
    if not local.size or hard <= 1:
        return known[local]
    rng = np.random.default_rng(seed + 1)
    ref = local[:, 0]
    draws = np.stack([_draw_other(combo.ravel(), ref, rng) for _ in range(hard)], 1)  # (T, h)
    differ = (lab[known[draws]] != lab[known[ref]][:, None, :]).sum(-1)  # (T, h), >= 1
    pick = draws[np.arange(ref.shape[0]), differ.argmin(1)]
    return known[np.stack([ref, local[:, 1], pick], 1)]


def human_triplets(
    judgements: Sequence[tuple[int, int, int]] | np.ndarray, ids: Sequence[int] | np.ndarray
) -> np.ndarray:
    """judgements: [(reference id, closer id, farther id)] as people answered them; ids: (N,)
    the item id of each image position -> (T, 3) positions. ValueError names an unknown id."""
    ids_arr = np.asarray(ids, dtype=np.int64).ravel()
    position = {int(v): i for i, v in enumerate(ids_arr.tolist())}
    if len(position) != ids_arr.shape[0]:
        raise ValueError("ids must be distinct.")
    out = np.empty((len(judgements), 3), np.int64)
    for row, triple in enumerate(judgements):
        if len(triple) != 3:
            raise ValueError(f"judgement {row} {tuple(triple)}: need (reference, closer, farther).")
        if len({int(v) for v in triple}) != 3:
            raise ValueError(f"judgement {row} {tuple(triple)}: the three items must differ.")
        for col, item in enumerate(triple):
            if int(item) not in position:
                raise ValueError(f"judgement {row}: item id {int(item)} is not among the images.")
            out[row, col] = position[int(item)]
    return out


def _draw_other(groups: np.ndarray, ref: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(T,) positions, each uniform over the items outside ref's group (rejection)."""
    other: np.ndarray = rng.integers(0, groups.shape[0], size=int(ref.shape[0]))
    for _ in range(64):
        same = groups[other] == groups[ref]
        if not same.any():
            return other
        other[same] = rng.integers(0, groups.shape[0], int(same.sum()))
    raise ValueError("could not draw items outside a group: one group holds almost everything.")

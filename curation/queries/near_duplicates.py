"""Pairs of 64-bit difference hashes within a Hamming radius, without comparing every pair.

Pigeonhole over bands: cut the 64 bits into m contiguous bands. Two hashes that differ in at
most r bits differ in at most r bands, so at least m - r bands are equal in both. Grouping
the hashes by every combination of m - r bands (a key: the hash with the other bands masked
out) therefore puts every pair within r into at least one common group; only pairs inside a
group are compared. m = r + 1 is the classic scheme (one band, 64/(r+1) bits, must match);
m = r + 2 asks two bands (about 2 * 64/(r+2) bits) to match under C(r+2, 2) keys, which
makes the groups far smaller for a few more sorts (bench/health.py measures both).

Pure numpy over arrays, so the bench and the tests call it without a database.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

MAX_BUCKET = 2000  # a band group larger than this is not expanded into pairs (see skipped)


@dataclass(frozen=True)
class NearPairs:
    """Pairs of positions into the hash array, i < j, with their Hamming distance."""

    i: np.ndarray  # (P,) int64
    j: np.ndarray  # (P,) int64
    distance: np.ndarray  # (P,) int64
    skipped: int  # hashes that sat in a band group over max_bucket (their pairs may be missing)


def hex_to_u64(values: list[str]) -> np.ndarray:
    """16-digit hex strings -> (N,) uint64; raises ValueError on anything else."""
    if not values:
        return np.zeros(0, dtype=np.uint64)
    joined = "".join(values)
    if len(joined) != 16 * len(values):
        raise ValueError("every hash must be 16 hex digits")
    return np.frombuffer(bytes.fromhex(joined), dtype=">u8").astype(np.uint64)


def band_masks(bands: int) -> list[int]:
    """`bands` contiguous bit masks that cover the 64 bits, as equal in width as can be."""
    if not 1 <= bands <= 64:
        raise ValueError(f"bands must be between 1 and 64, not {bands}")
    edges = [round(64 * k / bands) for k in range(bands + 1)]
    return [((1 << (hi - lo)) - 1) << lo for lo, hi in itertools.pairwise(edges)]


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ, elementwise: a, b (P,) uint64 -> (P,) int64."""
    return np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)


def _pairs_in_runs(order: np.ndarray, keys: np.ndarray, max_bucket: int):
    """Every pair of positions that share a key, as (i, j) into the original array, and the
    positions that sat in a run over max_bucket. keys: sorted (N,) uint64; order: argsort."""
    n = len(keys)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    lengths = np.diff(np.r_[starts, n])
    big = lengths > max_bucket
    crowded = order[np.repeat(big, lengths)]
    lengths = np.where(big, 0, lengths)
    # Element at offset p of a run of length L pairs with the L - 1 - p elements after it.
    run_of = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
    offset = np.arange(n) - starts[run_of]
    after = np.maximum(lengths[run_of] - 1 - offset, 0)
    total = int(after.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, crowded
    left = np.repeat(np.arange(n), after)
    first = np.cumsum(after) - after  # where each element's partners begin in `left`
    right = left + 1 + (np.arange(total) - np.repeat(first, after))
    return order[left], order[right], crowded


def near_pairs(
    hashes: np.ndarray,
    *,
    radius: int,
    bands: int | None = None,
    max_bucket: int = MAX_BUCKET,
) -> NearPairs:
    """Every pair of hashes within `radius` bits, each pair once (i < j).

    hashes: (N,) uint64. bands: m, at least radius + 1 (default radius + 2, see the module
    docstring). A band group (hashes equal on the key's bands) of more than max_bucket hashes
    is not expanded: its members are counted in `skipped`, since their pairs may be missing.
    """
    if radius < 0 or radius >= 64:
        raise ValueError(f"radius must be between 0 and 63, not {radius}")
    bands = radius + 2 if bands is None else bands
    if bands <= radius:
        raise ValueError(f"{bands} bands cannot guarantee a radius of {radius} (need > radius)")
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    masks = band_masks(min(bands, 64))
    found, crowded = [], []
    for combo in itertools.combinations(masks, len(masks) - radius):
        keys = hashes & np.uint64(sum(combo))
        order = np.argsort(keys, kind="stable")
        i, j, big = _pairs_in_runs(order, keys[order], max_bucket)
        crowded.append(big)
        d = hamming(hashes[i], hashes[j])
        keep = d <= radius
        lo, hi = np.minimum(i[keep], j[keep]), np.maximum(i[keep], j[keep])
        found.append(lo * len(hashes) + hi)  # one int64 per pair, to drop repeats across keys
    codes = np.unique(np.concatenate(found)) if found else np.zeros(0, dtype=np.int64)
    i, j = np.divmod(codes, max(len(hashes), 1))
    skipped = len(np.unique(np.concatenate(crowded))) if crowded else 0
    return NearPairs(i=i, j=j, distance=hamming(hashes[i], hashes[j]), skipped=skipped)


def brute_force_pairs(hashes: np.ndarray, *, radius: int, chunk: int = 2048) -> NearPairs:
    """The same pairs by comparing every hash with every later one: O(N²), for tests and the
    bench's baseline only."""
    hashes = np.ascontiguousarray(hashes, dtype=np.uint64)
    n = len(hashes)
    out_i, out_j = [], []
    for start in range(0, n, chunk):
        block = hashes[start : start + chunk]
        d = np.bitwise_count(block[:, None] ^ hashes[None, :])  # (chunk, N)
        rows, cols = np.nonzero(d <= radius)
        rows = rows + start
        keep = cols > rows
        out_i.append(rows[keep])
        out_j.append(cols[keep])
    i = np.concatenate(out_i).astype(np.int64) if out_i else np.zeros(0, dtype=np.int64)
    j = np.concatenate(out_j).astype(np.int64) if out_j else np.zeros(0, dtype=np.int64)
    order = np.lexsort((j, i))
    i, j = i[order], j[order]
    return NearPairs(i=i, j=j, distance=hamming(hashes[i], hashes[j]), skipped=0)

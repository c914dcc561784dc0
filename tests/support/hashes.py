"""Planting difference hashes on a catalog's images, for the data-health tests."""

from __future__ import annotations

import random

from curation.models import Dataset, Image


def far_hashes(n: int, *, seed: int = 0, apart: int = 16) -> list[str]:
    """n random 64-bit hashes, hex, each pair more than `apart` bits apart."""
    rng = random.Random(seed)
    out: list[int] = []
    while len(out) < n:
        h = rng.getrandbits(64)
        if all((h ^ o).bit_count() > apart for o in out):
            out.append(h)
    return [f"{h:016x}" for h in out]


def flip(phash: str, bits: int, *, seed: int = 0) -> str:
    """The hash with `bits` of its bits flipped (distinct positions)."""
    value = int(phash, 16)
    for position in random.Random(seed).sample(range(64), bits):
        value ^= 1 << position
    return f"{value:016x}"


def plant(dataset: Dataset, hashes: dict[str, str]) -> None:
    """Set the hash of each image named by source path (the importer computed others)."""
    for path, phash in hashes.items():
        assert Image.objects.filter(dataset=dataset, source_path=path).update(phash=phash) == 1


def clean(dataset: Dataset, *, seed: int = 0) -> dict[str, str]:
    """Give every image of the dataset a hash far from all others; returns path -> hash."""
    paths = list(
        Image.objects.filter(dataset=dataset).order_by("id").values_list("source_path", flat=True)
    )
    hashes = dict(zip(paths, far_hashes(len(paths), seed=seed), strict=True))
    plant(dataset, hashes)
    return hashes

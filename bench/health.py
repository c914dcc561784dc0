"""Near-duplicate search for the data-health page: banded hashing against the all-pairs
comparison it replaces, on the same hashes.

    .venv/bin/python bench/health.py                     # 1,000,000 hashes + Fashion-MNIST
    .venv/bin/python bench/health.py --n 200000 --sample 10000   # a quick look

Two sets of 64-bit difference hashes:
- synthetic: N uniformly random hashes, of which 1% are planted near-copies (0-8 bits
  from another hash, half of them across the split);
- fashion-mnist: the dHash (curation.imaging.difference_hash, as the importer computes it)
  of all 70,000 Fashion-MNIST images with the official train/test split: real, far from
  uniform hashes (black backgrounds, centred silhouettes), the hard case for banding.

Per set and method it prints the wall time of the pair search, the pairs found within the
radius and whether they equal the brute-force pairs on the sample. Brute force runs on a
sample of --sample hashes and is extrapolated to N as O(N²); the last column is that
extrapolation over the banded time. Then, for Fashion-MNIST, how many train/test pairs
each radius finds (what the default radius of 4 buys and what a wider one costs), and the
whole read-side search (queries.health.search_arrays: crowds, banded pairs, splits) on the
synthetic set.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from PIL import Image as PILImage  # noqa: E402

from curation.imaging import difference_hash  # noqa: E402
from curation.queries.health import search_arrays  # noqa: E402
from curation.queries.near_duplicates import brute_force_pairs, near_pairs  # noqa: E402
from mlcore.datasets import fashion_mnist  # noqa: E402


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64 - 1, size=n, dtype=np.uint64, endpoint=True)
    copies = n // 100
    src = rng.integers(0, n, size=copies)
    dst = rng.integers(0, n, size=copies)
    for s, d in zip(src, dst, strict=True):
        bits = rng.choice(64, size=rng.integers(0, 9), replace=False)
        hashes[d] = hashes[s] ^ np.uint64(sum(1 << int(b) for b in bits))
    is_test = rng.random(n) < 0.2
    return hashes, is_test


def fashion() -> tuple[np.ndarray, np.ndarray]:
    hashes, is_test = [], []
    for split in ("train", "test"):
        images, _ = fashion_mnist.load(split)
        for im in images:
            hashes.append(int(difference_hash(PILImage.fromarray(im)), 16))
            is_test.append(split == "test")
    return np.array(hashes, dtype=np.uint64), np.array(is_test)


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def compare(name: str, hashes: np.ndarray, *, radius: int, sample: int, seed: int) -> None:
    n = len(hashes)
    rng = np.random.default_rng(seed)
    part = hashes[np.sort(rng.choice(n, size=min(sample, n), replace=False))]
    brute, t_brute = timed(lambda: brute_force_pairs(part, radius=radius))
    brute_at_n = t_brute * (n / len(part)) ** 2
    print(f"\n{name}: {n:,} hashes, radius {radius}, brute force on {len(part):,}")
    print(f"{'method':<22}{'N':>11}{'seconds':>10}{'pairs':>10}{'= brute':>9}{'x faster':>10}")
    print(f"{'brute force (sample)':<22}{len(part):>11,}{t_brute:>10.2f}{len(brute.i):>10,}")
    print(f"{'brute force (O(N²))':<22}{n:>11,}{brute_at_n:>10.0f}{'':>10}")
    for bands in (radius + 1, radius + 2):
        on_part = near_pairs(part, radius=radius, bands=bands)
        same = np.array_equal(on_part.i, brute.i) and np.array_equal(on_part.j, brute.j)
        found, t = timed(lambda b=bands: near_pairs(hashes, radius=radius, bands=b))
        label = f"banded, {bands} bands"
        print(
            f"{label:<22}{n:>11,}{t:>10.2f}{len(found.i):>10,}{'yes' if same else 'NO':>9}"
            f"{brute_at_n / t:>10.0f}"
            + (f"   ({found.skipped:,} in over-full groups)" if found.skipped else "")
        )


def whole_search(what: str, hashes: np.ndarray, is_test: np.ndarray, *, radius: int) -> None:
    """search_arrays over all of `hashes`, timed: its crowds, look-alikes and pairs."""
    ids = np.arange(1, len(hashes) + 1, dtype=np.int64)
    found, t = timed(lambda: search_arrays(ids, hashes, is_test, radius=radius))
    print(
        f"whole search (search_arrays) on {what}: {t:.2f} s, {len(found.crowds)} crowds "
        f"({sum(c.train + c.test for c in found.crowds):,} images), "
        f"{found.lookalikes:,} look-alikes, {len(found.leaked):,} leaked pairs "
        f"({len(found.leaked_test_ids):,} test images), {len(found.same_split):,} within a split"
    )


def radius_table(hashes: np.ndarray, is_test: np.ndarray) -> None:
    print("\nFashion-MNIST: pairs within r bits (banded search)")
    print(f"{'r':>3}{'pairs':>11}{'train/test':>12}{'test images':>13}{'seconds':>9}")
    for r in (0, 2, 4):
        found, t = timed(lambda r=r: near_pairs(hashes, radius=r))
        cross = is_test[found.i] != is_test[found.j]
        tests = np.unique(np.where(is_test[found.i], found.i, found.j)[cross])
        print(f"{r:>3}{len(found.i):>11,}{int(cross.sum()):>12,}{len(tests):>13,}{t:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000, help="synthetic hashes")
    parser.add_argument("--sample", type=int, default=20_000, help="brute-force sample")
    parser.add_argument("--radius", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-fashion", action="store_true", help="skip Fashion-MNIST")
    args = parser.parse_args()

    hashes, is_test = synthetic(args.n, args.seed)
    compare("synthetic", hashes, radius=args.radius, sample=args.sample, seed=args.seed)
    whole_search(f"{len(hashes):,} synthetic hashes", hashes, is_test, radius=args.radius)
    if not args.no_fashion:
        (fm_hashes, fm_test), t = timed(fashion)
        print(f"\n(Fashion-MNIST dHashes computed in {t:.0f} s)")
        compare("fashion-mnist", fm_hashes, radius=args.radius, sample=args.sample, seed=0)
        radius_table(fm_hashes, fm_test)
        whole_search("Fashion-MNIST", fm_hashes, fm_test, radius=args.radius)


if __name__ == "__main__":
    main()

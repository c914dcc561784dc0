"""What the Fashion-MNIST benchmarks share: the image export they train from, and the
training recipe that fits the 2-core CPU box.

A script runs as `.venv/bin/python bench/NAME.py`; it puts the repository root on sys.path
and then imports this module as `bench.common`.
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from mlcore.config import TrainConfig
from mlcore.data.labels_csv import LabelsCsv, read_labels_csv
from mlcore.datasets import fashion_mnist

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"  # git-ignored; what the benchmarks keep between runs

# 28-px images decoded once into the uint8 cache, mild random crops, and no centre crop at
# evaluation (the garment fills the frame).
FASHION_MNIST_CPU = TrainConfig(
    image_size=28,
    crop_scale=(0.7, 1.0),
    eval_crop_fraction=1.0,
    cache_decoded=True,
    num_workers=2,
)
# ResNet-18 at half width with a small stem: a quarter of the FLOPs of width 64.
RESNET18_CPU = replace(
    FASHION_MNIST_CPU, arch="resnet18", small_stem=True, width=32, batch_size=128, lr=0.1
)


def fashion_mnist_labels(out: Path = OUT) -> LabelsCsv:
    """The category labels of Fashion-MNIST, read from out/fashion-mnist/labels.csv; the
    PNG files and the CSV are written there on first use (a few seconds)."""
    csv = out / "fashion-mnist" / "labels.csv"
    if not csv.exists():
        print(f"writing Fashion-MNIST PNGs to {csv.parent} ...", file=sys.stderr)
        fashion_mnist.write_image_folder(csv.parent)
    return read_labels_csv(csv, attribute="category", label_names=fashion_mnist.CLASSES)


def print_side_by_side(
    before: dict[str, float], after: dict[str, float], names: tuple[str, str]
) -> None:
    """A benchmark's comparison table: one row a figure, its value in each column and the
    second over the first (nan where the first is 0)."""
    print(f"{'':<42} {names[0]:>11} {names[1]:>11} {'ratio':>7}")
    for key, old in before.items():
        ratio = after[key] / old if old else float("nan")
        print(f"{key:<42} {old:>11.3f} {after[key]:>11.3f} {ratio:>7.2f}")

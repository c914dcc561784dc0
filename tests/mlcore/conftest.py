"""Seeded tiny images and a tiny training config: every mlcore test runs in seconds on a CPU."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mlcore.config import TrainConfig
from tests.support.tiny_nets import TINY_NET

NAMES = ["stripes", "bars", "square"]

TINY = TrainConfig(
    **TINY_NET,
    image_size=16,
    small_stem=True,
    epochs=1,
    batch_size=8,
    lr=0.05,
    warmup_epochs=0.5,
    crop_scale=(0.6, 1.0),
    eval_crop_fraction=1.0,
    num_workers=0,
    progress_every=1,
)


def tiny_config(**changes: object) -> TrainConfig:
    return replace(TINY, **changes)  # type: ignore[arg-type]


def cancel_after(calls: int) -> Callable[[], bool]:
    """A should_cancel that says no `calls` times, then yes."""
    asked = 0

    def should_cancel() -> bool:
        nonlocal asked
        asked += 1
        return asked > calls

    return should_cancel


def assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    """Bit-identical parameters and buffers, on any device."""
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    different = [k for k in sa if not torch.equal(sa[k].cpu(), sb[k].cpu())]
    assert not different, different[:5]


def draw(label: int, rng: np.random.Generator, *, size: int = 16) -> np.ndarray:
    """(size, size, 3) uint8: noise plus a pattern that tells the class apart."""
    image = rng.integers(0, 70, (size, size, 3)).astype(np.uint8)
    if label == 0:
        image[::4] += 150  # horizontal stripes
    elif label == 1:
        image[:, ::4] += 150  # vertical bars
    else:
        image[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] += 150  # a square
    return image


@pytest.fixture
def make_items(tmp_path: Path) -> Callable[..., list[tuple[str, int]]]:
    """make_items(n, seed=0) -> n (png path, label) items, labels cycling 0, 1, 2."""

    def make(n: int, *, seed: int = 0, folder: str = "images") -> list[tuple[str, int]]:
        rng = np.random.default_rng(seed)
        root = tmp_path / folder
        root.mkdir(exist_ok=True)
        items = []
        for i in range(n):
            path = root / f"{seed}-{i:04d}.png"
            Image.fromarray(draw(i % 3, rng)).save(path)
            items.append((str(path), i % 3))
        return items

    return make

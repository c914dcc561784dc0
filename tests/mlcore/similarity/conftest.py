"""Synthetic look-alike dresses, drawn once per session, and the devices to run on."""

from __future__ import annotations

import pytest
import torch

from mlcore.similarity.evaluate import LookalikeSet, render_lookalikes

DEVICES = [
    "cpu",
    pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA")),
]


@pytest.fixture(scope="session")
def dresses(tmp_path_factory) -> LookalikeSet:
    """34 products x 6 photos (204 images), 64 px."""
    return render_lookalikes(tmp_path_factory.mktemp("dresses"), n_products=34, size=64, seed=3)


@pytest.fixture(scope="session")
def more_dresses(tmp_path_factory) -> tuple[LookalikeSet, LookalikeSet]:
    """(train: 60 products, held out: 30 products), 64 px."""
    root = tmp_path_factory.mktemp("more-dresses")
    return (
        render_lookalikes(root / "train", n_products=60, size=64, seed=1),
        render_lookalikes(root / "test", n_products=30, size=64, seed=2),
    )


@pytest.fixture(autouse=True)
def one_torch_thread():
    """These models are tiny: one thread is faster than two, and far faster when other
    processes load the cores (OpenMP threads then wait on each other)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

"""fit_on_devices: one run on N processes (gloo on the CPU) spawned by the caller."""

from __future__ import annotations

import pytest
import torch

from mlcore.config import available_devices, parse_devices
from mlcore.data.loaders import TrainData
from mlcore.train.launch import fit_on_devices
from tests.mlcore.conftest import NAMES, assert_same_weights, tiny_config


@pytest.mark.parametrize("world", [2, 4])
def test_the_shards_cover_each_item_once_per_epoch_across_ranks(make_items, world):
    items = make_items(24)
    config = tiny_config()
    shards = [
        TrainData(items, config=config, device=torch.device("cpu"), rank=r, world_size=world)
        for r in range(world)
    ]

    for epoch in range(2):
        seen: list[int] = []
        for data in shards:
            data.sampler.set_epoch(epoch)
            seen += list(data.sampler)
        assert sorted(seen) == list(range(len(items)))  # every item once, none twice


@pytest.mark.parametrize(
    ("value", "expected"), [("1", 1), ("all", None), (" 3 ", 3), ("ALL", None)]
)
def test_devices_reads_one_all_or_a_number(value, expected):
    assert parse_devices(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", ""])
def test_devices_refuses_anything_else(value):
    with pytest.raises(ValueError, match="devices"):
        parse_devices(value)


def test_available_cpu_devices_are_the_cores():
    assert available_devices("cpu") >= 1


@pytest.mark.slow
def test_two_processes_train_one_run_with_rank_zero_writing_and_reporting(make_items, tmp_path):
    items = make_items(32)
    reports = []

    result = fit_on_devices(
        tiny_config(epochs=2, devices="2"),
        items,
        NAMES,
        out_dir=tmp_path / "run",
        eval_items=make_items(9, seed=1, folder="test"),
        progress=reports.append,
    )

    assert result.world_size == 2 and result.epochs_done == 2 and not result.cancelled
    assert [h.images for h in result.history] == [16, 16]  # a 16-image shard per rank
    assert result.metrics is not None and result.evaluation is not None
    assert len(result.evaluation.probs) == 9
    # progress comes from rank 0 alone: one report per step of its shard
    assert [(p.epoch, p.step) for p in reports] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.pt"]
    saved = torch.load(tmp_path / "run" / "checkpoint.pt", map_location="cpu", weights_only=False)
    assert saved["world_size"] == 2 and saved["epoch"] == 2


@pytest.mark.slow
def test_a_cancelled_ddp_run_resumes_to_the_same_weights(make_items, tmp_path):
    items = make_items(64)
    config = tiny_config(epochs=4, batch_size=2, devices="2")
    whole = fit_on_devices(config, items, NAMES, out_dir=tmp_path / "whole")
    checkpoint = tmp_path / "parts" / "checkpoint.pt"

    first = fit_on_devices(
        config, items, NAMES, out_dir=tmp_path / "parts", should_cancel=checkpoint.exists
    )
    second = fit_on_devices(config, items, NAMES, out_dir=tmp_path / "parts")

    assert first.cancelled and 1 <= second.resumed_from < 4
    assert second.epochs_done == 4 and not second.cancelled
    assert_same_weights(whole.model, second.model)

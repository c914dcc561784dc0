import math

import pytest
import torch

from mlcore.train.schedule import WarmupCosine, build_optimizer, build_scheduler
from tests.mlcore.conftest import tiny_config


def test_warmup_rises_linearly_then_cosine_decays_to_zero():
    factor = WarmupCosine(warmup=4, total=14)

    assert [factor(s) for s in range(4)] == pytest.approx([0.2, 0.4, 0.6, 0.8])
    assert factor(4) == pytest.approx(1.0)
    assert factor(9) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert factor(14) == pytest.approx(0.0)


def test_scheduler_steps_per_batch_over_all_epochs():
    model = torch.nn.Linear(2, 2)
    config = tiny_config(epochs=3, warmup_epochs=1.0, lr=0.3)
    optimizer = build_optimizer(model, config)
    scheduler = build_scheduler(optimizer, config, steps_per_epoch=5)

    lrs = []
    for _ in range(15):
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()

    assert max(lrs) == pytest.approx(0.3)
    assert lrs.index(max(lrs)) == 5  # end of the first epoch
    assert lrs[-1] < 0.01


def test_no_weight_decay_on_biases():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.BatchNorm1d(3))

    groups = build_optimizer(model, tiny_config(weight_decay=0.1)).param_groups

    assert [len(g["params"]) for g in groups] == [1, 3]
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]

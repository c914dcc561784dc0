import random
from dataclasses import asdict

import numpy as np
import pytest
import torch

from mlcore.config import TrainConfig
from mlcore.train import CHECKPOINT_NAME, fit
from mlcore.train.checkpoint import load_checkpoint
from tests.mlcore.conftest import NAMES, assert_same_weights, cancel_after, tiny_config

RESUME_CASES = [
    pytest.param({"cache_decoded": True}, id="resnet-cache"),
    pytest.param({"cache_decoded": False}, id="resnet-files"),
    # dropout and drop-connect draw from the global RNG: only a restored RNG state matches
    pytest.param(
        {"arch": "efficientnet_lite0", "cache_decoded": True, "optimizer": "adamw", "lr": 1e-3},
        id="lite0-dropout-adamw",
    ),
    pytest.param({"stn": True, "class_weighting": "effective", "label_smoothing": 0.1}, id="stn"),
]


@pytest.mark.parametrize("changes", RESUME_CASES)
def test_resume_reaches_the_weights_of_an_uninterrupted_run(make_items, tmp_path, changes):
    items = make_items(36)
    config = tiny_config(epochs=2, **changes)
    straight = fit(config, items, NAMES, out_dir=tmp_path / "straight")

    # Stop inside epoch 2, after epoch 1's checkpoint: 4 steps per epoch, cancel at step 6.
    first = fit(config, items, NAMES, out_dir=tmp_path / "resumed", should_cancel=cancel_after(6))
    assert first.cancelled and first.epochs_done == 1
    # What a fresh process would hold: new objects, RNGs somewhere else entirely.
    torch.manual_seed(1234)
    np.random.seed(1234)
    random.seed(1234)
    resumed = fit(
        TrainConfig(**asdict(config)),
        [tuple(item) for item in items],
        list(NAMES),
        out_dir=tmp_path / "resumed",
    )

    assert resumed.resumed_from == 1 and resumed.epochs_done == 2 and not resumed.cancelled
    assert_same_weights(resumed.model, straight.model)
    assert [h.loss for h in resumed.history] == [h.loss for h in straight.history]


def test_cancel_stops_within_one_step_and_keeps_the_last_checkpoint(make_items, tmp_path):
    items = make_items(32)  # 4 steps per epoch
    steps_seen = []

    out = tmp_path / "run"

    result = fit(
        tiny_config(epochs=3),
        items,
        NAMES,
        out_dir=out,
        progress=lambda p: steps_seen.append((p.epoch, p.step)),
        should_cancel=cancel_after(6),
    )

    assert result.cancelled
    assert steps_seen == [(1, 1), (1, 2), (1, 3), (1, 4), (2, 1), (2, 2)]  # no 7th step
    assert result.epochs_done == 1
    assert result.checkpoint_path == out / CHECKPOINT_NAME
    assert load_checkpoint(result.checkpoint_path)["epoch"] == 1
    assert [p.name for p in out.iterdir()] == [CHECKPOINT_NAME]  # no temp files left


def test_progress_reports_every_field(make_items, tmp_path):
    reports = []

    fit(tiny_config(epochs=2), make_items(16), NAMES, out_dir=tmp_path, progress=reports.append)

    last = reports[-1]
    assert (last.epoch, last.epochs, last.step, last.steps) == (2, 2, 2, 2)
    assert last.eta_s == 0 and last.images_per_s > 0 and np.isfinite(last.loss)
    assert reports[0].eta_s > 0


def test_the_checkpoint_is_a_plain_dict_loadable_on_cpu(make_items, tmp_path):
    result = fit(tiny_config(), make_items(16), NAMES, out_dir=tmp_path)

    ckpt = torch.load(result.checkpoint_path, map_location="cpu", weights_only=True)

    assert {"model", "optimizer", "scheduler", "epoch", "config", "label_names", "rng"} <= set(ckpt)
    assert ckpt["config"] == asdict(tiny_config())
    assert ckpt["label_names"] == NAMES and ckpt["epoch"] == 1


def test_a_finished_run_is_not_trained_again(make_items, tmp_path):
    items = make_items(16)
    done = fit(tiny_config(), items, NAMES, out_dir=tmp_path)

    again = fit(tiny_config(), items, NAMES, out_dir=tmp_path, should_cancel=cancel_after(0))

    assert again.epochs_done == 1 and not again.cancelled and again.resumed_from == 1
    assert_same_weights(again.model, done.model)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"lr": 0.5}, "different config .*lr"), ({"seed": 3}, "seed")],
)
def test_resume_refuses_a_checkpoint_of_another_job(make_items, tmp_path, changes, message):
    items = make_items(16)
    fit(tiny_config(), items, NAMES, out_dir=tmp_path)

    with pytest.raises(ValueError, match=message):
        fit(tiny_config(**changes), items, NAMES, out_dir=tmp_path)
    with pytest.raises(ValueError, match="different list of training items"):
        fit(tiny_config(), items[:-1], NAMES, out_dir=tmp_path)
    fit(tiny_config(**changes), items, NAMES, out_dir=tmp_path, resume=False)  # allowed


def test_evaluation_on_eval_items_gives_metrics(make_items, tmp_path):
    items = make_items(48)

    result = fit(tiny_config(epochs=3), items[:36], NAMES, out_dir=tmp_path, eval_items=items[36:])

    assert result.metrics is not None and result.metrics.n == 12
    assert result.evaluation.probs.shape == (12, 3)
    assert result.metrics.accuracy > 0.5  # the patterns are easy; chance is 1/3


@pytest.mark.parametrize(
    ("items", "names", "message"),
    [
        ([], NAMES, "no training items"),
        ([("a.png", 3)], NAMES, r"label 3 not in \[0, 3\)"),
        ([("a.png", 0)], ["only"], "at least two"),
    ],
)
def test_fit_rejects_bad_input(tmp_path, items, names, message):
    with pytest.raises(ValueError, match=message):
        fit(tiny_config(), items, names, out_dir=tmp_path)


def test_a_fresh_start_drops_the_old_checkpoint(make_items, tmp_path):
    items = make_items(16)
    fit(tiny_config(), items, NAMES, out_dir=tmp_path / "run")

    result = fit(
        tiny_config(),
        items,
        NAMES,
        out_dir=tmp_path / "run",
        resume=False,
        should_cancel=cancel_after(0),
    )

    assert result.cancelled and result.epochs_done == 0
    assert result.checkpoint_path is None
    assert not (tmp_path / "run" / CHECKPOINT_NAME).exists()

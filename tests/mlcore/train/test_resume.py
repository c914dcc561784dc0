"""The resume rules every trainer shares (mlcore.train.resume)."""

import random

import numpy as np
import pytest
import torch

from mlcore.train.checkpoint import rng_state
from mlcore.train.resume import (
    EpochRecord,
    digest,
    epoch_seed,
    open_checkpoint,
    restore,
    save,
)


def _objects():
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1)
    return model, optimizer, scheduler


def _write(path, *, kind="classifier", config=None, inputs="abc", rng=None, **extra):
    model, optimizer, scheduler = _objects()
    save(
        path,
        kind=kind,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        epoch=2,
        config=config or {"lr": 0.1, "seed": 1, "epochs": 5},
        inputs=inputs,
        history=[EpochRecord(1, 0.5, 10, 2, 0.1, 0.1), EpochRecord(2, 0.4, 10, 2, 0.1, 0.1)],
        rng=rng,
        **extra,
    )


def test_epoch_seed_differs_per_epoch_and_rank_and_rank_0_is_the_single_process_seed():
    seeds = {epoch_seed(7, e, r) for e in range(4) for r in range(3)}
    assert len(seeds) == 12
    assert epoch_seed(7, 2) == epoch_seed(7, 2, 0)


def test_digest_is_the_same_for_the_same_lines_and_differs_otherwise():
    assert digest(["a", "b"]) == digest(iter(["a", "b"]))
    assert digest(["a", "b"]) != digest(["b", "a"])


def test_a_missing_checkpoint_starts_fresh_and_resume_false_deletes_an_old_one(tmp_path):
    path, ckpt = open_checkpoint(tmp_path, resume=True, kind="triplet", config={}, inputs="x")
    assert ckpt is None and not path.exists()
    _write(path, kind="triplet")
    path, ckpt = open_checkpoint(tmp_path, resume=False, kind="triplet", config={}, inputs="x")
    assert ckpt is None and not path.exists()


@pytest.mark.parametrize(
    ("asked", "message"),
    [
        ({"kind": "triplet"}, "is not a triplet checkpoint"),
        ({"config": {"lr": 0.5, "seed": 1, "epochs": 5}}, r"different config \(lr changed\)"),
        ({"inputs": "other"}, "different list of training items"),
        ({"label_names": ["b", "a"]}, r"written for labels \['a', 'b'\]"),
    ],
)
def test_a_checkpoint_of_another_job_is_refused(tmp_path, asked, message):
    _write(tmp_path / "checkpoint.pt", label_names=["a", "b"])
    options = {
        "kind": "classifier",
        "config": {"lr": 0.1, "seed": 1, "epochs": 5},
        "inputs": "abc",
        "label_names": ["a", "b"],
        **asked,
    }
    with pytest.raises(ValueError, match=message):
        open_checkpoint(tmp_path, resume=True, inputs_name="list of training items", **options)


def test_a_change_of_loader_workers_is_resumable(tmp_path):
    _write(tmp_path / "checkpoint.pt")
    config = {"lr": 0.1, "seed": 1, "epochs": 5, "num_workers": 4}
    _, ckpt = open_checkpoint(tmp_path, resume=True, kind="classifier", config=config, inputs="abc")
    assert ckpt is not None and ckpt["epoch"] == 2


def _draws():
    return torch.rand(2).tolist(), float(np.random.rand()), random.random()


def test_restore_sets_this_process_rng_state_from_a_per_rank_list(tmp_path):
    states = []
    for r in range(2):
        torch.manual_seed(100 + r)
        np.random.seed(100 + r)
        random.seed(100 + r)
        states.append(rng_state())
    expected = []
    for r in range(2):
        torch.manual_seed(100 + r)
        np.random.seed(100 + r)
        random.seed(100 + r)
        expected.append(_draws())
    _write(tmp_path / "checkpoint.pt", rng=states)
    _, ckpt = open_checkpoint(
        tmp_path,
        resume=True,
        kind="classifier",
        config={"lr": 0.1, "seed": 1, "epochs": 5},
        inputs="abc",
    )
    for rank in range(2):
        model, optimizer, scheduler = _objects()
        epoch, history = restore(ckpt, model, optimizer, scheduler, rank=rank, world_size=2)
        assert epoch == 2 and [h.epoch for h in history] == [1, 2]
        assert _draws() == expected[rank]


def test_restore_reads_a_single_state_as_older_similarity_checkpoints_wrote_it(tmp_path):
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    state = rng_state()
    expected = _draws()
    _write(tmp_path / "checkpoint.pt", kind="triplet")
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    ckpt["rng"] = state  # a dict, not a list
    model, optimizer, scheduler = _objects()
    restore(ckpt, model, optimizer, scheduler)
    assert _draws() == expected

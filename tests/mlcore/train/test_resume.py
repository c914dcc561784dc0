"""The resume rules every trainer shares (mlcore.train.resume)."""

import random

import numpy as np
import pytest
import torch

from mlcore.train.checkpoint import load_checkpoint, rng_state, seed_everything
from mlcore.train.resume import (
    CheckpointKind,
    EpochRecord,
    digest,
    epoch_seed,
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
    fresh = CheckpointKind("triplet").open(tmp_path, {}, "x", resume=True)
    assert fresh.found is None and not fresh.path.exists()
    _write(fresh.path, kind="triplet")
    again = CheckpointKind("triplet").open(tmp_path, {}, "x", resume=False)
    assert again.found is None and not again.path.exists()


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
    kind = CheckpointKind(options["kind"], inputs_name="list of training items")
    with pytest.raises(ValueError, match=message):
        kind.open(
            tmp_path,
            options["config"],
            options["inputs"],
            resume=True,
            label_names=options["label_names"],
        )


def test_a_checkpoint_kind_opens_with_its_inputs_name_and_loads_only_its_own(tmp_path):
    _write(tmp_path / "checkpoint.pt", kind="triplet")
    triplets = CheckpointKind("triplet", inputs_name="images or triplets")
    with pytest.raises(ValueError, match="different images or triplets"):
        triplets.open(tmp_path, {"lr": 0.1, "seed": 1, "epochs": 5}, "other", resume=True)
    assert triplets.load(tmp_path / "checkpoint.pt")["epoch"] == 2
    with pytest.raises(ValueError, match=r"not a localizer checkpoint \(kind 'triplet'\)"):
        CheckpointKind("localizer", inputs_name="images or boxes").load(tmp_path / "checkpoint.pt")


def test_a_change_of_loader_workers_is_resumable(tmp_path):
    _write(tmp_path / "checkpoint.pt")
    config = {"lr": 0.1, "seed": 1, "epochs": 5, "num_workers": 4}
    ckpt = CheckpointKind("classifier").open(tmp_path, config, "abc", resume=True)
    assert ckpt.found is not None and ckpt.found["epoch"] == 2


def _draws():
    return torch.rand(2).tolist(), float(np.random.rand()), random.random()


def test_restore_sets_this_process_rng_state_from_a_per_rank_list(tmp_path):
    states, expected = [], []
    for r in range(2):
        seed_everything(100 + r)
        states.append(rng_state())
        expected.append(_draws())
    _write(tmp_path / "checkpoint.pt", rng=states)
    config = {"lr": 0.1, "seed": 1, "epochs": 5}
    ckpt = CheckpointKind("classifier").open(tmp_path, config, "abc", resume=True)
    for rank in range(2):
        model, optimizer, scheduler = _objects()
        epoch, history = restore(ckpt.found, model, optimizer, scheduler, rank=rank, world_size=2)
        assert epoch == 2 and [h.epoch for h in history] == [1, 2]
        assert _draws() == expected[rank]


def test_restore_reads_a_single_state_as_older_similarity_checkpoints_wrote_it(tmp_path):
    seed_everything(5)
    state = rng_state()
    expected = _draws()
    _write(tmp_path / "checkpoint.pt", kind="triplet")
    ckpt = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    ckpt["rng"] = state  # a dict, not a list
    model, optimizer, scheduler = _objects()
    restore(ckpt, model, optimizer, scheduler)
    assert _draws() == expected


def test_epoch_checkpoints_resume_the_history_and_write_each_epoch_on_the_main_process(tmp_path):
    _write(tmp_path / "checkpoint.pt")
    config = {"lr": 0.1, "seed": 1, "epochs": 5}
    checkpoints = CheckpointKind("classifier").open(tmp_path, config, "abc", resume=True)
    assert checkpoints.resume(*_objects()) == 2
    assert checkpoints.resumed_from == 2 and checkpoints.written == checkpoints.path
    checkpoints.end_epoch(EpochRecord(3, 0.3, 10, 2, 0.1, 0.1), write=False)
    assert load_checkpoint(checkpoints.path)["epoch"] == 2
    checkpoints.end_epoch(EpochRecord(4, 0.2, 10, 2, 0.1, 0.1), label_names=["a", "b"])
    saved = load_checkpoint(checkpoints.path)
    assert saved["epoch"] == 4 and saved["label_names"] == ["a", "b"]
    assert [r["epoch"] for r in saved["history"]] == [1, 2, 3, 4]


def test_epoch_checkpoints_refuse_to_write_before_they_know_the_model(tmp_path):
    checkpoints = CheckpointKind("triplet").open(tmp_path, {}, "x", resume=True)
    with pytest.raises(RuntimeError, match="before resume"):
        checkpoints.end_epoch(EpochRecord(1, 0.5, 10, 2, 0.1, 0.1))
    assert not checkpoints.path.exists()

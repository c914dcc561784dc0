"""S3CheckpointMirror against a real S3 server (SeaweedFS): a checkpoint is published only
once uploaded in full, older ones are pruned, and a job resumes on another machine (another
local folder) from the published one."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from mlcore.storage import S3CheckpointMirror, S3Options, s3_client
from mlcore.train import fit
from mlcore.train.launch import fit_on_devices
from mlcore.train.resume import publish_checkpoint
from tests.mlcore.conftest import NAMES, assert_same_weights, cancel_after, tiny_config

pytestmark = pytest.mark.s3


@pytest.fixture
def options(s3_server) -> S3Options:
    return S3Options(s3_server.endpoint_url, s3_server.access_key, s3_server.secret_key)


def machine(tmp_path: Path, name: str, bucket: str, options: S3Options) -> S3CheckpointMirror:
    """The mirror of job 7 as a worker with its own local folder tmp_path/name sees it."""
    return S3CheckpointMirror(bucket, "runs/7", str(tmp_path / name), s3=options)


def write_epoch(mirror: S3CheckpointMirror, epoch: int) -> bytes:
    """Write a stand-in checkpoint of `epoch` epochs at root/model/checkpoint.pt, publish it."""
    path = Path(mirror.root) / "model" / "checkpoint.pt"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = os.urandom(50_000) + bytes([epoch])
    path.write_bytes(data)
    mirror.publish(path, epoch=epoch)
    return data


def stored_keys(s3_server, bucket: str) -> list[str]:
    listing = s3_server.client().list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_it_keeps_the_last_two_checkpoints_and_another_machine_pulls_the_latest(
    tmp_path, s3_server, s3_bucket, options
):
    a = machine(tmp_path, "a", s3_bucket, options)
    written = [write_epoch(a, epoch) for epoch in (1, 2, 3, 4)]

    keys = stored_keys(s3_server, s3_bucket)
    folder = "runs/7/checkpoints/model/"
    epochs = [k.removeprefix(folder)[:10] for k in keys if k.startswith(folder + "epoch-")]
    assert epochs == ["epoch-0003", "epoch-0004"]
    assert f"{folder}latest.json" in keys

    b = machine(tmp_path, "b", s3_bucket, options)
    target = tmp_path / "b" / "model" / "checkpoint.pt"
    assert b.pull(target, newer_than=0)
    assert target.read_bytes() == written[-1]
    assert not b.pull(target, newer_than=4)  # nothing newer than what it has


def test_a_failed_upload_leaves_the_previous_checkpoint_published(
    tmp_path, s3_server, s3_bucket, options, monkeypatch, caplog
):
    a = machine(tmp_path, "a", s3_bucket, options)
    first = write_epoch(a, 1)
    client = s3_client(options)

    def upload_half_then_fail(filename, bucket, key, **kwargs):
        data = Path(filename).read_bytes()
        client.put_object(Bucket=bucket, Key=key, Body=data[: len(data) // 2])
        raise ConnectionError("connection reset mid-upload")

    monkeypatch.setattr(client, "upload_file", upload_half_then_fail)
    with pytest.raises(ConnectionError):
        write_epoch(a, 2)
    # What a trainer does with the same failure: log it and train on.
    with caplog.at_level(logging.WARNING, logger="mlcore.train.resume"):
        publish_checkpoint(a, Path(a.root) / "model" / "checkpoint.pt", epoch=2)
    assert "could not publish checkpoint" in caplog.text
    monkeypatch.undo()

    assert a.published(Path(a.root) / "model" / "checkpoint.pt")["epoch"] == 1
    target = tmp_path / "b" / "model" / "checkpoint.pt"
    assert machine(tmp_path, "b", s3_bucket, options).pull(target)
    assert target.read_bytes() == first


def test_a_checkpoint_that_does_not_match_its_pointer_is_not_restored(
    tmp_path, s3_server, s3_bucket, options
):
    a = machine(tmp_path, "a", s3_bucket, options)
    write_epoch(a, 1)
    pointer = a.published(Path(a.root) / "model" / "checkpoint.pt")
    s3_server.client().put_object(Bucket=s3_bucket, Key=pointer["key"], Body=b"not it")
    target = tmp_path / "b" / "model" / "checkpoint.pt"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"what was here")

    with pytest.raises(ValueError, match="does not match its latest.json"):
        machine(tmp_path, "b", s3_bucket, options).pull(target)
    assert target.read_bytes() == b"what was here"
    assert sorted(p.name for p in target.parent.iterdir()) == ["checkpoint.pt"]


def test_small_files_round_trip_and_a_local_copy_wins(tmp_path, s3_bucket, options):
    a = machine(tmp_path, "a", s3_bucket, options)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "inputs.json").write_text('{"ids": [1, 2]}')
    a.put_file(tmp_path / "a" / "inputs.json")
    b = machine(tmp_path, "b", s3_bucket, options)

    assert b.get_file(tmp_path / "b" / "inputs.json")
    assert (tmp_path / "b" / "inputs.json").read_text() == '{"ids": [1, 2]}'
    assert not b.get_file(tmp_path / "b" / "located.json")
    (tmp_path / "b" / "inputs.json").write_text("{}")  # what this machine froze is kept
    assert b.get_file(tmp_path / "b" / "inputs.json")
    assert (tmp_path / "b" / "inputs.json").read_text() == "{}"


def test_fit_resumes_on_another_machine_from_the_published_checkpoint(
    make_items, tmp_path, s3_bucket, options
):
    items = make_items(36)
    config = tiny_config(epochs=2)
    straight = fit(config, items, NAMES, out_dir=tmp_path / "straight")
    a, b = (machine(tmp_path, name, s3_bucket, options) for name in ("a", "b"))

    # 4 steps an epoch: cancelled in epoch 2, after epoch 1's checkpoint was published.
    first = fit(
        config,
        items,
        NAMES,
        out_dir=tmp_path / "a" / "model",
        should_cancel=cancel_after(6),
        mirror=a,
    )
    resumed = fit(config, items, NAMES, out_dir=tmp_path / "b" / "model", mirror=b)

    assert first.cancelled and first.epochs_done == 1
    assert resumed.resumed_from == 1 and resumed.epochs_done == 2
    assert_same_weights(resumed.model, straight.model)
    assert b.published(tmp_path / "b" / "model" / "checkpoint.pt")["epoch"] == 2


def test_a_ddp_run_resumes_on_another_machine_from_rank_zeros_checkpoint(
    make_items, tmp_path, s3_bucket, options
):
    items = make_items(64)
    config = tiny_config(epochs=3, batch_size=2, devices="2")
    a, b = (machine(tmp_path, name, s3_bucket, options) for name in ("a", "b"))
    published = tmp_path / "a" / "model" / "checkpoint.pt"

    first = fit_on_devices(
        config,
        items,
        NAMES,
        out_dir=tmp_path / "a" / "model",
        should_cancel=lambda: a.published(published) is not None,
        mirror=a,
    )
    second = fit_on_devices(config, items, NAMES, out_dir=tmp_path / "b" / "model", mirror=b)

    assert first.cancelled and 1 <= second.resumed_from < 3
    assert second.epochs_done == 3 and not second.cancelled
    assert b.published(tmp_path / "b" / "model" / "checkpoint.pt")["epoch"] == 3

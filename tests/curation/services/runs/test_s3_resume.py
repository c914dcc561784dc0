"""Scale-out without a shared filesystem: two train workers on two "machines" that share only
PostgreSQL, Redis and an S3 server (SeaweedFS), each with a VAR_DIR and CURATION_RUNS_DIR
of its own. The worker running a run is SIGKILLed at its first published checkpoint; beat's
sweep hands the run to the other, never restarted, worker, which resumes it from the
checkpoint in the bucket."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
from django.db import connection

from tests.support.broker import real_broker
from tests.support.services import use_s3_storage
from tests.support.training import FAST_OPTIONS, import_colours, start_colour_run
from tests.support.workers import assert_resumed_once, wait_for, worker_pool

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.s3]


@pytest.fixture
def workers(redis_url, tmp_path, settings, s3_server, s3_bucket):
    if connection.vendor != "postgresql":
        # On SQLite the database is a file both workers open: a shared filesystem after all.
        pytest.skip("runs in make test's PostgreSQL pass (DATABASE_URL=postgres://…)")
    with real_broker(redis_url):
        for pool in worker_pool(redis_url, tmp_path, settings):
            use_s3_storage(settings, s3_server, s3_bucket)  # this process, then the workers
            pool.env.update(
                AWS_STORAGE_BUCKET_NAME=s3_bucket,
                AWS_S3_ENDPOINT_URL=s3_server.endpoint_url,
                AWS_ACCESS_KEY_ID=s3_server.access_key,
                AWS_SECRET_ACCESS_KEY=s3_server.secret_key,
                AWS_S3_REGION_NAME=s3_server.region,
            )
            yield pool


def machine(tmp_path, name: str) -> dict[str, str]:
    """The folders of one machine: nothing on disk is shared with the other."""
    var_dir, runs = tmp_path / f"var-{name}", tmp_path / f"runs-{name}"
    var_dir.mkdir()
    return {"VAR_DIR": str(var_dir), "CURATION_RUNS_DIR": str(runs)}


def published_epoch(client, bucket: str, run_id: int) -> int:
    """Epochs done in the run's model checkpoint published in the bucket (0: none yet)."""
    try:
        body = client.get_object(Bucket=bucket, Key=f"runs/{run_id}/checkpoints/model/latest.json")
    except client.exceptions.NoSuchKey:
        return 0
    return int(json.loads(body["Body"].read())["epoch"])


@pytest.mark.django_db(transaction=True)
def test_a_run_resumes_from_its_s3_checkpoint_on_a_worker_that_shares_no_disk(
    workers, tmp_path, data_scientist, s3_server, s3_bucket
):
    dataset = import_colours(tmp_path)
    a, b = machine(tmp_path, "a"), machine(tmp_path, "b")
    first = workers.start("train", env=a)
    options = {**FAST_OPTIONS, "epochs": 10, "batch_size": 2, "progress_every": 1}
    run = start_colour_run(dataset, data_scientist, options)

    def running():
        run.refresh_from_db()
        return run.status == "running"

    wait_for(running, 120, "the first worker to take the run", workers)
    second = workers.start("train,cpu", env=b)
    workers.start_beat(sweep_seconds=1, env=machine(tmp_path, "beat"))
    wait_for(
        lambda: "{'runs': [], 'scoring': []}" in (tmp_path / "worker-1.log").read_text(),
        60,
        "the second worker to run a sweep from beat",
        workers,
    )

    client = s3_server.client()
    deadline = time.monotonic() + 120
    while published_epoch(client, s3_bucket, run.pk) == 0:
        assert time.monotonic() < deadline, f"no checkpoint in S3 after 120 s\n{workers.logs()}"
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    on_b = tmp_path / "runs-b" / str(run.pk) / "model" / "checkpoint.pt"
    assert not on_b.exists()  # the second machine has no copy of its own

    workers.wait_until_finished(run, "the run to finish on the second worker")
    assert_resumed_once(run, workers)
    assert second.poll() is None  # the same, never restarted, worker
    assert on_b.exists() and published_epoch(client, s3_bucket, run.pk) == 10
    listing = client.list_objects_v2(Bucket=s3_bucket, Prefix=f"runs/{run.pk}/checkpoints/model/")
    assert len([o for o in listing["Contents"] if "/epoch-" in o["Key"]]) == 2  # pruned
    assert run.artifact_uri.startswith(f"s3://{s3_bucket}/models/")

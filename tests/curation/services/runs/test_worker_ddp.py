"""A DDP run (devices=2: two gloo processes on the CPU) through the real Retrain path on a
real Celery worker: the worker's whole process group SIGKILLed mid-run, a new worker
resumes it from the checkpoint and the run ends with one set of results."""

from __future__ import annotations

import time

import pytest
import torch

from tests.support.training import FAST_OPTIONS, import_colours, start_colour_run
from tests.support.workers import STALE_SECONDS, assert_resumed_once

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_a_ddp_run_survives_its_killed_worker_and_resumes_on_a_new_one(
    workers, tmp_path, data_scientist
):
    dataset = import_colours(tmp_path)
    first = workers.start(own_group=True)
    ddp = {"devices": "2", "device": "cpu", "epochs": 6, "batch_size": 2, "progress_every": 1}
    run = start_colour_run(dataset, data_scientist, {**FAST_OPTIONS, **ddp})

    # group: the worker and its DDP processes with it.
    checkpoint = workers.kill_at_first_checkpoint(first, run, timeout=180, group=True)
    time.sleep(STALE_SECONDS + 1)
    workers.start(own_group=True)

    workers.wait_until_finished(run, "the DDP run to finish on the second worker")
    assert_resumed_once(run, workers)  # one row per image, one set
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert saved["world_size"] == 2 and saved["epoch"] == 6  # trained by two processes
    assert run.metrics and run.metrics["n"] == run.test_count

"""A DDP run (devices=2: two gloo processes on the CPU) through the real Retrain path on a
real Celery worker: the worker's whole process group SIGKILLed mid-run, a new worker
resumes it from the checkpoint and the run ends with one set of results."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import torch

from curation.models import RunImage, TrainingRun
from curation.services.runs.classifier_start import start_training_run
from tests.support.training import FAST_OPTIONS, import_colours
from tests.support.workers import STALE_SECONDS, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_a_ddp_run_survives_its_killed_worker_and_resumes_on_a_new_one(
    workers, tmp_path, data_scientist
):
    dataset = import_colours(tmp_path)
    first = workers.start(own_group=True)
    run = start_training_run(
        dataset=dataset,
        attribute=dataset.attributes.get(name="colour"),
        options={
            **FAST_OPTIONS,
            "devices": "2",
            "device": "cpu",
            "epochs": 6,
            "batch_size": 2,
            "progress_every": 1,
        },
        actor=data_scientist,
    )

    checkpoint = Path(workers.env["CURATION_RUNS_DIR"]) / str(run.pk) / "model" / "checkpoint.pt"
    deadline = time.monotonic() + 180
    while not checkpoint.exists():
        assert time.monotonic() < deadline, f"no checkpoint after 180 s\n{workers.logs()}"
        time.sleep(0.02)
    os.killpg(first.pid, signal.SIGKILL)  # the worker and its DDP processes with it
    first.wait(timeout=10)
    time.sleep(STALE_SECONDS + 1)
    workers.start(own_group=True)

    def finished():
        run.refresh_from_db()
        return run.status in TrainingRun.FINISHED

    wait_for(finished, 300, "the DDP run to finish on the second worker", workers, watch=run)
    assert run.status == "succeeded", (run.error, workers.logs())
    assert run.attempts == 2 and run.progress.get("resumed") is True
    assert 2 <= run.progress.get("first_epoch_of_attempt") <= run.config["epochs"]
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    assert saved["world_size"] == 2 and saved["epoch"] == 6  # trained by two processes
    rows = RunImage.objects.filter(run=run)
    assert rows.count() == run.train_count + run.test_count  # one row per image, one set
    assert not rows.filter(predicted_label=None).exists()
    assert run.metrics and run.metrics["n"] == run.test_count

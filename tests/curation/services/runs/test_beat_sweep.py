"""Celery beat's sweep on real processes: a run whose worker was SIGKILLed is resumed by a
second worker that was already up (so its start-up check ran before the run was orphaned),
without waiting for the broker's visibility timeout."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from curation.models import RunImage, TrainingRun
from curation.services.runs.classifier_start import start_training_run
from tests.support.training import FAST_OPTIONS, import_colours
from tests.support.workers import wait_for

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_beat_sweep_hands_a_dead_workers_run_to_a_worker_that_is_already_running(
    workers, tmp_path, data_scientist
):
    dataset = import_colours(tmp_path)
    first = workers.start("train")
    options = {
        **FAST_OPTIONS,
        "epochs": 10,
        "batch_size": 2,
        "progress_every": 1,
        "cv_folds": 2,
        "cv_epochs": 1,
    }
    run = start_training_run(
        dataset=dataset,
        attribute=dataset.attributes.get(name="colour"),
        options=options,
        actor=data_scientist,
    )

    def running():
        run.refresh_from_db()
        return run.status == "running"

    # Only once the first worker holds the run: the second worker and beat join.
    wait_for(running, 120, "the first worker to take the run", workers)
    second = workers.start("train,cpu")
    workers.start_beat(sweep_seconds=1)
    second_log = tmp_path / "worker-1.log"
    wait_for(
        lambda: "{'runs': [], 'scoring': []}" in second_log.read_text(),
        60,
        "the second worker to run a sweep from beat",
        workers,
    )
    run.refresh_from_db()
    assert run.status == "running" and run.attempts == 1  # a live run is left alone

    checkpoint = Path(workers.env["CURATION_RUNS_DIR"]) / str(run.pk) / "model" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert time.monotonic() < deadline, f"no checkpoint after 120 s\n{workers.logs()}"
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)

    def finished():
        run.refresh_from_db()
        return run.status in TrainingRun.FINISHED

    wait_for(finished, 300, "the run to finish on the second worker", workers, watch=run)
    assert run.status == "succeeded", (run.error, workers.logs())
    assert second.poll() is None  # the same, never restarted, worker
    assert run.attempts == 2 and run.progress.get("resumed") is True
    assert 2 <= run.progress.get("first_epoch_of_attempt") <= run.config["epochs"]
    rows = RunImage.objects.filter(run=run)
    assert rows.count() == run.train_count + run.test_count
    assert not rows.filter(predicted_label=None).exists()

"""Training on a real Celery worker process with a real Redis broker: SIGKILL the worker
mid-epoch and a new worker resumes the run from its checkpoint; cancel stops a running run."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from curation.models import RunImage, TrainingRun
from curation.services.runs.classifier_start import start_training_run
from curation.services.runs.control import cancel_training_run
from tests.support.training import FAST_OPTIONS, import_colours
from tests.support.workers import STALE_SECONDS, wait_for

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def colour_run_options():
    # Enough steps per epoch that a kill lands mid-epoch: 32 training images, batch 2.
    return {
        **FAST_OPTIONS,
        "epochs": 40,
        "batch_size": 2,
        "progress_every": 1,
        "cv_folds": 2,
        "cv_epochs": 1,
    }


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_is_replaced_and_the_run_resumes_from_its_checkpoint(
    workers, tmp_path, data_scientist, colour_run_options
):
    dataset = import_colours(tmp_path)
    first = workers.start()
    run = start_training_run(
        dataset=dataset,
        attribute=dataset.attributes.get(name="colour"),
        # The kill lands right after epoch 1; nine more epochs are plenty to resume into.
        options={**colour_run_options, "epochs": 10},
        actor=data_scientist,
    )

    # Epoch 1's checkpoint on disk means the run is past its first epoch; kill right then.
    checkpoint = Path(workers.env["CURATION_RUNS_DIR"]) / str(run.pk) / "model" / "checkpoint.pt"
    deadline = time.monotonic() + 120
    while not checkpoint.exists():
        assert time.monotonic() < deadline, f"no checkpoint after 120 s\n{workers.logs()}"
        time.sleep(0.02)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    time.sleep(STALE_SECONDS + 1)  # the dead worker's heartbeat goes stale
    workers.start()

    def finished():
        run.refresh_from_db()
        return run.status in TrainingRun.FINISHED

    wait_for(finished, 300, "the run to finish on the second worker", workers, watch=run)
    assert run.status == "succeeded", (run.error, workers.logs())
    assert run.attempts == 2 and run.progress.get("resumed") is True
    # It continued from the last checkpoint of the dead worker, not from the start.
    assert 2 <= run.progress.get("first_epoch_of_attempt") <= run.config["epochs"]
    rows = RunImage.objects.filter(run=run)
    assert rows.count() == run.train_count + run.test_count  # one row per image, one set
    assert not rows.filter(predicted_label=None).exists()
    assert run.metrics and run.metrics["n"] == run.test_count


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_run_on_a_real_worker(workers, tmp_path, data_scientist, colour_run_options):
    dataset = import_colours(tmp_path)
    workers.start()
    run = start_training_run(
        dataset=dataset,
        attribute=dataset.attributes.get(name="colour"),
        options={**colour_run_options, "epochs": 50},
        actor=data_scientist,
    )

    def training():
        run.refresh_from_db()
        return run.status == "running" and run.progress.get("step", 0) >= 2

    wait_for(training, 120, "the run to start training", workers)
    cancel_training_run(run=run, actor=data_scientist)
    asked = time.monotonic()

    def cancelled():
        run.refresh_from_db()
        return run.status == "cancelled"

    wait_for(cancelled, 30, "the run to stop", workers)
    assert time.monotonic() - asked < 10
    assert (
        run.progress["epoch"] < 50
        and not RunImage.objects.filter(run=run).exclude(predicted_label=None).exists()
    )

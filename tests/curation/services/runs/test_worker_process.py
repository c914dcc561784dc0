"""Training on a real Celery worker process with a real Redis broker: SIGKILL the worker
mid-epoch and a new worker resumes the run from its checkpoint; cancel stops a running run."""

from __future__ import annotations

import time

import pytest

from curation.models import RunImage
from curation.services.runs.control import cancel_training_run
from tests.support.training import FAST_OPTIONS, import_colours, start_colour_run
from tests.support.workers import STALE_SECONDS, assert_resumed_once, wait_for

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
    # The kill lands right after epoch 1; nine more epochs are plenty to resume into.
    run = start_colour_run(dataset, data_scientist, {**colour_run_options, "epochs": 10})

    workers.kill_at_first_checkpoint(first, run)
    time.sleep(STALE_SECONDS + 1)  # the dead worker's heartbeat goes stale
    workers.start()

    workers.wait_until_finished(run, "the run to finish on the second worker")
    # It continued from the last checkpoint of the dead worker, with one set of results.
    assert_resumed_once(run, workers)
    assert run.metrics and run.metrics["n"] == run.test_count


@pytest.mark.django_db(transaction=True)
def test_cancel_stops_a_run_on_a_real_worker(workers, tmp_path, data_scientist, colour_run_options):
    dataset = import_colours(tmp_path)
    workers.start()
    run = start_colour_run(dataset, data_scientist, {**colour_run_options, "epochs": 50})

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

"""Celery beat's sweep on real processes: a run whose worker was SIGKILLed is resumed by a
second worker that was already up (so its start-up check ran before the run was orphaned),
without waiting for the broker's visibility timeout."""

from __future__ import annotations

import pytest

from tests.support.training import FAST_OPTIONS, import_colours, start_colour_run
from tests.support.workers import assert_resumed_once, wait_for

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
    run = start_colour_run(dataset, data_scientist, options)

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

    workers.kill_at_first_checkpoint(first, run)

    workers.wait_until_finished(run, "the run to finish on the second worker")
    assert_resumed_once(run, workers)
    assert second.poll() is None  # the same, never restarted, worker

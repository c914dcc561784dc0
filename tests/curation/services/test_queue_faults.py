"""The broker goes away: a Redis restart under a running training run, and a broker that is
down when a run or an import is started. Real worker processes, a private redis-server."""

from __future__ import annotations

import time

import pytest
from rest_framework.test import APIClient

from curation.models import ImportJob, RunImage, TrainingRun
from curation.services.runs.classifier_start import start_training_run
from tests.support.broker import real_broker
from tests.support.redis_server import RedisServer
from tests.support.services import free_port
from tests.support.training import FAST_OPTIONS, import_colours
from tests.support.workers import wait_for, worker_pool


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def workers(redis_server, tmp_path, settings):
    """Worker processes (none started yet) and this process, all on the private broker."""
    with real_broker(redis_server.url):
        yield from worker_pool(redis_server.url, tmp_path, settings)


@pytest.fixture
def colours(tmp_path):
    dataset = import_colours(tmp_path)
    return dataset, dataset.attributes.get(name="colour")


def _finished(run):
    def check():
        run.refresh_from_db()
        return run.status in TrainingRun.FINISHED

    return check


def _assert_one_clean_result(run) -> None:
    rows = RunImage.objects.filter(run=run)
    assert rows.count() == run.train_count + run.test_count
    assert not rows.filter(predicted_label=None).exists()
    assert run.metrics and run.metrics["n"] == run.test_count


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_broker_restart_mid_run_neither_loses_nor_repeats_the_run(
    redis_server, workers, colours, data_scientist
):
    redis_server.start()
    workers.start()
    dataset, attribute = colours
    options = {**FAST_OPTIONS, "epochs": 6, "batch_size": 2, "progress_every": 1}
    run = start_training_run(
        dataset=dataset, attribute=attribute, options=options, actor=data_scientist
    )

    def training():
        run.refresh_from_db()
        return run.status == "running" and run.progress.get("step", 0) >= 2

    wait_for(training, 120, "the run to start training", workers)
    redis_server.restart(down_for=2)
    wait_for(_finished(run), 300, "the run to finish after the restart", workers, watch=run)
    assert run.status == "succeeded", (run.error, workers.logs())
    assert run.attempts == 1  # it went on through the outage: no restart, no repeat
    _assert_one_clean_result(run)

    # The worker reconnected by itself: a run started after the restart runs too.
    second = start_training_run(
        dataset=dataset, attribute=attribute, options=FAST_OPTIONS, actor=data_scientist
    )
    wait_for(_finished(second), 300, "a run queued after the restart", workers, watch=second)
    assert second.status == "succeeded", (second.error, workers.logs())
    assert workers.procs[0].poll() is None and len(workers.procs) == 1


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_run_started_while_the_broker_is_down_waits_and_runs_when_a_worker_starts(
    redis_server, workers, colours, data_scientist
):
    client = APIClient()  # the broker's port is reserved, but nothing listens there yet
    client.force_login(data_scientist)
    started = time.monotonic()
    response = client.post(
        "/api/runs/",
        {"dataset": "colours", "attribute": "colour", "options": FAST_OPTIONS},
        format="json",
    )
    assert response.status_code == 202, response.content
    assert time.monotonic() - started < 20  # gives up on the broker within seconds
    run = TrainingRun.objects.get(pk=response.json()["id"])
    assert run.status == "queued" and "could not be reached" in run.progress["not_queued"]
    assert "Not queued yet" in client.get(f"/runs/{run.pk}/").content.decode()

    redis_server.start()
    workers.start()  # on start, a worker queues the runs that never reached the broker
    wait_for(_finished(run), 300, "the run to be queued and finish", workers, watch=run)
    assert run.status == "succeeded", (run.error, workers.logs())
    assert "not_queued" not in run.progress
    _assert_one_clean_result(run)


@pytest.mark.django_db(transaction=True)
def test_an_import_started_while_the_broker_is_down_fails_with_the_reason(
    small_catalog, client, data_scientist
):
    with real_broker(f"redis://127.0.0.1:{free_port()}/0"):
        client.force_login(data_scientist)
        response = client.post(
            "/import/", {"dataset": "x", "source": str(small_catalog), "create": "on"}
        )
        assert response.status_code == 302
    job = ImportJob.objects.get()
    assert job.status == "failed" and "task queue could not be reached" in job.error
    assert "start the import again" in client.get(response["Location"]).content.decode()

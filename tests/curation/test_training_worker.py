"""Training on a real Celery worker process with a real Redis broker: SIGKILL the worker
mid-epoch and a new worker resumes the run from its checkpoint; cancel stops a running run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from curation.models import Dataset, RunImage, TrainingRun
from curation.services.imports import import_catalog
from curation.services.training import cancel_training_run, start_training_run
from tests.support.broker import real_broker
from tests.support.training import FAST_OPTIONS, write_two_colour_catalog

pytestmark = [pytest.mark.redis, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
STALE_SECONDS = 3


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


class Workers:
    """Start and kill `celery worker -Q train` processes sharing the test database."""

    def __init__(self, tmp_path: Path, broker: str, var_dir: Path, runs: Path):
        self.tmp_path = tmp_path
        self.env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "CELERY_BROKER_URL": broker,
            "VAR_DIR": str(var_dir),
            "CURATION_RUNS_DIR": str(runs),
            "CURATION_RUN_STALE_SECONDS": str(STALE_SECONDS),
            "DJANGO_DEBUG": "true",
        }
        self.procs: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        log = open(self.tmp_path / f"worker-{len(self.procs)}.log", "wb")  # noqa: SIM115 - child owns it
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "train", "--pool", "solo",
             "-n", f"train{len(self.procs)}@%h", "--loglevel", "INFO"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text()[-2000:] for p in sorted(self.tmp_path.glob("worker-*.log")))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=20)


@pytest.fixture
def workers(redis_url, tmp_path, settings):
    with real_broker(redis_url):
        yield from _workers(redis_url, tmp_path, settings)


def _workers(redis_url, tmp_path, settings):
    # The workers read images from the test's storage folder: their VAR_DIR/media is it.
    media = Path(settings.STORAGES["default"]["OPTIONS"]["location"])
    var_dir = tmp_path / "var-for-workers"
    var_dir.mkdir()
    os.symlink(media, var_dir / "media")
    runs = tmp_path / "runs"
    settings.CURATION_RUNS_DIR = runs
    pool = Workers(tmp_path, redis_url, var_dir, runs)
    try:
        yield pool
    finally:
        pool.stop_all()


def _wait_for(predicate, timeout: float, what: str, workers: Workers):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}\n{workers.logs()}")


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
    import_catalog(
        str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="colours", create=True
    )
    dataset = Dataset.objects.get(name="colours")
    first = workers.start()
    run = start_training_run(
        dataset=dataset, attribute=dataset.attributes.get(name="colour"), options=colour_run_options,
        actor=data_scientist,
    )  # fmt: skip

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

    _wait_for(finished, 300, "the run to finish on the second worker", workers)
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
    import_catalog(
        str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="colours", create=True
    )
    dataset = Dataset.objects.get(name="colours")
    workers.start()
    run = start_training_run(
        dataset=dataset, attribute=dataset.attributes.get(name="colour"),
        options={**colour_run_options, "epochs": 50}, actor=data_scientist,
    )  # fmt: skip

    def training():
        run.refresh_from_db()
        return run.status == "running" and run.progress.get("step", 0) >= 2

    _wait_for(training, 120, "the run to start training", workers)
    cancel_training_run(run=run, actor=data_scientist)
    asked = time.monotonic()

    def cancelled():
        run.refresh_from_db()
        return run.status == "cancelled"

    _wait_for(cancelled, 30, "the run to stop", workers)
    assert time.monotonic() - asked < 10
    assert (
        run.progress["epoch"] < 50
        and not RunImage.objects.filter(run=run).exclude(predicted_label=None).exists()
    )

"""A real Celery worker process on a real Redis broker runs an import queued from the web."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from curation.models import Image, ImportJob
from tests.support.broker import real_broker

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[3]


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def redis_broker(redis_url):
    with real_broker(redis_url):
        yield redis_url


@pytest.fixture
def worker(redis_broker, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": redis_broker,
        "VAR_DIR": str(tmp_path / "worker-var"),
    }
    log = open(tmp_path / "worker.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-Q",
            "cpu",
            "--pool",
            "solo",
            "--loglevel",
            "INFO",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc, tmp_path / "worker.log"
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.mark.django_db(transaction=True)
def test_an_import_job_runs_on_a_real_worker(worker, small_catalog, data_scientist, tmp_path):
    from curation.services.import_jobs import start_import_job

    job = start_import_job(
        source=str(small_catalog),
        dataset_name="dresses",
        create=True,
        overwrite_manual=False,
        actor=data_scientist,
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status in {ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED}:
            break
        time.sleep(0.3)
    proc, log = worker
    assert job.status == ImportJob.Status.SUCCEEDED, (
        job.status,
        job.error,
        log.read_text()[-3000:],
    )
    assert (job.done, job.total, job.report["created"]) == (6, 6, 6)
    assert Image.objects.filter(dataset__name="dresses").count() == 6
    # The worker wrote the files into its own storage (VAR_DIR/media), not the web's.
    stored = list((tmp_path / "worker-var" / "media").rglob("*.png"))
    assert len(stored) == 6

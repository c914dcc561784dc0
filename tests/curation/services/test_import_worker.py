"""A real Celery worker process on a real Redis broker runs an import queued from the web."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from curation.models import Image, ImportJob
from tests.support.broker import real_broker
from tests.support.workers import celery_worker, database_url

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_broker(redis_url):
    with real_broker(redis_url):
        yield redis_url


@pytest.fixture
def worker(redis_broker, tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": redis_broker,
        "VAR_DIR": str(tmp_path / "worker-var"),
    }
    proc = celery_worker("cpu", env=env, log=tmp_path / "worker.log")
    yield proc, tmp_path / "worker.log"
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def _poll(job: ImportJob, done) -> None:
    """Refresh the job's row until done() holds, for 90 s at most: the asserts that follow
    say what was left undone."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if done():
            return
        time.sleep(0.3)


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
    _poll(job, lambda: job.status in {ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED})
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


@pytest.mark.django_db(transaction=True)
def test_the_worker_removes_the_unpacked_upload_when_its_import_ends(
    worker, data_scientist, settings
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from curation.services.import_jobs import save_uploaded_catalog, start_import_job
    from tests.support import zips

    upload = save_uploaded_catalog(SimpleUploadedFile("shoot.zip", zips.build(zips.catalog())))
    assert upload.folder.is_dir()
    job = start_import_job(
        source="",
        upload=upload,
        dataset_name="shoot",
        create=True,
        overwrite_manual=False,
        actor=data_scientist,
    )
    _poll(job, lambda: job.status in ImportJob.ENDED and not upload.folder.exists())
    proc, log = worker
    assert job.status == ImportJob.Status.SUCCEEDED, (job.error, log.read_text()[-3000:])
    assert not upload.folder.exists()  # removed by the worker, whose VAR_DIR is elsewhere
    assert list((settings.VAR_DIR / "uploads").iterdir()) == []

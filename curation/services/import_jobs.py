"""Imports started from the web: a row tracks progress; a Celery task on the cpu queue runs it."""

from __future__ import annotations

import shutil
import uuid
import zipfile
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from curation.models import ImportJob
from curation.services import queue
from curation.services.imports import import_catalog
from curation.services.sources import SourceError, UnsafePath, clean_relpath

TASK = "curation.run_import_job"


def start_import_job(
    *, source: str, dataset_name: str, create: bool, overwrite_manual: bool, actor
) -> ImportJob:
    job = ImportJob.objects.create(
        source=source,
        dataset_name=dataset_name,
        create_dataset=create,
        overwrite_manual=overwrite_manual,
        created_by=actor,
    )
    queue.enqueue(TASK, job.pk, queue=queue.CPU, on_broker_error=fail_unqueued)
    return job


def fail_unqueued(job_id: int, exc: Exception) -> None:
    """The broker was down: fail the job at once with a reason (an import is cheap to start
    again, unlike a training run, which waits for the next worker)."""
    ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.QUEUED).update(
        status=ImportJob.Status.FAILED,
        error=f"the task queue could not be reached ({exc}); start the import again",
        finished_at=timezone.now(),
    )


def save_uploaded_catalog(upload) -> Path:
    """Unpack an uploaded .zip (labels.csv + images) or a lone .csv into var/uploads/<uuid>/.

    Refuses archives with paths escaping the folder or more bytes than allowed.
    """
    target = Path(settings.VAR_DIR) / "uploads" / uuid.uuid4().hex
    target.mkdir(parents=True)
    limit = settings.CURATION_MAX_UPLOAD_MB * 1024 * 1024
    name = upload.name.lower()
    try:
        if name.endswith(".csv"):
            with open(target / "labels.csv", "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            return target
        if not name.endswith(".zip"):
            raise SourceError(
                "upload a .zip holding labels.csv and the images, or a labels.csv file"
            )
        try:
            archive = zipfile.ZipFile(upload)
        except zipfile.BadZipFile as exc:
            raise SourceError(f"{upload.name} is not a valid zip archive") from exc
        with archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            if sum(m.file_size for m in members) > limit:
                raise SourceError(
                    f"the archive unpacks to more than {settings.CURATION_MAX_UPLOAD_MB} MB"
                )
            for member in members:
                try:
                    rel = clean_relpath(member.filename)
                except UnsafePath as exc:
                    raise SourceError(
                        f"the archive entry '{member.filename}' is unsafe: {exc}"
                    ) from exc
                dest = target / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
        if not (target / "labels.csv").is_file():
            # Archives made by zipping a folder keep that folder as a prefix.
            found = sorted(target.glob("*/labels.csv"))
            if len(found) == 1:
                return found[0].parent
            raise SourceError("the archive has no labels.csv at its top level")
        return target
    except Exception:
        shutil.rmtree(target, ignore_errors=True)
        raise


def run_import_job(job_id: int) -> None:
    """Run a queued import and keep its row up to date. Safe to call again for a finished job."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status in {ImportJob.Status.SUCCEEDED, ImportJob.Status.FAILED}:
        return
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.RUNNING)

    def progress(done: int, total: int) -> None:
        ImportJob.objects.filter(pk=job.pk).update(done=done, total=total)

    try:
        report = import_catalog(
            job.source,
            dataset_name=job.dataset_name,
            create=job.create_dataset,
            overwrite_manual=job.overwrite_manual,
            actor=job.created_by,
            progress=progress,
        )
    except SourceError as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED, error=str(exc), finished_at=timezone.now()
        )
        return
    except Exception as exc:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            error=f"unexpected error: {exc}",
            finished_at=timezone.now(),
        )
        raise
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.SUCCEEDED, report=report.to_dict(), finished_at=timezone.now()
    )

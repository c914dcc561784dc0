"""Imports started from the web: a row tracks progress; a Celery task on the cpu queue runs it."""

from __future__ import annotations

import re
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from curation import roles
from curation.models import ImportJob
from curation.services import queue
from curation.services.archives import Limits, unpack_zip
from curation.services.imports import NotInDataset, import_catalog, parse_label_names
from curation.services.sources import SourceError

TASK = "curation.run_import_job"
UPLOAD_FOLDER = re.compile(r"[0-9a-f]{32}")
STALE_UPLOADS = timedelta(days=1)  # longer than any upload takes to unpack and queue
# The Import page's checkbox, and how a web import's error asks for it.
CREATE_LABEL = "Create the dataset and attributes (columns) if missing"
WEB_CREATE = f"tick '{CREATE_LABEL}' on the Import page"


class ImportCancelled(Exception):
    """Raised inside a running import when someone cancelled its job."""


def start_import_job(
    *,
    source: str,
    dataset_name: str,
    create: bool,
    overwrite_manual: bool,
    actor,
    upload: Upload | None = None,
    create_labels: str = "",
) -> ImportJob:
    """Queue an import of `source`, or of an unpacked `upload` (then `source` is ignored and
    the upload's folder is removed when the import ends, or now if it can't be queued)."""
    try:
        job = ImportJob.objects.create(
            source=str(upload.source) if upload else source,
            upload_name=upload.name[:255] if upload else "",
            upload_dir=str(upload.folder) if upload else "",
            dataset_name=dataset_name,
            create_dataset=create,
            create_labels=parse_label_names(create_labels),
            overwrite_manual=overwrite_manual,
            created_by=actor,
        )
    except BaseException:
        if upload:
            remove_upload(str(upload.folder))
        raise
    queue.enqueue(TASK, job.pk, queue=queue.CPU, on_broker_error=fail_unqueued)
    return job


def fail_unqueued(job_id: int, exc: Exception) -> None:
    """The broker was down: fail the job at once with a reason (an import is cheap to start
    again, unlike a training run, which waits for the next worker)."""
    end_job(
        job_id,
        ImportJob.Status.FAILED,
        only_from=[ImportJob.Status.QUEUED],
        error=f"the task queue could not be reached ({exc}); start the import again",
    )


def end_job(job_id: int, status: str, *, only_from=None, remove=True, **fields) -> bool:
    """Mark a job ended, unless it has ended already, and remove its unpacked upload (unless
    `remove` is false: a worker may still be reading it). Returns whether this call ended it."""
    rows = ImportJob.objects.filter(pk=job_id).exclude(status__in=ImportJob.ENDED)
    if only_from is not None:
        rows = rows.filter(status__in=only_from)
    ended = bool(rows.update(status=status, finished_at=timezone.now(), **fields))
    job = ImportJob.objects.filter(pk=job_id).values("status", "upload_dir").first()
    if remove and job and job["status"] in ImportJob.ENDED:
        remove_upload(job["upload_dir"])
    return ended


def cancel_import_job(job: ImportJob, *, actor) -> bool:
    """Cancel a queued or running import; False if it had ended already. A running one
    stops at its next chunk (its worker then removes the upload); the rows it wrote stay,
    and starting the same import again finishes it."""
    roles.check(actor, "import")
    reason = f"cancelled by {getattr(actor, 'username', '') or 'someone'}"
    status = ImportJob.Status
    if end_job(job.pk, status.CANCELLED, only_from=[status.QUEUED], error=reason):
        return True
    return end_job(job.pk, status.CANCELLED, only_from=[status.RUNNING], remove=False, error=reason)


@dataclass(frozen=True)
class Upload:
    """An uploaded catalog, unpacked: `source` holds labels.csv, `folder` is what to remove."""

    source: Path
    folder: Path
    name: str  # the uploaded file's own name, shown to people who don't see server paths


def save_uploaded_catalog(upload) -> Upload:
    """Unpack an uploaded .zip (labels.csv + images) or a lone .csv into var/uploads/<uuid>/.

    Raises SourceError (ArchiveError for a zip, naming the entry) and then leaves nothing.
    """
    sweep_uploads()
    target = uploads_root() / uuid.uuid4().hex
    target.mkdir(parents=True)
    name = upload.name.lower()
    try:
        if name.endswith(".csv"):
            with open(target / "labels.csv", "wb") as out:
                for chunk in upload.chunks():
                    out.write(chunk)
            return Upload(source=target, folder=target, name=upload.name)
        if not name.endswith(".zip"):
            raise SourceError(
                "upload a .zip holding labels.csv and the images, or a labels.csv file"
            )
        limits = Limits(
            total_bytes=settings.CURATION_MAX_UPLOAD_MB * 1024 * 1024,
            entry_bytes=max(settings.CURATION_MAX_FILE_MB, 1) * 1024 * 1024,
        )
        unpack_zip(upload, target, name=upload.name, limits=limits)
        return Upload(source=catalog_root(target), folder=target, name=upload.name)
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise


def catalog_root(target: Path) -> Path:
    if (target / "labels.csv").is_file():
        return target
    # Archives made by zipping a folder keep that folder as a prefix.
    found = sorted(target.glob("*/labels.csv"))
    if len(found) == 1:
        return found[0].parent
    raise SourceError("the archive has no labels.csv at its top level")


def uploads_root() -> Path:
    return Path(settings.VAR_DIR) / "uploads"


def sweep_uploads(*, older_than: timedelta = STALE_UPLOADS) -> list[Path]:
    """Remove upload folders older than `older_than` that no unfinished import uses: those
    a web process left when it died while unpacking. Returns the folders removed."""
    root = uploads_root()
    if not root.is_dir():
        return []
    cutoff = time.time() - older_than.total_seconds()
    old = [p for p in root.iterdir() if p.is_dir() and p.stat().st_mtime < cutoff]
    if not old:
        return []
    unfinished = ImportJob.objects.exclude(status__in=ImportJob.ENDED)
    in_use = set(
        unfinished.filter(upload_dir__in=[str(p) for p in old]).values_list("upload_dir", flat=True)
    )
    removed = [p for p in old if str(p) not in in_use]
    for folder in removed:
        remove_upload(str(folder))
    return removed


def remove_upload(folder: str) -> None:
    """Remove an unpacked upload once its import has ended. Only a var/uploads/<uuid> folder
    is ever removed, whatever the row says (web and cpu workers may mount VAR_DIR apart)."""
    path = Path(folder)
    if not folder or path.parent.name != "uploads" or not UPLOAD_FOLDER.fullmatch(path.name):
        return
    shutil.rmtree(path, ignore_errors=True)


def run_import_job(job_id: int) -> None:
    """Run a queued import and keep its row up to date. Safe to call again for a finished job."""
    job = ImportJob.objects.get(pk=job_id)
    if job.status in ImportJob.ENDED:
        end_job(job.pk, job.status)  # removes an upload a crash may have left behind
        return
    startable = [ImportJob.Status.QUEUED, ImportJob.Status.RUNNING]  # RUNNING: redelivered
    started = ImportJob.objects.filter(pk=job.pk, status__in=startable)
    if not started.update(status=ImportJob.Status.RUNNING):
        return  # cancelled just now

    def progress(done: int, total: int) -> None:
        running = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING)
        if not running.update(done=done, total=total):
            raise ImportCancelled

    try:
        report = import_catalog(
            job.source,
            dataset_name=job.dataset_name,
            create=job.create_dataset,
            create_labels=job.create_labels,
            overwrite_manual=job.overwrite_manual,
            actor=job.created_by,
            progress=progress,
        )
    except ImportCancelled:
        end_job(job.pk, ImportJob.Status.CANCELLED)
        return
    except NotInDataset as exc:  # worded for the page the job was started from
        end_job(job.pk, ImportJob.Status.FAILED, error=exc.worded(WEB_CREATE))
        return
    except SourceError as exc:
        end_job(job.pk, ImportJob.Status.FAILED, error=str(exc))
        return
    except Exception as exc:
        end_job(job.pk, ImportJob.Status.FAILED, error=f"unexpected error: {exc}")
        raise
    end_job(job.pk, ImportJob.Status.SUCCEEDED, report=report.to_dict())

"""Exports of a dataset's current labels: a labels.csv (streamed by the view) and a zip of
ImageNet-style folders, split/label/file, with a labels.csv that the import reads back to the
same labels. The zip is built by a worker with progress, written to a temp file and stored
only when complete, so a failed export leaves nothing half-written behind."""

from __future__ import annotations

import csv
import io
import logging
import os
import posixpath
import re
import tempfile
import zipfile
from collections.abc import Iterable, Iterator

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone

from curation import roles
from curation.csvsafe import escape_row
from curation.models import Attribute, Dataset, ExportJob
from curation.queries.exports import LabelRow, export_attributes, label_rows, usable_count
from curation.services.queue import CPU, enqueue

log = logging.getLogger(__name__)

UNLABELLED = "_unlabelled"  # the folder of images with no label for the folder attribute
PROGRESS_EVERY = 200


class ExportCancelled(Exception):
    """The job row is gone or no longer running: stop writing."""


def header(attributes: list[Attribute]) -> list[str]:
    return ["path", "product", "split", *(a.name for a in attributes)]


def csv_line(values: Iterable[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(escape_row(values))
    return buffer.getvalue()


def row_values(row: LabelRow, path: str, attributes: list[Attribute]) -> list[object]:
    return [path, row.product, row.split, *(row.labels.get(a.pk, "") for a in attributes)]


def labels_csv_lines(dataset: Dataset) -> Iterator[str]:
    """labels.csv of the current labels with each image's own source path, line by line:
    imported again over the same source, it changes nothing."""
    attributes = export_attributes(dataset)
    yield csv_line(header(attributes))
    for chunk in label_rows(dataset):
        for row in chunk:
            yield csv_line(row_values(row, row.source_path, attributes))


def folder_name(label: str) -> str:
    """A label as one safe path part (labels are free text: no slashes, no leading dot)."""
    name = re.sub(r"[\\/\x00-\x1f]", "_", label).strip().lstrip(".")
    return name or UNLABELLED


def zip_path(row: LabelRow, folder_attribute: Attribute) -> str:
    label = row.labels.get(folder_attribute.pk)
    folder = folder_name(label) if label else UNLABELLED
    base = posixpath.basename(row.source_path.replace("\\", "/")) or "image"
    return f"{row.split}/{folder}/{row.image_id}-{base}"


def start_folder_export(dataset: Dataset, attribute: Attribute, *, actor) -> ExportJob:
    roles.check(actor, "export")
    if attribute.dataset_id != dataset.pk:
        raise ValueError(f"attribute {attribute.name} is not one of {dataset.name}'s")
    job = ExportJob.objects.create(
        dataset=dataset, attribute=attribute, created_by=actor, total=usable_count(dataset)
    )
    enqueue("curation.export_dataset", job.pk, queue=CPU, on_broker_error=fail_unqueued)
    return job


def fail_unqueued(job_id: int, exc: Exception) -> None:
    end_export(
        job_id,
        ExportJob.Status.FAILED,
        error=f"the task queue could not be reached ({exc}); start the export again",
    )


def end_export(job_id: int, status: str, **fields) -> bool:
    live = ExportJob.objects.filter(pk=job_id).exclude(status__in=ExportJob.ENDED)
    return bool(live.update(status=status, finished_at=timezone.now(), **fields))


def run_folder_export(job_id: int) -> None:
    """Build the zip of job `job_id`; safe to call again (a redelivered task starts over)."""
    job = ExportJob.objects.select_related("dataset", "attribute").filter(pk=job_id).first()
    if job is None or job.status in ExportJob.ENDED:
        return
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING, done=0)
    handle, temp = tempfile.mkstemp(suffix=".zip", prefix=f"export-{job.pk}-")
    os.close(handle)
    try:
        _write_zip(job, temp)
        key = _store(job, temp)
    except ExportCancelled:
        return
    except Exception as exc:
        end_export(job.pk, ExportJob.Status.FAILED, error=f"the export failed: {exc}")
        raise
    finally:
        os.unlink(temp)
    if not end_export(job.pk, ExportJob.Status.SUCCEEDED, file=key, done=job.total):
        default_storage.delete(key)


def _write_zip(job: ExportJob, temp: str) -> None:
    attributes = export_attributes(job.dataset)
    manifest = [csv_line(header(attributes))]
    done = 0
    with zipfile.ZipFile(temp, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for chunk in label_rows(job.dataset):
            for row in chunk:
                path = zip_path(row, job.attribute)
                _copy_into(archive, path, row)
                manifest.append(csv_line(row_values(row, path, attributes)))
                done += 1
                if done % PROGRESS_EVERY == 0:
                    _progress(job, done)
        archive.writestr("labels.csv", "".join(manifest))
    _progress(job, done)
    ExportJob.objects.filter(pk=job.pk).update(total=done)
    job.total = done


def _copy_into(archive: zipfile.ZipFile, path: str, row: LabelRow) -> None:
    try:
        source = default_storage.open(row.file, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(
            f"image {row.image_id} ({row.source_path}) has no stored file {row.file!r}"
        ) from None
    with source, archive.open(path, "w", force_zip64=True) as target:
        while block := source.read(1 << 20):
            target.write(block)


def _progress(job: ExportJob, done: int) -> None:
    running = ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING)
    if not running.update(done=done):
        raise ExportCancelled


def _store(job: ExportJob, temp: str) -> str:
    with open(temp, "rb") as handle:
        key = default_storage.save(f"exports/{job.pk}/{job.download_name}", File(handle))
    ExportJob.objects.filter(pk=job.pk).update(size_bytes=os.path.getsize(temp))
    return key

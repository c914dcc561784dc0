"""Deleting a dataset: a data scientist confirms by typing its name; the dataset disappears from
every page at once, and a worker removes its rows and then the files no other dataset uses
(photos and thumbnails are content-addressed, so two catalogs may share one), its indexes,
models, checkpoints and exports. Refused while a run, an import or an index build of it is
still going, so no worker writes into a dataset that is being removed."""

from __future__ import annotations

import logging
import shutil

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import PROTECT, Model, Q
from django.db.models.fields.reverse_related import ManyToOneRel
from django.utils import timezone

from curation import roles
from curation.artifacts import run_folder
from curation.models import (
    Attribute,
    Dataset,
    ExportJob,
    Image,
    ImportJob,
    Label,
    LabelEvent,
    ScoringJob,
    SimilarityIndex,
    TrainingRun,
)
from curation.services.queue import CPU, enqueue
from curation.storage import local_storage_location, remove_tree

log = logging.getLogger(__name__)

LIVE_RUN = (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING)


class DeleteRefused(ValueError):
    """The dataset can't be deleted now; the message says why and what to do."""


def busy_with(dataset: Dataset) -> list[str]:
    """What of `dataset` is still running, in words ([] when nothing is)."""
    busy = []
    runs = TrainingRun.objects.filter(dataset=dataset, status__in=LIVE_RUN).count()
    if runs:
        busy.append(f"{runs} training run(s) queued or running")
    live = ["queued", "running"]
    imports = ImportJob.objects.filter(dataset_name=dataset.name, status__in=live).count()
    if imports:
        busy.append(f"{imports} import(s) queued or running")
    jobs = (
        ("index build(s)", SimilarityIndex.objects.filter(dataset=dataset)),
        ("scoring job(s)", ScoringJob.objects.filter(attribute__dataset=dataset)),
        ("export(s)", ExportJob.objects.filter(dataset=dataset)),
    )
    for what, rows in jobs:
        count = rows.filter(status__in=live).count()
        if count:
            busy.append(f"{count} {what} queued or running")
    return busy


def request_delete(dataset: Dataset, *, actor, confirm: str) -> None:
    """Hide `dataset` now and queue the removal of its rows and files."""
    roles.check(actor, "delete_dataset")
    if confirm.strip() != dataset.name:
        raise DeleteRefused(
            f"type the dataset's name, {dataset.name}, to confirm (got {confirm.strip()!r})"
        )
    busy = busy_with(dataset)
    if busy:
        raise DeleteRefused(
            "this dataset is still at work: " + "; ".join(busy) + ". Cancel or wait for them."
        )
    with transaction.atomic():
        hidden = Dataset.objects.filter(pk=dataset.pk, deleting_since__isnull=True)
        if not hidden.update(deleting_since=timezone.now()):
            raise DeleteRefused(f"{dataset.name} is being deleted already")
        log.info("dataset %s deleted by %s", dataset.name, actor)
        enqueue("curation.delete_dataset", dataset.pk, queue=CPU, on_broker_error=_unqueued)


def _unqueued(dataset_id: int, exc: Exception) -> None:
    """The broker is down: show the dataset again, so nothing is hidden and half-removed."""
    Dataset.objects.filter(pk=dataset_id).update(deleting_since=None)
    log.warning("could not queue the deletion of dataset %s: %s", dataset_id, exc)


def delete_dataset(dataset_id: int) -> int:
    """Remove a dataset marked for deletion: rows first (one transaction), then the files only
    it used. Returns the number of stored files removed. Safe to run again."""
    dataset = Dataset.objects.filter(pk=dataset_id, deleting_since__isnull=False).first()
    if dataset is None:
        return 0
    blobs = set(_image_keys(dataset))
    trees = _run_folders(dataset)
    others = list(
        SimilarityIndex.objects.filter(dataset=dataset)
        .exclude(artifact="")
        .values_list("artifact", flat=True)
    ) + list(
        ExportJob.objects.filter(dataset=dataset).exclude(file="").values_list("file", flat=True)
    )
    runs = list(TrainingRun.objects.filter(dataset=dataset).values_list("pk", flat=True))
    with transaction.atomic():
        _delete_rows(dataset)
    removed = 0
    for key in sorted(blobs - _still_used(blobs)) + others:
        default_storage.delete(key)
        removed += 1
    for uri in trees:
        remove_tree(uri)
    bucket = f"s3://{settings.AWS_STORAGE_BUCKET_NAME}" if local_storage_location() is None else ""
    for pk in runs:
        shutil.rmtree(run_folder(pk), ignore_errors=True)
        if bucket:
            remove_tree(f"{bucket}/runs/{pk}")  # its published checkpoints and frozen inputs
    return removed


def _delete_rows(dataset: Dataset) -> None:
    """Labels are PROTECTed (history must not lose what it points at), so what refers to a
    label goes first; then the dataset and its cascade."""
    # Label history in one statement: events that revert events (PROTECT on `reverts`) go
    # with them, which the ORM's collector refuses to plan.
    events, attributes = LabelEvent._meta.db_table, Attribute._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {events} WHERE attribute_id IN "
            f"(SELECT id FROM {attributes} WHERE dataset_id = %s)",
            [dataset.pk],
        )
    for relation in Label._meta.get_fields(include_hidden=True):
        # only the reverse side of a ForeignKey to Label that PROTECTs it
        if not isinstance(relation, ManyToOneRel) or relation.on_delete is not PROTECT:
            continue
        model = relation.related_model
        if isinstance(model, type) and issubclass(model, Model) and model is not LabelEvent:
            path = f"{relation.field.name}__attribute__dataset"
            model._default_manager.filter(**{path: dataset}).delete()
    ImportJob.objects.filter(dataset_name=dataset.name).delete()  # keyed by name, no FK
    dataset.delete()


def _image_keys(dataset: Dataset) -> list[str]:
    keys: list[str] = []
    for file, thumb in Image.objects.filter(dataset=dataset).values_list("file", "thumbnail"):
        keys.extend(k for k in (file, thumb) if k)
    return keys


def _still_used(keys: set[str]) -> set[str]:
    """The keys another dataset's images still point at."""
    used: set[str] = set()
    listed = sorted(keys)
    for start in range(0, len(listed), 1000):
        part = listed[start : start + 1000]
        rows = Image.objects.filter(Q(file__in=part) | Q(thumbnail__in=part))
        for file, thumb in rows.values_list("file", "thumbnail"):
            used.update((file, thumb))
    return used


def _run_folders(dataset: Dataset) -> list[str]:
    """The stored model folder of each run: the parent of what artifact_uri names."""
    folders = []
    runs = TrainingRun.objects.filter(dataset=dataset).exclude(artifact_uri="")
    for uri in runs.values_list("artifact_uri", flat=True):
        folders.append(uri.rstrip("/").rsplit("/", 1)[0])  # a similarity run's localizer too
    return sorted(set(folders))

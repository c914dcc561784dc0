"""Scheduled re-sync of a dataset from its source (a server folder or s3:// prefix).

Opt-in per dataset (set_dataset_sync); Celery beat calls resync_due_datasets every minute,
which starts a plain ImportJob for each due dataset, so the re-sync runs through
import_catalog and its report stays on the dataset's import history. The importer skips
rows it already has, so an unchanged source changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from curation import roles
from curation.models import Dataset, ImportJob
from curation.services.import_jobs import start_import_job
from curation.services.sources import SourceError, open_source


def check_sync_source(source: str) -> str:
    """The source, stripped, if it is an s3:// prefix or a folder under CURATION_IMPORT_ROOTS
    that exists; SourceError otherwise."""
    source = source.strip()
    if not source.startswith("s3://"):
        roots = settings.CURATION_IMPORT_ROOTS
        resolved = Path(source).expanduser().resolve()
        if not any(resolved.is_relative_to(Path(root).resolve()) for root in roots):
            where = f"only under {', '.join(roots)}" if roots else "no server folder"
            raise SourceError(f"a re-sync may read {where} (CURATION_IMPORT_ROOTS) or s3://")
    open_source(source)  # names what is wrong with the string (or the folder)
    return source


def set_dataset_sync(dataset: Dataset, *, source: str, every_minutes: int | None, actor) -> None:
    """Turn the dataset's scheduled re-sync on (every `every_minutes` from `source`) or off
    (`every_minutes` None). Raises SourceError for a source a re-sync may not read."""
    roles.check(actor, "schedule_sync")
    if every_minutes is not None:
        if every_minutes < 1:
            raise SourceError("the re-sync interval is at least one minute")
        dataset.sync_source = check_sync_source(source)
    dataset.sync_every_minutes = every_minutes
    dataset.save(update_fields=["sync_source", "sync_every_minutes"])


def resync_due_datasets(*, now=None) -> list[int]:
    """Start an import of each dataset whose re-sync is due, skipping one whose previous
    import is still queued or running. Returns the ImportJob ids started."""
    now = now or timezone.now()
    busy = ImportJob.objects.filter(
        dataset_name=OuterRef("name"),
        status__in=[ImportJob.Status.QUEUED, ImportJob.Status.RUNNING],
    )
    candidates = (
        Dataset.objects.filter(sync_every_minutes__isnull=False)
        .exclude(sync_source="")
        .exclude(Exists(busy))
        .only("id", "name", "sync_source", "sync_every_minutes", "last_synced_at")
    )
    started = []
    for dataset in candidates:
        interval = timedelta(minutes=dataset.sync_every_minutes or 0)
        if dataset.last_synced_at and dataset.last_synced_at + interval > now:
            continue
        with transaction.atomic():
            # Claim the slot first, so two overlapping beat ticks start one import.
            claimed = Dataset.objects.filter(
                pk=dataset.pk, last_synced_at=dataset.last_synced_at
            ).update(last_synced_at=now)
            if not claimed:
                continue
            job = start_import_job(
                source=dataset.sync_source,
                dataset_name=dataset.name,
                create=False,
                overwrite_manual=False,
                actor=None,
            )
        started.append(job.pk)
    return started

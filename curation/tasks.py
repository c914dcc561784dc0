"""Thin Celery tasks: ids in, one service call. Services publish them by name
(services/queue.py) and never import this module."""

import logging

from celery import shared_task
from celery.signals import worker_ready

from curation.services import (
    dataset_delete,
    dataset_sync,
    embedding_maps,
    exports,
    image_quality,
    import_jobs,
    indexes,
    scoring,
)
from curation.services.runs import control
from curation.services.runs.execute import execute_training_run

logger = logging.getLogger(__name__)

# A long job is acknowledged only when it ends and goes back to the queue if its worker dies
# mid-way, so each body below must be safe to run twice.
LONG_JOB = {"acks_late": True, "reject_on_worker_lost": True}


@shared_task(name="curation.run_import_job", **LONG_JOB)
def run_import_job(job_id: int) -> None:
    import_jobs.run_import_job(job_id)


@shared_task(name="curation.build_embedding_map", **LONG_JOB)
def build_embedding_map(map_id: int) -> str:
    return embedding_maps.build_embedding_map(map_id)


@shared_task(name="curation.train_run", **LONG_JOB)
def train_run(run_id: int) -> str:
    return execute_training_run(run_id)


@shared_task(name="curation.build_similarity_index", **LONG_JOB)
def build_similarity_index(index_id: int) -> str:
    return indexes.build_similarity_index(index_id)


@shared_task(name="curation.extend_similarity_index", **LONG_JOB)
def extend_similarity_index(index_id: int, image_ids: list[int] | None = None) -> int:
    return indexes.extend_similarity_index(index_id, image_ids)


@shared_task(name="curation.scan_image_quality", **LONG_JOB)
def scan_image_quality(scan_id: int) -> str:
    return image_quality.run_quality_scan(scan_id)


@shared_task(name="curation.score_images", **LONG_JOB)
def score_images(job_id: int) -> str:
    return scoring.run_scoring_job(job_id)


@shared_task(name="curation.export_dataset", **LONG_JOB)
def export_dataset(job_id: int) -> None:
    exports.run_folder_export(job_id)


@shared_task(name="curation.delete_dataset", **LONG_JOB)
def delete_dataset(dataset_id: int) -> int:
    return dataset_delete.delete_dataset(dataset_id)


@shared_task(name="curation.sweep_stale_jobs")
def sweep_stale_jobs() -> dict[str, list[int]]:
    """Celery beat's periodic sweep: re-queue runs and scoring jobs whose worker died."""
    return {"runs": control.resume_stale_runs(), "scoring": scoring.resume_stale_scoring_jobs()}


@shared_task(name="curation.resync_datasets")
def resync_datasets() -> list[int]:
    """Celery beat, every minute: start the scheduled re-syncs that are due."""
    return dataset_sync.resync_due_datasets()


@worker_ready.connect
def resume_orphaned_runs(**kwargs) -> None:
    """When a worker starts, re-queue training runs whose worker died mid-run."""
    try:
        resumed = control.resume_stale_runs()
    except Exception:  # a worker must start even if the database is briefly unreachable
        logger.exception("could not look for orphaned training runs")
        return
    if resumed:
        logger.warning("re-queued orphaned training runs %s", resumed)


@worker_ready.connect
def resume_orphaned_scoring(**kwargs) -> None:
    """When a worker starts, re-queue scoring jobs whose worker died mid-job."""
    try:
        resumed = scoring.resume_stale_scoring_jobs()
    except Exception:  # as above: the worker starts regardless
        logger.exception("could not look for orphaned scoring jobs")
        return
    if resumed:
        logger.warning("re-queued orphaned scoring jobs %s", resumed)

"""Thin Celery tasks: ids in, one service call."""

from celery import shared_task

from curation.services import import_jobs


@shared_task(name="curation.run_import_job", acks_late=True, reject_on_worker_lost=True)
def run_import_job(job_id: int) -> None:
    import_jobs.run_import_job(job_id)

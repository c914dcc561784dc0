"""A worker job's row (an index build, a map, a scan, a scoring job, a run) is what its page
polls: when the worker fails, the row says why and when, without the worker's log."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone


def error_text(exc: BaseException) -> str:
    """The exception a worker caught, as a row's `error` keeps it: its type and message."""
    return f"{type(exc).__name__}: {exc}"


def mark_failed(rows: QuerySet, status: str, exc: BaseException) -> None:
    """The job's row (`rows`) failed just now with `exc`; `status` is its model's FAILED."""
    rows.update(status=status, error=error_text(exc), finished_at=timezone.now())


def mark_unqueued(rows: QuerySet, status: str, exc: Exception, *, again: str) -> None:
    """The broker was down: the job's row (`rows`, while it is still queued) fails at once
    with a reason and what to do (`again`: "start the scan again"); a job that is cheap to
    start again should not wait for a worker that may never hear of it."""
    rows.update(
        status=status,
        finished_at=timezone.now(),
        error=f"the task queue could not be reached ({exc}); {again}",
    )

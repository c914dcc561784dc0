"""A worker job's row (an index build, a map, a scan, a scoring job, a run) is what its page
polls: when the worker fails, the row says why and when, without the worker's log."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from curation.models import EmbeddingMap, SimilarityIndex

log = logging.getLogger(__name__)


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


def run_build(row: EmbeddingMap | SimilarityIndex, build: Callable[[], dict[str, Any]]) -> str:
    """The end of a build task (an index, a map): `build()` does the work and returns the
    fields the row gets when it is ready; the row is then READY with them, or FAILED with
    the error `build()` raised (the worker log keeps the traceback). "ready" or "failed"."""
    model = type(row)
    rows = model.objects.filter(pk=row.pk)
    try:
        fields = build()
    except Exception as exc:  # the row must say why; the worker log has the traceback
        log.exception("%s %s failed", model._meta.verbose_name, row.pk)
        mark_failed(rows, model.Status.FAILED, exc)
        return "failed"
    rows.update(status=model.Status.READY, finished_at=timezone.now(), **fields)
    return "ready"

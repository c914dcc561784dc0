"""The one way services queue work: publish a task by its name once the transaction commits.

Services never import curation.tasks (tasks import services), so there is no import circle.
When the broker can't be reached, `on_broker_error(obj_id, exc)` marks the row: an import or
an index build fails with a reason, a training run stays queued with a note for the next
worker to pick up (services.runs.control.resume_stale_runs).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from django.db import transaction
from kombu.exceptions import OperationalError as KombuOperationalError

log = logging.getLogger(__name__)

# What publishing raises when the broker is down (kombu wraps most in OperationalError).
BROKER_ERRORS = (KombuOperationalError, ConnectionError, OSError)
TRAIN = "train"  # GPU / long jobs: one at a time per worker
CPU = "cpu"  # imports and index builds


def publish(task_name: str, args: Sequence[Any], *, queue: str) -> None:
    """Publish now; raises one of BROKER_ERRORS when the broker can't be reached.

    In eager mode (tests, CELERY_TASK_ALWAYS_EAGER) the task runs here and now, as
    `apply_async` would run it: `send_task` knows nothing of eager mode.
    """
    from config.celery import app

    if app.conf.task_always_eager:
        app.loader.import_default_modules()  # registers curation.tasks
        app.tasks[task_name].apply_async(args=list(args), queue=queue)
        return
    app.send_task(task_name, args=list(args), queue=queue)


def enqueue(
    task_name: str,
    obj_id: int,
    *,
    queue: str,
    on_broker_error: Callable[[int, Exception], None],
    args: Sequence[Any] = (),
) -> None:
    """After the current transaction commits, publish `task_name(obj_id, *args)` on `queue`;
    if the broker is down, call `on_broker_error(obj_id, exc)` instead of raising."""

    def send() -> None:
        try:
            publish(task_name, [obj_id, *args], queue=queue)
        except BROKER_ERRORS as exc:
            log.warning("could not queue %s(%s): %s", task_name, obj_id, exc)
            on_broker_error(obj_id, exc)

    transaction.on_commit(send)

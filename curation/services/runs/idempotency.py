"""Starting a run at most once per client key: the retrain form's per-render key and the
API's Idempotency-Key header. A repeat (a double click, a client's retry) gets the first
run back; two in flight at once meet at the unique constraint on (dataset, key), and the
second, rolled back, returns the first."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError

from curation.models import Dataset, TrainingRun
from curation.services.runs.options import TrainingError

KEY = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class KeyReused(TrainingError):
    """The key already started a different run (the API answers 409)."""


def check_key(raw: str | None) -> str:
    """The key, or "" for none; TrainingError naming it when it isn't 1-64 plain characters."""
    if raw is None or raw == "":
        return ""
    if not KEY.fullmatch(raw):
        raise TrainingError(
            "Idempotency-Key must be 1 to 64 letters, digits or - _ . : (a UUID works), "
            f"got {raw!r:.80}"
        )
    return raw


def repeated_run(dataset: Dataset, key: str) -> TrainingRun | None:
    if not key:
        return None
    return TrainingRun.objects.filter(dataset=dataset, idempotency_key=key).first()


def same_request(run: TrainingRun, attribute_id: int | None, key: str) -> TrainingRun:
    """The earlier run, unless the key was used to start something else."""
    if run.attribute_id != attribute_id:
        raise KeyReused(
            f"Idempotency-Key {key} already started run {run.pk} for another attribute; "
            "send a new key for a new run"
        )
    return run


def start_once(
    start: Callable[..., TrainingRun],
    *,
    dataset: Dataset,
    idempotency_key: str | None,
    attribute_id: int | None = None,
    **kwargs: Any,
) -> tuple[TrainingRun, bool]:
    """(run, created): start(dataset=..., idempotency_key=..., **kwargs), or the run the
    same key started before. attribute_id: what the key must have started (None: a
    similarity run)."""
    key = check_key(idempotency_key)
    earlier = repeated_run(dataset, key)
    if earlier is not None:
        return same_request(earlier, attribute_id, key), False
    try:
        return start(dataset=dataset, idempotency_key=key, **kwargs), True
    except IntegrityError:
        earlier = repeated_run(dataset, key)
        if earlier is None:  # not the key's constraint
            raise
        return same_request(earlier, attribute_id, key), False

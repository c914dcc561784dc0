"""What both run workers share: claiming a delivery, the heartbeat, progress and cancel
callbacks for mlcore, and finishing the row."""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from curation.models import TrainingRun
from curation.services.runs.control import stale_before
from mlcore.jobplan import Pace, Plan, eta_seconds, position

log = logging.getLogger(__name__)
Status = TrainingRun.Status


def claim_run(run_id: int) -> bool:
    """Take the run for this worker: a queued run, or a running one whose worker died
    (stale heartbeat). False when another live worker has it."""
    now = timezone.now()
    claimed = (
        TrainingRun.objects.filter(pk=run_id)
        .filter(
            Q(status=Status.QUEUED, cancel_requested=False)
            | Q(status=Status.RUNNING, heartbeat_at__lt=stale_before())
            | Q(status=Status.RUNNING, heartbeat_at=None)
        )
        .update(
            status=Status.RUNNING,
            heartbeat_at=now,
            attempts=F("attempts") + 1,
            started_at=Coalesce("started_at", now),
        )
    )
    return bool(claimed)


def finish_run(run_id: int, status: str, **fields: Any) -> None:
    TrainingRun.objects.filter(pk=run_id).update(
        status=status, finished_at=timezone.now(), **fields
    )


def finish_cancelled(run: TrainingRun, reporter: Reporter) -> str:
    finish_run(run.pk, Status.CANCELLED, progress={**reporter.progress, "phase": "cancelled"})
    return "cancelled"


def jsonable(value: Any) -> Any:
    """Floats rounded, NaN as None (PostgreSQL's jsonb refuses NaN)."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 5)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


class Heartbeat:
    """Touch heartbeat_at every few seconds from a thread while the run works, so a long step,
    evaluation or cross-fit is never mistaken for a dead worker."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True, name=f"heartbeat-{run_id}")

    def _beat(self) -> None:
        interval = max(1.0, settings.CURATION_RUN_STALE_SECONDS / 6)
        try:
            while not self.stop.wait(interval):
                try:
                    TrainingRun.objects.filter(pk=self.run_id, status=Status.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except DatabaseError:  # a missed beat is harmless; the next one may succeed
                    log.warning("heartbeat of run %s failed", self.run_id, exc_info=True)
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def _counters(prefix: str, p: Any) -> dict[str, int]:
    """Where a training loop is (mlcore's TrainProgress), under the progress keys `prefix`."""
    return {
        f"{prefix}epoch": p.epoch,
        f"{prefix}epochs": p.epochs,
        f"{prefix}step": p.step,
        f"{prefix}steps": p.steps,
    }


class Reporter:
    """Progress and cancel callbacks for mlcore, with throttled database writes. With a
    plan (classifier runs), every write carries the whole job's percent and ETA."""

    def __init__(self, run: TrainingRun, plan: Plan | None = None, prior_rate: float | None = None):
        self.run_id = run.pk
        self.progress: dict[str, Any] = dict(run.progress or {})
        self.curve: list[list[float]] = list(run.loss_curve or [])
        self.last_write = 0.0
        self.last_check = 0.0
        self.cancel = False
        self.plan = plan
        self.pace = Pace(rate=prior_rate)  # work units/s, smoothed (mlcore.jobplan)

    def phase(self, name: str, **extra: Any) -> None:
        self.progress = {**self.progress, "phase": name, **extra}
        self._write(force=True)

    def train(self, p: Any) -> None:
        if "first_epoch_of_attempt" not in self.progress:
            self.progress["first_epoch_of_attempt"] = p.epoch
        self.progress = {
            **self.progress,
            "phase": "training",
            **_counters("", p),
            "loss": round(float(p.loss), 5),
            "images_per_s": round(float(p.images_per_s), 1),
            "eta_s": round(float(p.eta_s), 1),
        }
        x = round(p.epoch - 1 + p.step / p.steps, 4)
        if not self.curve or x > self.curve[-1][0]:
            self.curve.append([x, round(float(p.loss), 5)])
        self._write()

    def fold(self, fold: int, folds: int, p: Any) -> None:
        """Cross-fitting progress (fold -1: the linear probe's one pass over every image),
        with the fold model's own loss and pace."""
        loss = float(p.loss)
        self.progress = {
            **self.progress,
            "phase": "cross-fitting",
            "fold": fold + 1,
            "folds": folds,
            **_counters("fold_", p),
            "fold_loss": None if math.isnan(loss) else round(loss, 5),
            "images_per_s": round(float(p.images_per_s), 1) if p.images_per_s else None,
        }
        # A fold's last step is always written: a fold shorter than the throttle would
        # otherwise never show its loss.
        self._write(force=p.epoch == p.epochs and p.step == p.steps)

    def estimate(self) -> None:
        """The plan's phase, percent and ETA for the progress as it stands (no plan: the
        loop's own eta_s stays)."""
        if self.plan is None:
            return
        index, done = position(self.plan, self.progress)
        self.pace.update(done, time.monotonic())
        eta = eta_seconds(self.plan, index, done, self.pace.rate)
        average = self.pace.average()
        self.progress.update(
            stage=self.plan.phases[index].name,
            stage_index=index + 1,
            stages=len(self.plan.phases),
            percent=min(99, int(100 * done / (self.plan.total or 1))),
            eta_s=None if eta is None else round(eta, 1),
        )
        if average:  # what the next run's estimate starts from (queries/runs.py)
            self.progress["units_per_s"] = round(average, 2)

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_write < 1.0:
            return
        self.last_write = now
        self.estimate()
        TrainingRun.objects.filter(pk=self.run_id).update(
            progress=self.progress, loss_curve=self.curve[-2000:], heartbeat_at=timezone.now()
        )

    def cancelled(self) -> bool:
        """Asked before every step: a cheap indexed read, at most every 0.2 s."""
        now = time.monotonic()
        if not self.cancel and now - self.last_check >= 0.2:
            self.last_check = now
            self.cancel = TrainingRun.objects.filter(pk=self.run_id, cancel_requested=True).exists()
        return self.cancel

    def localize(self, p: Any) -> None:
        """Localizer progress: its own keys, so the run's percent and loss curve follow the
        triplet net only."""
        self.progress = {
            **self.progress,
            "phase": "localizing",
            **_counters("localize_", p),
            "localize_loss": round(float(p.loss), 5),
            "eta_s": round(float(p.eta_s), 1),
        }
        self._write()

"""Running a training run on a worker: train, evaluate on the fixed test split, cross-fit
out-of-sample probabilities for the training images, rank likely mislabels, store the model
and write predictions, all idempotently.

- A delivery for a finished run does nothing. A delivery for a run another live worker is
  running (fresh heartbeat) does nothing. A delivery for a run whose worker died (stale
  heartbeat) takes it over and resumes from the last checkpoint (mlcore.fit resume=True).
- Cancel is checked before every training step; the last checkpoint is kept.
- Predictions, suspects and metrics are written in one transaction at the end, so a run has
  exactly one set, however many times it was delivered.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from curation.models import Label, RunImage, Split, TrainingRun
from curation.services.aggregates import mark_errors, refresh_run_aggregates
from curation.services.blobs import local_storage_location
from curation.services.reviews import queue_suspects
from curation.services.training import stale_before

log = logging.getLogger(__name__)
Status = TrainingRun.Status


def execute_training_run(run_id: int) -> str:
    """Run (or resume, or skip) a training run. Returns what happened, for logs and tests."""
    run = TrainingRun.objects.filter(pk=run_id).select_related("dataset", "attribute").first()
    if run is None:
        return "missing"
    if run.status in TrainingRun.FINISHED:
        return "already finished"
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
    if not claimed:
        return "running elsewhere"
    with _Heartbeat(run_id):
        try:
            run = TrainingRun.objects.select_related("dataset", "attribute").get(pk=run_id)
            if run.kind == TrainingRun.Kind.SIMILARITY:
                from curation.services.similarity_train import train_similarity

                return train_similarity(run)
            return _train(run)
        except Exception as exc:
            log.exception("training run %s failed", run_id)
            _finish(run_id, Status.FAILED, error=f"{type(exc).__name__}: {exc}")
            return "failed"


class _Heartbeat:
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

    def __enter__(self) -> _Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


class _Reporter:
    """Progress and cancel callbacks for mlcore, with throttled database writes."""

    def __init__(self, run: TrainingRun):
        self.run_id = run.pk
        self.progress: dict[str, Any] = dict(run.progress or {})
        self.curve: list[list[float]] = list(run.loss_curve or [])
        self.last_write = 0.0
        self.last_check = 0.0
        self.cancel = False
        self.fold_started: dict[int, float] = {}

    def phase(self, name: str, **extra: Any) -> None:
        self.progress = {**self.progress, "phase": name, **extra}
        self._write(force=True)

    def train(self, p: Any) -> None:
        if "first_epoch_of_attempt" not in self.progress:
            self.progress["first_epoch_of_attempt"] = p.epoch
        self.progress = {
            **self.progress,
            "phase": "training",
            "epoch": p.epoch,
            "epochs": p.epochs,
            "step": p.step,
            "steps": p.steps,
            "loss": round(float(p.loss), 5),
            "images_per_s": round(float(p.images_per_s), 1),
            "eta_s": round(float(p.eta_s), 1),
        }
        x = round(p.epoch - 1 + p.step / p.steps, 4)
        if not self.curve or x > self.curve[-1][0]:
            self.curve.append([x, round(float(p.loss), 5)])
        self._write()

    def fold(self, fold: int, folds: int, p: Any) -> None:
        """Cross-fitting progress (fold -1: the linear probe's one pass over every image).
        The ETA covers the folds still to come, each taken to last as long as this one."""
        now = time.monotonic()
        started = self.fold_started.setdefault(fold, now)
        per_fold = now - started + float(p.eta_s)
        later = folds - fold - 1 if fold >= 0 else 0
        self.progress = {
            **self.progress,
            "phase": "cross-fitting",
            "fold": fold + 1,
            "folds": folds,
            "fold_epoch": p.epoch,
            "fold_epochs": p.epochs,
            "fold_step": p.step,
            "fold_steps": p.steps,
            "eta_s": round(float(p.eta_s) + later * per_fold, 1),
            "images_per_s": round(float(p.images_per_s), 1)
            if p.images_per_s
            else self.progress.get("images_per_s"),
        }
        self._write()

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_write < 1.0:
            return
        self.last_write = now
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


def item_uri(key: str) -> str:
    location = local_storage_location()
    if location is not None:
        return str(Path(location) / key)
    return f"s3://{settings.AWS_STORAGE_BUCKET_NAME}/{key}"


def _s3_options():
    from mlcore.storage import S3Options

    if local_storage_location() is not None:
        return None
    return S3Options(
        endpoint_url=settings.AWS_S3_ENDPOINT_URL,
        access_key=settings.AWS_ACCESS_KEY_ID,
        secret_key=settings.AWS_SECRET_ACCESS_KEY,
        region=settings.AWS_S3_REGION_NAME,
    )


def _models_destination() -> str:
    location = local_storage_location()
    if location is not None:
        return str(Path(location) / "models")
    return f"s3://{settings.AWS_STORAGE_BUCKET_NAME}/models"


@dataclass
class RunItems:
    """A classifier run's frozen snapshot as mlcore takes it: (uri, label index) per split."""

    label_ids: dict[str, int]  # label name -> Label id
    index_of: dict[int, int]  # Label id -> position in run.label_names
    train_rows: list[tuple]  # (RunImage id, split, given Label id, image file) by RunImage id
    test_rows: list[tuple]
    train_items: list[tuple[str, int]]
    test_items: list[tuple[str, int]]


def run_items(run: TrainingRun) -> RunItems:
    names: list[str] = list(run.label_names)
    label_ids = dict(
        Label.objects.filter(attribute=run.attribute, name__in=names).values_list("name", "id")
    )
    index_of = {label_ids[n]: i for i, n in enumerate(names)}
    rows = list(
        RunImage.objects.filter(run=run)
        .order_by("id")
        .values_list("id", "split", "given_label_id", "image__file")
    )
    train_rows = [r for r in rows if r[1] == Split.TRAIN]
    test_rows = [r for r in rows if r[1] == Split.TEST]
    return RunItems(
        label_ids,
        index_of,
        train_rows,
        test_rows,
        [(item_uri(r[3]), index_of[r[2]]) for r in train_rows],
        [(item_uri(r[3]), index_of[r[2]]) for r in test_rows],
    )


def _train(run: TrainingRun) -> str:
    import numpy as np

    from mlcore.config import TrainConfig
    from mlcore.eval.crossval import out_of_sample_probs
    from mlcore.eval.issues import rank_label_issues
    from mlcore.store import save_model
    from mlcore.train.fit import fit

    config = TrainConfig.from_dict(run.config)
    names: list[str] = list(run.label_names)
    items = run_items(run)
    label_ids, index_of = items.label_ids, items.index_of
    train_rows, test_rows = items.train_rows, items.test_rows
    train_items, test_items = items.train_items, items.test_items
    work = Path(settings.CURATION_RUNS_DIR) / str(run.pk)
    s3 = _s3_options()
    reporter = _Reporter(run)
    reporter.progress.pop("first_epoch_of_attempt", None)
    reporter.phase("training", resumed=run.attempts > 1)
    result = fit(
        config,
        train_items,
        names,
        out_dir=work / "model",
        eval_items=test_items,
        progress=reporter.train,
        should_cancel=reporter.cancelled,
        s3=s3,
    )
    if result.cancelled:
        _finish(run.pk, Status.CANCELLED, progress={**reporter.progress, "phase": "cancelled"})
        return "cancelled"
    assert result.evaluation is not None and result.metrics is not None
    reporter.phase("cross-fitting", folds=config.cv_folds)
    oos = out_of_sample_probs(
        config,
        train_items,
        names,
        work_dir=work / "cv",
        progress=reporter.fold,
        should_cancel=reporter.cancelled,
        s3=s3,
    )
    if oos.cancelled:
        _finish(run.pk, Status.CANCELLED, progress={**reporter.progress, "phase": "cancelled"})
        return "cancelled"
    reporter.phase("ranking")
    k = len(names)
    test_probs = np.full((len(test_items), k), np.nan, dtype=np.float32)
    test_probs[result.evaluation.indices] = result.evaluation.probs
    all_rows = train_rows + test_rows
    probs = np.concatenate([oos.probs, test_probs]) if train_rows else test_probs
    given = np.array([index_of[r[2]] for r in all_rows], dtype=np.int64)
    issues = rank_label_issues(given, probs)
    reporter.phase("saving")
    attribute_name = run.attribute.name if run.attribute else "none"
    artifact = save_model(
        _models_destination(),
        name=f"{run.dataset.name}-{attribute_name}-run{run.pk}",
        model=result.model,
        label_names=names,
        config=config,
        metrics=result.metrics.to_dict(),
        s3=s3,
    )
    rank_of = {int(row): rank + 1 for rank, row in enumerate(issues.ranked)}
    id_of = {i: label_ids[n] for i, n in enumerate(names)}
    updates: list[tuple[Any, ...]] = []
    for pos, row in enumerate(all_rows):
        p = probs[pos]
        if np.isnan(p).any():
            updates.append((None, None, None, None, row[1] == Split.TRAIN, None, None, row[0]))
            continue
        best = int(p.argmax())
        updates.append(
            (
                id_of[best],
                float(p[best]),
                float(p[given[pos]]),
                json.dumps([round(float(v), 5) for v in p]),
                row[1] == Split.TRAIN,
                None if np.isnan(issues.quality[pos]) else float(issues.quality[pos]),
                rank_of.get(pos),
                row[0],
            )
        )
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {RunImage._meta.db_table} SET predicted_label_id = %s, confidence = %s, "
                "given_probability = %s, probs = %s, out_of_sample = %s, quality = %s, "
                "suspect_rank = %s "
                "WHERE id = %s",
                updates,
            )
        mark_errors(run)
        refresh_run_aggregates(run)
        queue_suspects(run=run)
        metrics = result.metrics.to_dict()
        # The mistakes' row lists are RunImage rows now (is_error, indexed for the galleries);
        # kept here they would grow the run row, read on every QA page, with the test split.
        del metrics["false_positives"], metrics["false_negatives"]
        metrics["skipped"] = [{"uri": u, "reason": why} for u, why in result.skipped][:200]
        metrics["suspects"] = len(issues.ranked)
        metrics["cv_method"] = oos.method
        _finish(
            run.pk,
            Status.SUCCEEDED,
            metrics=metrics,
            artifact_uri=artifact,
            progress={**reporter.progress, "phase": "done"},
        )
    return "succeeded"


def _finish(run_id: int, status: str, **fields: Any) -> None:
    TrainingRun.objects.filter(pk=run_id).update(
        status=status, finished_at=timezone.now(), **fields
    )

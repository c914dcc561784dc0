"""The worker's part of a classifier run: collect the run's frozen items, compute with
mlcore.audit (fit, test evaluation, cross-fit, mislabel ranking), store the model, and
persist predictions, suspects and metrics in one transaction, so a run has exactly one set
however many times it was delivered."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction

from curation.artifacts import models_destination, run_folder, run_mirror
from curation.models import Label, RunImage, Split, TrainingRun
from curation.queries.runs import last_throughput, run_plan
from curation.queries.strength import strength_of_metrics
from curation.services.aggregates import mark_errors, refresh_run_aggregates
from curation.services.reviews import queue_suspects
from curation.services.runs.worker import Reporter, finish_cancelled, finish_run
from curation.storage import item_uri, s3_options

Status = TrainingRun.Status


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


def train_classifier(run: TrainingRun) -> str:
    from mlcore.audit import audit
    from mlcore.config import TrainConfig
    from mlcore.store import save_model

    config = TrainConfig.from_dict(run.config)
    names: list[str] = list(run.label_names)
    items = run_items(run)
    s3 = s3_options()
    reporter = planned_reporter(run)
    reporter.progress.pop("first_epoch_of_attempt", None)
    reporter.phase("training", resumed=run.attempts > 1)
    found = audit(
        config,
        items.train_items,
        items.test_items,
        names,
        work_dir=run_folder(run.pk),
        progress=reporter.train,
        fold_progress=reporter.fold,
        phase=reporter.phase,
        should_cancel=reporter.cancelled,
        s3=s3,
        mirror=run_mirror(run.pk),
    )
    if found.cancelled:
        return finish_cancelled(run, reporter)
    assert found.model is not None and found.metrics is not None
    reporter.phase("saving")
    attribute_name = run.attribute.name if run.attribute else "none"
    artifact = save_model(
        models_destination(),
        name=f"{run.dataset.name}-{attribute_name}-run{run.pk}",
        model=found.model,
        label_names=names,
        config=config,
        metrics=found.metrics.to_dict(),
        s3=s3,
    )
    if found.failed_phase:
        persist_trained(run, items, found, artifact=artifact, progress=reporter.progress)
        return "failed"
    persist(run, items, found, artifact=artifact, progress=reporter.progress)
    return "succeeded"


def planned_reporter(run: TrainingRun) -> Reporter:
    """A Reporter whose ETA covers the whole job from the first step: before the run has
    measured its own pace, at the pace of the last run of its architecture and size."""
    known = last_throughput(run.config or {})
    return Reporter(run, plan=run_plan(run), prior_rate=known.units_per_s if known else None)


def prediction_rows(items: RunItems, found) -> list[tuple[Any, ...]]:
    """One UPDATE parameter tuple per RunImage, in the order of persist's statement."""
    import numpy as np

    id_of = {position: label_id for label_id, position in items.index_of.items()}
    issues = found.issues  # None: the run failed before ranking (no quality, no ranks)
    rank_of = {int(row): rank + 1 for rank, row in enumerate(issues.ranked if issues else [])}
    review_of = {int(row): rank + 1 for rank, row in enumerate(issues.order if issues else [])}
    rows: list[tuple[Any, ...]] = []
    for pos, row in enumerate(items.train_rows + items.test_rows):
        p = found.probs[pos]
        in_train = row[1] == Split.TRAIN
        if np.isnan(p).any():
            rows.append((None, None, None, None, in_train, None, None, None, row[0]))
            continue
        best = int(p.argmax())
        quality = issues.quality[pos] if issues else np.nan
        rows.append(
            (
                id_of[best],
                float(p[best]),
                float(p[found.given[pos]]),
                json.dumps([round(float(v), 5) for v in p]),
                in_train,
                None if np.isnan(quality) else float(quality),
                rank_of.get(pos),
                review_of.get(pos),
                row[0],
            )
        )
    return rows


def trained_metrics(found) -> dict[str, Any]:
    """The test metrics of the trained model, as a run keeps them."""
    metrics = found.metrics.to_dict()
    # The mistakes' row lists are RunImage rows now (is_error, indexed for the galleries);
    # kept here they would grow the run row, read on every QA page, with the test split.
    del metrics["false_positives"], metrics["false_negatives"]
    metrics["skipped"] = [{"uri": u, "reason": why} for u, why in found.skipped][:200]
    metrics["cv_method"] = found.cv_method
    return metrics


def run_metrics(found, label_names: list[str], n_train: int) -> dict[str, Any]:
    metrics = trained_metrics(found)
    metrics["suspects"] = len(found.issues.ranked)
    metrics["wrong_labels"] = {
        split: {name: round(float(n), 1) for name, n in zip(label_names, per_class, strict=True)}
        for split, per_class in found.wrong_labels.items()
    }
    metrics["calibration"] = calibration_of(found, n_train).to_dict()
    return metrics


def calibration_of(found, n_train: int):
    """Temperature fitted on the out-of-sample training probabilities, measured on test.
    found.probs holds the training rows first, then the test rows."""
    from mlcore.eval.calibration import calibrate

    return calibrate(
        fit_probs=found.probs[:n_train],
        fit_labels=found.given[:n_train],
        test_probs=found.probs[n_train:],
        test_labels=found.given[n_train:],
    )


def update_predictions(items: RunItems, found) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {RunImage._meta.db_table} SET predicted_label_id = %s, confidence = %s, "
            "given_probability = %s, probs = %s, out_of_sample = %s, quality = %s, "
            "suspect_rank = %s, review_rank = %s "
            "WHERE id = %s",
            prediction_rows(items, found),
        )


@transaction.atomic
def persist_trained(
    run: TrainingRun, items: RunItems, found, *, artifact: str, progress: dict
) -> None:
    """What a run that failed after training keeps: the model, its test metrics and the
    predictions it has (the test split's; the training images' too when ranking failed),
    on a failed row that names the phase. Nothing goes to the review queue."""
    update_predictions(items, found)
    mark_errors(run)
    refresh_run_aggregates(run)
    finish_run(
        run.pk,
        Status.FAILED,
        metrics=trained_metrics(found),
        artifact_uri=artifact,
        error=found.error,
        failed_phase=found.failed_phase,
        progress={**progress, "phase": found.failed_phase},
    )


@transaction.atomic
def persist(run: TrainingRun, items: RunItems, found, *, artifact: str, progress: dict) -> None:
    """Predictions, error flags, aggregates, the review queue and the finished row, at once."""
    update_predictions(items, found)
    mark_errors(run)
    refresh_run_aggregates(run)
    metrics = run_metrics(found, list(run.label_names), len(items.train_rows))
    strength = strength_of_metrics(metrics)
    if strength is None or not strength.weak:  # a weak run's suspects are queued on request
        queue_suspects(run=run)
    finish_run(
        run.pk,
        Status.SUCCEEDED,
        metrics=metrics,
        strength=strength.to_dict() if strength is not None else None,
        artifact_uri=artifact,
        progress={**progress, "phase": "done"},
    )

"""A run's confidence calibration, kept on the run (metrics["calibration"]).

Runs store it when they finish (services/runs/classifier_worker.py). Runs that finished
before calibration was kept get it here, from their stored rows, the first time it is asked
for: the temperature is fitted on the out-of-sample training probabilities and measured on
the test split, never fitted on it.
"""

from __future__ import annotations

import numpy as np

from curation.models import RunImage, Split, TrainingRun
from curation.queries.quality import run_label_ids
from curation.queries.scores import decoded_probs
from mlcore.eval.calibration import Calibration, calibrate


def run_calibration(run: TrainingRun) -> Calibration | None:
    """The run's calibration (None for a run without predictions), computed and stored on
    the run the first time."""
    if run.status != TrainingRun.Status.SUCCEEDED or run.kind != TrainingRun.Kind.CLASSIFIER:
        return None
    metrics = run.metrics or {}
    if "calibration" in metrics:
        return Calibration.from_dict(metrics["calibration"])
    found = _calibrate_from_rows(run)
    metrics = {**metrics, "calibration": found.to_dict()}
    TrainingRun.objects.filter(pk=run.pk).update(metrics=metrics)
    run.metrics = metrics
    return found


def _calibrate_from_rows(run: TrainingRun) -> Calibration:
    index_of = {label_id: i for i, label_id in enumerate(run_label_ids(run))}
    k = len(index_of)
    fit: tuple[list, list] = ([], [])
    test: tuple[list, list] = ([], [])
    rows = (
        RunImage.objects.filter(run=run)
        .exclude(probs=None)
        .values_list("split", "out_of_sample", "given_label_id", "probs")
        .iterator(chunk_size=2000)
    )
    for split, out_of_sample, given, probs in rows:
        if given not in index_of:
            continue
        target = test if split == Split.TEST else fit if out_of_sample else None
        if target is not None:
            target[0].append(decoded_probs(probs))
            target[1].append(index_of[given])
    return calibrate(
        fit_probs=np.array(fit[0], dtype=np.float64).reshape(-1, k),
        fit_labels=np.array(fit[1], dtype=np.int64),
        test_probs=np.array(test[0], dtype=np.float64).reshape(-1, k),
        test_labels=np.array(test[1], dtype=np.int64),
    )

"""One classifier run's compute: train on the train split, evaluate on the fixed test split,
cross-fit out-of-sample probabilities for the training images, and rank likely mislabels.

The web side collects the items and persists what comes back; nothing here knows of Django.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mlcore.config import TrainConfig
from mlcore.data.dataset import Item
from mlcore.eval.crossval import FoldProgress, OutOfSample, out_of_sample_probs
from mlcore.eval.issues import LabelIssues, estimate_wrong_labels, rank_label_issues
from mlcore.eval.metrics import Metrics
from mlcore.models.classifier import Classifier
from mlcore.storage import S3Options
from mlcore.train.engine import TrainProgress
from mlcore.train.launch import fit_on_devices
from mlcore.train.resume import CheckpointMirror


@dataclass
class Audit:
    cancelled: bool
    model: Classifier | None = None
    metrics: Metrics | None = None  # on the test items
    probs: np.ndarray | None = None  # (N_train + N_test, K) float32; nan rows: unreadable
    given: np.ndarray | None = None  # (N_train + N_test,) int64 given label positions
    # rows index train items, then test items; scored on the fold models' probabilities
    # for both (test rows: their mean), so train and test scores compare in one order
    issues: LabelIssues | None = None
    cv_method: str = ""
    # split ("train", "test") -> (K,) estimated wrong given labels per class
    wrong_labels: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (uri, reason)
    # After training: the phase that raised ("cross-fitting", "ranking") and its error;
    # model and metrics are then kept, and issues is None
    failed_phase: str = ""
    error: str = ""


def audit(
    config: TrainConfig,
    train_items: Sequence[Item],
    test_items: Sequence[Item],
    label_names: Sequence[str],
    *,
    work_dir: str | Path,
    progress: Callable[[TrainProgress], None] | None = None,
    fold_progress: FoldProgress | None = None,
    phase: Callable[..., None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    s3: S3Options | None = None,
    mirror: CheckpointMirror | None = None,
) -> Audit:
    """Fit, evaluate, cross-fit and rank. Resumable: a second call with the same work_dir
    picks the training up from its checkpoints. Cancelled: Audit(cancelled=True). A
    failure after training returns the model and test metrics, with .failed_phase set.

    phase(name, **extra) is told when the work moves on ("cross-fitting", "ranking").
    mirror: shared storage for the checkpoints (under work_dir), as in fit().
    """
    phase = phase or (lambda name, **extra: None)
    work = Path(work_dir)
    # config.devices > 1: DDP on this machine's devices; the cross-fitting folds after it
    # stay on one process each.
    result = fit_on_devices(
        config,
        train_items,
        label_names,
        out_dir=work / "model",
        eval_items=test_items,
        progress=progress,
        should_cancel=should_cancel,
        s3=s3,
        mirror=mirror,
    )
    if result.cancelled:
        return Audit(cancelled=True)
    assert result.evaluation is not None and result.metrics is not None
    # The trained model and its test metrics are kept whatever fails from here on: the
    # Audit then says which phase failed, and its probs hold the test rows (nan: train).
    test_probs = np.full((len(test_items), len(label_names)), np.nan, dtype=np.float32)
    test_probs[result.evaluation.indices] = result.evaluation.probs
    given = np.array([label for _, label in [*train_items, *test_items]], dtype=np.int64)
    trained = Audit(
        cancelled=False,
        model=result.model,
        metrics=result.metrics,
        probs=np.concatenate(
            [np.full((len(train_items), len(label_names)), np.nan), test_probs]
        ).astype(np.float32),
        given=given,
        cv_method=config.cv_method,
        skipped=result.skipped,
    )
    phase("cross-fitting", folds=config.cv_folds)
    try:
        oos = out_of_sample_probs(
            config,
            train_items,
            label_names,
            work_dir=work / "cv",
            progress=fold_progress,
            should_cancel=should_cancel,
            s3=s3,
            extra_items=test_items,
            mirror=mirror,
        )
    except Exception as exc:  # noqa: BLE001 - kept in the Audit, with the trained model
        return failed(trained, "cross-fitting", exc)
    if oos.cancelled:
        return Audit(cancelled=True)
    phase("ranking")
    probs = np.concatenate([oos.probs, test_probs]) if len(train_items) else test_probs
    trained.probs, trained.cv_method = probs, oos.method
    try:
        rank(trained, oos, n_train=len(train_items))
    except Exception as exc:  # noqa: BLE001 - kept in the Audit, with the trained model
        return failed(trained, "ranking", exc)
    return trained


def rank(found: Audit, oos: OutOfSample, *, n_train: int) -> None:
    """Rank label issues and estimate the wrong labels per split, into `found`: on the fold
    models' probabilities for both splits (test rows: their mean), else found.probs. The
    flagged test images lead the review order: fixing them is what makes the reported test
    figures true."""
    assert found.probs is not None and found.given is not None
    given, scored = found.given, found.probs
    if oos.extra_probs is not None and n_train:
        scored = np.concatenate([oos.probs, oos.extra_probs])
    is_test = np.arange(len(given)) >= n_train
    found.issues = rank_label_issues(given, scored, first=is_test)
    found.wrong_labels = {
        "train": estimate_wrong_labels(given[:n_train], scored[:n_train]),
        "test": estimate_wrong_labels(given[n_train:], scored[n_train:]),
    }


def failed(found: Audit, phase: str, exc: Exception) -> Audit:
    """`found` marked as failed in `phase`, with the error named."""
    found.failed_phase = phase
    found.error = f"{type(exc).__name__}: {exc}"
    found.issues, found.wrong_labels = None, {}
    return found

"""Out-of-sample probabilities for the training images, by stratified k-fold cross-fitting.

Every image is predicted by a model that never saw it: fold f's model trains on the other
folds and predicts fold f. Two methods (config.cv_method):
- "kfold": a fresh model per fold, trained with fit() for config.cv_epochs (or epochs).
  k times the cost of one training run.
- "linear_probe": one pass of a frozen, label-independent pretrained backbone
  (efficientnet_lite0 with pretrained=True, or weights_path) over all images, then a
  k-fold logistic regression on the embeddings. Minutes instead of hours on a big
  catalog; bench/quality.py --issues measures how far its flagged set agrees with kfold's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from mlcore.config import TrainConfig
from mlcore.data.dataset import Item
from mlcore.infer import predict_items
from mlcore.models import build_model
from mlcore.storage import S3Options
from mlcore.train.engine import TrainProgress
from mlcore.train.fit import check_items, fit
from mlcore.train.resume import CheckpointMirror

FoldProgress = Callable[[int, int, TrainProgress], None]  # (fold 0-based, -1: all; folds, progress)


@dataclass
class OutOfSample:
    probs: np.ndarray  # (N, K) float32; rows of nan for unreadable images
    labels: np.ndarray  # (N,) int64
    fold: np.ndarray  # (N,) int64: the fold that held the image out
    method: str
    cancelled: bool = False
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (position, reason)
    # (M, K) float32: the fold models' mean probabilities for `extra_items` (e.g. the test
    # split), so those images are scored by models of the same strength as the held-out
    # training images; None for the linear probe or without extra items
    extra_probs: np.ndarray | None = None


def fold_splits(
    labels: np.ndarray, *, folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified (train rows, held-out rows) pairs; every row is held out exactly once."""
    from sklearn.model_selection import StratifiedKFold

    if folds > len(labels):
        raise ValueError(f"cv_folds={folds} is more than the {len(labels)} images")
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    return list(skf.split(np.zeros(len(labels)), labels))


def out_of_sample_probs(
    config: TrainConfig,
    items: Sequence[Item],
    label_names: Sequence[str],
    *,
    work_dir: str | Path,
    progress: FoldProgress | None = None,
    should_cancel: Callable[[], bool] | None = None,
    s3: S3Options | None = None,
    extra_items: Sequence[Item] = (),
    mirror: CheckpointMirror | None = None,
) -> OutOfSample:
    """items: [(path or URI, label)] -> OutOfSample with probs (N, K) float32.

    Fold models checkpoint under work_dir/fold-<f>/, so an interrupted cross-fit resumes
    (from `mirror` too, as in fit()).
    With extra_items (kfold only), every fold model also predicts them and .extra_probs
    holds the mean (nan rows for unreadable images).
    """
    k = len(label_names)
    checked = check_items(items, k, "items")
    labels = np.array([y for _, y in checked], dtype=np.int64)
    splits = fold_splits(labels, folds=config.cv_folds, seed=config.seed)
    fold = np.full(len(checked), -1, dtype=np.int64)
    for f, (_, held) in enumerate(splits):
        fold[held] = f
    probs = np.full((len(checked), k), np.nan, dtype=np.float32)
    result = OutOfSample(probs, labels, fold, config.cv_method)
    if config.cv_method == "linear_probe":
        return _linear_probe(
            config,
            checked,
            k,
            splits,
            result,
            progress=progress,
            should_cancel=should_cancel,
            s3=s3,
        )

    fold_config = replace(config, epochs=config.cv_epochs or config.epochs)
    extra = list(extra_items)
    extra_sum = np.zeros((len(extra), k), dtype=np.float64)
    extra_seen = np.zeros(len(extra), dtype=np.int64)
    for f, (train_rows, held) in enumerate(splits):
        report = None
        if progress is not None:
            report = lambda p, f=f: progress(f, len(splits), p)  # noqa: E731
        trained = fit(
            replace(fold_config, seed=config.seed + f),
            [checked[i] for i in train_rows],
            label_names,
            out_dir=Path(work_dir) / f"fold-{f}",
            progress=report,
            should_cancel=should_cancel,
            s3=s3,
            mirror=mirror,
        )
        if trained.cancelled:
            result.cancelled = True
            return result
        out = predict_items(trained.model, [checked[i] for i in held], config=fold_config, s3=s3)
        probs[held[out.indices]] = out.probs
        result.skipped.extend((int(held[i]), reason) for i, reason in out.skipped)
        if extra:
            more = predict_items(trained.model, extra, config=fold_config, s3=s3)
            extra_sum[more.indices] += more.probs
            extra_seen[more.indices] += 1
    result.skipped.sort()
    if extra:
        with np.errstate(invalid="ignore", divide="ignore"):
            result.extra_probs = (extra_sum / extra_seen[:, None]).astype(np.float32)
        result.extra_probs[extra_seen == 0] = np.nan
    return result


def _linear_probe(
    config: TrainConfig,
    items: list[Item],
    k: int,
    splits: list[tuple[np.ndarray, np.ndarray]],
    result: OutOfSample,
    *,
    progress: FoldProgress | None,
    should_cancel: Callable[[], bool] | None,
    s3: S3Options | None,
) -> OutOfSample:
    """Progress: fold -1 while the features are computed (step = images done), then fold f
    (step 1 of 1) as each fold's regression is fitted. A cancel stops between batches and
    between folds."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    config.validate()  # the probe's backbone must never have seen these labels
    folds, start = len(splits), time.monotonic()

    def report(fold: int, step: int, steps: int, eta_s: float) -> None:
        if progress is not None:
            rate = step / max(time.monotonic() - start, 1e-6) if fold < 0 else 0.0
            progress(fold, folds, TrainProgress(1, 1, step, steps, float("nan"), rate, eta_s))

    def stop() -> bool:
        result.cancelled = result.cancelled or bool(should_cancel and should_cancel())
        return result.cancelled

    def on_batch(done: int) -> bool:
        left = (len(items) - done) * (time.monotonic() - start) / max(done, 1)
        report(-1, done, len(items), left)
        return stop()

    model = build_model(config, k).eval()
    out = predict_items(model, items, config=config, features=True, s3=s3, on_batch=on_batch)
    if stop():
        return result
    assert out.features is not None
    feats = np.full((len(items), out.features.shape[1]), np.nan, dtype=np.float32)
    feats[out.indices] = out.features
    ok = np.zeros(len(items), dtype=bool)
    ok[out.indices] = True
    fits_start = time.monotonic()
    for f, (train_rows, held) in enumerate(splits):
        if stop():
            return result
        train_rows, held = train_rows[ok[train_rows]], held[ok[held]]
        if len(held):
            scaler = StandardScaler().fit(feats[train_rows])
            clf = LogisticRegression(max_iter=1000, C=0.5)
            clf.fit(scaler.transform(feats[train_rows]), result.labels[train_rows])
            fold_probs = np.zeros((len(held), k), dtype=np.float32)
            fold_probs[:, clf.classes_] = clf.predict_proba(scaler.transform(feats[held]))
            result.probs[held] = fold_probs
        per_fold = (time.monotonic() - fits_start) / (f + 1)
        report(f, 1, 1, per_fold * (folds - f - 1))
    result.skipped = sorted(out.skipped)
    return result

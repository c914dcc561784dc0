"""Training: plain train_one_epoch / evaluate functions and fit(), the whole job."""

from mlcore.train.engine import (
    EpochStats,
    EvalOutput,
    TrainProgress,
    evaluate,
    train_one_epoch,
)
from mlcore.train.fit import CHECKPOINT_NAME, EpochRecord, FitResult, fit
from mlcore.train.loss import build_criterion, class_counts, class_weights

__all__ = [
    "CHECKPOINT_NAME",
    "EpochRecord",
    "EpochStats",
    "EvalOutput",
    "FitResult",
    "TrainProgress",
    "build_criterion",
    "class_counts",
    "class_weights",
    "evaluate",
    "fit",
    "train_one_epoch",
]

"""Cross-entropy with optional class weights from the training label counts."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from mlcore.config import TrainConfig


def class_counts(labels: Iterable[int], num_classes: int) -> np.ndarray:
    """labels -> (K,) int64 counts; ValueError for a label outside [0, K)."""
    array = np.fromiter(labels, dtype=np.int64)
    if array.size and (array.min() < 0 or array.max() >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes}); got {array.min()}..{array.max()}")
    return np.bincount(array, minlength=num_classes).astype(np.int64)


def class_weights(counts: np.ndarray, *, scheme: str, beta: float = 0.999) -> torch.Tensor:
    """counts: (K,) -> weights: (K,) float32.

    - "none": all ones.
    - "inverse": N / (K' n_c), K' = classes present (scikit-learn's "balanced").
    - "effective": 1 / E(n_c), E(n) = (1 - beta^n) / (1 - beta) (Cui et al. 2019,
      "Class-Balanced Loss Based on Effective Number of Samples"), scaled to sum to K'.
    A class with no training example never appears as a target; it gets weight 0 rather
    than an infinity that would turn the loss into nan.
    """
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    weights = np.zeros_like(counts)
    if scheme == "none":
        return torch.ones(len(counts), dtype=torch.float32)
    if not present.any():
        return torch.zeros(len(counts), dtype=torch.float32)
    k_present = int(present.sum())
    if scheme == "inverse":
        weights[present] = counts.sum() / (k_present * counts[present])
    elif scheme == "effective":
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        effective = (1.0 - np.power(beta, counts[present])) / (1.0 - beta)
        raw = 1.0 / effective
        weights[present] = raw * k_present / raw.sum()
    else:
        raise ValueError(f"unknown class weighting {scheme!r}; use none, inverse or effective")
    return torch.from_numpy(weights.astype(np.float32))


def build_criterion(config: TrainConfig, counts: np.ndarray) -> nn.CrossEntropyLoss:
    weight = None
    if config.class_weighting != "none":
        weight = class_weights(counts, scheme=config.class_weighting, beta=config.effective_beta)
    return nn.CrossEntropyLoss(weight=weight, label_smoothing=config.label_smoothing)

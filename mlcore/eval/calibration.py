"""Confidence calibration: temperature scaling, expected calibration error, reliability bins.

A model's softmax is usually over-confident. Temperature scaling (Guo et al. 2017) divides the
logits by one scalar T fitted by minimising the negative log-likelihood on held-out
predictions: it changes no prediction (argmax is kept) and only moves the confidence. We work
from stored probabilities, so log(probs) stands in for the logits (equal up to a per-row
constant, which softmax ignores).

Fit T on out-of-sample training predictions, never on the test split: the test split only
measures the result (ECE before and after).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.optimize import minimize_scalar

EPS = 1e-12
T_BOUNDS = (0.05, 20.0)  # a temperature outside this range means the fit has no signal
DEFAULT_BINS = 15


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """probs: (N, K) rows summing to 1 -> (N, K) float64, softmax(log(probs) / T)."""
    logits = np.log(np.clip(np.asarray(probs, dtype=np.float64), EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)  # (N, K), stable exp
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def negative_log_likelihood(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean -log p(label). probs: (N, K); labels: (N,) int in [0, K)."""
    picked = np.asarray(probs)[np.arange(len(labels)), labels]  # (N,)
    return float(-np.log(np.clip(picked, EPS, 1.0)).mean())


def fit_temperature(probs: np.ndarray, labels: np.ndarray) -> float:
    """The T > 0 that minimises the NLL of apply_temperature(probs, T) on (probs, labels).

    probs: (N, K) held-out probabilities; labels: (N,) the labels they are scored against.
    Returns 1.0 (no change) when there is nothing to fit on."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0 or np.asarray(probs).ndim != 2:
        return 1.0
    log_lo, log_hi = np.log(T_BOUNDS[0]), np.log(T_BOUNDS[1])
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(apply_temperature(probs, np.exp(log_t)), labels),
        bounds=(log_lo, log_hi),
        method="bounded",
        options={"xatol": 1e-4},
    )
    return float(np.exp(result.x))


@dataclass(frozen=True)
class ReliabilityBin:
    low: float  # confidence range [low, high)
    high: float
    count: int
    confidence: float  # mean top-1 confidence in the bin (0 when empty)
    accuracy: float  # share of the bin whose top-1 prediction is right (0 when empty)


def reliability_bins(
    probs: np.ndarray, labels: np.ndarray, *, bins: int = DEFAULT_BINS
) -> list[ReliabilityBin]:
    """Equal-width bins of top-1 confidence. probs: (N, K); labels: (N,)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    confidence = probs.max(axis=1) if len(probs) else np.zeros(0)  # (N,)
    correct = (probs.argmax(axis=1) == labels) if len(probs) else np.zeros(0, dtype=bool)
    return binned(confidence, correct, bins=bins)


def class_reliability_bins(
    probs: np.ndarray, labels: np.ndarray, *, label: int, bins: int = 10
) -> list[ReliabilityBin]:
    """One class, one-vs-rest: equal-width bins of every row's probability of `label`, each
    with the share of its rows whose label is `label` (in `accuracy`). probs: (N, K);
    labels: (N,)."""
    probs = np.asarray(probs, dtype=np.float64).reshape(len(labels), -1)
    p = probs[:, label] if len(probs) else np.zeros(0)  # (N,)
    return binned(p, np.asarray(labels) == label, bins=bins)


def binned(score: np.ndarray, hit: np.ndarray, *, bins: int) -> list[ReliabilityBin]:
    """Equal-width bins of `score` (N,) in [0, 1], each with its rows' mean score and the
    share of them that `hit` (N,) bool marks."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(score, edges[1:-1], right=False), 0, bins - 1)  # (N,)
    out = []
    for b in range(bins):
        inside = which == b
        n = int(inside.sum())
        out.append(
            ReliabilityBin(
                low=float(edges[b]),
                high=float(edges[b + 1]),
                count=n,
                confidence=float(score[inside].mean()) if n else 0.0,
                accuracy=float(hit[inside].mean()) if n else 0.0,
            )
        )
    return out


def expected_calibration_error(
    probs: np.ndarray, labels: np.ndarray, *, bins: int = DEFAULT_BINS
) -> float:
    """ECE: the count-weighted mean |accuracy - confidence| over reliability bins."""
    table = reliability_bins(probs, labels, bins=bins)
    total = sum(b.count for b in table)
    if not total:
        return 0.0
    return float(sum(b.count * abs(b.accuracy - b.confidence) for b in table) / total)


@dataclass(frozen=True)
class Calibration:
    """A run's temperature and what it does to the test split's calibration."""

    temperature: float
    fitted_on: int  # held-out (out-of-sample training) rows T was fitted on; 0: T = 1
    test_count: int
    ece_before: float
    ece_after: float
    nll_before: float
    nll_after: float
    bins_before: list[ReliabilityBin]
    bins_after: list[ReliabilityBin]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        fields = {**data}
        for key in ("bins_before", "bins_after"):
            fields[key] = [ReliabilityBin(**b) for b in data.get(key, [])]
        return cls(**fields)


def _known(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Drop rows without probabilities (NaN: unreadable, or not scored out of sample)."""
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if not len(labels):  # (0, K) can't be reshaped to (0, -1)
        return probs.reshape(0, probs.shape[-1] if probs.ndim == 2 else 0), labels
    probs = probs.reshape(len(labels), -1)
    keep = ~np.isnan(probs).any(axis=1) & (labels >= 0)  # (N,)
    return probs[keep], labels[keep]


def calibrate(
    *,
    fit_probs: np.ndarray,
    fit_labels: np.ndarray,
    test_probs: np.ndarray,
    test_labels: np.ndarray,
    bins: int = DEFAULT_BINS,
) -> Calibration:
    """Fit T on (fit_probs, fit_labels), held-out training predictions, and measure it on the
    test split. fit_probs: (N, K), test_probs: (M, K); labels: (N,), (M,) int."""
    fit_probs, fit_labels = _known(fit_probs, fit_labels)
    test_probs, test_labels = _known(test_probs, test_labels)
    temperature = fit_temperature(fit_probs, fit_labels) if len(fit_labels) else 1.0
    after = apply_temperature(test_probs, temperature) if len(test_labels) else test_probs
    return Calibration(
        temperature=round(temperature, 5),
        fitted_on=len(fit_labels),
        test_count=len(test_labels),
        ece_before=expected_calibration_error(test_probs, test_labels, bins=bins),
        ece_after=expected_calibration_error(after, test_labels, bins=bins),
        nll_before=negative_log_likelihood(test_probs, test_labels) if len(test_labels) else 0.0,
        nll_after=negative_log_likelihood(after, test_labels) if len(test_labels) else 0.0,
        bins_before=reliability_bins(test_probs, test_labels, bins=bins),
        bins_after=reliability_bins(after, test_labels, bins=bins),
    )

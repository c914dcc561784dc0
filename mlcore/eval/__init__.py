"""Evaluation: metrics, out-of-sample probabilities, label-issue ranking."""

from mlcore.eval.metrics import ClassMetrics, Metrics, compute_metrics

__all__ = ["ClassMetrics", "Metrics", "compute_metrics"]

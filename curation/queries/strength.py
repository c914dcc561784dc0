"""Whether a run's model is weak: its test accuracy not clearly above always answering the
commonest test label (the rule is mlcore.eval.strength's). One helper for every page, the
promote service, the review queue and the arrivals queue.

A run's Strength is computed once, from its test metrics when it finishes, and kept in
TrainingRun.strength: the QA pages read that small column, never the metrics."""

from __future__ import annotations

from typing import Any

from curation.models import TrainingRun
from mlcore.eval.strength import Strength, model_strength


def strength_of_metrics(metrics: dict[str, Any] | None) -> Strength | None:
    """The strength of a run's test metrics (mlcore Metrics.to_dict()), or None when they
    don't say (no per-class supports: a similarity run, or metrics of another shape)."""
    if not metrics or not metrics.get("per_class"):
        return None
    per_class = metrics["per_class"]
    supports = [int(c.get("support") or 0) for c in per_class]
    confusion = metrics.get("confusion")
    if confusion and len(confusion) == len(per_class):
        correct = sum(int(row[k]) for k, row in enumerate(confusion))
    else:
        correct = round(float(metrics.get("accuracy") or 0.0) * sum(supports))
    return model_strength(
        correct=min(correct, sum(supports)),
        supports=supports,
        names=[str(c.get("name", "")) for c in per_class],
    )


def run_strength(run: TrainingRun | None) -> Strength | None:
    """The kept strength of a succeeded classifier run, or None (nothing judged)."""
    if run is None or run.kind != TrainingRun.Kind.CLASSIFIER:
        return None
    if run.status != TrainingRun.Status.SUCCEEDED or not run.strength:
        return None
    return Strength(**run.strength)


def is_weak(run: TrainingRun | None) -> bool:
    """True only for a run known to be weak; an unjudged run is not called weak."""
    strength = run_strength(run)
    return strength is not None and strength.weak

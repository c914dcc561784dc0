"""Is a classifier clearly better than always answering the commonest label?

A model at chance level still ranks suspects and makes suggestions, and a page that shows
them without a word presents noise as authority. The rule: a run is *weak* when the lower
end of a 95% Wilson interval for its test accuracy does not clear the majority-class
baseline, the share of the test labels that the commonest label holds (what a model that
always answers it would score). With few test images the interval is wide, so a small test
split needs a clear margin before the run counts as better than the baseline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist


@dataclass(frozen=True)
class Strength:
    n: int  # test images
    correct: int  # of them predicted as labelled
    accuracy: float
    low: float  # Wilson interval for the accuracy, at `confidence`
    high: float
    baseline: float  # majority-class share of the test labels
    majority: str  # the commonest test label
    confidence: float
    weak: bool  # low <= baseline: the test split can't tell the model from the baseline

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def wilson_interval(correct: int, n: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided Wilson score interval for a proportion correct / n ((0, 1) when n is 0)."""
    if n <= 0:
        return 0.0, 1.0
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = correct / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def model_strength(
    *,
    correct: int,
    supports: Sequence[int],
    names: Sequence[str],
    confidence: float = 0.95,
) -> Strength:
    """supports: (K,) test images per true label, in the order of `names`; correct: how many
    test images the model predicted as labelled. An empty test split is weak."""
    if len(supports) != len(names):
        raise ValueError(f"supports ({len(supports)}) and names ({len(names)}) differ in length")
    n = int(sum(supports))
    if not 0 <= correct <= n:
        raise ValueError(f"correct must lie in [0, {n}], got {correct}")
    top = max(range(len(supports)), key=lambda k: supports[k]) if n else 0
    baseline = supports[top] / n if n else 1.0
    low, high = wilson_interval(correct, n, confidence=confidence)
    return Strength(
        n=n,
        correct=correct,
        accuracy=correct / n if n else 0.0,
        low=low,
        high=high,
        baseline=baseline,
        majority=str(names[top]) if names else "",
        confidence=confidence,
        weak=n == 0 or low <= baseline,
    )

"""A classifier run planned up front as phases of work units, and an ETA over all of them.

A work unit is one image through a training step; a forward pass alone (evaluation,
held-out prediction, features) costs PREDICT_COST of one. The plan covers the whole job
(training, the test evaluation, cross-fitting, scoring), so a run's ETA counts the folds
from its first step, and the same plan times a measured rate (units/s) estimates a run
before it starts. Plain arithmetic: no torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PREDICT_COST = 1 / 3  # a forward pass, without backward and optimizer step
SCORE_COST = 0.05  # ranking, calibration and writing one prediction row
FLOOR_S = 5.0  # seconds left at least, per phase still to come
ALPHA = 0.15  # EWMA weight of a new rate sample (about 1 s apart)
MIN_SAMPLE_S = 1.0  # shorter gaps are too noisy to measure a rate on


@dataclass(frozen=True)
class Phase:
    name: str
    units: float


@dataclass(frozen=True)
class Plan:
    phases: tuple[Phase, ...]
    config: dict[str, Any]
    n_train: int
    n_test: int

    @property
    def total(self) -> float:
        return sum(p.units for p in self.phases)

    def before(self, index: int) -> float:
        return sum(p.units for p in self.phases[:index])


def job_plan(config: dict[str, Any], *, n_train: int, n_test: int) -> Plan:
    """The phases of a classifier run with `config` (TrainConfig.to_dict) on these images."""
    folds = int(config.get("cv_folds") or 0)
    epochs = int(config.get("epochs") or 1)
    phases = [
        Phase("training", epochs * n_train),
        Phase("evaluating", n_test * PREDICT_COST),
    ]
    if folds >= 2 and config.get("cv_method") == "linear_probe":
        phases.append(Phase("cross-fitting", n_train * PREDICT_COST * 1.1))
    elif folds >= 2:
        trains, predicts = fold_units(config, n_train=n_train, n_test=n_test)
        phases.append(Phase("cross-fitting", folds * (trains + predicts)))
    phases.append(Phase("scoring", (n_train + n_test) * SCORE_COST))
    return Plan(tuple(phases), dict(config), n_train, n_test)


def fold_units(config: dict[str, Any], *, n_train: int, n_test: int) -> tuple[float, float]:
    """One k-fold model's units: (training on the other folds, predicting its held-out fold
    and the test split)."""
    folds = int(config["cv_folds"])
    fold_epochs = int(config.get("cv_epochs") or config.get("epochs") or 1)
    return fold_epochs * n_train * (folds - 1) / folds, (n_train / folds + n_test) * PREDICT_COST


def _fraction(epoch: Any, epochs: Any, step: Any, steps: Any) -> float:
    """Share of a training loop done (epoch 1-based, step of steps in it)."""
    if not epochs or not steps:
        return 0.0
    return min(1.0, (int(epoch or 1) - 1 + float(step or 0) / steps) / epochs)


def position(plan: Plan, progress: dict[str, Any]) -> tuple[int, float]:
    """(index of the phase under way, units done in all) for a run's progress dict."""
    phase = progress.get("phase")
    names = [p.name for p in plan.phases]
    if phase in ("ranking", "saving", "scoring"):
        return len(names) - 1, plan.before(len(names) - 1)
    if phase == "done":
        return len(names) - 1, plan.total
    if phase == "cross-fitting" and "cross-fitting" in names:
        at = names.index("cross-fitting")
        return at, plan.before(at) + plan.phases[at].units * _cv_fraction(plan, progress)
    if phase == "training":
        trained = _fraction(
            progress.get("epoch"),
            progress.get("epochs"),
            progress.get("step"),
            progress.get("steps"),
        )
        if trained >= 1.0:  # the last step is done: the test evaluation runs now
            return 1, plan.before(1)
        return 0, plan.phases[0].units * trained
    return 0, 0.0


def _cv_fraction(plan: Plan, p: dict[str, Any]) -> float:
    fold, folds = int(p.get("fold") or 0), int(p.get("folds") or plan.config.get("cv_folds") or 1)
    within = _fraction(
        p.get("fold_epoch"), p.get("fold_epochs"), p.get("fold_step"), p.get("fold_steps")
    )
    if plan.config.get("cv_method") == "linear_probe":  # fold 0: features; f: f fits done
        return 0.9 * within if fold == 0 else 0.9 + 0.1 * fold / folds
    if not fold:
        return 0.0
    trains, predicts = fold_units(plan.config, n_train=plan.n_train, n_test=plan.n_test)
    share = trains / (trains + predicts or 1)  # the rest: predicting once the fold is trained
    return min(1.0, (fold - 1 + share * within) / folds)


def eta_seconds(plan: Plan, index: int, done: float, rate: float | None) -> float | None:
    """Seconds left at `rate` units/s, never under FLOOR_S per phase still to come, so it
    can't read 0 before the last phase. None without a rate."""
    if not rate or rate <= 0:
        return None
    left = max(0.0, plan.total - done) / rate
    return max(left, FLOOR_S * (len(plan.phases) - 1 - index))


@dataclass
class Pace:
    """The measured rate in units/s, smoothed (EWMA over samples at least MIN_SAMPLE_S
    apart). `rate` may start from a prior (the last finished run's throughput); the first
    sample of an attempt only sets the baseline, so units a resume skipped don't count."""

    rate: float | None = None
    last_units: float | None = None
    last_time: float = 0.0
    first_units: float | None = None
    first_time: float = 0.0

    def update(self, units: float, now: float) -> None:
        if self.last_units is None:
            self.last_units = self.first_units = units
            self.last_time = self.first_time = now
            return
        dt = now - self.last_time
        if dt < MIN_SAMPLE_S:
            return
        sample = max(0.0, units - self.last_units) / dt
        self.rate = sample if self.rate is None else ALPHA * sample + (1 - ALPHA) * self.rate
        self.last_units, self.last_time = units, now

    def average(self) -> float | None:
        """Units/s over this attempt (what the next run's estimate starts from)."""
        if self.first_units is None or self.last_time - self.first_time < MIN_SAMPLE_S:
            return None
        return (float(self.last_units or 0) - self.first_units) / (self.last_time - self.first_time)

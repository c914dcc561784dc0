"""Training runs as the retrain form and the run page read them: the job's plan, the
throughput finished runs measured, a duration estimate before a run starts, and the runs
a queued run waits behind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet, Sum

from curation.models import Attribute, LabelTally, Split, TrainingRun
from mlcore.jobplan import Plan, job_plan

Status = TrainingRun.Status


def run_plan(run: TrainingRun) -> Plan:
    return job_plan(run.config or {}, n_train=run.train_count, n_test=run.test_count)


@dataclass(frozen=True)
class Throughput:
    units_per_s: float  # work units a second (mlcore/jobplan.py) over the run's last attempt
    run_id: int


def last_throughput(config: dict[str, Any]) -> Throughput | None:
    """What the latest finished classifier run of this architecture and image size
    measured, or None: no such run yet."""
    row = (
        TrainingRun.objects.filter(
            kind=TrainingRun.Kind.CLASSIFIER,
            status=Status.SUCCEEDED,
            config__arch=config.get("arch"),
            config__image_size=config.get("image_size"),
            progress__has_key="units_per_s",
        )
        .order_by("-finished_at", "-id")
        .values_list("id", "progress__units_per_s")
        .first()
    )
    if row is None or not row[1] or float(row[1]) <= 0:
        return None
    return Throughput(float(row[1]), row[0])


def labelled_counts(attribute: Attribute) -> tuple[int, int]:
    """(train, test) usable images labelled for the attribute, from the trigger-kept
    tallies: a run's snapshot, without counting the catalog."""
    rows = (
        LabelTally.objects.filter(attribute=attribute)
        .exclude(label_key=0)
        .values("split")
        .annotate(n=Sum("n"))
    )
    by_split = {row["split"]: int(row["n"]) for row in rows}
    return by_split.get(Split.TRAIN, 0), by_split.get(Split.TEST, 0)


@dataclass(frozen=True)
class Estimate:
    plan: Plan
    throughput: Throughput | None

    @property
    def seconds(self) -> float | None:
        if self.throughput is None:
            return None
        return self.plan.total / self.throughput.units_per_s

    @property
    def rows(self) -> list[tuple[str, str, float | None]]:
        """(phase, what it does, seconds or None) for each phase of the plan."""
        rate = self.throughput.units_per_s if self.throughput else None
        return [
            (p.name, phase_detail(self.plan, p.name), p.units / rate if rate else None)
            for p in self.plan.phases
        ]


def phase_detail(plan: Plan, name: str) -> str:
    config, n_train, n_test = plan.config, plan.n_train, plan.n_test
    if name == "training":
        return f"{config.get('epochs')} epochs × {n_train:,} training images"
    if name == "evaluating":
        return f"{n_test:,} test images"
    if name == "cross-fitting" and config.get("cv_method") == "linear_probe":
        return f"features of {n_train:,} images, then {config.get('cv_folds')} regressions"
    if name == "cross-fitting":
        folds = int(config.get("cv_folds") or 0)
        per_fold = n_train * (folds - 1) // max(folds, 1)
        epochs = config.get("cv_epochs") or config.get("epochs")
        return f"{folds} folds × {epochs} epochs × {per_fold:,} images, each predicting the rest"
    return f"ranking and storing {n_train + n_test:,} predictions"


def estimate_run(attribute: Attribute, config: dict[str, Any]) -> Estimate:
    """How long a run with `config` (build_config's) on the attribute's labels would take,
    at the pace the last finished run of its architecture and size kept."""
    n_train, n_test = labelled_counts(attribute)
    return Estimate(job_plan(config, n_train=n_train, n_test=n_test), last_throughput(config))


def runs_ahead(run: TrainingRun, among: QuerySet[TrainingRun]) -> list[TrainingRun]:
    """The runs a queued run waits behind on the train queue (both kinds share it): the
    running ones and those queued before it, oldest first; from `among` (the runs the
    user may see)."""
    if run.status != Status.QUEUED:
        return []
    earlier = Q(created_at__lt=run.created_at) | Q(created_at=run.created_at, id__lt=run.pk)
    return list(
        among.filter(Q(status=Status.RUNNING) | Q(earlier, status=Status.QUEUED))
        .exclude(pk=run.pk)
        .select_related("attribute")
        .defer(*TrainingRun.HEAVY_FIELDS)
        .order_by("created_at", "id")[:20]
    )

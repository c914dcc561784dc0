"""Per-run aggregates for the QA pages: confusion counts per split, computed once when a run
finishes (or on first view of an older run), so dashboards never count the catalog."""

from __future__ import annotations

from django.db.models import Count, F

from curation.models import Label, RunImage, TrainingRun


def run_label_ids(run: TrainingRun) -> list[int]:
    """The run's labels as ids, in the run's order (run.label_names)."""
    assert run.attribute_id is not None, "a classifier run has an attribute"
    by_name = dict(
        Label.objects.filter(attribute_id=run.attribute_id, name__in=run.label_names).values_list(
            "name", "id"
        )
    )
    return [by_name[name] for name in run.label_names]


def refresh_run_aggregates(run: TrainingRun) -> dict:
    """Count (split, given, predicted) over the run's rows and store them on the run.

    Stored shape: {"label_ids": [...], "splits": {"test": {"confusion": K×K, "unscored": n},
    "train": {...}}} with rows = given label, columns = predicted label, in label_ids order.
    """
    label_ids = run_label_ids(run)
    index = {label_id: i for i, label_id in enumerate(label_ids)}
    k = len(label_ids)
    splits: dict[str, dict] = {}
    rows = (
        RunImage.objects.filter(run=run)
        .values_list("split", "given_label_id", "predicted_label_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    for split, given, predicted, n in rows:
        entry = splits.setdefault(split, {"confusion": [[0] * k for _ in range(k)], "unscored": 0})
        if predicted is None or given not in index or predicted not in index:
            entry["unscored"] += n
        else:
            entry["confusion"][index[given]][index[predicted]] += n
    aggregates = {"label_ids": label_ids, "splits": splits}
    TrainingRun.objects.filter(pk=run.pk).update(aggregates=aggregates)
    run.aggregates = aggregates
    return aggregates


def mark_errors(run: TrainingRun) -> int:
    """Set RunImage.is_error (given != predicted) for the run's scored rows."""
    scored = RunImage.objects.filter(run=run).exclude(predicted_label=None)
    scored.update(is_error=False)
    return scored.exclude(predicted_label=F("given_label")).update(is_error=True)

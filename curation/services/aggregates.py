"""Per-run aggregates for the QA pages: confusion counts per split, computed once when a run
finishes (or on first view of an older run), so dashboards never count the catalog."""

from __future__ import annotations

from django.db.models import F

from curation.models import RunImage, TrainingRun
from curation.queries.quality import count_run_aggregates


def refresh_run_aggregates(run: TrainingRun) -> dict:
    """Count (split, given, predicted) over the run's rows and store them on the run.
    Called when a run finishes and when a relabel changes what a run's rows count."""
    aggregates = count_run_aggregates(run)
    TrainingRun.objects.filter(pk=run.pk).update(aggregates=aggregates)
    run.aggregates = aggregates
    return aggregates


def mark_errors(run: TrainingRun) -> int:
    """Set RunImage.is_error (given != predicted) for the run's scored rows."""
    scored = RunImage.objects.filter(run=run).exclude(predicted_label=None)
    scored.update(is_error=False)
    return scored.exclude(predicted_label=F("given_label")).update(is_error=True)

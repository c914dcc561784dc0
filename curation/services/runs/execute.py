"""The task's body for a training run of either kind, idempotently: claim the delivery, keep
the heartbeat, and hand the run to its kind's worker (classifier_worker, similarity_worker).

- A delivery for a finished run does nothing. A delivery for a run another live worker is
  running (fresh heartbeat) does nothing. A delivery for a run whose worker died (stale
  heartbeat) takes it over and resumes from the last checkpoint (mlcore.fit resume=True).
- Cancel is checked before every training step; the last checkpoint is kept.
- Predictions, suspects and metrics are written in one transaction at the end, so a run has
  exactly one set, however many times it was delivered.
"""

from __future__ import annotations

import logging

from curation.models import TrainingRun
from curation.services.job_rows import error_text
from curation.services.runs.classifier_worker import train_classifier
from curation.services.runs.similarity_worker import train_similarity
from curation.services.runs.worker import Heartbeat, claim_run, finish_run

log = logging.getLogger(__name__)
Status = TrainingRun.Status


def execute_training_run(run_id: int) -> str:
    """Run (or resume, or skip) a training run. Returns what happened, for logs and tests."""
    run = TrainingRun.objects.filter(pk=run_id).select_related("dataset", "attribute").first()
    if run is None:
        return "missing"
    if run.status in TrainingRun.FINISHED:
        return "already finished"
    if not claim_run(run_id):
        return "running elsewhere"
    with Heartbeat(run_id):
        try:
            run = TrainingRun.objects.select_related("dataset", "attribute").get(pk=run_id)
            if run.kind == TrainingRun.Kind.SIMILARITY:
                return train_similarity(run)
            return train_classifier(run)
        except Exception as exc:
            log.exception("training run %s failed", run_id)
            error = error_text(exc)
            finish_run(run_id, Status.FAILED, error=error, failed_phase=current_phase(run_id))
            return "failed"


def current_phase(run_id: int) -> str:
    """The phase the run's progress was in: where a failure stopped it."""
    progress = TrainingRun.objects.filter(pk=run_id).values_list("progress", flat=True).first()
    return str((progress or {}).get("phase") or "starting")[:20]

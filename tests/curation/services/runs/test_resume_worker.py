"""Resume after cancel on a real Celery worker process and Redis broker: the API re-queues
the cancelled run and the worker continues from its checkpoint, not from epoch 1."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from rest_framework.test import APIClient

from curation.models import TrainingRun
from curation.services.runs.classifier_start import start_training_run
from curation.services.runs.control import cancel_training_run
from tests.support.training import FAST_OPTIONS, import_colours
from tests.support.workers import wait_for

pytestmark = [pytest.mark.redis, pytest.mark.slow]


@pytest.mark.django_db(transaction=True)
def test_a_cancelled_run_resumed_through_the_api_continues_from_its_checkpoint(
    workers, tmp_path, data_scientist
):
    dataset = import_colours(tmp_path)
    workers.start()
    options = {**FAST_OPTIONS, "epochs": 6, "batch_size": 2, "progress_every": 1}
    run = start_training_run(
        dataset=dataset,
        attribute=dataset.attributes.get(name="colour"),
        options=options,
        actor=data_scientist,
    )
    checkpoint = Path(workers.env["CURATION_RUNS_DIR"]) / str(run.pk) / "model" / "checkpoint.pt"
    deadline = time.monotonic() + 180
    while not checkpoint.exists():  # epoch 1 is done
        assert time.monotonic() < deadline, f"no checkpoint after 180 s\n{workers.logs()}"
        time.sleep(0.05)
    cancel_training_run(run=run, actor=data_scientist)

    def status_is(*wanted):
        def check():
            run.refresh_from_db()
            return run.status in wanted

        return check

    wait_for(status_is("cancelled"), 60, "the run to stop", workers, watch=run)
    client = APIClient()
    client.force_authenticate(data_scientist)

    response = client.post(f"/api/runs/{run.pk}/resume/")

    assert response.status_code == 202, response.json()
    wait_for(status_is(*TrainingRun.FINISHED), 300, "the resumed run", workers, watch=run)
    assert run.status == "succeeded", (run.error, workers.logs())
    assert run.attempts == 2 and run.progress["resumed_after"] == "cancelled"
    assert run.progress["first_epoch_of_attempt"] >= 2  # not from scratch
    assert run.metrics["n"] == run.test_count

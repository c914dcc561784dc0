"""Honest runs: an ETA over the whole job, the form's estimate, one run per idempotency key,
and the runs a queued run waits behind."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from curation.models import TrainingRun
from curation.queries.runs import last_throughput, run_plan
from curation.services.runs.classifier_start import start_training_run
from curation.services.runs.execute import execute_training_run
from curation.services.runs.worker import Reporter
from mlcore.jobplan import FLOOR_S
from tests.support.training import FAST_OPTIONS, import_colours

pytestmark = pytest.mark.django_db
RETRAIN = "/datasets/colours/attributes/colour/retrain/"


@pytest.fixture
def colours(tmp_path, settings):
    settings.CURATION_RUNS_DIR = tmp_path / "runs"
    dataset = import_colours(tmp_path)
    return dataset, dataset.attributes.get(name="colour")


def _measured(attribute, units_per_s: float) -> TrainingRun:
    """A finished run of FAST_OPTIONS' architecture and size that kept this pace."""
    return TrainingRun.objects.create(
        dataset_id=attribute.dataset_id,
        attribute=attribute,
        config={"arch": FAST_OPTIONS["arch"], "image_size": FAST_OPTIONS["image_size"]},
        label_names=["red", "blue"],
        status=TrainingRun.Status.SUCCEEDED,
        progress={"phase": "done", "units_per_s": units_per_s},
        finished_at=timezone.now(),
    )


def _form(**extra):
    return {
        **{k: FAST_OPTIONS[k] for k in ("arch", "epochs", "image_size", "cv_folds", "cv_epochs")},
        "class_weighting": "none",
        "devices": "1",
        **extra,
    }


@pytest.mark.slow  # a real run, ~40 s on the loaded box
def test_the_eta_covers_every_phase_from_the_first_step_and_never_reads_0_before_scoring(
    colours, data_scientist, monkeypatch
):
    dataset, attribute = colours
    _measured(attribute, 40.0)
    run = start_training_run(
        dataset=dataset,
        attribute=attribute,
        options={**FAST_OPTIONS, "progress_every": 1},
        actor=data_scientist,
    )
    seen: list[dict] = []
    write = Reporter._write

    def recording(self, force=False):
        before = self.last_write
        write(self, force)
        if self.last_write != before:
            seen.append(dict(self.progress))

    monkeypatch.setattr(Reporter, "_write", recording)
    assert execute_training_run(run.pk) == "succeeded"

    stages = [p["stage"] for p in seen]
    assert stages[0] == "training" and "cross-fitting" in stages and stages[-1] == "scoring"
    plan = run_plan(run)
    first = next(p for p in seen if p.get("step"))
    # From the first step, at the earlier run's pace, the ETA counts the folds too.
    assert first["eta_s"] > plan.phases[0].units / 40.0
    for p in seen:
        assert p["eta_s"] is not None, p
        if p["stage"] != "scoring":
            assert p["eta_s"] >= FLOOR_S, p
    percents = [p["percent"] for p in seen]
    assert percents == sorted(percents) and percents[-1] < 100
    assert any(p.get("fold_loss") for p in seen if p["stage"] == "cross-fitting")
    run.refresh_from_db()
    assert run.progress["units_per_s"] > 0
    assert last_throughput(run.config).run_id == run.pk  # the next estimate starts from it


def test_the_form_estimates_from_the_last_measured_pace_or_says_there_is_none(
    colours, data_scientist, client
):
    _, attribute = colours
    client.force_login(data_scientist)
    estimate = RETRAIN + "estimate/"
    none_yet = client.get(estimate, _form())
    assert none_yet.status_code == 200 and "No measurement yet" in none_yet.content.decode()
    measured = _measured(attribute, 2.0)
    page = client.get(estimate, _form()).content.decode()
    assert "About" in page and f"#{measured.pk}" in page and "cross-fitting" in page
    longer = client.get(estimate, _form(cv_epochs=20)).content.decode()
    assert longer != page
    bad = client.get(estimate, _form(epochs="x"))
    assert bad.status_code == 400 and "epochs" in bad.content.decode()
    assert "Estimate" in client.get(RETRAIN).content.decode()


def test_a_double_submit_of_the_form_starts_one_run(colours, data_scientist, client):
    client.force_login(data_scientist)
    html = client.get(RETRAIN).content.decode()
    assert 'name="idempotency_key"' in html
    first = client.post(RETRAIN, _form(idempotency_key="k-1"))
    again = client.post(RETRAIN, _form(idempotency_key="k-1"))
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"]
    assert TrainingRun.objects.count() == 1
    assert client.post(RETRAIN, _form(idempotency_key="k-2")).status_code == 302
    assert TrainingRun.objects.count() == 2


def test_a_repeated_idempotency_key_on_the_api_returns_the_first_run(colours, data_scientist):
    client = APIClient()
    client.force_authenticate(data_scientist)
    body = {"dataset": "colours", "attribute": "colour", "options": FAST_OPTIONS}
    first = client.post("/api/runs/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    again = client.post("/api/runs/", body, format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json() == again.json() and first["Location"] == again["Location"]
    assert TrainingRun.objects.count() == 1
    bad = client.post("/api/runs/", body, format="json", HTTP_IDEMPOTENCY_KEY="no spaces")
    assert bad.status_code == 400 and "Idempotency-Key" in bad.json()
    similar = {"dataset": "colours", "kind": "similarity"}
    reused = client.post("/api/runs/", similar, format="json", HTTP_IDEMPOTENCY_KEY="abc-1")
    assert reused.status_code == 409 and "another" in reused.json()["detail"]
    assert client.post("/api/runs/", body, format="json").status_code == 202
    assert TrainingRun.objects.count() == 2


def test_a_queued_run_lists_the_runs_ahead_of_it(colours, data_scientist, client):
    dataset, attribute = colours
    runs = [
        start_training_run(
            dataset=dataset, attribute=attribute, options=FAST_OPTIONS, actor=data_scientist
        )
        for _ in range(3)
    ]
    TrainingRun.objects.filter(pk=runs[0].pk).update(status=TrainingRun.Status.RUNNING)
    client.force_login(data_scientist)
    last = client.get(runs[2].get_absolute_url()).content.decode()
    assert "Ahead of it on the queue" in last
    for ahead in runs[:2]:
        assert f'href="{ahead.get_absolute_url()}"' in last
    second = client.get(runs[1].get_absolute_url()).content.decode()
    assert f'href="{runs[0].get_absolute_url()}"' in second
    assert f'href="{runs[2].get_absolute_url()}"' not in second
    TrainingRun.objects.filter(pk=runs[0].pk).update(status=TrainingRun.Status.SUCCEEDED)
    polled = client.get(
        runs[1].get_absolute_url(), headers={"HX-Request": "true", "HX-Target": "run-progress"}
    )
    assert "Nothing ahead of it" in polled.content.decode()

"""The done-when of scoring: a real `celery worker -Q train` process (Redis broker) trains and
promotes a tiny model, then an import of 1,000 new, unlabelled images gives each of them a
score from that model, without a retrain. A job whose worker is killed goes on, on the next
worker, from the images it had not stored."""

from __future__ import annotations

import os
import signal
import time

import pytest

from curation.models import Dataset, Image, ImageScore, ScoringJob, TrainingRun
from curation.services import scoring
from curation.services.imports import import_catalog
from curation.services.runs.classifier_start import start_training_run
from curation.services.runs.control import promote_training_run
from tests.support.broker import real_broker
from tests.support.scoring import promote_tiny_model, write_arrivals
from tests.support.training import FAST_OPTIONS, write_two_colour_catalog
from tests.support.workers import STALE_SECONDS, wait_for, worker_pool

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ARRIVALS = 1000
KILLED_ARRIVALS = 2500  # the first chunk (1,024) stored, then the kill, then the rest


@pytest.fixture
def workers(redis_url, tmp_path, settings):
    with real_broker(redis_url):
        yield from worker_pool(redis_url, tmp_path, settings)


def test_an_import_of_new_arrivals_is_scored_by_the_promoted_model_on_a_worker(
    workers, tmp_path, data_scientist
):
    import_catalog(str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="c", create=True)
    dataset = Dataset.objects.get(name="c")
    attribute = dataset.attributes.get(name="colour")
    workers.start("train")  # CURATION_SCORE_QUEUE's default
    run = start_training_run(
        dataset=dataset, attribute=attribute, options=FAST_OPTIONS, actor=data_scientist
    )

    def trained():
        run.refresh_from_db()
        return run.status in TrainingRun.FINISHED

    wait_for(trained, 300, "the tiny run to finish", workers, watch=run)
    assert run.status == "succeeded", (run.error, workers.logs())
    promote_training_run(run=run, actor=data_scientist)  # a job with nothing to score

    report = import_catalog(str(write_arrivals(tmp_path / "new", ARRIVALS)), dataset_name="c")
    assert report.created == ARRIVALS, report.to_dict()
    job = ScoringJob.objects.filter(reason="import").get()

    def finished():
        job.refresh_from_db()
        return job.status not in ScoringJob.ACTIVE

    wait_for(finished, 600, "the import's scoring job to finish", workers, watch=job)
    assert job.status == "succeeded", (job.error, workers.logs())
    assert (job.done, job.total, job.run_id) == (ARRIVALS, ARRIVALS, run.pk)
    arrivals = Image.objects.filter(dataset=dataset, source_path__startswith="new/")
    scored = ImageScore.objects.filter(run=run, image__in=arrivals)
    assert scored.count() == ARRIVALS == arrivals.count()
    assert TrainingRun.objects.count() == 1  # scores came without a retrain
    # The model learnt reddish vs bluish: its scores of the arrivals say so.
    red = scored.filter(image__source_path__regex=r"[13579]\.png$")
    assert red.filter(predicted_label__name="red").count() > 0.8 * red.count()
    assert ScoringJob.objects.get(reason="promote").total == 0  # the run's images not re-scored


def test_a_job_whose_worker_is_killed_goes_on_where_it_stopped_on_the_next_worker(
    workers, tmp_path, data_scientist
):
    import_catalog(str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="c", create=True)
    attribute = Dataset.objects.get(name="c").attributes.get(name="colour")
    run = promote_tiny_model(attribute)
    workers.env["CURATION_SCORE_BATCH_SIZE"] = "1"  # slow enough to be killed mid-job
    first = workers.start("train")
    import_catalog(str(write_arrivals(tmp_path / "new", KILLED_ARRIVALS)), dataset_name="c")
    job = ScoringJob.objects.get(reason="import")

    def first_chunk_stored():
        job.refresh_from_db()
        return job.done >= scoring.CHUNK

    wait_for(first_chunk_stored, 300, "the first chunk to be stored", workers, watch=job)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    job.refresh_from_db()
    assert job.status == "running" and job.done < KILLED_ARRIVALS, "finished before the kill"
    stored_before = set(ImageScore.objects.values_list("id", flat=True))
    time.sleep(STALE_SECONDS + 1)  # the dead worker's heartbeat goes stale
    workers.env["CURATION_SCORE_BATCH_SIZE"] = "128"
    workers.start("train")  # re-queues the job when it is ready

    def finished():
        job.refresh_from_db()
        return job.status not in ScoringJob.ACTIVE

    wait_for(finished, 300, "the job to finish on the second worker", workers, watch=job)
    assert job.status == "succeeded", (job.error, workers.logs())
    assert job.done == job.total == KILLED_ARRIVALS
    assert ImageScore.objects.filter(run=run).count() == KILLED_ARRIVALS
    assert stored_before <= set(ImageScore.objects.values_list("id", flat=True))  # kept, not redone
    assert "re-queued orphaned scoring jobs" in workers.logs()

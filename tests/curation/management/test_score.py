"""manage.py score: in-process by default, --queue hands it to a worker; clear refusals."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from curation.models import Dataset, ImageScore, ScoringJob
from curation.services.imports import import_catalog
from tests.support.scoring import promote_tiny_model, write_arrivals
from tests.support.training import write_two_colour_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def colours(tmp_path, data_scientist):
    import_catalog(str(write_two_colour_catalog(tmp_path / "cat")), dataset_name="c", create=True)
    return Dataset.objects.get(name="c").attributes.get(name="colour")


def test_score_runs_the_job_here_and_reports_what_it_stored(tmp_path, colours, data_scientist):
    run = promote_tiny_model(colours)
    import_catalog(str(write_arrivals(tmp_path / "new", 7)), dataset_name="c")
    ScoringJob.objects.all().delete()  # the import's job, never delivered outside a commit
    out = StringIO()
    call_command("score", dataset="c", user=data_scientist.username, stdout=out, stderr=StringIO())
    assert f"colour: job {ScoringJob.objects.get().pk} succeeded, 7 scored" in out.getvalue()
    assert ImageScore.objects.filter(run=run).count() == 7


def test_score_with_queue_leaves_the_job_to_a_worker(tmp_path, colours, data_scientist):
    promote_tiny_model(colours)
    out = StringIO()
    call_command("score", dataset="c", attribute="colour", queue=True, user="dana_ds", stdout=out)
    job = ScoringJob.objects.get()
    assert out.getvalue().strip() == f"colour: queued scoring job {job.pk}"
    assert (job.status, job.reason) == ("queued", "command")  # published after commit


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"dataset": "nope"}, "dataset 'nope' does not exist"),
        ({"dataset": "c", "attribute": "size"}, "no attribute 'size' (has: colour)"),
        ({"dataset": "c"}, "has no promoted model"),
        ({"dataset": "c", "attribute": "colour"}, "'colour' has no promoted model"),
        ({"dataset": "c", "user": "nobody"}, "no user 'nobody'"),
    ],
)
def test_score_refuses_with_a_reason(colours, options, words):
    with pytest.raises(CommandError, match=words.replace("(", r"\(").replace(")", r"\)")):
        call_command("score", **{"user": "dana_ds", **options})


def test_score_as_a_merchandiser_is_refused(colours, merchandiser):
    promote_tiny_model(colours)
    with pytest.raises(CommandError, match="max_merch.*score images"):
        call_command("score", dataset="c", user="max_merch")

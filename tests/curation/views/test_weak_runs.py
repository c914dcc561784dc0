"""Weak runs (test accuracy not clearly above always answering the commonest test label):
marked on the run page, the quality page and the review queue; Promote needs confirm_weak
on the page and in the API; the arrivals queue offers no bulk accept of a weak model."""

from __future__ import annotations

import pytest
from django.urls import reverse

from curation.models import Annotation, PromotedModel, ReviewItem
from curation.services.runs.control import WeakRunError, promote_training_run
from mlcore.config import TrainConfig
from mlcore.eval.strength import model_strength
from tests.support.arrivals import three_scored_arrivals
from tests.support.runs import finished_run

DECIDE = "/datasets/dresses/attributes/neckline/arrivals/decide/"


def judged(run, *, correct: int, supports: list[int]):
    """The run as the worker leaves it, with a strength of `correct` of sum(supports)."""
    strength = model_strength(correct=correct, supports=supports, names=run.label_names)
    run.strength = strength.to_dict()
    run.config = TrainConfig(arch="resnet18").to_dict()  # the whole config, as a real run's
    run.save(update_fields=["strength", "config"])
    return run


@pytest.fixture
def weak_run(neckline):
    # the necklines: 43 of 180 test images right, 60 of them 'round'
    first = Annotation.objects.filter(attribute=neckline).order_by("image_id").first()
    run = finished_run(neckline, wrong={first.image_id})
    return judged(run, correct=43, supports=[60, 60, 60])


def test_the_run_page_marks_a_weak_run_with_its_figures(client, viewer, weak_run):
    client.force_login(viewer)

    html = client.get(weak_run.get_absolute_url()).content.decode()

    assert 'class="badge weak">weak model' in html
    assert "test accuracy 23.9%" in html
    assert "against 33.3%, the share of round in the test labels" in html


def test_a_strong_run_has_no_weak_mark(client, viewer, neckline):
    run = judged(finished_run(neckline), correct=170, supports=[60, 60, 60])
    client.force_login(viewer)

    assert "weak model" not in client.get(run.get_absolute_url()).content.decode()


def test_promote_of_a_weak_run_needs_the_confirm_box(client, data_scientist, weak_run):
    client.force_login(data_scientist)
    url = reverse("curation:run_promote", args=[weak_run.pk])
    page = client.get(weak_run.get_absolute_url()).content.decode()
    assert 'name="confirm_weak"' in page

    refused = client.post(url, follow=True).content.decode()

    assert not PromotedModel.objects.exists()
    assert "Not promoted: run" in refused and "is a weak model" in refused
    client.post(url, {"confirm_weak": "1"})
    assert PromotedModel.objects.get().run_id == weak_run.pk


def test_the_service_refuses_a_weak_run_without_confirm_weak(data_scientist, weak_run):
    with pytest.raises(WeakRunError, match="confirm_weak"):
        promote_training_run(run=weak_run, actor=data_scientist)
    promote_training_run(run=weak_run, actor=data_scientist, confirm_weak=True)
    assert PromotedModel.objects.get().run_id == weak_run.pk


def test_the_api_answers_409_naming_confirm_weak(client, data_scientist, weak_run):
    client.force_login(data_scientist)
    url = reverse("api-run-promote", args=[weak_run.pk])

    refused = client.post(url, {}, content_type="application/json")

    assert refused.status_code == 409
    assert "confirm_weak" in refused.json()
    assert not PromotedModel.objects.exists()
    bad = client.post(url, {"confirm_weak": "maybe"}, content_type="application/json")
    assert bad.status_code == 400 and "confirm_weak" in bad.json()
    done = client.post(url, {"confirm_weak": True}, content_type="application/json")
    assert done.status_code == 200 and done.json()["strength"]["weak"] is True


def test_the_quality_page_and_the_review_queue_mark_the_weak_run(client, viewer, weak_run):
    client.force_login(viewer)
    for name in ("quality", "review"):
        url = reverse(f"curation:{name}", args=["dresses", "neckline"]) + f"?run={weak_run.pk}"
        html = client.get(url).content.decode()
        assert 'id="weak-model"' in html, name


def test_a_weak_runs_empty_queue_says_why_and_queues_on_request(client, data_scientist, weak_run):
    ReviewItem.objects.filter(run=weak_run).delete()  # as the worker leaves a weak run
    client.force_login(data_scientist)
    review = reverse("curation:review", args=["dresses", "neckline"])

    html = client.get(review).content.decode()

    assert "is a weak model, so its suspects were not queued" in html
    more = reverse("curation:review_more", args=["dresses", "neckline"])
    client.post(more, {"run": weak_run.pk})
    assert ReviewItem.objects.filter(run=weak_run).exists()


def test_arrivals_of_a_weak_model_are_accepted_one_at_a_time(
    client, merchandiser, neckline, tmp_path
):
    run, images = three_scored_arrivals(neckline, tmp_path / "arrivals")
    judged(run, correct=43, supports=[60, 60, 60])
    client.force_login(merchandiser)
    queue = reverse("curation:arrivals", args=["dresses", "neckline"])

    html = client.get(queue).content.decode()

    assert 'id="arrivals-weak"' in html and "Accept all on this page" not in html
    ids = [str(im.pk) for im in images]
    bulk = client.post(DECIDE, {"accept": "page", "page_image": ids}, follow=True).content.decode()
    assert "accept its suggestions one image at a time" in bulk
    client.post(DECIDE, {"accept": "one", "image": ids[0]})
    labelled = Annotation.objects.filter(attribute=neckline, label__isnull=False, image_id__in=ids)
    assert list(labelled.values_list("image_id", flat=True)) == [images[0].pk]

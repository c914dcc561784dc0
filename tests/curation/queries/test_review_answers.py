"""The wrong labels left, learned from the reviewers' answers: votes that keep or change a
label, and relabels that name the run."""

from __future__ import annotations

import numpy as np
import pytest
from rest_framework.test import APIClient

from curation.models import Annotation, Label, LabelSource, ReviewItem, RunImage, TrainingRun
from curation.queries.quality import wrong_labels_left
from curation.queries.review_answers import SPOT_CHECKS, answers, spot_checks
from curation.services.labels import relabel_image
from curation.services.reviews import cast_vote, queue_spot_checks, queue_suspects
from tests.support.auto_accept import _images

pytestmark = pytest.mark.django_db
NAMES = ["round", "v-neck"]


def _noisy_run(seed: int = 3, n: int = 2000):
    """A run over n images (a fifth test) whose label qualities follow the logistic model
    mlcore fits: a label of quality q is wrong with probability sigmoid(-1 - 1.5 logit q).
    Returns the run and, by image id, the label that is right."""
    from curation.models import Attribute, Dataset

    rng = np.random.default_rng(seed)
    dataset = Dataset.objects.create(name="noisy")
    attribute = Attribute.objects.create(dataset=dataset, name="neckline")
    labels = [
        Label.objects.create(attribute=attribute, name=m, position=i) for i, m in enumerate(NAMES)
    ]
    images = _images(dataset, "train", n * 4 // 5) + _images(dataset, "test", n // 5, split="test")
    quality = rng.beta(0.6, 0.3, n).clip(1e-4, 1 - 1e-4)
    logit = np.log(quality / (1 - quality))
    wrong = rng.random(n) < 1 / (1 + np.exp(1 + 1.5 * logit))
    right = rng.integers(0, 2, n)
    given = np.where(wrong, 1 - right, right)
    run = TrainingRun.objects.create(
        dataset=dataset,
        attribute=attribute,
        config={"arch": "resnet18"},
        label_names=NAMES,
        status=TrainingRun.Status.SUCCEEDED,
        metrics={"wrong_labels": {"train": {"round": 40.0}, "test": {"round": 10.0}}},
    )
    order = np.argsort(quality, kind="stable")
    review_rank = np.empty(n, dtype=int)
    review_rank[order] = np.arange(1, n + 1)
    Annotation.objects.bulk_create(
        Annotation(
            image=image, attribute=attribute, label=labels[g], last_source=LabelSource.IMPORT
        )
        for image, g in zip(images, given, strict=True)
    )
    RunImage.objects.bulk_create(
        RunImage(
            run=run,
            image=image,
            split=image.split,
            given_label=labels[g],
            predicted_label=labels[1 - g] if q < 0.5 else labels[g],
            confidence=max(q, 1 - q),
            probs=[q, 1 - q] if g == 0 else [1 - q, q],
            quality=float(q),
            review_rank=int(r),
        )
        for image, g, q, r in zip(images, given, quality, review_rank, strict=True)
    )
    queue_suspects(run=run, limit=200)
    truth = {image.pk: labels[r] for image, r in zip(images, right, strict=True)}
    return run, truth


def _answer(items, truth, expert):
    """An expert's vote on each item, for its right label: kept or changed at once."""
    for item in items:
        cast_vote(item=item, label=truth[item.image_id], reviewer=expert)


def test_until_the_spot_checks_are_answered_the_run_s_own_estimate_stands(data_scientist):
    run, truth = _noisy_run()
    _answer(ReviewItem.objects.filter(run=run).order_by("rank")[:20], truth, data_scientist)
    wrong = wrong_labels_left(run)
    assert wrong is not None and wrong.learned is None
    assert wrong.left == pytest.approx(50.0 - wrong.fixed) and 0 < wrong.fixed <= 20


def test_answered_spot_checks_count_what_is_left(data_scientist):
    run, truth = _noisy_run()
    given = dict(
        Annotation.objects.filter(image__dataset=run.dataset).values_list("image_id", "label_id")
    )
    _answer(ReviewItem.objects.filter(run=run).order_by("rank"), truth, data_scientist)
    spots = spot_checks(run)
    assert len(spots) == SPOT_CHECKS and len(set(spots)) == SPOT_CHECKS
    queued = set(ReviewItem.objects.filter(run=run).values_list("image_id", flat=True))
    assert queue_spot_checks(run=run) == len(set(spots) - queued)
    assert queue_spot_checks(run=run) == 0  # idempotent
    open_spots = ReviewItem.objects.filter(run=run, image_id__in=spots, status="open")
    _answer(open_spots.order_by("image_id")[:120], truth, data_scientist)  # as good as random
    # One more answer from a gallery fix that names the run, past the queue.
    beyond = next(
        row
        for row in RunImage.objects.filter(run=run, review_rank__gt=1000).select_related("image")
        if given[row.image_id] != truth[row.image_id].pk and row.image_id not in spots
    )
    relabel_image(
        image=beyond.image,
        attribute=run.attribute,
        label=truth[beyond.image_id],
        actor=data_scientist,
        flagged_by_run_id=run.pk,
    )
    answered = set(answers(run))
    left = sum(given[i] != truth[i].pk for i in truth if i not in answered)

    wrong = wrong_labels_left(run)
    assert wrong is not None and wrong.learned is not None
    learned = wrong.learned
    assert learned.answers == len(answered) and learned.spot_answers >= 120
    assert learned.found_wrong == sum(given[i] != truth[i].pk for i in answered)
    assert learned.low <= left <= learned.high, (learned, left)
    assert 0.5 * left <= wrong.left <= 2 * left
    assert learned.by_split["train"] + learned.by_split["test"] == pytest.approx(wrong.left)
    # The next open items are the queue's, the answered ones left out, judged by the curve.
    assert wrong.next_items == min(200, open_spots.filter(status="open").count())
    assert 0 < wrong.next_expected < wrong.next_items


def test_a_vote_through_the_api_answers_for_an_image_past_the_queue(data_scientist, viewer):
    run, truth = _noisy_run()
    past = RunImage.objects.filter(run=run, review_rank=1500).get()
    api = APIClient()
    api.force_authenticate(viewer)
    url = f"/api/runs/{run.pk}/suspects/{past.image_id}/vote/"
    assert api.post(url, {"label": "round"}, format="json").status_code == 403

    api.force_authenticate(data_scientist)
    unknown = api.post(url, {"label": "boat"}, format="json")
    assert unknown.status_code == 400 and "'boat' is not a label of neckline" in str(unknown.data)
    answer = truth[past.image_id].name
    voted = api.post(url, {"label": answer}, format="json")
    assert voted.status_code == 200, voted.data
    assert voted.data == {"image_id": past.image_id, "status": "decided", "decided_label": answer}
    item = ReviewItem.objects.get(run=run, image_id=past.image_id)
    assert item.case.decided_label.name == answer
    assert answers(run) == {past.image_id: answer != past.given_label.name}
    again = api.post(url, {"label": answer}, format="json")
    assert again.status_code == 400 and "already decided" in again.data["detail"]

    outside = RunImage.objects.filter(run=run).order_by("-image_id").first().image_id + 1000
    missing = api.post(f"/api/runs/{run.pk}/suspects/{outside}/vote/", {"label": answer})
    assert missing.status_code == 400 and "not in the review order" in missing.data["detail"]


def test_the_api_lists_the_spot_checks_and_says_what_is_left(data_scientist):
    run, truth = _noisy_run()
    api = APIClient()
    api.force_authenticate(data_scientist)
    before = api.get(f"/api/runs/{run.pk}/wrong-labels/")
    assert before.status_code == 200 and before.data["learned"] is None
    assert before.data["left"] == 50.0 and before.data["estimated_at_run"] == 50.0
    listed, url = [], f"/api/runs/{run.pk}/suspects/?spot_check=true&page_size=100"
    while url:
        page = api.get(url).data
        listed += page["results"]
        url = page["next"]
    assert sorted(r["image_id"] for r in listed) == spot_checks(run)
    ranks = [r["review_rank"] for r in listed]
    assert ranks == sorted(ranks)  # in the review order
    for row in listed[:60]:
        name = truth[row["image_id"]].name
        voted = api.post(f"/api/runs/{run.pk}/suspects/{row['image_id']}/vote/", {"label": name})
        assert voted.status_code == 200, voted.data
    after = api.get(f"/api/runs/{run.pk}/wrong-labels/").data
    assert after["learned"]["answers"] == after["learned"]["spot_answers"] == 60
    assert after["learned"]["low"] <= after["left"] <= after["learned"]["high"]
    bad = api.get(f"/api/runs/{run.pk}/suspects/?spot_check=yes")
    assert bad.status_code == 400 and "spot_check" in bad.data


def test_the_queue_page_offers_the_spot_checks_then_counts_from_them(client, data_scientist):
    run, truth = _noisy_run()
    client.force_login(data_scientist)
    page = f"/datasets/{run.dataset.name}/attributes/neckline/review/?run={run.pk}"
    text = " ".join(client.get(page).content.decode().split())
    assert "Queue the spot checks" in text and "answer 30 of the run's spot checks" in text
    queued = client.post(
        f"/datasets/{run.dataset.name}/attributes/neckline/review/spot-checks/", {"run": run.pk}
    )
    assert queued.status_code == 302
    spots = ReviewItem.objects.filter(run=run, image_id__in=spot_checks(run))
    assert spots.count() == SPOT_CHECKS
    _answer(spots.order_by("rank")[:40], truth, data_scientist)
    text = " ".join(client.get(page).content.decode().split())
    assert "counted from 40 answered spot checks" in text and "Queue the spot checks" not in text

"""Votes and decisions belong to the image x attribute: they carry over to later runs, a
label changed since brings the image back, batches go to one reviewer, gold items score
reviewers, and agreement with the decisions leaves out those a reviewer made alone."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from curation.models import GoldAnswer, Image, Label, ReviewCase, ReviewItem
from curation.queries.agreement import collect_votes, reviewer_rows
from curation.queries.reviewer_queue import gold_scores
from curation.services.gold import answer_gold, mark_gold
from curation.services.labels import relabel_image
from curation.services.reviews import ReviewError, assign_batch, cast_vote
from tests.support.runs import finished_run, first_images
from tests.support.users import merchandisers


@pytest.fixture
def wrong(neckline):
    return first_images(neckline, 3)


@pytest.fixture
def reviewers(db):
    return merchandisers("rita", "remy")


def _decide(item, reviewers):
    for reviewer in reviewers:
        item = cast_vote(item=item, label=item.suggested_label, reviewer=reviewer)
    assert item.status == ReviewItem.Status.DECIDED
    return item


def test_a_decision_carries_over_to_a_later_run(neckline, wrong, reviewers):
    first = finished_run(neckline, wrong=wrong)
    item = ReviewItem.objects.filter(run=first).order_by("rank").first()
    _decide(item, reviewers)

    second = finished_run(neckline, wrong=wrong)
    again = ReviewItem.objects.get(run=second, image_id=item.image_id)
    assert again.case_id == item.case_id and again.status == ReviewItem.Status.DECIDED
    assert again.image_id not in ReviewItem.objects.filter(
        run=second, status=ReviewItem.Status.OPEN
    ).values_list("image_id", flat=True)
    assert again.case.votes.count() == 2
    with pytest.raises(ReviewError, match="already decided"):
        cast_vote(item=again, label=again.given_label, reviewer=reviewers[0])


def test_open_votes_carry_over_and_count_towards_the_rule(neckline, wrong, reviewers):
    first = finished_run(neckline, wrong=wrong)
    item = ReviewItem.objects.filter(run=first).order_by("rank").first()
    cast_vote(item=item, label=item.suggested_label, reviewer=reviewers[0])

    second = finished_run(neckline, wrong=wrong)
    again = ReviewItem.objects.get(run=second, image_id=item.image_id)
    assert again.status == ReviewItem.Status.OPEN and again.case.votes.count() == 1
    with pytest.raises(ReviewError, match="already voted"):
        cast_vote(item=again, label=again.given_label, reviewer=reviewers[0])
    again = cast_vote(item=again, label=item.suggested_label, reviewer=reviewers[1])
    assert again.status == ReviewItem.Status.DECIDED
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.DECIDED  # run 1's queue sees the decision too


def test_a_label_changed_since_the_decision_brings_the_image_back(
    neckline, wrong, reviewers, data_scientist
):
    first = finished_run(neckline, wrong=wrong)
    item = ReviewItem.objects.filter(run=first).order_by("rank").first()
    _decide(item, reviewers)
    other = Label.objects.filter(attribute=neckline).exclude(pk=item.suggested_label_id).first()
    relabel_image(image=item.image, attribute=neckline, label=other, actor=data_scientist)

    second = finished_run(neckline, wrong=wrong)
    again = ReviewItem.objects.get(run=second, image_id=item.image_id)
    assert again.case_id != item.case_id and again.status == ReviewItem.Status.OPEN
    assert again.case.votes.count() == 0
    assert ReviewCase.objects.filter(image_id=item.image_id).count() == 2


def test_a_batch_goes_to_one_reviewer_first_and_only(neckline, wrong, reviewers, data_scientist):
    run = finished_run(neckline, wrong=wrong)
    rita, remy = reviewers
    assert assign_batch(run=run, assignee=rita, count=2, actor=data_scientist) == 2
    given = list(ReviewItem.objects.filter(run=run, assigned_to=rita).order_by("rank"))
    assert [i.rank for i in given] == [1, 2]
    with pytest.raises(ReviewError, match="assigned to another reviewer"):
        cast_vote(item=given[0], label=given[0].suggested_label, reviewer=remy)
    cast_vote(item=given[0], label=given[0].suggested_label, reviewer=rita)
    assert assign_batch(run=run, assignee=remy, count=5, actor=data_scientist) == 1
    with pytest.raises(PermissionDenied):
        assign_batch(run=run, assignee=remy, count=1, actor=rita)


def test_gold_answers_score_each_reviewer(neckline, reviewers, data_scientist):
    images = list(Image.objects.filter(dataset=neckline.dataset).order_by("id")[:2])
    labels = list(Label.objects.filter(attribute=neckline).order_by("id"))
    golds = [
        mark_gold(image=image, attribute=neckline, answer=labels[0], actor=data_scientist)
        for image in images
    ]
    rita, remy = reviewers
    answer_gold(gold=golds[0], label=labels[0], reviewer=rita)
    answer_gold(gold=golds[1], label=labels[0], reviewer=rita)
    answer_gold(gold=golds[0], label=labels[1], reviewer=remy)
    with pytest.raises(ReviewError, match="already"):
        answer_gold(gold=golds[0], label=labels[0], reviewer=remy)
    scores = {s.name: (s.answered, s.correct) for s in gold_scores(neckline)}
    assert scores == {"rita": (2, 2), "remy": (1, 0)}
    assert GoldAnswer.objects.count() == 3
    with pytest.raises(PermissionDenied):
        mark_gold(image=images[0], attribute=neckline, answer=labels[1], actor=rita)


def test_agreement_leaves_out_decisions_a_reviewer_made_alone(
    neckline, wrong, reviewers, data_scientist
):
    run = finished_run(neckline, wrong=wrong)
    items = list(ReviewItem.objects.filter(run=run).order_by("rank"))
    rita = reviewers[0]
    # The expert decides two items alone, one of them against rita's vote; a third the expert
    # and rita decide together.
    cast_vote(item=items[0], label=items[0].given_label, reviewer=data_scientist)
    cast_vote(item=items[1], label=items[1].given_label, reviewer=rita)
    cast_vote(item=items[1], label=items[1].suggested_label, reviewer=data_scientist)
    cast_vote(item=items[2], label=items[2].suggested_label, reviewer=rita)
    cast_vote(item=items[2], label=items[2].suggested_label, reviewer=data_scientist)
    rows = {r.name: r for r in reviewer_rows(collect_votes(run))}
    expert = rows[data_scientist.username]
    assert (expert.votes, expert.decided, expert.agree_share) == (3, 1, 1.0)
    assert (rows["rita"].decided, rows["rita"].agree_share) == (2, 0.5)

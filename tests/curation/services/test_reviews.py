"""The review queue: votes, the consensus rule, experts, crowd export/import, agreement."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from curation.models import Annotation, Image, LabelEvent, ReviewItem, ReviewVote
from curation.queries.agreement import run_agreement
from curation.services.reviews import ReviewError, cast_vote, import_answers
from tests.support.runs import finished_run, first_images
from tests.support.users import merchandisers


@pytest.fixture
def run(neckline):
    return finished_run(neckline, wrong=first_images(neckline, 4))


@pytest.fixture
def reviewers(db):
    return merchandisers("rita", "remy", "rosa")


def _label(item):
    return Annotation.objects.get(image_id=item.image_id, attribute_id=item.attribute_id).label_id


def test_a_run_queues_its_top_suspects_in_rank_order(run):
    items = list(ReviewItem.objects.filter(run=run).order_by("rank"))
    assert [i.rank for i in items] == [1, 2, 3, 4]
    assert all(i.suggested_label_id != i.given_label_id for i in items)


def test_two_agreeing_votes_decide_and_relabel_with_source_review(run, reviewers):
    item = ReviewItem.objects.get(run=run, rank=1)
    cast_vote(item=item, label=item.suggested_label, reviewer=reviewers[0])
    item.refresh_from_db()
    assert item.status == "open" and _label(item) == item.given_label_id
    cast_vote(item=item, label=item.suggested_label, reviewer=reviewers[1])
    item.refresh_from_db()
    assert item.status == "decided" and item.case.decided_label_id == item.suggested_label_id
    assert _label(item) == item.suggested_label_id
    event = LabelEvent.objects.filter(image_id=item.image_id).latest("id")
    assert (event.source, event.flagged_by_run_id, event.actor_id) == (
        "review",
        run.pk,
        reviewers[1].pk,
    )
    assert "2 of 2 reviewers agree" in event.note and "rita" in event.note
    with pytest.raises(ReviewError, match="already decided"):
        cast_vote(item=item, label=item.given_label, reviewer=reviewers[2])


def test_keeping_the_given_label_decides_without_a_history_entry(run, reviewers):
    item = ReviewItem.objects.get(run=run, rank=2)
    before = LabelEvent.objects.count()
    for reviewer in reviewers[:2]:
        cast_vote(item=item, label=item.given_label, reviewer=reviewer)
    item.refresh_from_db()
    assert item.status == "decided" and LabelEvent.objects.count() == before


def test_votes_that_never_agree_end_without_consensus_until_an_expert_decides(
    run, reviewers, data_scientist, neckline
):
    item = ReviewItem.objects.get(run=run, rank=1)
    labels = list(neckline.labels.all())
    for reviewer, label in zip(reviewers, labels, strict=True):
        cast_vote(item=item, label=label, reviewer=reviewer)
    item.refresh_from_db()
    assert item.status == "no_consensus"
    cast_vote(item=item, label=labels[2], reviewer=data_scientist)
    item.refresh_from_db()
    assert item.status == "decided" and item.case.decided_label_id == labels[2].pk


def test_a_person_votes_once_per_image(run, reviewers):
    item = ReviewItem.objects.get(run=run, rank=3)
    cast_vote(item=item, label=item.suggested_label, reviewer=reviewers[0])
    with pytest.raises(ReviewError, match="already voted"):
        cast_vote(item=item, label=item.given_label, reviewer=reviewers[0])
    assert ReviewVote.objects.filter(case_id=item.case_id).count() == 1


def test_a_stricter_rule_needs_more_votes(run, reviewers, neckline):
    dataset = neckline.dataset
    dataset.review_agree = 3
    dataset.save(update_fields=["review_agree"])
    item = ReviewItem.objects.get(run=run, rank=1)
    for reviewer in reviewers[:2]:
        cast_vote(item=item, label=item.suggested_label, reviewer=reviewer)
    item.refresh_from_db()
    assert item.status == "open"
    cast_vote(item=item, label=item.suggested_label, reviewer=reviewers[2])
    item.refresh_from_db()
    assert item.status == "decided"


def test_a_viewer_cannot_vote(client, viewer, run):
    item = ReviewItem.objects.get(run=run, rank=1)
    client.force_login(viewer)
    page = client.get(reverse("curation:review", args=["dresses", "neckline"]))
    assert page.status_code == 200 and "voteform" not in page.content.decode()
    response = client.post(
        reverse("curation:review_vote", args=[item.pk]), {"label": item.suggested_label_id}
    )
    assert response.status_code == 403 and not ReviewVote.objects.exists()


def test_the_queue_marks_its_test_images(client, reviewers, neckline):
    images = Image.objects.filter(dataset=neckline.dataset).order_by("id")
    wrong = {*images.filter(split="train")[:2], *images.filter(split="test")[:2]}
    run = finished_run(neckline, wrong={im.pk for im in wrong})
    items = ReviewItem.objects.filter(run=run).select_related("image")
    tested = {i.pk for i in items if i.image.split == "test"}
    assert len(tested) == 2 and len(items) == 4
    client.force_login(reviewers[0])
    page = client.get(reverse("curation:review", args=["dresses", "neckline"])).content.decode()
    for item in items:
        tile = page.split(f'id="item-{item.pk}"', 1)[1].split("</article>", 1)[0]
        assert ('class="badge test"' in tile) == (item.pk in tested)


def test_voting_on_the_page_swaps_the_card(client, reviewers, run):
    item = ReviewItem.objects.get(run=run, rank=1)
    client.force_login(reviewers[0])
    url = reverse("curation:review_vote", args=[item.pk])
    first = client.post(url, {"label": item.suggested_label_id}, headers={"HX-Request": "true"})
    assert first.status_code == 200 and "You voted" in first.content.decode()
    again = client.post(url, {"label": item.given_label_id}, headers={"HX-Request": "true"})
    assert again.status_code == 409 and "already voted" in again.content.decode()
    assert client.post(url, {"label": "999"}).status_code == 404


def test_crowd_tasks_export_and_answers_import_through_the_same_rule(
    client, data_scientist, run, neckline
):
    client.force_login(data_scientist)
    url = reverse("curation:review_export", args=["dresses", "neckline"])
    tasks = list(csv.DictReader(io.StringIO(client.get(url, {"run": run.pk}).content.decode())))
    assert len(tasks) == 4 and tasks[0]["options"] == "round|v-neck|boat"
    assert tasks[0]["image_url"].startswith("http://testserver/crowd/images/")
    as_json = json.loads(client.get(url, {"run": run.pk, "format": "json"}).content)
    assert [t["task_id"] for t in as_json] == [int(t["task_id"]) for t in tasks]
    first, second = tasks[0], tasks[1]
    answers = (
        "task_id,worker_id,label\n"
        f"{first['task_id']},w1,{first['suggested_label']}\n"
        f"{first['task_id']},w2,{first['suggested_label']}\n"
        f"{second['task_id']},w1,not-a-label\n"
        f"{second['task_id']},,boat\n"
        "424242,w3,boat\n"
        f"{first['task_id']},w1,boat\n"
    )
    report = import_answers(run=run, data=answers.encode(), filename="a.csv", actor=data_scientist)
    assert (report.votes, report.decided) == (2, 1)
    assert [e["line"] for e in report.errors] == [4, 5, 6, 7]
    assert "not a label" in report.errors[0]["reason"] and "worker_id" in report.errors[1]["reason"]
    item = ReviewItem.objects.get(pk=first["task_id"])
    assert item.status == "decided" and _label(item) == item.suggested_label_id
    bad = import_answers(run=run, data=b"a,b\n1,2\n", filename="x.csv", actor=data_scientist)
    assert "lacks the column" in bad.errors[0]["reason"]
    assert (
        "not valid JSON"
        in import_answers(run=run, data=b"{", filename="x.json", actor=data_scientist).errors[0][
            "reason"
        ]
    )


@pytest.mark.parametrize("task", ["²", "١", "1e3", "-1", "9" * 30, "9" * 5000, " "])
def test_a_task_id_that_is_not_a_plain_number_is_a_refused_line(data_scientist, run, task):
    answers = f"task_id,worker_id,label\n{task},w1,boat\n".encode()
    report = import_answers(run=run, data=answers, filename="a.csv", actor=data_scientist)
    assert report.votes == 0 and [e["line"] for e in report.errors] == [2], report.errors
    assert "is not a task of run" in report.errors[0]["reason"]


def test_exported_cells_cannot_run_as_spreadsheet_formulas(client, data_scientist, neckline, run):
    neckline.labels.filter(name="boat").update(name="=HYPERLINK(1)")
    client.force_login(data_scientist)
    body = client.get(
        reverse("curation:review_export", args=["dresses", "neckline"]), {"run": run.pk}
    ).content.decode()
    assert "=HYPERLINK" in body and ",=HYPERLINK" not in body and "|=HYPERLINK" in body


def test_agreement_per_reviewer_and_class(run, reviewers, neckline):
    items = list(ReviewItem.objects.filter(run=run).order_by("rank"))
    for item in items[:2]:
        cast_vote(item=item, label=item.suggested_label, reviewer=reviewers[0])
        cast_vote(item=item, label=item.suggested_label, reviewer=reviewers[1])
    cast_vote(item=items[2], label=items[2].given_label, reviewer=reviewers[2])
    agreement = run_agreement(run)
    by_name = {r.name: r for r in agreement.reviewers}
    assert by_name["rita"].agree_share == 1.0 and by_name["rosa"].decided == 0
    assert agreement.items_with_votes == 3
    assert (agreement.fleiss.items, agreement.fleiss.left_out) == (2, 1)  # first 2 votes each
    assert sum(c.items for c in agreement.classes) == 2


def test_the_queue_says_how_many_wrong_labels_are_left_and_what_the_next_items_hold(
    client, run, reviewers, neckline
):
    from curation.queries.quality import wrong_labels_left

    assert wrong_labels_left(run) is None  # a run from before the estimate: no claim
    run.metrics = {**(run.metrics or {}), "wrong_labels": {"train": {"a": 3.0}, "test": {"a": 2.0}}}
    run.save(update_fields=["metrics"])
    open_items = list(ReviewItem.objects.filter(run=run).order_by("rank"))
    expected = sum(1 - i.score for i in open_items)
    item = open_items[0]
    for reviewer in reviewers[:2]:
        cast_vote(item=item, label=item.suggested_label, reviewer=reviewer)

    wrong = wrong_labels_left(run)
    assert (wrong.estimated, wrong.fixed, wrong.left) == (5.0, 1, 4.0)
    assert wrong.by_split == {"train": 3.0, "test": 2.0}
    assert wrong.next_items == len(open_items) - 1
    assert wrong.next_expected == pytest.approx(expected - (1 - item.score))
    client.force_login(reviewers[0])
    page = client.get(f"/datasets/{neckline.dataset.name}/attributes/neckline/review/")
    text = " ".join(page.content.decode().split())
    assert "About <strong>4</strong> wrong labels are left" in text

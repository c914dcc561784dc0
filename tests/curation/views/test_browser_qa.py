"""The QA pages in Chromium: dashboard → confusion cell → gallery, relabel by keyboard with
undo, history with revert, the review queue to consensus, and a viewer without controls."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from curation.models import Annotation, Image, Label, LabelEvent, ReviewItem, RunImage
from curation.roles import ensure_role_groups
from tests.support.browser import screenshot
from tests.support.runs import finished_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DASHBOARD = "/datasets/dresses/attributes/neckline/quality/"


@pytest.fixture
def run(imported):
    neckline = imported.attributes.get(name="neckline")
    ids = sorted(Image.objects.filter(dataset=imported, split="test").values_list("pk", flat=True))
    train = sorted(
        Image.objects.filter(dataset=imported, split="train").values_list("pk", flat=True)
    )
    return finished_run(neckline, wrong={ids[0], train[0], train[1]})


def _label_of(image_id: int) -> int | None:
    return Annotation.objects.get(image_id=image_id, attribute__name="neckline").label_id


def test_merchandiser_goes_from_a_confusion_cell_to_a_fix_with_keys_and_undo(
    run, merchandiser, open_as
):
    wrong = RunImage.objects.select_related("given_label", "predicted_label").get(
        run=run, split="test", is_error=True
    )
    page = open_as(merchandiser, DASHBOARD)
    expect(page.locator("#per-class tbody tr")).to_have_count(3)
    screenshot(page, "quality")
    page.locator(
        f'#confusion a[data-cell="{wrong.given_label.name}→{wrong.predicted_label.name}"]'
    ).click()
    expect(
        page.get_by_role(
            "heading",
            name=f"Labelled {wrong.given_label.name}, predicted {wrong.predicted_label.name}",
        )
    ).to_be_visible()
    tiles = page.locator("article.tile.qa")
    expect(tiles).to_have_count(1)
    page.wait_for_load_state()  # the keyboard script runs once the page has loaded
    screenshot(page, "gallery")

    page.keyboard.press("j")  # focus the first tile
    page.keyboard.press("a")  # accept the model's label
    expect(page.locator(f"#tile-{wrong.image_id} .ok")).to_contain_text("Saved")
    assert _label_of(wrong.image_id) == wrong.predicted_label_id
    event = LabelEvent.objects.filter(image_id=wrong.image_id).latest("id")
    assert (event.actor_id, event.flagged_by_run_id) == (merchandiser.pk, run.pk)

    page.keyboard.press("u")  # undo
    expect(page.locator(f"#tile-{wrong.image_id} .ok")).to_have_text("Undone")
    assert _label_of(wrong.image_id) == wrong.given_label_id

    page.keyboard.press("3")  # the third label in the attribute's order: boat
    expect(page.locator(f"#tile-{wrong.image_id} .current")).to_have_text("boat")
    assert _label_of(wrong.image_id) == run.attribute.labels.get(name="boat").pk


def test_a_tile_reason_goes_with_a_key_and_the_dashboard_says_what_it_bought(
    run, merchandiser, open_as
):
    wrong = RunImage.objects.get(run=run, split="test", is_error=True)
    page = open_as(merchandiser, f"/datasets/dresses/attributes/neckline/gallery/?run={run.pk}")
    page.wait_for_load_state()

    page.get_by_label(f"Reason for relabelling image {wrong.image_id}").fill("hem is wrong")
    page.keyboard.press("Escape")  # back on the tile: its keys work again
    page.keyboard.press("a")

    expect(page.locator(f"#tile-{wrong.image_id} .ok")).to_contain_text("Saved")
    event = LabelEvent.objects.filter(image_id=wrong.image_id, source="manual").latest("id")
    assert event.note == f"hem is wrong · from the neckline gallery of run {run.pk}"

    page.goto(DASHBOARD)  # the panel loads after the page
    reviewed = page.locator("#bought-reviewed")
    expect(reviewed).to_contain_text("1 image reviewed")
    expect(reviewed).to_contain_text("0 train · 1 test")
    expect(page.locator("#bought-no-previous")).to_contain_text("retrain after reviewing")
    screenshot(page, "quality-bought")


def test_key_zero_picks_the_tenth_label(run, merchandiser, open_as):
    """Ten-class catalogs (Fashion-MNIST) need a key for the last class too."""
    neckline = run.attribute
    have = neckline.labels.count()
    for k in range(have, 10):
        Label.objects.create(attribute=neckline, name=f"extra-{k + 1}", position=100 + k)
    tenth = neckline.labels.order_by("position", "id")[9]
    wrong = RunImage.objects.get(run=run, split="test", is_error=True)
    page = open_as(
        merchandiser,
        f"/datasets/dresses/attributes/neckline/gallery/?run={run.pk}&fp={wrong.predicted_label_id}",
    )
    expect(page.locator("p.keys")).to_contain_text(f"0 {tenth.name}")
    page.wait_for_load_state()
    page.keyboard.press("j")
    page.keyboard.press("0")
    expect(page.locator(f"#tile-{wrong.image_id} .current")).to_have_text(tenth.name)
    assert _label_of(wrong.image_id) == tenth.pk


def test_a_change_shows_in_dataset_history_and_reverts_from_there(run, merchandiser, open_as):
    wrong = RunImage.objects.get(run=run, split="test", is_error=True)
    page = open_as(
        merchandiser,
        f"/datasets/dresses/attributes/neckline/gallery/?run={run.pk}&fp={wrong.predicted_label_id}",
    )
    page.locator(f"#tile-{wrong.image_id} button.accept").click()
    expect(page.locator(f"#tile-{wrong.image_id} .ok")).to_contain_text("Saved")
    page.goto("/datasets/dresses/history/?actor=max_merch")
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text(f"run #{run.pk}")
    screenshot(page, "history")
    rows.first.get_by_role("button", name="Revert").click()
    expect(page.locator(".flash")).to_have_count(0)
    assert _label_of(wrong.image_id) == wrong.given_label_id
    assert LabelEvent.objects.filter(source="revert", actor=merchandiser).count() == 1


def test_two_reviewers_reach_consensus_in_the_review_queue(run, merchandiser, open_as):
    second = User.objects.create_user(username="rory_reviewer", password="rory_reviewer-password")
    second.groups.add(ensure_role_groups()["merchandiser"])
    item = ReviewItem.objects.filter(run=run).order_by("rank").first()
    path = "/datasets/dresses/attributes/neckline/review/"
    for user in (merchandiser, second):
        page = open_as(user, path)
        card = page.locator(f"#item-{item.pk}")
        card.focus()
        page.keyboard.press("s")  # take the model's suggestion
        expect(card if user == merchandiser else page.locator(f"#item-{item.pk}")).to_contain_text(
            "waiting for others" if user == merchandiser else "Decided"
        )
        if user == second:
            screenshot(page, "review")
    item.refresh_from_db()
    assert item.status == "decided" and _label_of(item.image_id) == item.suggested_label_id
    assert LabelEvent.objects.filter(image_id=item.image_id, source="review").count() == 1


def test_a_viewer_sees_the_gallery_and_queue_without_controls(run, viewer, open_as):
    wrong = RunImage.objects.get(run=run, split="test", is_error=True)
    page = open_as(
        viewer,
        f"/datasets/dresses/attributes/neckline/gallery/?run={run.pk}&fp={wrong.predicted_label_id}",
    )
    expect(page.locator("article.tile.qa")).to_have_count(1)
    expect(page.locator("form.tileform")).to_have_count(0)
    page.keyboard.press("j")
    page.keyboard.press("a")
    status = page.evaluate(
        """async ([url, body]) => (await fetch(url, {method: "POST", body: body, headers: {
             "X-CSRFToken": document.cookie.match(/csrftoken=([^;]+)/)[1],
             "Content-Type": "application/x-www-form-urlencoded"}})).status""",
        [f"/images/{wrong.image_id}/gallery-relabel/", f"attribute=neckline&label=1&run={run.pk}"],
    )
    assert status == 403
    page.goto("/datasets/dresses/attributes/neckline/review/")
    expect(page.locator("article.tile.review")).to_have_count(3)
    expect(page.locator("form.voteform")).to_have_count(0)
    assert not LabelEvent.objects.filter(actor=viewer).exists()

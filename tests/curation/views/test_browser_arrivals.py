"""The new-arrivals queue in Chromium: a merchandiser accepts suggested tags by keyboard,
finds them in history with the model version and reverts the batch; a number key labels by
hand and `u` undoes it."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from curation.models import Annotation
from tests.support.arrivals import three_scored_arrivals
from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

QUEUE = "/datasets/dresses/attributes/neckline/arrivals/"


@pytest.fixture
def arrivals(imported, tmp_path):
    return three_scored_arrivals(imported.attributes.get(name="neckline"), tmp_path / "arrivals")


def _labels(images) -> list[str | None]:
    by_image = {
        a.image_id: a.label.name if a.label else None
        for a in Annotation.objects.filter(
            image__in=images, attribute__name="neckline"
        ).select_related("label")
    }
    return [by_image.get(im.pk) for im in images]


def test_merchandiser_accepts_by_keyboard_sees_the_model_in_history_and_reverts_the_batch(
    arrivals, merchandiser, open_as
):
    run, images = arrivals
    page = open_as(merchandiser, QUEUE)
    tiles = page.locator("article.tile.arrival")
    expect(tiles).to_have_count(3)
    expect(tiles.first).to_contain_text("suggested round 0.90")
    page.wait_for_load_state()  # the keyboard script runs once the page has loaded
    screenshot(page, "arrivals")

    page.keyboard.press("j")  # focus the first tile
    page.keyboard.press("a")  # accept its suggestion
    expect(page.locator("#arrivals-done")).to_contain_text(
        f"Accepted 1 suggestion of run #{run.pk}"
    )
    expect(tiles).to_have_count(2)
    expect(page.locator(f"#arrival-{images[1].pk}")).to_be_focused()  # the next one
    assert _labels(images) == ["round", None, None]

    page.keyboard.press("x")  # select it
    page.keyboard.press("j")
    page.keyboard.press("x")  # and the last one
    page.keyboard.press("Enter")  # accept the selected two in one batch
    expect(page.locator("#arrivals-done")).to_contain_text("Accepted 2 suggestions")
    expect(page.locator("#arrivals-empty")).to_contain_text("No scored new arrivals")
    assert _labels(images) == ["round", "v-neck", "boat"]

    page.locator("#arrivals-done a").first.click()  # the batch in history
    rows = page.locator("#history tbody tr")
    expect(rows).to_have_count(2)
    for i in range(2):
        expect(rows.nth(i)).to_contain_text(f"model · run {run.pk}")
        expect(rows.nth(i)).to_contain_text("max_merch")
    screenshot(page, "arrivals-history")

    page.get_by_role("button", name="Revert the whole batch").click()
    expect(page.locator(".flash").first).to_contain_text("Reverted 2 change(s)")
    assert _labels(images) == ["round", None, None]

    page.goto(QUEUE)
    expect(tiles).to_have_count(2)


def test_a_number_key_labels_by_hand_and_u_undoes_it(arrivals, merchandiser, open_as):
    _, images = arrivals
    page = open_as(merchandiser, QUEUE)
    page.wait_for_load_state()

    page.keyboard.press("j")
    page.keyboard.press("3")  # the third label in the attribute's order: boat
    expect(page.locator("#arrivals-done")).to_contain_text("Labelled 1 image by hand")
    expect(page.locator(f"#arrival-{images[1].pk}")).to_be_focused()
    assert _labels(images) == ["boat", None, None]

    page.keyboard.press("u")
    expect(page.locator("#arrivals-undone")).to_contain_text("back to empty")
    expect(page.locator("article.tile.arrival")).to_have_count(3)
    assert _labels(images) == [None, None, None]


def test_a_viewer_sees_suggestions_without_controls(arrivals, viewer, open_as):
    page = open_as(viewer, QUEUE)
    expect(page.locator("article.tile.arrival")).to_have_count(3)
    expect(page.locator("form.tileform")).to_have_count(0)
    expect(page.get_by_text("viewer role")).to_be_visible()

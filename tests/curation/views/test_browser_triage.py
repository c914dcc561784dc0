"""Keyboard triage in Chromium: ten number keys relabel ten tiles, each moving the focus on;
the image page's previous / next through a filtered gallery and across its page boundary,
with Back focusing the tile again; the ? list of keys; selected tiles marked; the image
page's keys for every attribute."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect

from curation.models import Annotation, LabelEvent
from curation.queries import quality
from tests.support.triage import gallery_order, triage_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

GALLERY = "/datasets/triage/attributes/neckline/gallery/"


@pytest.fixture
def run(tmp_path):
    return triage_run(tmp_path / "triage")


def _labels(image_ids, attribute="neckline") -> dict[int, int | None]:
    rows = Annotation.objects.filter(image_id__in=image_ids, attribute__name=attribute)
    return dict(rows.values_list("image_id", "label_id"))


def test_triage_of_ten_tiles_with_ten_keys(run, merchandiser, open_as, monkeypatch):
    monkeypatch.setattr(quality, "GALLERY_PAGE", 6)  # the ten cross a page boundary
    labels = quality.current_labels(run.attribute)
    order = gallery_order(run, quality.GalleryFilter())
    before = _labels(order)
    # For each tile, the key of a label it doesn't have (so every key is a change).
    index = {lab.pk: i for i, lab in enumerate(labels)}
    want = {i: labels[(index[before[i]] + 2) % len(labels)] for i in order[:10]}

    page = open_as(merchandiser, f"{GALLERY}?run={run.pk}")
    expect(page.locator("#gallery-position")).to_have_text("12 images")
    page.wait_for_load_state()
    page.keyboard.press("j")
    expect(page.locator(f"#tile-{order[0]}")).to_be_focused()
    for n, image_id in enumerate(order[:10]):
        page.keyboard.press(str(labels.index(want[image_id]) + 1))
        expect(page.locator(f"#tile-{order[n + 1]}")).to_be_focused()
        expect(page.locator("#gallery-position")).to_have_text(f"{n + 2} of 12")
        expect(page.locator(f"#tile-{image_id} .ok")).to_contain_text("Saved")
    expect(page.locator(f"#tile-{order[9]} .current")).to_have_text(want[order[9]].name)

    assert _labels(order[:10]) == {i: lab.pk for i, lab in want.items()}
    assert _labels(order[10:]) == {i: before[i] for i in order[10:]}
    events = LabelEvent.objects.filter(image_id__in=order, source="manual")
    assert sorted(
        events.values_list("image_id", "new_label_id", "actor_id", "flagged_by_run_id")
    ) == (sorted((i, lab.pk, merchandiser.pk, run.pk) for i, lab in want.items()))


def test_previous_and_next_follow_the_filtered_gallery_and_back_restores_the_tile(
    run, merchandiser, open_as, monkeypatch
):
    monkeypatch.setattr(quality, "GALLERY_PAGE", 3)  # the fourth image is on the second page
    fp = quality.current_labels(run.attribute)[1]
    order = gallery_order(run, quality.GalleryFilter(false_positives_of=fp.pk))
    assert len(order) == 4
    path = f"{GALLERY}?run={run.pk}&fp={fp.pk}"
    page = open_as(merchandiser, path)
    page.wait_for_load_state()
    for _ in range(3):
        page.keyboard.press("j")
    expect(page.locator(f"#tile-{order[2]}")).to_be_focused()
    expect(page.locator("#gallery-position")).to_have_text("3 of 4")

    page.keyboard.press("Enter")
    expect(page.locator("#image-position")).to_contain_text("3 of 4")
    assert f"/images/{order[2]}/" in page.url
    page.keyboard.press("j")  # past the gallery's first page
    expect(page.locator("#image-position")).to_contain_text("4 of 4")
    assert f"/images/{order[3]}/" in page.url
    expect(page.locator("#image-next")).to_have_count(0)
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#image-position")).to_contain_text("3 of 4")
    page.locator("#image-previous").click()
    expect(page.locator("#image-position")).to_contain_text("2 of 4")
    assert f"/images/{order[1]}/" in page.url
    page.locator("#image-next").click()
    expect(page.locator("#image-position")).to_contain_text("3 of 4")

    for _ in range(5):  # images 3, 2, 3, 4 and 3 again: the tile of the image left has the focus
        page.go_back()
    assert page.url.endswith(path)
    expect(page.locator(f"#tile-{order[2]}")).to_be_focused()
    expect(page.locator("#gallery-position")).to_have_text("3 of 4")

    # A tile of the second page: Back loads that page again to focus it.
    page.keyboard.press("j")
    expect(page.locator(f"#tile-{order[3]}")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#image-position")).to_contain_text("4 of 4")
    page.go_back()
    expect(page.locator(f"#tile-{order[3]}")).to_be_focused()
    expect(page.locator("#gallery-position")).to_have_text("4 of 4")

    page.goto(f"/images/{order[1]}/?gallery=neckline&run={run.pk}&fp={fp.pk}&n=2")
    page.keyboard.press("b")  # back to the gallery at this image
    expect(page.locator(f"#tile-{order[1]}")).to_be_focused()
    expect(page.locator("#gallery-position")).to_have_text("2 of 4")


def test_question_mark_lists_every_key_and_selected_tiles_are_marked(run, merchandiser, open_as):
    order = gallery_order(run, quality.GalleryFilter())
    page = open_as(merchandiser, f"{GALLERY}?run={run.pk}")
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_load_state()
    page.keyboard.press("j")
    page.keyboard.press("x")
    tile = page.locator(f"#tile-{order[0]}")
    expect(tile).to_have_class("tile qa selected")
    expect(tile).to_have_attribute("aria-selected", "true")
    expect(tile.locator(".pick input")).to_be_checked()
    page.keyboard.press("j")

    help = page.locator("#keys-help")
    expect(help).to_be_hidden()
    page.keyboard.press("?")
    expect(help).to_be_visible()
    for text in ("next image", "label it boat and move on", "accept the model's label", "undo"):
        expect(help).to_contain_text(text)
    page.keyboard.press("1")  # the list is up: no key labels a tile
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / "triage-keys.png"))
    page.keyboard.press("Escape")
    expect(help).to_be_hidden()
    assert LabelEvent.objects.filter(source="manual").count() == 0
    page.keyboard.press("k")
    page.keyboard.press("x")
    expect(tile).to_have_attribute("aria-selected", "false")


def test_the_image_page_has_keys_for_every_attribute(run, merchandiser, open_as):
    image_id = gallery_order(run, quality.GalleryFilter())[0]
    page = open_as(merchandiser, f"/images/{image_id}/")
    page.wait_for_load_state()
    rows = page.locator("tr.attribute-row")
    expect(rows.first).to_have_attribute("aria-current", "true")
    page.keyboard.press("]")
    sleeve = page.locator('tr.attribute-row[data-attribute="sleeve"]')
    expect(sleeve).to_have_attribute("aria-current", "true")
    sleeves = quality.current_labels(run.dataset.attributes.get(name="sleeve"))
    before = _labels([image_id], "sleeve")[image_id]
    pick = next(i for i, lab in enumerate(sleeves) if lab.pk != before)
    page.keyboard.press(str(pick + 1))
    expect(sleeve.locator("select")).to_have_value(str(sleeves[pick].pk))
    expect(sleeve).to_contain_text("manual by max_merch")  # the saved row swapped in
    assert _labels([image_id], "sleeve")[image_id] == sleeves[pick].pk
    expect(sleeve).to_have_attribute("aria-current", "true")  # kept across the swap
    page.keyboard.press("?")
    expect(page.locator("#keys-help")).to_contain_text("choose the attribute")

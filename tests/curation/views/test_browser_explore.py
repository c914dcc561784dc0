"""The Explore sidebar in Chromium: tag a selection, filter in the sidebar (an HTMX swap that
pushes a URL), save the view, and open its URL as another user to find the same images and
the same filters. BROWSER_SCREENSHOTS=/some/folder keeps gallery-filters.png (1280x800)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from curation.models import Image, ImageTag, SavedView

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _hrefs(page) -> list[str]:
    tiles = page.locator("#gallery-page a.tile:not(.more)")
    return [tiles.nth(i).get_attribute("href") for i in range(tiles.count())]


def test_a_saved_view_reopened_by_url(imported, merchandiser, viewer, open_as):
    images = {im.source_path: im for im in Image.objects.filter(dataset=imported)}
    page = open_as(merchandiser, "/datasets/dresses/")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Tag a selection: two tiles' boxes, then "Tag selected".
    for path in ("img/1.png", "img/2.png", "img/4.png"):
        page.get_by_label(f"Select {path}").check()
    page.locator("#tagging").get_by_label("Tag", exact=True).fill("reshoot")
    page.get_by_role("button", name="Tag selected", exact=True).click()
    expect(page.locator(".flash")).to_contain_text("Tagged 3 image(s) 'reshoot'")
    assert ImageTag.objects.filter(tag__name="reshoot").count() == 3

    # Filter in the sidebar: the swap keeps the page and pushes the filters into the URL.
    page.evaluate("window.__marker = 1")
    sidebar = page.locator("#explore-filters")
    sidebar.get_by_label("SKU or file name").fill("sku-")
    sidebar.get_by_label("Split").select_option("train")
    sidebar.get_by_label("reshoot").check()
    sidebar.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"split=train.*tag=reshoot"))
    expected = [images["img/1.png"].get_absolute_url(), images["img/2.png"].get_absolute_url()]
    expect(page.locator("#gallery-page a.tile")).to_have_count(2)
    assert _hrefs(page) == expected
    assert page.evaluate("window.__marker") == 1  # swapped by htmx, not reloaded

    page.get_by_label("Save these filters as").fill("train reshoots")
    page.get_by_role("button", name="Save view").click()
    expect(page.locator(".view-name")).to_contain_text("train reshoots")
    view = SavedView.objects.get()
    assert view.owner_id == merchandiser.pk
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        page.locator("#gallery").scroll_into_view_if_needed()
        page.screenshot(path=str(Path(folder) / "gallery-filters.png"))

    # Another user, a fresh browser context, the view's URL: the same images and filters.
    other = open_as(viewer, "/")
    other.goto(view.get_absolute_url())
    expect(other.locator("#gallery-page a.tile")).to_have_count(2)
    assert _hrefs(other) == expected
    filters = other.locator("#explore-filters")
    expect(filters.get_by_label("SKU or file name")).to_have_value("sku-")
    expect(filters.get_by_label("Split")).to_have_value("train")
    expect(filters.get_by_label("reshoot")).to_be_checked()
    expect(other.locator(".view-name")).to_contain_text("train reshoots")
    expect(other.locator(".view-name")).to_contain_text("max_merch")
    expect(other.get_by_role("button", name="Delete train reshoots")).to_have_count(0)

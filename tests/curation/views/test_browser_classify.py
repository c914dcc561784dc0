"""Classify a photo in Chromium: the upload goes through HTMX and the result replaces its
card, without a page load."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from curation.queries.classify import CACHE
from tests.support.browser import screenshot
from tests.support.classify import photo_bytes, promote_tiny_model

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_viewer_classifies_a_photo_and_sees_the_bars_in_place(imported, viewer, open_as):
    CACHE.clear()
    for i, attribute in enumerate(imported.attributes.order_by("position")):
        promote_tiny_model(attribute, seed=i)
    page = open_as(viewer, "/datasets/dresses/")
    page.get_by_role("link", name="classify a photo").click()
    expect(page.locator("h1")).to_have_text("Classify a photo")
    page.evaluate("window.notReloaded = true")

    page.set_input_files(
        'input[name="photo"]',
        {"name": "dress.png", "mimeType": "image/png", "buffer": photo_bytes()},
    )
    page.get_by_role("button", name="Classify").click()

    result = page.locator("#classify-result")
    expect(result.locator("h3")).to_have_count(2)
    expect(result.locator(".bar > span")).to_have_count(5)
    expect(result).to_contain_text("No crop: the whole photo was used")
    assert page.evaluate("window.notReloaded") is True  # swapped in by HTMX, no page load
    screenshot(page, "classify")
    CACHE.clear()

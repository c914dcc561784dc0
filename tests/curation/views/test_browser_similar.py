"""Similar dresses in Chromium: open a dress, see look-alikes, ask for another neckline."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from curation.models import Annotation, Dataset, Image
from curation.services.demo import load_demo_catalog
from curation.services.indexes import build_similarity_index, start_index_build
from tests.support.browser import screenshot

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def indexed(tmp_path, data_scientist):
    load_demo_catalog("synthetic-dresses", out_dir=tmp_path / "demo", n_products=16)
    dataset = Dataset.objects.get(name="synthetic-dresses")
    row = start_index_build(dataset=dataset, actor=data_scientist)
    assert build_similarity_index(row.pk) in ("ready", "already finished")
    return dataset


def _neckline(image_id: int) -> str:
    return Annotation.objects.get(image_id=image_id, attribute__name="neckline").label.name


def test_a_merchandiser_finds_the_same_look_with_another_neckline(indexed, merchandiser, open_as):
    image = Image.objects.filter(dataset=indexed).order_by("id").first()
    page = open_as(merchandiser, image.get_absolute_url())
    results = page.locator("#similar .tile")
    expect(results).to_have_count(12)  # loaded into the page after it opened
    assert str(image.pk) not in [results.nth(i).get_attribute("data-image") for i in range(12)]

    page.locator("#similar").get_by_label("attribute to change").select_option("neckline")
    page.locator("#similar").get_by_role("button", name="Search").click()
    expect(page.locator("#similar h2")).to_have_text("Similar dresses, but another neckline")
    expect(results).not_to_have_count(0)
    screenshot(page, "similar")
    mine = _neckline(image.pk)
    shown = [int(results.nth(i).get_attribute("data-image")) for i in range(results.count())]
    assert shown and all(_neckline(i) != mine for i in shown)
    # The page says so too: every result's neckline label differs from the query's.
    for i in range(results.count()):
        expect(results.nth(i).locator('[data-attribute="neckline"]')).not_to_have_text(
            f"neckline: {mine}"
        )

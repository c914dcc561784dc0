"""Data health in Chromium: from the dashboard's leakage warning to the pairs and a fix."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from curation.models import Image, ImageStatus, Quarantine
from tests.support.browser import screenshot
from tests.support.hashes import clean, flip, plant
from tests.support.runs import finished_run

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DASHBOARD = "/datasets/dresses/attributes/neckline/quality/"


def test_data_scientist_follows_the_leakage_warning_and_quarantines_a_copy(
    imported, data_scientist, open_as
):
    hashes = clean(imported)
    plant(imported, {"img/5.png": hashes["img/0.png"], "img/4.png": flip(hashes["img/2.png"], 3)})
    finished_run(imported.attributes.get(name="neckline"))
    copy = Image.objects.get(source_path="img/5.png")
    original = Image.objects.get(source_path="img/0.png")

    page = open_as(data_scientist, DASHBOARD)
    warning = page.locator("#leakage")
    expect(warning).to_contain_text("2 test images are")
    expect(warning).to_contain_text("without")
    warning.get_by_role("link", name="See the pairs and fix them").click()

    expect(page.get_by_role("heading", name="Data health")).to_be_visible()
    pair = page.locator(f"#pair-{original.pk}-{copy.pk}")
    expect(pair).to_contain_text("0 bits apart")
    expect(page.locator("#leaked article.pair")).to_have_count(2)
    screenshot(page, "data-health")

    pair.get_by_role("button", name="Quarantine test image").click()
    expect(pair).to_contain_text(f"Quarantined image #{copy.pk}")
    assert Image.objects.get(pk=copy.pk).status == ImageStatus.QUARANTINED
    assert Quarantine.objects.get().actor_id == data_scientist.pk

    page.reload()
    expect(page.locator(f"#pair-{original.pk}-{copy.pk}")).to_have_count(0)
    expect(page.locator("#leaked article.pair")).to_have_count(1)

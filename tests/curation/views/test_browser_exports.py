"""In Chromium: a data scientist exports a catalog as a zip of folders, downloads it, imports
it again as a new dataset with the same labels; deletes a dataset; reads the API page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from curation.models import Dataset, Image
from curation.services.labels import relabel_image
from tests.support.catalogs import catalog_state

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_export_downloaded_and_imported_again_has_the_same_labels(
    imported, data_scientist, open_as, tmp_path
):
    image = Image.objects.filter(dataset=imported).order_by("id").first()
    neckline = imported.attributes.get(name="neckline")
    relabel_image(
        image=image,
        attribute=neckline,
        label=neckline.labels.get(name="boat"),
        actor=data_scientist,
    )
    page = open_as(data_scientist, "/datasets/dresses/")
    export = page.locator("#export")
    export.get_by_label("Folders named by").select_option(label="neckline")
    export.get_by_role("button", name="Export a zip of folders").click()
    expect(page).to_have_url(re.compile(r"/datasets/dresses/export/\d+/$"))
    expect(page.locator("#export-status")).to_have_text("succeeded")
    with page.expect_download() as download:
        page.locator("#export-download").click()
    archive = tmp_path / download.value.suggested_filename
    download.value.save_as(archive)

    page.goto("/import/")
    page.fill("#id_dataset", "copy")
    page.set_input_files("#id_upload", str(archive))
    page.check("#id_create")
    page.get_by_role("button", name="Start import").click()
    expect(page.locator("#progress strong")).to_have_text("succeeded")
    assert catalog_state(Dataset.objects.get(name="copy")) == catalog_state(imported)


def test_a_data_scientist_deletes_a_dataset_after_typing_its_name(
    imported, data_scientist, open_as
):
    page = open_as(data_scientist, "/datasets/dresses/")
    page.get_by_role("link", name="Delete this dataset…").click()
    page.get_by_label("Type dresses to confirm").fill("dress")
    page.get_by_role("button", name="Delete dresses").click()
    expect(page.locator(".error")).to_contain_text("type the dataset's name, dresses")
    page.get_by_label("Type dresses to confirm").fill("dresses")
    page.get_by_role("button", name="Delete dresses").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator(".flash")).to_contain_text("dresses is deleted")
    assert not Dataset.objects.filter(name="dresses").exists()  # the task ran (eager)
    assert page.goto("/datasets/dresses/").status == 404


def test_the_api_page_lists_the_endpoints_with_no_policy_violation(viewer, open_as):
    page = open_as(viewer, "/")
    violations: list[str] = []
    page.on(
        "console",
        lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.get_by_role("link", name="API", exact=True).click()
    expect(page).to_have_url(re.compile(r"/api-docs/$"))
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/runs/").first).to_be_visible()
    assert violations == []

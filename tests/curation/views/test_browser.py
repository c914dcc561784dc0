"""The pages in a real browser: Chromium through Playwright against pytest-django's live_server.

One browser per module and a fresh context (cookies, storage) per login. Set
BROWSER_SCREENSHOTS=/some/folder to keep full-page screenshots of the dataset and image pages.
"""

from __future__ import annotations

import re
import zipfile

import pytest
from playwright.sync_api import expect

from curation.models import Annotation, Dataset, Image, ImportJob, Label, LabelEvent
from curation.services.imports import import_catalog
from curation.services.labels import relabel_image
from tests.support.browser import screenshot
from tests.support.catalogs import write_manifest, write_png

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _history(page):
    """The rows of the image page's history table, newest first."""
    history = page.locator("section.card").filter(has=page.get_by_role("heading", name="History"))
    return history.locator("tbody tr")


def _label(dataset: Dataset, attribute: str, name: str) -> Label:
    return Label.objects.get(attribute__dataset=dataset, attribute__name=attribute, name=name)


def _neckline(image: Image) -> Annotation:
    return Annotation.objects.select_related("label").get(image=image, attribute__name="neckline")


def test_merchandiser_filters_the_gallery_by_a_label_and_walks_it_with_keys(
    imported, merchandiser, open_as
):
    page = open_as(merchandiser, "/datasets/dresses/")
    expect(page.locator(".badge.train").first).to_have_text("train 4")
    expect(page.locator(".badge.test").first).to_have_text("test 2")
    neckline = page.locator("section.card").filter(has=page.locator("h2", has_text="neckline"))
    v_neck_row = neckline.locator("tr").filter(has=page.get_by_role("link", name="v-neck"))
    expect(v_neck_row.locator("td.num")).to_have_text(["1", "1", "2"])
    screenshot(page, "dataset")

    v_neck_row.get_by_role("link", name="v-neck").click()
    tiles = page.locator("#gallery-page a.tile")
    expect(tiles).to_have_count(2)
    wanted = Image.objects.filter(source_path__in=["img/1.png", "img/4.png"]).order_by("id")
    assert [tiles.nth(i).get_attribute("href") for i in range(2)] == [
        im.get_absolute_url() for im in wanted
    ]

    active_href = "() => document.activeElement.getAttribute('href')"
    page.keyboard.press("j")
    assert page.evaluate(active_href) == wanted[0].get_absolute_url()
    page.keyboard.press("j")
    assert page.evaluate(active_href) == wanted[1].get_absolute_url()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(re.escape(wanted[1].get_absolute_url()) + "$"))
    expect(page.locator("h1")).to_have_text("img/4.png")


def test_merchandiser_relabels_and_reverts_without_a_page_reload(imported, merchandiser, open_as):
    image = Image.objects.get(source_path="img/0.png")
    round_, v_neck = _label(imported, "neckline", "round"), _label(imported, "neckline", "v-neck")
    page = open_as(merchandiser, image.get_absolute_url())
    page.evaluate("window.__marker = 1")
    picker = page.get_by_label("neckline", exact=True)

    picker.select_option(str(v_neck.pk))
    newest = _history(page).first
    expect(newest).to_contain_text("round → v-neck")
    expect(newest).to_contain_text("manual")
    expect(newest).to_contain_text("max_merch")
    expect(page.get_by_label("neckline", exact=True)).to_have_value(str(v_neck.pk))
    assert page.evaluate("window.__marker") == 1
    annotation = _neckline(image)
    assert (annotation.label_id, annotation.version, annotation.updated_by_id) == (
        v_neck.pk,
        2,
        merchandiser.pk,
    )
    manual = LabelEvent.objects.get(image=image, source="manual")
    assert (manual.old_label_id, manual.new_label_id, manual.actor_id) == (
        round_.pk,
        v_neck.pk,
        merchandiser.pk,
    )
    screenshot(page, "image")

    newest.get_by_role("button", name="Revert").click()
    newest = _history(page).first
    expect(newest).to_contain_text("v-neck → round")
    expect(newest).to_contain_text("revert")
    expect(_history(page).nth(1)).to_contain_text("reverted")
    expect(page.get_by_label("neckline", exact=True)).to_have_value(str(round_.pk))
    assert page.evaluate("window.__marker") == 1
    annotation = _neckline(image)
    assert (annotation.label_id, annotation.version) == (round_.pk, 3)
    revert = LabelEvent.objects.get(image=image, source="revert")
    assert (revert.old_label_id, revert.new_label_id, revert.reverts_id) == (
        v_neck.pk,
        round_.pk,
        manual.pk,
    )


def test_a_number_key_picks_that_label_of_the_first_attribute(imported, merchandiser, open_as):
    image = Image.objects.get(source_path="img/0.png")
    boat = _label(imported, "neckline", "boat")
    page = open_as(merchandiser, image.get_absolute_url())

    page.keyboard.press("3")
    expect(page.get_by_label("neckline", exact=True)).to_have_value(str(boat.pk))
    expect(_history(page).first).to_contain_text("round → boat")
    assert _neckline(image).label_id == boat.pk


def test_merchandiser_types_a_reason_and_sees_it_in_the_history(imported, merchandiser, open_as):
    image = Image.objects.get(source_path="img/0.png")
    boat = _label(imported, "neckline", "boat")
    page = open_as(merchandiser, image.get_absolute_url())

    page.get_by_label("Reason for the neckline change").fill("the collar is wide and flat")
    page.get_by_label("neckline", exact=True).select_option(str(boat.pk))

    newest = _history(page).first
    expect(newest).to_contain_text("round → boat")
    expect(newest).to_contain_text("the collar is wide and flat")
    expect(page.get_by_label("Reason for the neckline change")).to_have_value("")
    event = LabelEvent.objects.get(image=image, source="manual")
    assert (event.new_label_id, event.note) == (boat.pk, "the collar is wide and flat")

    page.keyboard.press("1")  # keys need no reason: one press, no prompt
    expect(_history(page).first).to_contain_text("boat → round")
    assert LabelEvent.objects.filter(image=image, source="manual").latest("id").note == ""


def test_a_stale_edit_names_who_changed_the_label_and_keeps_their_change(
    imported, merchandiser, data_scientist, open_as
):
    image = Image.objects.get(source_path="img/0.png")
    v_neck, boat = _label(imported, "neckline", "v-neck"), _label(imported, "neckline", "boat")
    page_a = open_as(merchandiser, image.get_absolute_url())
    page_b = open_as(data_scientist, image.get_absolute_url())

    page_a.get_by_label("neckline", exact=True).select_option(str(v_neck.pk))
    expect(_history(page_a).first).to_contain_text("round → v-neck")
    with page_b.expect_response(re.compile(r"/relabel/$")) as response:
        page_b.get_by_label("neckline", exact=True).select_option(str(boat.pk))
    assert response.value.status == 409

    expect(page_b.get_by_role("alert")).to_have_text(
        "Not saved: max_merch changed neckline to v-neck since you loaded the page."
    )
    expect(page_b.get_by_label("neckline", exact=True)).to_have_value(str(v_neck.pk))
    annotation = _neckline(image)
    assert (annotation.label_id, annotation.version) == (v_neck.pk, 2)
    assert LabelEvent.objects.filter(image=image, source="manual").count() == 1


def test_a_stale_revert_says_why_and_keeps_the_later_change(
    imported, merchandiser, data_scientist, open_as
):
    image = Image.objects.get(source_path="img/0.png")
    neckline = imported.attributes.get(name="neckline")
    v_neck, boat = _label(imported, "neckline", "v-neck"), _label(imported, "neckline", "boat")
    relabel_image(image=image, attribute=neckline, label=v_neck, actor=merchandiser)
    page = open_as(merchandiser, image.get_absolute_url())
    relabel_image(image=image, attribute=neckline, label=boat, actor=data_scientist)

    with page.expect_response(re.compile(r"/revert/$")) as response:
        _history(page).first.get_by_role("button", name="Revert").click()
    assert response.value.status == 409
    expect(page.get_by_role("alert")).to_contain_text(
        "Not reverted: the label has changed since this event (it is now boat)"
    )
    expect(page.get_by_label("neckline", exact=True)).to_have_value(str(boat.pk))
    assert _neckline(image).label_id == boat.pk
    assert not LabelEvent.objects.filter(image=image, source="revert").exists()


def test_viewer_sees_labels_and_history_but_no_controls(imported, merchandiser, viewer, open_as):
    image = Image.objects.get(source_path="img/0.png")
    relabel_image(
        image=image,
        attribute=imported.attributes.get(name="neckline"),
        label=_label(imported, "neckline", "v-neck"),
        actor=merchandiser,
    )
    page = open_as(viewer, image.get_absolute_url())

    expect(_history(page).first).to_contain_text("round → v-neck")
    labels = page.locator("section.card").filter(has=page.get_by_role("heading", name="Labels"))
    expect(labels.get_by_role("row", name="neckline")).to_contain_text("v-neck")
    # No label pickers (the look-alike search below the labels is for everyone).
    expect(page.locator("#labels-and-history select")).to_have_count(0)
    expect(page.get_by_role("button", name="Revert")).to_have_count(0)


@pytest.fixture
def many_images(tmp_path, db) -> Dataset:
    """65 distinct images: one more page than the gallery's 60."""
    root = tmp_path / "many"
    rows = []
    for i in range(65):
        write_png(root / f"{i}.png", colour=(i * 3, 255 - i * 3, (i * 37) % 256), size=(8, 8))
        rows.append([f"{i}.png", f"sku-{i}", "train", "round"])
    write_manifest(root, ["path", "product", "split", "neckline"], rows)
    report = import_catalog(str(root), dataset_name="many", create=True)
    assert report.created == 65, report.to_dict()
    return Dataset.objects.get(name="many")


def test_next_images_loads_the_next_page_of_tiles_in_place(many_images, viewer, open_as):
    page = open_as(viewer, "/datasets/many/")
    page.evaluate("window.__marker = 1")
    tiles = page.locator("#gallery-page a.tile:not(.more)")
    expect(tiles).to_have_count(60)

    page.get_by_role("link", name="Next images →").click()
    expect(tiles).to_have_count(65)
    expect(page.locator("#more")).to_have_count(0)
    assert page.evaluate("window.__marker") == 1
    last = Image.objects.filter(dataset=many_images).order_by("-id").first()
    expect(tiles.last).to_have_attribute("href", last.get_absolute_url())


def test_data_scientist_uploads_a_zip_and_watches_the_import_finish(
    small_catalog, data_scientist, open_as, tmp_path
):
    archive = tmp_path / "catalog.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted(small_catalog.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(small_catalog).as_posix())
    page = open_as(data_scientist, "/import/")

    page.fill("#id_dataset", "uploaded")
    page.set_input_files("#id_upload", str(archive))
    page.check("#id_create")
    page.get_by_role("button", name="Start import").click()

    expect(page).to_have_url(re.compile(r"/import/\d+/$"))
    progress = page.locator("#progress")
    expect(progress.locator("strong")).to_have_text("succeeded")
    expect(progress.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(progress.get_by_role("row", name="Created").get_by_role("cell")).to_have_text("6")
    expect(progress.get_by_role("row", name="Errors").get_by_role("cell")).to_have_text("0")
    job = ImportJob.objects.get()
    assert (job.status, job.dataset_name, job.report["created"]) == ("succeeded", "uploaded", 6)
    assert Image.objects.filter(dataset__name="uploaded").count() == 6


def test_picking_an_architecture_fills_in_its_defaults_on_the_retrain_form(
    imported, data_scientist, open_as
):
    page = open_as(data_scientist, "/datasets/dresses/attributes/neckline/retrain/")
    epochs = page.get_by_label("Epochs", exact=True)  # not "Epochs per fold"
    size = page.get_by_label("Image size (px)")
    weights = page.get_by_label("Start from ImageNet weights (EfficientNet-Lite0 only)")
    expect(epochs).to_have_value("3")  # small images: the Lite0 recipe by default
    expect(weights).to_be_checked()
    page.get_by_label("Arch").select_option("resnet50")
    expect(epochs).to_have_value("8")  # the small-image ResNet recipe
    expect(weights).not_to_be_checked()
    page.get_by_label("Arch").select_option("efficientnet_lite0")
    expect(epochs).to_have_value("3")
    expect(size).to_have_value("32")
    expect(weights).to_be_checked()

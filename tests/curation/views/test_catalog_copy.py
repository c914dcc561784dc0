"""Copy that suits the catalog: the dataset list's test share from the data, the quarantine
table's SKU, 'similar items' outside a dress catalog and no box line without boxes, and
small photos scaled up smoothly on the image page."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from curation.models import Dataset, Image
from curation.services.imports import import_catalog
from tests.support.catalogs import write_manifest, write_png

pytestmark = pytest.mark.django_db


def test_the_dataset_list_shows_the_test_share_of_the_data(client, viewer, imported):
    assert imported.test_fraction == pytest.approx(0.2)  # the setting: 2 of 6 are test
    client.force_login(viewer)

    page = client.get("/").content.decode()

    assert "33%" in page and "(2 of 6)" in page
    assert "20%" not in page


def test_the_quarantine_table_shows_the_sku(client, viewer, tmp_path):
    root = tmp_path / "c"
    write_png(root / "ok.png")
    (root / "broken.png").write_bytes(b"")
    write_manifest(
        root,
        ["path", "product", "neckline"],
        [["ok.png", "SKU-1", "a"], ["broken.png", "SKU-Q", "a"]],
    )
    import_catalog(str(root), dataset_name="shop", create=True)
    broken = Image.objects.get(source_path="broken.png")
    client.force_login(viewer)

    page = client.get("/datasets/shop/").content.decode()

    assert "<td>SKU-Q</td>" in page
    assert f"<td>{broken.product_id}</td>" not in page


def test_a_fashion_mnist_like_page_says_items_and_has_no_box_line(client, viewer, tmp_path):
    root = tmp_path / "c"
    write_png(root / "0.png", size=(28, 28), mode="L", colour=90)
    write_manifest(root, ["path", "category"], [["0.png", "T-shirt/top"]])
    import_catalog(str(root), dataset_name="fashion-mnist", create=True)
    image = Image.objects.get()
    client.force_login(viewer)

    page = client.get(image.get_absolute_url()).content.decode()

    assert "Similar items" in page and "dresses" not in page.lower().replace("fashion-mnist", "")
    assert "Dress box" not in page and "<th>Box</th>" not in page


def test_a_dress_page_keeps_its_words(client, viewer, imported):
    image = Image.objects.filter(dataset=imported).first()
    client.force_login(viewer)

    page = client.get(image.get_absolute_url()).content.decode()

    assert Dataset.objects.get(name="dresses").items_word == "dresses"
    assert "Similar dresses" in page


def test_the_image_page_scales_a_small_photo_smoothly():
    css = (Path(django_settings.BASE_DIR) / "static" / "css" / "app.css").read_text()
    rule = re.search(r"^\.photo \{([^}]*)\}", css, re.MULTILINE)
    assert rule is not None
    rendering = re.search(r"image-rendering:\s*([\w-]+)", rule.group(1))
    assert rendering is None or rendering.group(1) in {"auto", "smooth", "high-quality"}

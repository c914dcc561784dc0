"""The split of a product and its images never changes, whatever path the change takes."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from curation.models import Image, LabelEvent, Product, SplitMove

pytestmark = pytest.mark.django_db

IMMUTABLE = "split is immutable"


def _train_product(imported) -> Product:
    return Product.objects.get(dataset=imported, key="sku-0")


def test_orm_save_cannot_change_a_product_split(imported):
    product = _train_product(imported)
    product.split = "test"
    with pytest.raises(IntegrityError, match=IMMUTABLE), transaction.atomic():
        product.save()
    assert Product.objects.get(pk=product.pk).split == "train"


def test_orm_save_cannot_change_an_image_split(imported):
    image = Image.objects.filter(split="train").first()
    image.split = "test"
    with pytest.raises(IntegrityError, match=IMMUTABLE), transaction.atomic():
        image.save(update_fields=["split"])
    assert Image.objects.get(pk=image.pk).split == "train"


def test_queryset_update_cannot_change_splits(imported):
    with pytest.raises(IntegrityError, match=IMMUTABLE), transaction.atomic():
        Image.objects.filter(dataset=imported).update(split="test")
    with pytest.raises(IntegrityError, match=IMMUTABLE), transaction.atomic():
        Product.objects.filter(dataset=imported).update(split="train")
    assert Image.objects.filter(split="test").count() == 2


def test_bulk_update_cannot_change_splits(imported):
    images = list(Image.objects.filter(split="train"))
    for image in images:
        image.split = "test"
    with pytest.raises(IntegrityError, match=IMMUTABLE), transaction.atomic():
        Image.objects.bulk_update(images, ["split"])
    assert Image.objects.filter(split="train").count() == 4


def test_raw_sql_cannot_change_splits(imported):
    product = _train_product(imported)
    with (
        pytest.raises(IntegrityError, match=IMMUTABLE),
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        cur.execute("UPDATE curation_product SET split = 'test' WHERE id = %s", [product.pk])
    with (
        pytest.raises(IntegrityError, match=IMMUTABLE),
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        cur.execute("UPDATE curation_image SET split = 'test' WHERE product_id = %s", [product.pk])


def test_an_image_cannot_be_created_in_or_moved_to_another_split(imported):
    train = _train_product(imported)
    test_product = Product.objects.get(dataset=imported, key="sku-2")
    with pytest.raises(IntegrityError), transaction.atomic():
        Image.objects.create(
            dataset=imported, product=train, split="test", source_path="x", sha256="x"
        )
    image = Image.objects.filter(product=train).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Image.objects.filter(pk=image.pk).update(product=test_product)


def test_saving_other_fields_still_works(imported):
    image = Image.objects.first()
    image.format = "PNG"
    image.save()
    product = _train_product(imported)
    product.key = "sku-0-renamed"
    product.save()
    assert Image.objects.get(pk=image.pk).format == "PNG"
    assert Product.objects.get(pk=product.pk).key == "sku-0-renamed"


def test_the_admin_cannot_change_a_split(imported, client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="root-password")
    client.force_login(admin)
    product = _train_product(imported)
    url = f"/admin/curation/product/{product.pk}/change/"
    page = client.get(url)
    assert page.status_code == 200 and 'name="split"' not in page.content.decode()
    client.post(url, {"dataset": imported.pk, "key": product.key, "split": "test"})
    assert Product.objects.get(pk=product.pk).split == "train"


def test_move_split_is_the_one_audited_way(imported):
    call_command(
        "move_split",
        dataset="dresses",
        product="sku-0",
        to="test",
        reason="taxonomy v2",
        actor="dana",
    )
    assert set(Image.objects.filter(product__key="sku-0").values_list("split", flat=True)) == {
        "test"
    }
    move = SplitMove.objects.get()
    assert (move.old_split, move.new_split, move.reason, move.actor, move.pending) == (
        "train",
        "test",
        "taxonomy v2",
        "dana",
        False,
    )
    # The completed move does not open the door for further changes.
    with pytest.raises(IntegrityError, match=IMMUTABLE), transaction.atomic():
        Product.objects.filter(key="sku-0").update(split="train")


def test_move_split_explains_bad_requests(imported):
    with pytest.raises(CommandError, match="already in the train split"):
        call_command("move_split", dataset="dresses", product="sku-0", to="train", reason="r")
    with pytest.raises(CommandError, match="no product 'nope'"):
        call_command("move_split", dataset="dresses", product="nope", to="test", reason="r")


def test_label_history_is_append_only(imported):
    event = LabelEvent.objects.first()
    event.note = "rewritten"
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        event.save()
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cur,
    ):
        cur.execute("UPDATE curation_labelevent SET source = 'manual'")

"""The data-health fixes: quarantine one image, or move a leaked image's product."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from curation.models import Image, ImageStatus, Quarantine, SplitMove, SplitTally
from curation.queries import catalog, health
from curation.services.health import move_image_product, quarantine_image
from tests.support.hashes import clean, plant

pytestmark = pytest.mark.django_db


@pytest.fixture
def leaked(imported):
    """img/5 (test) is a copy of img/0 (train)."""
    hashes = clean(imported)
    plant(imported, {"img/5.png": hashes["img/0.png"]})
    return Image.objects.select_related("dataset", "product").get(source_path="img/5.png")


def test_quarantine_takes_the_image_out_of_counts_and_pairs_with_a_record(leaked, data_scientist):
    neckline = leaked.dataset.attributes.get(name="neckline")
    before = catalog.label_counts(leaked.dataset, [neckline])[neckline.pk]
    assert health.search(leaked.dataset).leaked

    record = quarantine_image(image=leaked, reason="copy of img/0", actor=data_scientist)

    image = Image.objects.get(pk=leaked.pk)
    assert (image.status, image.quarantine_reason) == (ImageStatus.QUARANTINED, "copy of img/0")
    assert (record.image_id, record.actor_id, record.reason) == (
        leaked.pk,
        data_scientist.pk,
        "copy of img/0",
    )
    assert SplitTally.objects.get(dataset=leaked.dataset, split="test").n == 1
    after = catalog.label_counts(leaked.dataset, [neckline])[neckline.pk]
    assert sum(r.test for r in after) == sum(r.test for r in before) - 1
    assert health.search(leaked.dataset).leaked == []


def test_quarantining_twice_is_refused_by_name(leaked, data_scientist):
    quarantine_image(image=leaked, reason="copy", actor=data_scientist)
    with pytest.raises(ValueError, match=r"img/5.png\) is already quarantined"):
        quarantine_image(image=leaked, reason="copy", actor=data_scientist)
    assert Quarantine.objects.count() == 1


def test_quarantine_needs_a_reason(leaked, data_scientist):
    with pytest.raises(ValueError, match="a reason is required"):
        quarantine_image(image=leaked, reason="  ", actor=data_scientist)
    assert Image.objects.get(pk=leaked.pk).status == ImageStatus.OK


def test_moving_the_test_product_to_train_ends_the_leak_with_a_split_move(leaked, data_scientist):
    move = move_image_product(
        image=leaked, to_split="train", reason="near-copy of img/0", actor=data_scientist
    )
    assert (move.old_split, move.new_split, move.actor, move.pending) == (
        "test",
        "train",
        data_scientist.username,
        False,
    )
    assert set(Image.objects.filter(product=leaked.product).values_list("split", flat=True)) == {
        "train"
    }
    assert SplitTally.objects.get(dataset=leaked.dataset, split="test").n == 0
    assert health.search(leaked.dataset).leaked == []


def test_moving_to_the_split_it_is_in_is_refused(leaked, data_scientist):
    with pytest.raises(ValueError, match="already in the test split"):
        move_image_product(image=leaked, to_split="test", reason="x", actor=data_scientist)
    assert not SplitMove.objects.exists()


@pytest.mark.parametrize("fix", ["quarantine", "move"])
def test_a_merchandiser_cannot_fix(leaked, merchandiser, fix):
    with pytest.raises(PermissionDenied, match="data scientist or admin needed"):
        if fix == "quarantine":
            quarantine_image(image=leaked, reason="copy", actor=merchandiser)
        else:
            move_image_product(image=leaked, to_split="train", reason="copy", actor=merchandiser)
    assert Image.objects.get(pk=leaked.pk).status == ImageStatus.OK
    assert Image.objects.get(pk=leaked.pk).split == "test"

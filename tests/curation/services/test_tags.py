"""Tags on images: one and many, idempotent, per dataset, names checked, roles respected."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from curation.models import Image, ImageTag, Tag
from curation.services.datasets import create_dataset
from curation.services.tags import BadTag, clean_tag_name, tag_images, untag_images

pytestmark = pytest.mark.django_db


def _ids(dataset) -> list[int]:
    return list(Image.objects.filter(dataset=dataset).order_by("id").values_list("pk", flat=True))


def test_tagging_one_image_and_a_selection(imported, merchandiser):
    ids = _ids(imported)
    tag, added = tag_images(
        dataset=imported, image_ids=[ids[0]], name="reshoot", actor=merchandiser
    )
    assert added == 1 and tag.name == "reshoot"
    _, added = tag_images(dataset=imported, image_ids=ids[:3], name="Reshoot ", actor=merchandiser)
    assert added == 2  # the first already had it
    rows = ImageTag.objects.filter(tag=tag)
    assert sorted(rows.values_list("image_id", flat=True)) == ids[:3]
    assert set(rows.values_list("by", flat=True)) == {merchandiser.pk}
    assert Tag.objects.filter(dataset=imported).count() == 1


def test_untagging_takes_it_off_and_keeps_the_tag(imported, merchandiser):
    ids = _ids(imported)
    tag_images(dataset=imported, image_ids=ids, name="ambiguous", actor=merchandiser)
    removed = untag_images(
        dataset=imported, image_ids=ids[:2], name="ambiguous", actor=merchandiser
    )
    assert removed == 2
    assert ImageTag.objects.filter(tag__name="ambiguous").count() == len(ids) - 2
    assert (
        untag_images(dataset=imported, image_ids=ids[:2], name="ambiguous", actor=merchandiser) == 0
    )
    assert Tag.objects.filter(dataset=imported, name="ambiguous").exists()


def test_images_of_another_dataset_are_left_alone(imported, merchandiser):
    other = create_dataset(name="shoes", attributes={"colour": ["red"]})
    _, added = tag_images(
        dataset=other, image_ids=_ids(imported), name="reshoot", actor=merchandiser
    )
    assert added == 0 and not ImageTag.objects.exists()


def test_a_viewer_may_not_tag(imported, viewer):
    with pytest.raises(PermissionDenied):
        tag_images(dataset=imported, image_ids=_ids(imported), name="reshoot", actor=viewer)
    assert not Tag.objects.exists()


@pytest.mark.parametrize("raw", ["", "   ", "x" * 41, "-dash-first", "semi;colon", "<b>"])
def test_an_unusable_name_is_refused(raw):
    with pytest.raises(BadTag):
        clean_tag_name(raw)


def test_names_are_trimmed_and_lower_cased():
    assert clean_tag_name("  Needs   Reshoot ") == "needs reshoot"

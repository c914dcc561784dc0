"""Tags on images: one image or a selection at once. A tag is made the first time someone
uses its name in a dataset; tagging twice, or untagging an image without the tag, is a
no-op."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import transaction

from curation import roles
from curation.models import Dataset, Image, ImageTag, Tag

NAME_MAX = 40
SUGGESTED = ("ambiguous", "reshoot")  # offered by the sidebar; any other name works too
MAX_IMAGES = 1000  # images tagged in one request (a gallery page holds 60)
_NAME = re.compile(r"[a-z0-9][a-z0-9 _.-]*")


class BadTag(ValueError):
    """A tag name people cannot use; the message says why and what to type instead."""


def clean_tag_name(raw: str) -> str:
    """`raw` trimmed, lower-cased, inner runs of spaces made one; BadTag if unusable."""
    name = " ".join(raw.split()).lower()
    if not name:
        raise BadTag("Give the tag a name, e.g. ambiguous or reshoot.")
    if len(name) > NAME_MAX:
        raise BadTag(f"A tag name is at most {NAME_MAX} characters; {name[:20]!r}... is longer.")
    if not _NAME.fullmatch(name):
        raise BadTag(
            f"{name!r} is not a tag name: use letters a-z, digits, spaces, '-', '_' or '.', "
            "starting with a letter or digit."
        )
    return name


def _dataset_images(dataset: Dataset, image_ids: Iterable[int]) -> list[int]:
    ids = sorted(set(image_ids))
    if len(ids) > MAX_IMAGES:
        raise BadTag(f"Tag at most {MAX_IMAGES} images at once (this was {len(ids)}).")
    return list(Image.objects.filter(dataset=dataset, pk__in=ids).values_list("pk", flat=True))


@transaction.atomic
def tag_images(*, dataset: Dataset, image_ids: Iterable[int], name: str, actor) -> tuple[Tag, int]:
    """Put the tag `name` on those of `image_ids` in `dataset`. Returns (tag, images newly
    tagged)."""
    roles.check(actor, "tag")
    clean = clean_tag_name(name)
    ids = _dataset_images(dataset, image_ids)
    tag, _ = Tag.objects.get_or_create(dataset=dataset, name=clean)
    had = set(ImageTag.objects.filter(tag=tag, image_id__in=ids).values_list("image_id", flat=True))
    new = [ImageTag(image_id=i, tag=tag, by=actor) for i in ids if i not in had]
    ImageTag.objects.bulk_create(new, ignore_conflicts=True)  # a concurrent tagger's are kept
    return tag, len(new)


@transaction.atomic
def untag_images(*, dataset: Dataset, image_ids: Iterable[int], name: str, actor) -> int:
    """Take the tag `name` off those of `image_ids` in `dataset`. Returns how many had it.
    The tag itself stays (saved views may name it)."""
    roles.check(actor, "tag")
    clean = clean_tag_name(name)
    ids = _dataset_images(dataset, image_ids)
    removed, _ = ImageTag.objects.filter(
        tag__dataset=dataset, tag__name=clean, image_id__in=ids
    ).delete()
    return removed

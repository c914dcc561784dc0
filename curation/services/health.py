"""Fixes for what the data-health page finds: move a leaked image's product to the other
split (the audited split move), or take one image out of use (quarantine, audited too).

Both refresh what they change in one transaction: the split and label tallies follow the
image's status and split by database triggers (migrations 0006, 0008), and a run's stored
aggregates count its frozen rows, which neither fix touches.
"""

from __future__ import annotations

from django.db import transaction

from curation import roles
from curation.models import Image, ImageStatus, Quarantine, SplitMove
from curation.services.splits import move_product_split


def quarantine_image(*, image: Image, reason: str, actor) -> Quarantine:
    """Take one usable image out of the catalog's counts, searches and future runs.

    Raises ValueError when the reason is empty or the image is already quarantined."""
    roles.check(actor, "quarantine")
    reason = reason.strip()
    if not reason:
        raise ValueError("a reason is required to quarantine an image")
    with transaction.atomic():
        changed = Image.objects.filter(pk=image.pk, status=ImageStatus.OK).update(
            status=ImageStatus.QUARANTINED, quarantine_reason=reason[:500]
        )
        if not changed:
            raise ValueError(f"image #{image.pk} ({image.source_path}) is already quarantined")
        record = Quarantine.objects.create(image=image, reason=reason[:500], actor=actor)
    image.status, image.quarantine_reason = ImageStatus.QUARANTINED, reason[:500]
    return record


def move_image_product(*, image: Image, to_split: str, reason: str, actor) -> SplitMove:
    """Move the product of `image` (all its photos) to `to_split`, through the audited move.

    Raises ValueError when the product is already there or the reason is empty."""
    roles.check(actor, "move_split")
    return move_product_split(
        dataset=image.dataset,
        product_key=image.product.key,
        to_split=to_split,
        reason=reason,
        actor=actor.username,
    )

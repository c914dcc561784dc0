"""Signed, expiring links to an image's file, for an outside crowd that has no login.

A link carries the image id signed with the site's secret and the time it was made
(django.core.signing.TimestampSigner); it works for CURATION_CROWD_LINK_HOURS after that.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing

SALT = "curation.crowd-image"


class LinkExpired(Exception):
    """The signature is good but older than the allowed age."""


class LinkInvalid(Exception):
    """The link was not made here, or was changed."""


def sign_image(image_id: int) -> str:
    return signing.TimestampSigner(salt=SALT).sign(str(image_id))


def image_of_link(token: str) -> int:
    """The image id a link names; LinkExpired or LinkInvalid when it can't be used."""
    max_age = settings.CURATION_CROWD_LINK_HOURS * 3600
    try:
        value = signing.TimestampSigner(salt=SALT).unsign(token, max_age=max_age)
    except signing.SignatureExpired:
        raise LinkExpired from None
    except signing.BadSignature:
        raise LinkInvalid from None
    if not value.isascii() or not value.isdigit():
        raise LinkInvalid
    return int(value)

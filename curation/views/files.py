"""Stored image files as responses."""

from __future__ import annotations

import mimetypes

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404


def serve_stored_file(key: str):
    """A stored image file (original or thumbnail) by its storage key, or a 404 that says why."""
    if not key:
        raise Http404("This image has no stored file (it may be quarantined).")
    try:
        handle = default_storage.open(key, "rb")
    except FileNotFoundError:
        raise Http404("The stored file is missing from storage.") from None
    response = FileResponse(
        handle, content_type=mimetypes.guess_type(key)[0] or "application/octet-stream"
    )
    # Keys are content-addressed: the bytes behind a URL never change.
    response["Cache-Control"] = "private, max-age=31536000, immutable"
    # Originals are stored as uploaded: should one also parse as HTML or script, a browser
    # opening it directly still runs nothing (nosniff comes from SecurityMiddleware).
    response["Content-Security-Policy"] = "default-src 'none'; img-src 'self'; sandbox"
    return response

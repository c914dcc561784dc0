"""Content-addressed writes to the app's storage.

A key names its bytes (sha256), so a key that exists already holds exactly these bytes and is
never rewritten. Local storage takes a fast path (temp file + hard link: atomic, never
overwrites, no half-written file under the final name); other storages go through the
Storage API.
"""

from __future__ import annotations

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage, storages

from curation.probe import put_local_blob


def local_storage_location() -> str | None:
    """The folder of the default storage when it is local files, else None."""
    storage = storages["default"]
    return str(storage.location) if isinstance(storage, FileSystemStorage) else None


def put_blob(key: str, data: bytes) -> bool:
    """Store `data` under `key` unless it is there already. Returns True if it wrote."""
    location = local_storage_location()
    if location is not None:
        return put_local_blob(location, key, data)
    if default_storage.exists(key):
        return False
    default_storage.save(key, ContentFile(data))
    return True


def delete_blob(key: str) -> None:
    default_storage.delete(key)

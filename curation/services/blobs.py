"""Content-addressed writes to the app's storage.

A key names its bytes (sha256), so a key that exists already holds exactly these bytes and is
never rewritten. Local storage takes a fast path (temp file + hard link: atomic, never
overwrites, no half-written file under the final name); other storages go through the
Storage API.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage, storages

_made_dirs: set[str] = set()


def put_blob(key: str, data: bytes) -> bool:
    """Store `data` under `key` unless it is there already. Returns True if it wrote."""
    storage = storages["default"]
    if not isinstance(storage, FileSystemStorage):
        if default_storage.exists(key):
            return False
        default_storage.save(key, ContentFile(data))
        return True
    final = Path(storage.path(key))
    folder = str(final.parent)
    if folder not in _made_dirs:
        os.makedirs(folder, exist_ok=True)
        _made_dirs.add(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.link(tmp, final)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def delete_blob(key: str) -> None:
    default_storage.delete(key)

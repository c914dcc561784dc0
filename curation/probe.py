"""Reading, checking and storing one catalog file: the per-image work of an import.

Django-free, so it runs in worker processes (spawned, importing only Pillow) as well as in
threads. A local source with local storage uses processes and so both cores; other sources
and storages go through threads with the Storage API (see services/imports.py).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from curation.imaging import (
    ImageFacts,
    Rejection,
    inspect_image,
    original_key,
    sha256_of,
    thumbnail_key,
)


@dataclass(frozen=True)
class ProbeLimits:
    max_pixels: int
    thumbnail_px: int
    max_bytes: int


@dataclass
class Probe:
    result: ImageFacts | Rejection | None = None  # None: an existing image, bytes unchanged
    error: str = ""  # the row can't be imported (missing file, unsafe path, too large)
    new_files: list[str] = field(default_factory=list)  # storage keys this probe created


def probe_bytes(
    data: bytes,
    *,
    path: str,
    known_sha: str | None,
    store: bool,
    limits: ProbeLimits,
    put: Callable[[str, bytes], bool],
) -> Probe:
    """Check `data`; when `store`, put a good image's original and thumbnail into storage.

    known_sha: the sha256 of the image already imported from this path (status ok), if any.
    """
    if known_sha is not None and sha256_of(data) == known_sha:
        return Probe()
    result = inspect_image(
        data, name=path, max_pixels=limits.max_pixels, thumbnail_px=limits.thumbnail_px
    )
    probe = Probe(result=result)
    if store and isinstance(result, ImageFacts):
        key = original_key(result.sha256, result.extension)
        if put(key, data):
            probe.new_files.append(key)
        if result.thumbnail is not None and put(thumbnail_key(result.sha256), result.thumbnail):
            probe.new_files.append(thumbnail_key(result.sha256))
    return probe


def read_local(root: Path, relpath: str, max_bytes: int) -> bytes:
    """Read a catalog file under `root`; refuse symlinks out of it and oversized files."""
    full = (root / relpath).resolve()
    if not full.is_relative_to(root):
        raise PermissionError(f"path '{relpath}' leaves the catalog folder through a symlink")
    if not full.is_file():
        raise FileNotFoundError(f"file not found: {relpath}")
    if full.stat().st_size > max_bytes:
        raise ValueError(f"file is larger than {max_bytes // (1024 * 1024)} MB")
    return full.read_bytes()


_made_dirs: set[str] = set()


def put_local_blob(location: str, key: str, data: bytes) -> bool:
    """Write a content-addressed file atomically: temp file + hard link, never overwriting."""
    final = os.path.join(location, key)
    folder = os.path.dirname(final)
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


@dataclass(frozen=True)
class LocalJob:
    """Everything a worker process needs for one row of a local catalog into local storage."""

    root: str
    path: str
    known_sha: str | None
    store: bool
    limits: ProbeLimits
    storage_location: str


def probe_local(job: LocalJob) -> Probe:
    try:
        data = read_local(Path(job.root), job.path, job.limits.max_bytes)
    except (FileNotFoundError, PermissionError, ValueError) as exc:
        return Probe(error=str(exc))
    except OSError as exc:
        return Probe(error=f"cannot read {job.path}: {exc.strerror or exc}")
    return probe_bytes(
        data,
        path=job.path,
        known_sha=job.known_sha,
        store=job.store,
        limits=job.limits,
        put=lambda key, payload: put_local_blob(job.storage_location, key, payload),
    )

"""Unpacking an uploaded .zip without trusting it.

Everything the central directory declares is checked before a byte is written: names
(zip-slip, length, duplicates, a file and a folder with one name), entry types (symlinks,
devices), encryption, compression method, entry count, sizes and compression ratio. Then
each entry is streamed to its own new file with a byte cap per entry and in total, so a
header that lies about its size can't write more than it declared. Any error the zipfile
module, a decompressor or the filesystem raises becomes an ArchiveError naming the entry;
the caller removes the half-unpacked folder.
"""

from __future__ import annotations

import lzma
import stat
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from curation.services.sources import SourceError, UnsafePath, clean_relpath

MAX_ENTRIES = 50_000
# The central directory is parsed into memory before any entry is looked at: bound it.
MAX_DIRECTORY_BYTES = 16 * 1024 * 1024
MAX_COMPONENT_BYTES = 255  # NAME_MAX on Linux and macOS
MAX_NAME_BYTES = 1024  # the manifest's `path` column holds at most 1024 characters
# Photos don't compress; a CSV manages 20:1. Deflate tops out near 1032:1, so anything
# past this on a sizeable entry is a bomb.
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024  # below this an entry can't hurt, whatever its ratio
SUPPORTED_METHODS = {
    zipfile.ZIP_STORED: "stored",
    zipfile.ZIP_DEFLATED: "deflate",
    zipfile.ZIP_BZIP2: "bzip2",
    zipfile.ZIP_LZMA: "lzma",
}
CHUNK = 1024 * 1024
# What the zipfile module and the decompressors raise on damaged data.
DAMAGE = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
)
EOCD = struct.Struct("<4s4H2LH")  # end of central directory record
ZIP64_LOCATOR = struct.Struct("<4sLQL")
ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")


class ArchiveError(SourceError):
    """The archive (or one entry of it, named in the message) can't be unpacked."""


@dataclass(frozen=True)
class Limits:
    total_bytes: int  # all entries together, unpacked
    entry_bytes: int  # one entry, unpacked


def unpack_zip(upload: BinaryIO, target: Path, *, name: str, limits: Limits) -> None:
    """Unpack the zip `upload` (called `name` in messages) into the existing folder
    `target`. Raises ArchiveError; `target` may then hold part of the archive."""
    check_directory_size(upload, name)
    try:
        archive = zipfile.ZipFile(upload)
    except UnicodeDecodeError as exc:  # zipfile decodes names flagged UTF-8 as it opens
        raw = exc.object if isinstance(exc.object, bytes) else b""
        raise ArchiveError(
            f"the archive entry '{raw.decode('cp437')}' in {name} is marked as having a UTF-8 "
            f"name, but byte {exc.start + 1} of it isn't UTF-8; make the zip again with "
            "another tool (Windows' Send to > Compressed folder, 7-Zip, or zip on macOS/Linux)"
        ) from exc
    except (*DAMAGE, OSError) as exc:
        raise ArchiveError(
            f"{name} is not a valid zip archive, or it is damaged or cut short ({exc}); "
            "make the zip again and upload it whole"
        ) from exc
    with archive:
        entries = plan_entries(archive.infolist(), limits)
        budget = [limits.total_bytes]
        for info, rel in entries:
            extract_entry(archive, info, target / rel, budget, limits)


def check_directory_size(upload: BinaryIO, name: str) -> None:
    """Refuse an archive whose central directory declares too many entries or bytes, from
    its end record, before zipfile reads the whole directory into memory."""
    upload.seek(0, 2)
    size = upload.tell()
    tail_start = max(0, size - (EOCD.size + 0xFFFF))
    upload.seek(tail_start)
    tail = upload.read()
    upload.seek(0)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < EOCD.size:
        return  # zipfile reports the archive as damaged
    fields = EOCD.unpack_from(tail, at)
    count, directory_bytes = fields[4], fields[5]
    locator_at = at - ZIP64_LOCATOR.size
    if (count == 0xFFFF or directory_bytes == 0xFFFFFFFF) and locator_at >= 0:
        locator = ZIP64_LOCATOR.unpack_from(tail, locator_at)
        if locator[0] == b"PK\x06\x07" and 0 <= locator[2] <= size - ZIP64_EOCD.size:
            upload.seek(locator[2])
            record = upload.read(ZIP64_EOCD.size)
            upload.seek(0)
            if record[:4] == b"PK\x06\x06":
                fields = ZIP64_EOCD.unpack(record)
                count, directory_bytes = fields[7], fields[8]
    if count > MAX_ENTRIES:
        raise ArchiveError(too_many(name, count))
    if directory_bytes > MAX_DIRECTORY_BYTES:
        raise ArchiveError(
            f"{name} has a table of contents of {directory_bytes / 2**20:.0f} MB (the limit "
            f"is {MAX_DIRECTORY_BYTES // 2**20} MB); split the catalog into several zips"
        )


def too_many(name: str, count: int) -> str:
    return (
        f"{name} holds {count} entries; the limit is {MAX_ENTRIES}. "
        "Split the catalog into several zips"
    )


def plan_entries(infos: list[zipfile.ZipInfo], limits: Limits) -> list[tuple[zipfile.ZipInfo, str]]:
    """(entry, clean relative path) for every file to unpack (folders are made as files
    need them); raises ArchiveError for the first entry that can't be unpacked safely."""
    if len(infos) > MAX_ENTRIES:
        raise ArchiveError(too_many("the archive", len(infos)))
    planned: list[tuple[zipfile.ZipInfo, str]] = []
    first_of: dict[str, str] = {}  # clean path -> the entry name that claimed it
    files: set[str] = set()
    folders: set[str] = set()
    total = 0
    for info in infos:
        rel = entry_path(info)
        if rel in first_of:
            names = (
                ""
                if first_of[rel] == info.filename
                else f" (as '{first_of[rel]}' and '{info.filename}')"
            )
            raise ArchiveError(f"the archive holds '{rel}' twice{names}; keep one and zip it again")
        first_of[rel] = info.filename
        folders.update(str(p) for p in PurePosixPath(rel).parents if str(p) != ".")
        if info.is_dir():
            folders.add(rel)
            continue
        check_kind(info)
        files.add(rel)
        total += info.file_size
        planned.append((info, rel))
    clash = sorted(files & folders)
    if clash:
        raise ArchiveError(
            f"the archive entry '{first_of[clash[0]]}' is a file, and other entries use "
            f"'{clash[0]}' as a folder; rename one of them"
        )
    if total > limits.total_bytes:
        raise ArchiveError(
            f"the archive unpacks to more than {limits.total_bytes // 2**20} MB "
            "(CURATION_MAX_UPLOAD_MB); split the catalog, or import it from a folder or s3://"
        )
    for info, _ in planned:
        check_size(info, limits)
    return planned


def entry_path(info: zipfile.ZipInfo) -> str:
    """The entry's name as a clean relative path, or ArchiveError saying why it can't be."""
    try:
        rel = clean_relpath(info.filename)
    except UnsafePath as exc:
        raise ArchiveError(f"the archive entry '{info.filename}' is unsafe: {exc}") from exc
    encoded = rel.encode("utf-8", errors="surrogateescape")
    if len(encoded) > MAX_NAME_BYTES:
        raise ArchiveError(
            f"the archive entry '{shorten(info.filename)}' has a name of {len(encoded)} bytes; "
            f"the limit is {MAX_NAME_BYTES}. Shorten its folders and name"
        )
    for part in rel.split("/"):
        if len(part.encode("utf-8", errors="surrogateescape")) > MAX_COMPONENT_BYTES:
            raise ArchiveError(
                f"the archive entry '{shorten(info.filename)}' has a folder or file name longer "
                f"than {MAX_COMPONENT_BYTES} bytes; shorten it"
            )
    return rel


def shorten(name: str) -> str:
    return name if len(name) <= 80 else name[:80] + "…"


def check_kind(info: zipfile.ZipInfo) -> None:
    """Refuse an entry that is not a plain file we can read."""
    name = info.filename
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise ArchiveError(
            f"the archive entry '{name}' is a symbolic link; zip the file itself "
            "(zip without --symlinks, or copy the file in)"
        )
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG):
        raise ArchiveError(f"the archive entry '{name}' is not a plain file; leave it out")
    if info.flag_bits & (0x1 | 0x40):  # traditional or strong encryption
        raise ArchiveError(
            f"the archive entry '{name}' is encrypted; make the zip again without a password"
        )
    if info.compress_type not in SUPPORTED_METHODS:
        raise ArchiveError(
            f"the archive entry '{name}' uses compression method {info.compress_type}, which "
            "can't be read here; make the zip again with ordinary (deflate) compression"
        )


def check_size(info: zipfile.ZipInfo, limits: Limits) -> None:
    """Refuse an entry too big to unpack, or compressed like a bomb."""
    name = info.filename
    if info.file_size > limits.entry_bytes:
        raise ArchiveError(
            f"the archive entry '{name}' unpacks to {info.file_size / 2**20:.0f} MB; one file "
            f"may have at most {limits.entry_bytes // 2**20} MB (CURATION_MAX_FILE_MB)"
        )
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        raise ArchiveError(
            f"the archive entry '{name}' is compressed {ratio}:1 (more than {MAX_RATIO}:1 "
            "looks like a zip bomb); leave it out"
        )


def extract_entry(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, budget: list[int], limits
) -> None:
    """Stream one entry to a new file, counting bytes against its declared size and the
    archive's remaining `budget` (a one-item list, shared by the entries)."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        out = open(dest, "xb")  # noqa: SIM115 - closed below; errors here are the filesystem's
    except OSError as exc:
        raise cant_write(info, exc) from exc
    with out:
        try:
            src = archive.open(info)
        except (*DAMAGE, OSError) as exc:
            raise damaged(info, exc) from exc
        written = 0
        with src:
            while True:
                try:
                    chunk = src.read(CHUNK)
                except (*DAMAGE, OSError) as exc:  # bz2 and a seek on a broken file: OSError
                    raise damaged(info, exc) from exc
                if not chunk:
                    return
                written += len(chunk)
                budget[0] -= len(chunk)
                if written > min(info.file_size, limits.entry_bytes) or budget[0] < 0:
                    raise ArchiveError(
                        f"the archive entry '{info.filename}' holds more data than its header "
                        "says; the archive is damaged or built to fill the disk"
                    )
                try:
                    out.write(chunk)
                except OSError as exc:
                    raise cant_write(info, exc) from exc


def damaged(info: zipfile.ZipInfo, exc: Exception) -> ArchiveError:
    return ArchiveError(
        f"the archive entry '{info.filename}' is damaged ({exc}); make the zip again "
        "and upload it whole"
    )


def cant_write(info: zipfile.ZipInfo, exc: OSError) -> ArchiveError:
    return ArchiveError(
        f"the archive entry '{info.filename}' can't be written here "
        f"({exc.strerror or exc}); rename it"
    )

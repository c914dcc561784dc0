"""Zip archives for upload tests, damaged on purpose: every builder returns the archive's bytes.

Headers are patched in place (the zipfile module won't write a lie), in both the entry's
local header and its central-directory record, so the archive reads as one consistent lie.
"""

from __future__ import annotations

import io
import stat
import struct
import zipfile

from tests.support.catalogs import png_bytes

MANIFEST = b"path,neckline\nimg/a.png,round\n"
# Field offsets from each header's signature.
LOCAL = {"flags": 6, "method": 8, "crc": 14, "csize": 18, "usize": 22, "name": 30}
CENTRAL = {"flags": 8, "method": 10, "crc": 16, "csize": 20, "usize": 24, "name": 46}
CENTRAL_MODE = 38  # external attributes: the unix mode lives in the high 16 bits


def build(entries, *, compression=zipfile.ZIP_STORED) -> bytes:
    """entries: {name: bytes} or [(name or ZipInfo, bytes)] (a list may repeat a name)."""
    out = io.BytesIO()
    items = entries.items() if isinstance(entries, dict) else entries
    with zipfile.ZipFile(out, "w", compression=compression) as archive:
        for name, payload in items:
            archive.writestr(name, payload)
    return out.getvalue()


def catalog(**extra: bytes) -> dict[str, bytes]:
    """A good little catalog: labels.csv and img/a.png, plus `extra` entries."""
    return {"labels.csv": MANIFEST, "img/a.png": png_bytes(), **extra}


def headers(data: bytes, name: str) -> tuple[int, int]:
    """Offsets of the local header and the central record of the entry `name`."""
    local = _find_header(data, b"PK\x03\x04", 30, name)
    central = _find_header(data, b"PK\x01\x02", 46, name)
    assert local >= 0 and central >= 0, f"no entry {name!r}"
    return local, central


def _find_header(data: bytes, signature: bytes, name_at: int, name: str) -> int:
    """Offset of the first header with `signature` whose file name (at offset `name_at` in
    the header) is `name`; -1 when there is none."""
    encoded = name.encode()
    at = 0
    while (at := data.find(signature, at)) >= 0:
        if data[at + name_at : at + name_at + len(encoded)] == encoded:
            return at
        at += 4
    return -1


def patch(data: bytes, name: str, field: str, value: int, fmt: str = "<H") -> bytes:
    """Set one header field of entry `name` in both its headers."""
    out = bytearray(data)
    local, central = headers(data, name)
    struct.pack_into(fmt, out, local + LOCAL[field], value)
    struct.pack_into(fmt, out, central + CENTRAL[field], value)
    return bytes(out)


def flip_data_byte(data: bytes, name: str, at: int = 10) -> bytes:
    """Flip one byte of the entry's stored data (its CRC no longer matches)."""
    out = bytearray(data)
    local, _ = headers(data, name)
    name_len, extra_len = struct.unpack_from("<HH", data, local + 26)
    out[local + 30 + name_len + extra_len + at] ^= 0xFF
    return bytes(out)


def with_mode(name: str, mode: int, payload: bytes) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3  # unix
    info.external_attr = mode << 16
    return info, payload


def symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    return with_mode(name, stat.S_IFLNK | 0o777, target.encode())


def set_entry_count(data: bytes, count: int) -> bytes:
    """Make the end record claim `count` entries (the central directory is left alone)."""
    out = bytearray(data)
    at = data.rfind(b"PK\x05\x06")
    struct.pack_into("<HH", out, at + 8, count, count)
    return bytes(out)

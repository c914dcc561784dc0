"""Damaged and hostile zip uploads: each is refused with a message naming the entry, and
nothing is left in the uploads folder."""

from __future__ import annotations

import stat
import struct
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from curation.services import archives
from curation.services.archives import ArchiveError, Limits, unpack_zip
from curation.services.import_jobs import save_uploaded_catalog
from curation.services.sources import SourceError
from tests.support import zips
from tests.support.catalogs import png_bytes

MB = 1024 * 1024
pytestmark = pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile warns as it writes one


def _deflated_catalog(**extra: bytes) -> bytes:
    return zips.build(zips.catalog(**extra), compression=zipfile.ZIP_DEFLATED)


def _a_png_with(field: str, value: int):
    """The good little catalog with one header field of img/a.png set to value."""
    return lambda: zips.patch(zips.build(zips.catalog()), "img/a.png", field, value)


def _an_entry(name: str):
    """The good little catalog plus an entry `name`."""
    return lambda: zips.build(zips.catalog(**{name: b"x"}))


def _cut_in_the_middle() -> bytes:
    data = zips.build(zips.catalog())
    return data[:80] + data[200:]


def _lying_size() -> bytes:
    data = zips.build(zips.catalog(**{"img/big.png": b"\0" * 100_000}), compression=8)
    return zips.patch(data, "img/big.png", "usize", 10, "<L")


def _overlapping_entries() -> bytes:
    """Two directory records pointing at one local header (the core of a non-recursive bomb)."""
    data = bytearray(zips.build(zips.catalog(**{"img/b.png": png_bytes()})))
    local_a, _ = zips.headers(bytes(data), "img/a.png")
    _, central_b = zips.headers(bytes(data), "img/b.png")
    struct.pack_into("<L", data, central_b + 42, local_a)
    return bytes(data)


def _header_name_differs() -> bytes:
    data = zips.build(zips.catalog())
    local, _ = zips.headers(data, "img/a.png")
    return data[: local + 30] + b"img/b.png" + data[local + 39 :]


# (case, archive bytes, words the message must hold)
DAMAGED = [
    ("not a zip", lambda: b"this is a CSV, not a zip", ["not a valid zip"]),
    ("empty file", lambda: b"", ["not a valid zip"]),
    ("truncated", lambda: zips.build(zips.catalog())[:-30], ["not a valid zip"]),
    ("cut in the middle", _cut_in_the_middle, ["'labels.csv' is damaged"]),
    (
        "bad crc, stored",
        lambda: zips.flip_data_byte(zips.build(zips.catalog()), "img/a.png"),
        ["'img/a.png' is damaged", "CRC"],
    ),
    (
        "bad data, deflate",
        lambda: zips.flip_data_byte(_deflated_catalog(), "img/a.png", at=2),
        ["'img/a.png' is damaged"],
    ),
    (
        "bad data, bzip2",
        lambda: zips.flip_data_byte(
            zips.build(zips.catalog(), compression=zipfile.ZIP_BZIP2), "img/a.png", at=12
        ),
        ["'img/a.png' is damaged"],
    ),
    (
        "bad data, lzma",
        lambda: zips.flip_data_byte(
            zips.build(zips.catalog(), compression=zipfile.ZIP_LZMA), "img/a.png", at=30
        ),
        ["'img/a.png' is damaged"],
    ),
    (
        "local header names another file",
        _header_name_differs,
        ["'img/a.png' is damaged", "differ"],
    ),
    ("overlapping entries", _overlapping_entries, ["'img/b.png' is damaged"]),
    (
        "encrypted entry",
        _a_png_with("flags", 0x1),
        ["'img/a.png' is encrypted", "without a password"],
    ),
    ("strongly encrypted entry", _a_png_with("flags", 0x40), ["'img/a.png' is encrypted"]),
    ("compressed patched data", _a_png_with("flags", 0x20), ["'img/a.png' is damaged", "patched"]),
    (
        "a name flagged UTF-8 that isn't",
        lambda: zips.patch(
            zips.build(zips.catalog(**{"img/crXme.png": b"x"})), "img/crXme.png", "flags", 0x800
        ).replace(b"img/crXme.png", b"img/cr\x8ame.png"),  # cp437's 'è', not UTF-8
        ["'img/crème.png' in catalog.zip is marked as having a UTF-8 name", "byte 7"],
    ),
    (
        "unsupported compression (99, AES)",
        _a_png_with("method", 99),
        ["'img/a.png' uses compression method 99", "deflate"],
    ),
    (
        "unsupported compression (98, PPMd)",
        _a_png_with("method", 98),
        ["'img/a.png' uses compression method 98"],
    ),
    (
        "a file and a folder with one name",
        lambda: zips.build(zips.catalog(img=b"not a folder")),
        ["'img' is a file", "as a folder"],
    ),
    (
        "a folder entry and a file with one name",
        lambda: zips.build([("img/", b""), ("img", b"x"), ("labels.csv", zips.MANIFEST)]),
        ["'img' twice"],
    ),
    ("a 256-byte name", _an_entry("img/" + "a" * 252 + ".png"), ["longer than 255 bytes"]),
    ("a 128-character name of 256 bytes", _an_entry("img/" + "é" * 128), ["longer than 255 bytes"]),
    (
        "a 1,500-byte path",
        _an_entry("/".join(["d" * 250] * 6)),
        ["name of 1505 bytes", "limit is 1024"],
    ),
    ("a 5,000-byte path", _an_entry("/".join(["d" * 99] * 50)), ["name of 4999 bytes"]),
    (
        "an entry bigger than its header says",
        _lying_size,
        ["'img/big.png' is damaged"],
    ),
    ("zip slip '..'", _an_entry("../evil.png"), ["unsafe"]),
    ("zip slip nested '..'", _an_entry("img/../../evil.png"), ["'img/../../evil.png' is unsafe"]),
    ("absolute path", _an_entry("/etc/cron.d/x"), ["'/etc/cron.d/x' is unsafe", "absolute"]),
    ("drive letter", _an_entry("C:/evil.png"), ["'C:/evil.png' is unsafe"]),
    ("backslashes", _an_entry("img\\..\\..\\evil.png"), ["is unsafe", "backslashes"]),
    (
        "duplicate entry names",
        lambda: zips.build([*zips.catalog().items(), ("img/a.png", b"again")]),
        ["'img/a.png' twice"],
    ),
    (
        "duplicates once normalised",
        lambda: zips.build([*zips.catalog().items(), ("img/./a.png", b"again")]),
        ["'img/a.png' twice (as 'img/a.png' and 'img/./a.png')"],
    ),
    (
        "symlink entry",
        lambda: zips.build([*zips.catalog().items(), zips.symlink("img/b.png", "/etc/passwd")]),
        ["'img/b.png' is a symbolic link"],
    ),
    (
        "fifo entry",
        lambda: zips.build(
            [*zips.catalog().items(), zips.with_mode("img/p", stat.S_IFIFO | 0o644, b"")]
        ),
        ["'img/p' is not a plain file"],
    ),
    (
        "zip bomb by ratio",
        lambda: _deflated_catalog(**{"img/zeros.png": b"\0" * (4 * MB)}),
        ["'img/zeros.png' is compressed", ":1"],
    ),
]


def _upload(data: bytes, name: str = "catalog.zip") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/zip")


def _uploads_left(settings) -> list:
    root = settings.VAR_DIR / "uploads"
    return list(root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize(("make", "words"), [c[1:] for c in DAMAGED], ids=[c[0] for c in DAMAGED])
def test_a_damaged_zip_is_refused_naming_the_entry_and_leaves_nothing(settings, make, words):
    with pytest.raises(SourceError) as caught:
        save_uploaded_catalog(_upload(make()))
    message = str(caught.value)
    assert all(w in message for w in words), message
    assert _uploads_left(settings) == []


def test_the_good_archive_the_cases_start_from_unpacks(settings):
    for compression in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2):
        upload = save_uploaded_catalog(_upload(zips.build(zips.catalog(), compression=compression)))
        assert (upload.source / "img/a.png").read_bytes() == png_bytes()
        assert upload.folder.parent == settings.VAR_DIR / "uploads"


def test_a_zipped_folder_keeps_its_prefix_and_the_whole_upload_is_the_folder(settings):
    data = zips.build({f"shoot/{k}": v for k, v in zips.catalog().items()})
    upload = save_uploaded_catalog(_upload(data, "Shoot 2026.zip"))
    assert upload.source == upload.folder / "shoot" and upload.name == "Shoot 2026.zip"


def test_too_many_entries_are_refused_from_the_end_record(settings, monkeypatch):
    monkeypatch.setattr(archives, "MAX_ENTRIES", 10)
    data = zips.build(zips.catalog(**{f"img/{i}.png": b"x" for i in range(9)}))
    with pytest.raises(ArchiveError, match="holds 11 entries; the limit is 10"):
        save_uploaded_catalog(_upload(data))
    assert _uploads_left(settings) == []


def test_an_end_record_that_understates_the_entries_is_still_counted(settings, monkeypatch):
    monkeypatch.setattr(archives, "MAX_ENTRIES", 10)
    data = zips.build(zips.catalog(**{f"img/{i}.png": b"x" for i in range(9)}))
    with pytest.raises(ArchiveError, match="holds 11 entries"):
        save_uploaded_catalog(_upload(zips.set_entry_count(data, 1)))
    assert _uploads_left(settings) == []


def test_a_zip64_end_record_is_read_for_the_entry_count(settings, monkeypatch):
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 5)  # write zip64 records from 6 on
    data = zips.build(zips.catalog(**{f"img/{i}.png": b"x" for i in range(9)}))
    assert b"PK\x06\x06" in data
    monkeypatch.setattr(archives, "MAX_ENTRIES", 10)
    with pytest.raises(ArchiveError, match="catalog.zip holds 11 entries"):  # not zipfile's count
        save_uploaded_catalog(_upload(data))


def test_a_huge_table_of_contents_is_refused_before_it_is_parsed(settings, monkeypatch):
    monkeypatch.setattr(archives, "MAX_DIRECTORY_BYTES", 1000)
    data = zips.build(zips.catalog(**{f"img/{i:040}.png": b"x" for i in range(20)}))
    with pytest.raises(ArchiveError, match="table of contents"):
        save_uploaded_catalog(_upload(data))


def test_declared_sizes_over_the_upload_limit_are_refused_before_unpacking(settings):
    settings.CURATION_MAX_UPLOAD_MB = 1
    data = zips.build(zips.catalog(**{"img/big.png": b"x" * (2 * MB)}))
    with pytest.raises(ArchiveError, match="unpacks to more than 1 MB"):
        save_uploaded_catalog(_upload(data))
    assert _uploads_left(settings) == []


def test_one_entry_over_the_file_limit_is_refused_naming_it(settings):
    settings.CURATION_MAX_FILE_MB = 1
    data = zips.build(zips.catalog(**{"img/big.png": b"x" * (2 * MB)}))
    with pytest.raises(ArchiveError, match="'img/big.png' unpacks to 2 MB; one file may have"):
        save_uploaded_catalog(_upload(data))


def test_a_lying_header_never_writes_more_than_it_declared(tmp_path):
    limits = Limits(total_bytes=50 * MB, entry_bytes=50 * MB)
    with pytest.raises(ArchiveError, match="'img/big.png' is damaged"):
        unpack_zip(_upload(_lying_size()), tmp_path, name="x.zip", limits=limits)
    written = tmp_path / "img" / "big.png"
    assert not written.exists() or written.stat().st_size <= 10


def test_the_byte_budget_stops_the_stream_even_if_the_checks_were_fooled(tmp_path):
    data = zips.build(zips.catalog(**{"img/big.png": b"x" * 300_000}))
    infos = zipfile.ZipFile(_upload(data)).infolist()
    archive = zipfile.ZipFile(_upload(data))
    limits = Limits(total_bytes=100_000, entry_bytes=50 * MB)
    big = next(i for i in infos if i.filename == "img/big.png")
    with pytest.raises(ArchiveError, match="more data than its header says"):
        archives.extract_entry(archive, big, tmp_path / "big.png", [100_000], limits)


def test_a_filesystem_error_names_the_entry(settings, monkeypatch):
    monkeypatch.setattr(archives, "MAX_COMPONENT_BYTES", 10_000)  # let the OS refuse it
    data = zips.build(zips.catalog(**{"img/" + "a" * 300: b"x"}))
    with pytest.raises(ArchiveError, match="can't be written here .*name too long"):
        save_uploaded_catalog(_upload(data))
    assert _uploads_left(settings) == []


def test_an_upload_that_is_neither_zip_nor_csv_is_refused(settings):
    with pytest.raises(SourceError, match="upload a .zip"):
        save_uploaded_catalog(_upload(b"MZ", "catalog.exe"))
    assert _uploads_left(settings) == []

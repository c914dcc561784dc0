"""parse_manifest: a manifest that isn't UTF-8 is refused where a spreadsheet user can find it."""

from __future__ import annotations

import pytest

from curation.models import Image
from curation.services.imports import import_catalog
from curation.services.manifest import parse_manifest
from curation.services.sources import SourceError
from tests.support.catalogs import write_png

LATIN1 = "path,colour\r\nimg/a.png,red\r\nimg/b.png,crème\r\n".encode("latin-1")


def test_a_latin1_manifest_is_refused_with_line_column_and_how_to_fix(tmp_path, db):
    write_png(tmp_path / "img" / "a.png")
    write_png(tmp_path / "img" / "b.png", colour=(1, 2, 3))
    (tmp_path / "labels.csv").write_bytes(LATIN1)
    with pytest.raises(SourceError) as caught:
        import_catalog(str(tmp_path), dataset_name="d", create=True)
    message = str(caught.value)
    assert "line 3, column 13" in message  # "img/b.png,cr" is 12 characters
    assert "0xE8 ('è' in Windows/Latin-1 text)" in message
    assert "CSV UTF-8" in message and "offset" not in message
    assert not Image.objects.exists()


def test_the_column_counts_characters_not_bytes_and_skips_a_byte_order_mark():
    data = "\ufeffpath,colour\nimg/a.png,crème\nimg/b.png,é".encode() + b"\xff\n"
    with pytest.raises(SourceError, match="line 3, column 12 has the byte 0xFF"):
        parse_manifest(data)


def test_a_utf16_manifest_is_named_as_such():
    with pytest.raises(SourceError, match="UTF-16 text .* save it as UTF-8"):
        parse_manifest("path,colour\nimg/a.png,red\n".encode("utf-16"))


def test_a_utf8_manifest_with_a_byte_order_mark_reads_as_usual():
    manifest = parse_manifest("\ufeffpath,colour\nimg/a.png,crème\n".encode())
    assert manifest.attributes == ["colour"] and manifest.rows[0].labels == {"colour": "crème"}

"""Parsing a labels.csv manifest: `path`, optional `product`, optional `split`, then one
column per attribute. Problems with single lines become row errors with their line number;
problems with the header make the whole source unusable."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from curation.services.sources import SourceError, UnsafePath, clean_relpath

RESERVED = ("path", "product", "split")
ATTRIBUTE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,79}$")
SPLITS = ("train", "test")


@dataclass
class ManifestRow:
    line: int
    path: str
    product: str | None
    split: str | None
    labels: dict[str, str | None]  # attribute -> label name, None for an empty cell


@dataclass
class RowError:
    line: int
    reason: str
    path: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "path": self.path, "reason": self.reason}


@dataclass
class Manifest:
    attributes: list[str]
    rows: list[ManifestRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


SAVE_AS_UTF8 = (
    "save it as UTF-8: in Excel, File > Save As > 'CSV UTF-8 (Comma delimited)'; in "
    "LibreOffice, Save As > 'Edit filter settings' > character set 'Unicode (UTF-8)'; in "
    "Numbers or Google Sheets, export as CSV (always UTF-8)"
)


def _decode(data: bytes) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SourceError(
            f"the manifest is UTF-16 text ('Unicode text'), not UTF-8; {SAVE_AS_UTF8}"
        )
    body = data.removeprefix(b"\xef\xbb\xbf")  # a byte-order mark, as Excel writes
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SourceError(not_utf8_message(body, exc.start)) from exc


def not_utf8_message(data: bytes, start: int) -> str:
    """Where the first byte that isn't UTF-8 is, as a spreadsheet user finds it: a line and
    a column (in characters), the byte, and what it would be in the usual Western encoding."""
    line_start = data.rfind(b"\n", 0, start) + 1
    line = data.count(b"\n", 0, start) + 1
    before = data[line_start:start].decode("utf-8")
    column = len(before) + 1
    byte = data[start]
    guess = bytes([byte]).decode("cp1252", errors="replace")
    looks = f" ('{guess}' in Windows/Latin-1 text)" if guess.isprintable() else ""
    return (
        f"the manifest is not UTF-8 text: line {line}, column {column} has the byte "
        f"0x{byte:02X}{looks}, so the file was saved in another encoding; {SAVE_AS_UTF8}"
    )


def parse_manifest(data: bytes) -> Manifest:
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise SourceError(
            "the manifest is empty; it needs a header line starting with 'path'"
        ) from None
    except csv.Error as exc:
        raise SourceError(f"the manifest header cannot be read: {exc}") from exc
    names = [h.strip() for h in header]
    if "path" not in names:
        raise SourceError(
            f"the manifest header has no 'path' column (found: {', '.join(names) or 'nothing'})"
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise SourceError(f"the manifest header repeats the column '{name}'")
        seen.add(name)
        if name not in RESERVED and not ATTRIBUTE_NAME.match(name):
            raise SourceError(
                f"column '{name}' is not a valid attribute name "
                "(lowercase letters, digits, '-' and '_', starting with a letter or digit)"
            )
    attributes = [n for n in names if n not in RESERVED]
    manifest = Manifest(attributes=attributes)
    first_line_of: dict[str, int] = {}
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            manifest.errors.append(RowError(reader.line_num, f"malformed line: {exc}"))
            continue
        line = reader.line_num
        if not values or all(not v.strip() for v in values):
            continue  # blank lines are not rows
        if len(values) != len(names):
            manifest.errors.append(
                RowError(line, f"malformed line: {len(values)} fields, the header has {len(names)}")
            )
            continue
        cells = dict(zip(names, (v.strip() for v in values), strict=True))
        problem = _cell_problem(cells, attributes)
        if problem:
            manifest.errors.append(RowError(line, problem, cells["path"].replace("\x00", "")))
            continue
        raw_path = cells["path"]
        try:
            path = clean_relpath(raw_path)
        except UnsafePath as exc:
            manifest.errors.append(RowError(line, str(exc), raw_path))
            continue
        if path in first_line_of:
            manifest.errors.append(
                RowError(
                    line, f"duplicate row: the same path is on line {first_line_of[path]}", path
                )
            )
            continue
        first_line_of[path] = line
        split = cells.get("split") or None
        if split is not None and split not in SPLITS:
            manifest.errors.append(
                RowError(line, f"split '{split}' must be 'train' or 'test'", path)
            )
            continue
        manifest.rows.append(
            ManifestRow(
                line=line,
                path=path,
                product=cells.get("product") or None,
                split=split,
                labels={a: (cells[a] or None) for a in attributes},
            )
        )
    return manifest


def _cell_problem(cells: dict[str, str], attributes: list[str]) -> str:
    """Why a row's cells can't be stored (a NUL byte, or longer than its column), or ''."""
    from curation.models import Image, Label, Product

    limits = {
        "path": Image._meta.get_field("source_path").max_length,
        "product": Product._meta.get_field("key").max_length,
        **dict.fromkeys(attributes, Label._meta.get_field("name").max_length),
    }
    for column, value in cells.items():
        if "\x00" in value:
            return f"the '{column}' cell contains a NUL character"
        limit = limits.get(column)
        if limit is not None and len(value) > limit:
            return f"the '{column}' cell is longer than {limit} characters ({len(value)})"
    return ""

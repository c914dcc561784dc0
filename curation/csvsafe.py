"""CSV exports that a spreadsheet opens as text, not as formulas (CSV / formula injection).

A cell starting with = + - @ (or their full-width forms), a tab or a carriage return may be
run as a formula by Excel, LibreOffice or Google Sheets; such a cell gets a leading `'`,
which spreadsheets show as text and hide. Plain numbers ("-3.5", "+1e3") are left alone:
they can't carry a formula, and data scientists read them back as numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return text.strip() == text and text.lower().lstrip("+-") not in {"inf", "infinity", "nan"}


def escape_cell(value: object) -> object:
    """The value to write to a CSV cell: strings that a spreadsheet would evaluate get a
    leading `'`; other values (numbers, None) are returned unchanged."""
    if not isinstance(value, str) or not value.startswith(FORMULA_STARTS):
        return value
    if _is_number(value):
        return value
    return "'" + value


def escape_row(values: Iterable[object]) -> list[object]:
    """escape_cell() for every cell of a row (for csv.writer.writerow)."""
    return [escape_cell(v) for v in values]

"""CSV exports: cells a spreadsheet would run as formulas come out as text."""

from __future__ import annotations

import csv
import io

import pytest

from curation.csvsafe import escape_cell, escape_row


@pytest.mark.parametrize(
    "cell",
    [
        '=HYPERLINK("http://evil.example","x")',
        "=1+1",
        "+cmd|' /C calc'!A0",
        "-2+3+cmd|' /C calc'!A0",
        "@SUM(1,2)",
        "\t=1",
        "\r=1",
        "\uff1d1+1",
        "-",
        "+",
        "-inf",
    ],
)
def test_a_formula_like_cell_gets_a_leading_quote(cell):
    assert escape_cell(cell) == "'" + cell


@pytest.mark.parametrize(
    "cell", ["a-line", "v-neck", "", "SKU 17", "img/0001.jpg", "a=b", " =1", "-3.5", "+1e3", "0"]
)
def test_ordinary_text_and_plain_numbers_are_unchanged(cell):
    assert escape_cell(cell) == cell


def test_non_strings_pass_through():
    assert escape_cell(None) is None and escape_cell(0.25) == 0.25 and escape_cell(-3) == -3


def test_an_escaped_row_round_trips_through_the_csv_module():
    out = io.StringIO()
    csv.writer(out).writerow(escape_row(["img/1.png", "=cmd()", "-0.5", 'quote "x"']))
    assert next(csv.reader(io.StringIO(out.getvalue()))) == [
        "img/1.png",
        "'=cmd()",
        "-0.5",
        'quote "x"',
    ]

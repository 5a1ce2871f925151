"""CSV formula injection (issue 13.7): one helper neutralises every cell a spreadsheet would run."""

import csv
import io
from decimal import Decimal

import pytest

from riskgov.presentation.exports import csv_safe_cell, csv_text, csv_writer

EVIL = ['=HYPERLINK("http://x")', "+1+2+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)*cmd", "\tx", "\r=1"]


@pytest.mark.parametrize("value", EVIL)
def test_formula_cells_are_prefixed_with_a_quote(value):
    assert csv_safe_cell(value) == "'" + value


@pytest.mark.parametrize("value", ["-0.5", "+1", "1e-9", "-1.5E+3", "inf", "-inf", "BTC-PERP", "a=b", ""])
def test_plain_numbers_and_harmless_text_are_left_alone(value):
    assert csv_safe_cell(value) == value


def test_numbers_and_none():
    assert csv_safe_cell(Decimal("-0.01")) == Decimal("-0.01")
    assert csv_safe_cell(-3) == -3 and csv_safe_cell(None) == ""


def test_csv_text_and_writer_go_through_the_helper():
    text = csv_text([{"a": "=1+1", "b": -2}], ["a", "b"])
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ["'=1+1", "-2"]]
    buf = io.StringIO()
    csv_writer(buf).writerow(["@SUM(1)", "ok"])
    assert buf.getvalue().startswith("'@SUM(1),ok")

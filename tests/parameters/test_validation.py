"""The one exact parameter validator (riskgov.parameters.validation): structured errors per rule.

Pure: no database. Property tests: any valid table passes; breaking exactly one invariant of a
valid table yields exactly that {bracket, field, rule}.
"""

from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskgov.parameters.validation import (
    ParameterError,
    asset_errors,
    bracket_table_errors,
    derive_maintenance_amounts,
    market_errors,
)

FL, IM, MM = "notional_floor", "initial_margin_fraction", "maintenance_margin_fraction"


def rules(errors):
    return [(e.bracket, e.field, e.rule) for e in errors]


@st.composite
def valid_tables(draw, min_size=1, max_size=8):
    """Strictly increasing floors from 0, 0 < MMF < IMF <= 1, both non-decreasing (exact decimals)."""
    k = draw(st.integers(min_size, max_size))
    steps = draw(st.lists(st.integers(1, 10**7), min_size=k - 1, max_size=k - 1))
    floors = [D(0)]
    for s in steps:
        floors.append(floors[-1] + D(s))
    # MMF_k on a grid of 1e-4, IMF_k = MMF_k + gap, both non-decreasing, IMF <= 1.
    mmf_units = sorted(draw(st.lists(st.integers(1, 4000), min_size=k, max_size=k)))
    gaps = draw(st.lists(st.integers(1, 4000), min_size=k, max_size=k))
    imf_units = []
    for m, g in zip(mmf_units, gaps, strict=True):
        imf_units.append(max(m + g, imf_units[-1] if imf_units else 0))
    mmfs = [D(m).scaleb(-4) for m in mmf_units]
    imfs = [min(D(i).scaleb(-4), D(1)) for i in imf_units]
    return floors, imfs, mmfs


@settings(max_examples=200, deadline=None)
@given(valid_tables())
def test_any_valid_table_passes(table):
    floors, imfs, mmfs = table
    assert bracket_table_errors(floors, imfs, mmfs, subject="X") == []
    rows = list(zip(floors, imfs, mmfs, strict=True))
    assert (
        market_errors(
            subject="X",
            liquidation_penalty=mmfs[0] / 2,
            depth_usd_per_1pct=D(1),
            max_position_notional_usd=floors[-1] + 1,
            brackets=rows,
        )
        == []
    )


def _break(kind, floors, imfs, mmfs, k):
    """Break one invariant at bracket k (0-based), keeping every other rule true."""
    f, i, m = list(floors), list(imfs), list(mmfs)
    if kind == "first_floor_zero":
        f[0] = D(-1)  # stays below F_2: only the first-floor rule breaks
        return f, i, m, (1, FL, "first_floor_zero")
    if kind == "floors_increasing":
        f[k] = f[k - 1]
        return f, i, m, (k + 1, FL, "floors_increasing")
    if kind == "imf_at_most_one":  # last bracket: nothing after it must stay above
        i[-1] = D("1.5")
        return f, i, m, (len(f), IM, "imf_at_most_one")
    raise AssertionError(kind)


@settings(max_examples=150, deadline=None)
@given(
    valid_tables(min_size=2), st.sampled_from(["first_floor_zero", "floors_increasing", "imf_at_most_one"]), st.data()
)
def test_each_broken_invariant_is_named_exactly(table, kind, data):
    floors, imfs, mmfs = table
    k = data.draw(st.integers(1, len(floors) - 1))
    f, i, m, expected = _break(kind, floors, imfs, mmfs, k)
    assert rules(bracket_table_errors(f, i, m, subject="X")) == [expected]


@pytest.mark.parametrize(
    ("floors", "imfs", "mmfs", "expected"),
    [
        ([], [], [], [(None, "brackets", "non_empty")]),
        (["10"], ["0.1"], ["0.05"], [(1, FL, "first_floor_zero")]),
        (["0", "0"], ["0.1", "0.2"], ["0.05", "0.1"], [(2, FL, "floors_increasing")]),
        (["0"], ["0.1"], ["0"], [(1, MM, "mmf_positive")]),
        (["0"], ["0.1"], ["0.1"], [(1, MM, "mmf_below_imf")]),
        (["0"], ["1.5"], ["0.1"], [(1, IM, "imf_at_most_one")]),
        (["0", "5"], ["0.2", "0.1"], ["0.05", "0.06"], [(2, IM, "imf_non_decreasing")]),
        (["0", "5"], ["0.1", "0.2"], ["0.05", "0.04"], [(2, MM, "mmf_non_decreasing")]),
    ],
)
def test_bracket_rules(floors, imfs, mmfs, expected):
    errors = bracket_table_errors([D(x) for x in floors], [D(x) for x in imfs], [D(x) for x in mmfs], subject="X-PERP")
    assert rules(errors) == expected
    assert all(e.subject == "X-PERP" and e.kind == "market" and e.message for e in errors)


def test_error_shapes_and_places():
    e = bracket_table_errors([D(0), D(5)], [D("0.1"), D("0.2")], [D("0.05"), D("0.04")], subject="BTC-PERP")[0]
    assert e == ParameterError(
        "BTC-PERP",
        2,
        MM,
        "mmf_non_decreasing",
        "0.04 is below previous maintenance_margin_fraction 0.05 (must be non-decreasing, RISK_MODEL §2)",
    )
    assert e.path == "markets[BTC-PERP].brackets[2].maintenance_margin_fraction"
    assert e.where == "BTC-PERP bracket 2"
    assert e.text.startswith("markets[BTC-PERP].brackets[2].maintenance_margin_fraction: 0.04 is below")
    assert e.as_dict() == {
        "subject": "BTC-PERP",
        "bracket": 2,
        "field": MM,
        "rule": "mmf_non_decreasing",
        "message": e.message,
        "kind": "market",
    }
    with pytest.raises(AttributeError):
        e.rule = "x"  # frozen


ROWS = [(D(0), D("0.01"), D("0.004")), (D(300000), D("0.02"), D("0.005"))]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"liquidation_penalty": D("-0.001")}, (None, "liquidation_penalty", "penalty_non_negative")),
        ({"liquidation_penalty": D("0.005")}, (None, "liquidation_penalty", "penalty_above_mmf1")),
        ({"depth_usd_per_1pct": D(0)}, (None, "depth_usd_per_1pct", "depth_positive")),
        ({"oi_cap_lower_usd": D(-1)}, (None, "oi_cap_lower_usd", "oi_cap_non_negative")),
        ({"oi_cap_upper_usd": D(-1)}, (None, "oi_cap_upper_usd", "oi_cap_non_negative")),
        ({"oi_cap_lower_usd": D(5), "oi_cap_upper_usd": D(5)}, (None, "oi_cap_lower_usd", "oi_caps_ordered")),
        ({"max_position_notional_usd": D(0)}, (None, "max_position_notional_usd", "max_notional_positive")),
        ({"max_position_notional_usd": D(300000)}, (None, "max_position_notional_usd", "max_notional_above_floor")),
    ],
)
def test_market_rules(change, expected):
    values = {"liquidation_penalty": D("0.002"), "depth_usd_per_1pct": D(1000), **change}
    assert rules(market_errors(subject="BTC-PERP", brackets=ROWS, **values)) == [expected]


def test_market_rules_pass_and_skip_unreadable_values():
    ok = {"liquidation_penalty": D("0.004"), "depth_usd_per_1pct": D(1), "oi_cap_upper_usd": D(0)}
    assert market_errors(subject="M", brackets=ROWS, **ok) == []
    # None: the caller could not read the value (already reported): dependent rules are skipped.
    assert market_errors(subject="M", liquidation_penalty=D("0.5"), depth_usd_per_1pct=None, brackets=None) == []


def test_asset_rule():
    assert asset_errors(subject="BTC", haircut=D("0.05")) == []
    (e,) = asset_errors(subject="BTC", haircut=D(1))
    assert (e.kind, e.field, e.rule, e.text) == (
        "asset",
        "haircut",
        "haircut_range",
        "assets[BTC].haircut: 1 is not < 1",
    )
    assert rules(asset_errors(subject="BTC", haircut=D("-0.1"))) == [(None, "haircut", "haircut_range")]


@settings(max_examples=100, deadline=None)
@given(valid_tables())
def test_maintenance_amounts_make_mm_continuous(table):
    floors, _, mmfs = table
    c = derive_maintenance_amounts(floors, mmfs)
    assert c[0] == 0
    for k in range(1, len(floors)):  # MM(F_k) from bracket k-1 == from bracket k, exactly
        assert floors[k] * mmfs[k - 1] - c[k - 1] == floors[k] * mmfs[k] - c[k]

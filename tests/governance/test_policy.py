"""Pure governance checks (no database): fast-track bounds, stricter-only curves, penalty."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

from riskgov.governance.policy import (
    FieldDelta,
    MarketTerms,
    effective_at_violations,
    fast_track_violations,
    maintenance_margin,
    penalty_violations,
    stricter_only_violations,
)

NOW = datetime(2026, 11, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=30)


def rules(errors):
    return [e.rule for e in errors]


def ft(*deltas):
    return fast_track_violations(deltas, max_relative_change=D("0.25"), min_days_since_change=7, now=NOW)


def test_fast_track_within_bounds_has_no_findings():
    assert ft(FieldDelta("BTC-PERP", "brackets[2].initial_margin_fraction", D("0.02"), D("0.025"), OLD)) == []


def test_fast_track_relative_change_above_bound():
    errs = ft(FieldDelta("BTC-PERP", "liquidation_penalty", D("0.002"), D("0.0026"), OLD))
    assert rules(errs) == ["ft_relative_change"]
    assert "BTC-PERP liquidation_penalty" in errs[0].where and "30.00 %" in errs[0].message


def test_fast_track_changed_recently():
    errs = ft(FieldDelta("BTC", "haircut", D("0.05"), D("0.06"), NOW - timedelta(days=3)))
    assert rules(errs) == ["ft_changed_recently"]
    assert "3.0 days ago" in errs[0].message


def test_fast_track_exactly_at_bounds_passes():
    assert ft(FieldDelta("BTC", "haircut", D("0.04"), D("0.05"), NOW - timedelta(days=7))) == []


def test_fast_track_added_bracket_or_from_zero_is_not_relative():
    errs = ft(
        FieldDelta("M", "brackets[4].notional_floor", None, D("5000000"), None),
        FieldDelta("M", "oi_cap_upper_usd", D("0"), D("100"), OLD),
    )
    assert rules(errs) == ["ft_not_relative", "ft_not_relative"]


def test_fast_track_ignores_unchanged_fields_and_needs_a_change():
    assert ft(FieldDelta("M", "liquidation_penalty", D("0.002"), D("0.002"), NOW)) != []
    assert (
        ft(
            FieldDelta("M", "liquidation_penalty", D("0.002"), D("0.002"), NOW),  # unchanged, recent: ignored
            FieldDelta("M", "depth_usd_per_1pct", D("100"), D("110"), OLD),
        )
        == []
    )


def terms(rows, **kw):
    values = dict(
        liquidation_penalty=D("0.002"),
        depth_usd_per_1pct=D("5e7"),
        oi_cap_lower_usd=D(0),
        oi_cap_upper_usd=D(0),
        max_position_notional_usd=None,
    )
    values.update(kw)
    return MarketTerms(
        floors=tuple(D(str(r[0])) for r in rows),
        imf=tuple(D(r[1]) for r in rows),
        mmf=tuple(D(r[2]) for r in rows),
        **values,
    )


BASE = ((0, "0.01", "0.004"), (300000, "0.02", "0.005"), (1000000, "0.05", "0.01"))


def test_maintenance_margin_is_the_integral_of_mmf():
    t = terms(BASE)
    # ∫0^500k = 300k·0.004 + 200k·0.005 = 1200 + 1000
    assert maintenance_margin(t.floors, t.mmf, D(500000)) == D(2200)
    assert maintenance_margin(t.floors, t.mmf, D(0)) == 0


def test_raising_fractions_is_stricter():
    new = terms(((0, "0.012", "0.005"), (300000, "0.025", "0.006"), (1000000, "0.05", "0.01")))
    assert stricter_only_violations("BTC-PERP", terms(BASE), new) == []


def test_shifting_a_floor_up_lowers_mm_although_every_row_is_the_same():
    # Row by row the fractions are identical, but between 300k and 500k MMF falls back to
    # 0.004, so MM(400k) = 1600 < 1700 and IMF falls 0.02 → 0.01: refused.
    new = terms(((0, "0.01", "0.004"), (500000, "0.02", "0.005"), (1000000, "0.05", "0.01")))
    errs = stricter_only_violations("BTC-PERP", terms(BASE), new)
    assert {"mm_lower", "mmf_lower", "imf_lower"} <= set(rules(errs))
    mm = [e for e in errs if e.rule == "mm_lower"]
    assert mm[0].where == "BTC-PERP notional 500000" and "2200" in mm[0].message and "2000" in mm[0].message


def test_mm_curve_lower_at_large_notional():
    new = terms(
        ((0, "0.02", "0.01"), (300000, "0.03", "0.011"), (1000000, "0.05", "0.0105"))
    )  # invalid order is fine here
    errs = stricter_only_violations("M", terms(BASE), new)
    assert "mm_lower" not in rules(errs)  # MM still higher everywhere: 0.01 ≥ 0.01 in the last bracket
    new2 = terms(((0, "0.02", "0.004"), (300000, "0.03", "0.005"), (1000000, "0.05", "0.009")))
    assert set(rules(stricter_only_violations("M", terms(BASE), new2))) == {"mmf_lower", "mm_lower"}


def test_other_fields_must_not_loosen():
    old = terms(BASE, oi_cap_lower_usd=D(100), oi_cap_upper_usd=D(200), max_position_notional_usd=D(5000000))
    new = terms(
        BASE,
        liquidation_penalty=D("0.001"),
        depth_usd_per_1pct=D("6e7"),
        oi_cap_lower_usd=D(0),
        oi_cap_upper_usd=D(0),
        max_position_notional_usd=None,
    )
    assert set(rules(stricter_only_violations("M", old, new))) == {
        "penalty_lower",
        "depth_higher",
        "oi_caps_higher",
        "max_notional_higher",
    }
    tighter = terms(BASE, oi_cap_lower_usd=D(50), oi_cap_upper_usd=D(150), max_position_notional_usd=D(4000000))
    assert stricter_only_violations("M", old, tighter) == []


def test_penalty_and_effective_at_rules():
    assert rules(penalty_violations("M", D("0.005"), D("0.004"))) == ["penalty_above_mmf1"]
    errs = effective_at_violations(requested=NOW, now=NOW, timelock_hours=24, kind_label="normal")
    assert rules(errs) == ["effective_at_before_timelock"] and "24 h" in errs[0].message

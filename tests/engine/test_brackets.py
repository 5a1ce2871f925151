"""Bracket tables, maintenance amounts and lookups (RISK_MODEL §2, §3)."""

from __future__ import annotations

import numpy as np
import pytest

from riskgov.engine.brackets import (
    bracket_index,
    derive_maintenance_amounts,
    maintenance_margin,
    validate_bracket_table,
)
from riskgov.engine.margin import _bracket_lookup, _bracket_values
from riskgov.engine.types import BracketTableError
from tests.engine.reference import BTC, BTC_FLOORS, BTC_IMF, BTC_MMF, MarketSpec, params


def test_maintenance_amounts_binance_btc_tiers() -> None:
    # C_1 = 0
    # C_2 = 0    +    50 000·(0.005 − 0.004) = 50
    # C_3 = 50   +   250 000·(0.010 − 0.005) = 50 + 1 250 = 1 300
    # C_4 = 1300 + 1 000 000·(0.025 − 0.010) = 1 300 + 15 000 = 16 300
    # (the "cum" column Binance publishes for BTCUSDT)
    c = derive_maintenance_amounts(BTC.floors, BTC.mmf)
    np.testing.assert_allclose(c, [0, 50, 1300, 16300], rtol=0, atol=1e-9)


def test_maintenance_margin_per_bracket() -> None:
    ps = params()
    market = np.zeros(5, dtype=np.int64)
    n = np.array([0.0, 40_000, 100_000, 600_000, 2_000_000])
    # N = 0         -> 0
    # N = 40 000    bracket 1: 40 000·0.004            = 160
    # N = 100 000   bracket 2: 100 000·0.005 − 50      = 450
    # N = 600 000   bracket 3: 600 000·0.01 − 1 300    = 4 700
    # N = 2 000 000 bracket 4: 2 000 000·0.025 − 16 300 = 33 700
    np.testing.assert_allclose(maintenance_margin(ps.markets, market, n), [0, 160, 450, 4700, 33700], atol=1e-9)
    np.testing.assert_array_equal(bracket_index(ps.markets, market, n), [0, 0, 1, 2, 3])


def test_bracket_covers_floor_inclusive_upper_exclusive() -> None:
    ps = params()
    market = np.zeros(4, dtype=np.int64)
    n = np.array([49_999.999, 50_000.0, 249_999.99, 250_000.0])
    np.testing.assert_array_equal(bracket_index(ps.markets, market, n), [0, 1, 1, 2])
    k, _, _ = _bracket_lookup(ps, market, n)
    np.testing.assert_array_equal(k, [0, 1, 1, 2])


def test_mm_is_continuous_at_every_floor() -> None:
    ps = params()
    floors = np.array(BTC.floors[1:], dtype=float)
    market = np.zeros(floors.size, dtype=np.int64)
    left = maintenance_margin(ps.markets, market, np.nextafter(floors, 0))
    right = maintenance_margin(ps.markets, market, floors)
    np.testing.assert_allclose(left, right, rtol=1e-12)


def test_fast_lookup_equals_bracket_index_with_padding() -> None:
    # 7-tier, 4-tier and 1-tier markets: padded (M, K) matrices, exact floors included.
    ps = params(
        MarketSpec("BTC7", "BTC", BTC_FLOORS, BTC_IMF, BTC_MMF),
        BTC,
        MarketSpec("ETH1", "ETH", [0], [0.02], [0.01]),
    )
    rng = np.random.default_rng(3)
    market = rng.integers(0, 3, 5000)
    n = np.exp(rng.uniform(0, np.log(1e8), 5000))
    n[:30] = np.array(BTC_FLOORS * 5)[:30]
    n[30] = 0.0
    k, flat, table = _bracket_lookup(ps, market, n)
    assert table is not None  # the one-search path is taken for 7 levels
    np.testing.assert_array_equal(k, bracket_index(ps.markets, market, n))
    np.testing.assert_array_equal(_bracket_values(ps.markets.mmf, flat, table), ps.markets.mmf[market, k])
    np.testing.assert_array_equal(
        _bracket_values(ps.markets.maintenance_amount, flat, table),
        ps.markets.maintenance_amount[market, k],
    )


@pytest.mark.parametrize(
    ("floors", "imf", "mmf", "rule", "bracket"),
    [
        ([], [], [], "non_empty", 0),
        ([0, 1], [0.1], [0.05], "lengths", 0),
        ([10, 20], [0.1, 0.2], [0.05, 0.1], "first_floor_zero", 1),
        ([0, 0], [0.1, 0.2], [0.05, 0.1], "floors_increasing", 2),
        ([0], [0.1], [0.0], "mmf_positive", 1),
        ([0], [0.1], [0.1], "mmf_below_imf", 1),
        ([0], [1.5], [0.1], "imf_at_most_one", 1),
        ([0, 5], [0.2, 0.1], [0.05, 0.06], "imf_non_decreasing", 2),
        ([0, 5], [0.1, 0.2], [0.05, 0.04], "mmf_non_decreasing", 2),
        ([0, float("nan")], [0.1, 0.2], [0.05, 0.1], "finite", 2),
    ],
)
def test_validate_bracket_table_names_the_rule(floors, imf, mmf, rule, bracket) -> None:
    with pytest.raises(BracketTableError) as err:
        validate_bracket_table(floors, imf, mmf, market="X-PERP")
    assert err.value.rule == rule
    assert err.value.bracket == bracket
    assert err.value.market == "X-PERP"

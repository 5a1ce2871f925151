"""Hand-derived position, account and protocol metrics (RISK_MODEL §2–§6, §9 counting).

Assets: 0 USDT (h 0), 1 BTC (h 0.05), 2 ETH (h 0.1); prices 1, 30 000, 2 000.
Markets: 0 BTC-PERP (Binance-like tiers, C = 0, 50, 1300, 16300), 1 ETH-PERP (IMF 0.02,
MMF 0.01, one bracket).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskgov.engine.margin import (
    account_metrics,
    collateral_value,
    position_metrics,
    protocol_totals,
)
from riskgov.engine.types import EngineInputError, PriceError, UnknownSymbolError
from tests.engine.reference import BTC, ETH, MarketSpec, params, state

PS = params()


def test_position_metrics_across_brackets() -> None:
    st = state(
        n_accounts=1,
        balances=[(0, 0, 1e6)],
        positions=[
            (0, 0, 1.0, 29_000.0),  # N = 30 000,  bracket 1
            (0, 0, -10.0, 31_000.0),  # N = 300 000, bracket 3
            (0, 0, 100.0, 30_000.0),  # N = 3 000 000, bracket 4
        ],
    )
    pm = position_metrics(PS, st)
    np.testing.assert_array_equal(pm.mark_price, [30_000.0] * 3)
    np.testing.assert_allclose(pm.notional, [30_000, 300_000, 3_000_000])
    np.testing.assert_array_equal(pm.bracket, [0, 2, 3])
    # MM: 30 000·0.004 = 120; 300 000·0.01 − 1 300 = 1 700; 3e6·0.025 − 16 300 = 58 700
    np.testing.assert_allclose(pm.maintenance_margin, [120, 1700, 58_700], atol=1e-9)
    # IM: 30 000·0.008 = 240; 300 000·0.02 = 6 000; 3e6·0.05 = 150 000
    np.testing.assert_allclose(pm.initial_margin, [240, 6000, 150_000], atol=1e-9)
    # uPnL = q(p − e): 1·1 000 = 1 000; −10·(−1 000) = 10 000; 0
    np.testing.assert_allclose(pm.upnl, [1000, 10_000, 0], atol=1e-9)
    assert not pm.limit_breach.any()


def test_limit_breach_still_margined_at_last_bracket() -> None:
    capped = MarketSpec("BTC-PERP", "BTC", BTC.floors, BTC.imf, BTC.mmf, max_position_notional=2_000_000)
    ps = params(capped, ETH)
    st = state(n_accounts=1, positions=[(0, 0, 100.0, 30_000.0)])  # N = 3e6 > 2e6
    pm = position_metrics(ps, st)
    assert pm.limit_breach.tolist() == [True]
    assert pm.maintenance_margin[0] == pytest.approx(58_700)


def test_collateral_haircut_on_assets_only_liabilities_in_full() -> None:
    st = state(
        n_accounts=3,
        balances=[
            (0, 0, -5_000.0),  # USDT liability: −5 000
            (0, 1, 1.0),  # 1 BTC: 30 000·(1 − 0.05) = 28 500
            (1, 1, -0.1),  # BTC liability: −0.1·30 000 = −3 000 (no haircut)
            (1, 2, 10.0),  # 10 ETH: 20 000·0.9 = 18 000
        ],
    )
    v = collateral_value(PS, st.portfolio, st.asset_prices)
    # account 0: 28 500 − 5 000 = 23 500; account 1: 18 000 − 3 000 = 15 000; account 2: 0
    np.testing.assert_allclose(v, [23_500, 15_000, 0], atol=1e-9)


def test_cross_account_metrics_and_ratios() -> None:
    # Account 0: 10 000 USDT, long 1 BTC from 31 000 at 30 000 (uPnL −1 000), short 10 ETH
    # from 1 900 at 2 000 (uPnL −1 000). E = 10 000 − 2 000 = 8 000.
    # MM = 30 000·0.004 + 20 000·0.01 = 120 + 200 = 320; IM = 240 + 400 = 640.
    st = state(
        n_accounts=1,
        balances=[(0, 0, 10_000.0)],
        positions=[(0, 0, 1.0, 31_000.0), (0, 1, -10.0, 1_900.0)],
    )
    am = account_metrics(PS, st)
    assert am.equity[0] == pytest.approx(8_000)
    assert am.cross_equity[0] == pytest.approx(8_000)
    assert am.maintenance_margin[0] == pytest.approx(320)
    assert am.initial_margin[0] == pytest.approx(640)
    assert am.free_collateral[0] == pytest.approx(8_000 - 640)
    assert am.margin_ratio[0] == pytest.approx(320 / 8_000)
    assert am.health_factor[0] == pytest.approx(8_000 / 320)
    assert am.leverage[0] == pytest.approx(50_000 / 8_000)
    assert not am.liquidatable[0] and not am.bankrupt[0] and am.shortfall[0] == 0


def test_liquidatable_is_strict_and_bankrupt_has_shortfall() -> None:
    # Account 0: E = MM exactly (120 + 0) → not liquidatable (strict <).
    # Account 1: E = 100 < MM 120 → liquidatable, not bankrupt.
    # Account 2: E = 100 − 300 = −200 → liquidatable, bankrupt, shortfall 200, ratio ∞.
    st = state(
        n_accounts=3,
        balances=[(0, 0, 120.0), (1, 0, 100.0), (2, 0, 100.0)],
        positions=[
            (0, 0, 1.0, 30_000.0),
            (1, 0, 1.0, 30_000.0),
            (2, 0, 1.0, 30_300.0),
        ],
    )
    am = account_metrics(PS, st)
    assert am.liquidatable.tolist() == [False, True, True]
    assert am.bankrupt.tolist() == [False, False, True]
    np.testing.assert_allclose(am.shortfall, [0, 0, 200])
    assert am.margin_ratio[2] == math.inf
    assert am.leverage[2] == math.inf
    assert am.health_factor[2] == pytest.approx(-200 / 120)


def test_empty_and_zero_mm_accounts() -> None:
    # Account 0: no rows at all. Account 1: collateral only. Account 2: a liability only
    # (E = −50 → bankrupt, but no positions → never liquidatable). Account 3: a zero-size
    # position (MM = 0).
    st = state(
        n_accounts=4,
        balances=[(1, 0, 500.0), (2, 0, -50.0), (3, 0, 10.0)],
        positions=[(3, 0, 0.0, 30_000.0)],
    )
    am = account_metrics(PS, st)
    assert not am.liquidatable.any()
    np.testing.assert_array_equal(am.margin_ratio, [0, 0, 0, 0])
    np.testing.assert_array_equal(am.health_factor, [math.inf] * 4)
    np.testing.assert_array_equal(am.leverage, [0, 0, 0, 0])
    np.testing.assert_allclose(am.equity, [0, 500, -50, 10])
    assert am.bankrupt.tolist() == [False, False, True, False]
    np.testing.assert_array_equal(am.n_positions, [0, 0, 0, 1])


def test_isolated_and_cross_on_the_same_account() -> None:
    # Cross: 1 000 USDT, long 1 BTC at entry = mark 30 000 → E_cross = 1 000, MM 120, IM 240:
    #   healthy.
    # Isolated: short 10 ETH from 2 000, mark 2 100, w = 1 100:
    #   uPnL = −10·100 = −1 000, E_i = 100, MM_i = 21 000·0.01 = 210 → liquidatable (§6).
    # The cross collateral does not rescue it; the account counts as liquidatable once.
    st = state(
        n_accounts=1,
        balances=[(0, 0, 1_000.0)],
        positions=[(0, 0, 1.0, 30_000.0), (0, 1, -10.0, 2_000.0, 1_100.0)],
        prices=(1.0, 30_000.0, 2_100.0),
    )
    pm = position_metrics(PS, st)
    assert pm.isolated_liquidatable.tolist() == [False, True]
    np.testing.assert_allclose(pm.isolated_equity, [0, 100])
    am = account_metrics(PS, st)
    assert am.cross_equity[0] == pytest.approx(1_000)
    assert not am.cross_liquidatable[0]
    assert am.liquidatable[0]
    assert am.isolated_liquidatable_count[0] == 1
    # reported totals include the isolated position: E = 1 000 + 100, MM = 120 + 210,
    # IM = 240 + 21 000·0.02 = 240 + 420
    assert am.equity[0] == pytest.approx(1_100)
    assert am.maintenance_margin[0] == pytest.approx(330)
    assert am.initial_margin[0] == pytest.approx(660)
    assert am.cross_maintenance_margin[0] == pytest.approx(120)
    assert am.free_collateral[0] == pytest.approx(1_000 - 240)
    assert am.shortfall[0] == 0 and not am.bankrupt[0]

    # ETH at 2 150: E_i = 1 100 − 1 500 = −400 → shortfall 400 although the reported
    # account equity 1 000 − 400 = 600 is positive.
    st2 = state(
        n_accounts=1,
        balances=[(0, 0, 1_000.0)],
        positions=[(0, 0, 1.0, 30_000.0), (0, 1, -10.0, 2_000.0, 1_100.0)],
        prices=(1.0, 30_000.0, 2_150.0),
    )
    am2 = account_metrics(PS, st2)
    assert am2.equity[0] == pytest.approx(600)
    assert am2.shortfall[0] == pytest.approx(400)
    assert am2.bankrupt[0]
    tot = protocol_totals(PS, st2)
    assert tot.liquidatable_accounts == 1 and tot.bankrupt_accounts == 1
    assert tot.shortfall == pytest.approx(400)


def test_oi_scaling_on_and_off() -> None:
    # ETH-PERP with U_lo = 1e6, U_hi = 3e6. Longs: 1 000 ETH at 2 000 → O = 2e6,
    # t = (2e6 − 1e6)/(3e6 − 1e6) = 0.5, IMF_adj = 0.02 + 0.98·0.5 = 0.51.
    scaled = MarketSpec("ETH-PERP", "ETH", [0], [0.02], [0.01], oi_cap_lower=1e6, oi_cap_upper=3e6)
    positions = [(0, 1, 1_000.0, 2_000.0), (1, 1, -1_000.0, 2_000.0)]
    pm_on = position_metrics(params(BTC, scaled), state(n_accounts=2, positions=positions))
    np.testing.assert_allclose(pm_on.imf, [0.51, 0.51])
    np.testing.assert_allclose(pm_on.initial_margin, [2e6 * 0.51] * 2)
    np.testing.assert_allclose(pm_on.maintenance_margin, [20_000, 20_000])  # MM unchanged
    pm_off = position_metrics(PS, state(n_accounts=2, positions=positions))
    np.testing.assert_allclose(pm_off.imf, [0.02, 0.02])
    # Given O = 5e6 ≥ U_hi → t = 1, IMF_adj = 1.
    st = state(n_accounts=2, positions=positions, open_interest=[0.0, 5e6])
    np.testing.assert_allclose(position_metrics(params(BTC, scaled), st).imf, [1.0, 1.0])


def test_protocol_totals_open_interest_and_coverage() -> None:
    st = state(
        n_accounts=3,
        balances=[(0, 0, 100.0), (1, 0, 1e5), (2, 0, 10.0)],
        positions=[
            (0, 0, 1.0, 30_300.0),  # E = 100 − 300 = −200: bankrupt
            (1, 0, -1.5, 30_000.0),
            (1, 1, 4.0, 2_000.0),
            (2, 1, -2.0, 2_000.0),  # E = 10, MM = 40: liquidatable
        ],
        insurance_fund=1_000.0,
    )
    tot = protocol_totals(PS, st)
    assert (tot.n_accounts, tot.n_positions) == (3, 4)
    np.testing.assert_allclose(tot.open_interest_long_base, [1.0, 4.0])
    np.testing.assert_allclose(tot.open_interest_short_base, [1.5, 2.0])
    np.testing.assert_allclose(tot.open_interest_long_usd, [30_000, 8_000])
    np.testing.assert_allclose(tot.open_interest_short_usd, [45_000, 4_000])
    assert tot.liquidatable_accounts == 2 and tot.bankrupt_accounts == 1
    assert tot.shortfall == pytest.approx(200)
    assert tot.coverage_ratio == pytest.approx(5.0)
    healthy = protocol_totals(PS, state(n_accounts=1, balances=[(0, 0, 1.0)]))
    assert healthy.coverage_ratio == math.inf and healthy.shortfall == 0


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0, -1.0])
def test_bad_price_names_the_asset(bad: float) -> None:
    st = state(n_accounts=1, prices=(1.0, 30_000.0, bad))
    with pytest.raises(PriceError, match="ETH"):
        position_metrics(PS, st)


def test_index_out_of_range_names_the_row() -> None:
    st = state(n_accounts=1, positions=[(0, 0, 1.0, 30_000.0), (0, 7, 1.0, 1.0)])
    with pytest.raises(UnknownSymbolError, match="row 1"):
        position_metrics(PS, st)
    st = state(n_accounts=1, balances=[(0, 0, 1.0), (3, 0, 1.0)])
    with pytest.raises(UnknownSymbolError, match="row 1"):
        account_metrics(PS, st)


def test_mismatched_shapes_rejected() -> None:
    st = state(n_accounts=1, positions=[(0, 0, 1.0, 30_000.0)])
    with pytest.raises(EngineInputError):
        position_metrics(PS, state(n_accounts=1, prices=(1.0, 2.0)))
    pm = position_metrics(PS, st)
    st2 = state(n_accounts=1, positions=[(0, 0, 1.0, 30_000.0)] * 2)
    with pytest.raises(EngineInputError):
        account_metrics(PS, st2, pm)


def test_portfolio_without_positions_has_float_sums_and_no_prices():
    """Regression: ``np.bincount`` returns int64 on empty input; an account-range chunk with
    no positions at all must still evaluate (with liquidation prices) to float64 results."""
    import numpy as np

    from riskgov.engine.brackets import build_parameter_set
    from riskgov.engine.health import evaluate_health
    from riskgov.engine.types import AssetSpec, MarketSpec, Portfolio, VenueState

    ps = build_parameter_set(
        assets=[AssetSpec("USDT", 0.0, True), AssetSpec("BTC", 0.05)],
        markets=[MarketSpec("BTC-PERP", "BTC", [0.0], [0.01], [0.004], 0.002, 5e7)],
    )
    empty_i, empty_f = np.array([], dtype=np.int64), np.array([], dtype=np.float64)
    portfolio = Portfolio(
        2,
        np.array([0, 1]),
        np.array([0, 1]),
        np.array([100.0, -0.001]),
        empty_i,
        empty_i,
        empty_f,
        empty_f,
        np.array([], dtype=bool),
        empty_f,
    )
    result = evaluate_health(ps, VenueState(portfolio, np.array([1.0, 50000.0]), 10.0))
    assert result.accounts.equity.dtype == np.float64
    assert result.accounts.equity.tolist() == [100.0, -50.0]  # liability in full (§4)
    assert result.accounts.cross_maintenance_margin.tolist() == [0.0, 0.0]
    assert result.accounts.liquidatable.tolist() == [False, False]  # no positions: never (§5)
    assert result.accounts.bankrupt.tolist() == [False, True] and result.totals.shortfall == 50.0
    assert result.liquidation_price.shape == (0,)

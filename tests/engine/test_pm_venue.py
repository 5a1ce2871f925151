"""PM accounts inside a venue (engine.pm_venue, RISK_MODEL §14, §5, §9)."""

from __future__ import annotations

import numpy as np
import pytest

from riskgov.engine.brackets import build_parameter_set
from riskgov.engine.health import evaluate_health
from riskgov.engine.pm_venue import merge_health, merge_stress, pm_gap_stress, split_venue, underlying_books
from riskgov.engine.portfolio_margin import PMParams, portfolio_margin
from riskgov.engine.stress import run_scenarios
from riskgov.engine.types import AssetSpec, EngineInputError, MarketSpec, Portfolio, VenueState

DAY = 86400
AS_OF = 1_700_000_000


def venue():
    params = build_parameter_set(
        markets=[MarketSpec("BTC-PERP", "BTC", floors=[0], imf=[0.02], mmf=[0.01])],
        assets=[AssetSpec("USDT", stable=True), AssetSpec("BTC", haircut=0.05)],
    )
    # accounts: 0 cross (long perp), 1 PM covered call, 2 PM short put, 3 cross (short perp)
    pf = Portfolio(
        n_accounts=4,
        balance_account=np.array([0, 1, 2, 3, 1]),
        balance_asset=np.array([0, 0, 0, 0, 1]),
        balance_amount=np.array([5000.0, 20000.0, 100.0, 4000.0, 0.1]),
        position_account=np.array([0, 1, 3]),
        position_market=np.array([0, 0, 0]),
        size=np.array([0.5, 1.0, -0.3]),
        entry_price=np.array([60000.0, 59000.0, 61000.0]),
        isolated=np.zeros(3, dtype=bool),
        isolated_margin=np.zeros(3),
    )
    state = VenueState(portfolio=pf, asset_prices=np.array([1.0, 60000.0]), insurance_fund=1000.0)
    options = {
        "option_account": np.array([1, 2]),
        "option_underlying": np.array([1, 1]),
        "option_expiry": np.array([AS_OF + 30 * DAY, AS_OF + 30 * DAY]),
        "option_strike": np.array([66000.0, 55000.0]),
        "option_is_call": np.array([True, False]),
        "option_size": np.array([-1.0, -1.0]),
    }
    marks = {
        "mark_underlying": np.array([1, 1, 1]),
        "mark_expiry": np.array([AS_OF + 30 * DAY] * 3),
        "mark_strike": np.array([55000.0, 66000.0, 70000.0]),
        "mark_is_call": np.array([False, True, True]),
        "mark_iv": np.array([0.7, 0.6, 0.65]),
    }
    return params, state, options, marks


def split(params, state, options, marks, **kw):
    return split_venue(
        params=params,
        state=state,
        portfolio_mode=np.array([False, True, True, False]),
        as_of=AS_OF,
        pm_params={"BTC": PMParams()},
        **options,
        **marks,
        **kw,
    )


def test_split_leaves_pm_rows_out_and_keeps_cross_ones():
    params, state, options, marks = venue()
    v = split(params, state, options, marks)
    pf = v.cross_state.portfolio
    assert list(v.pm_accounts) == [1, 2]
    assert list(pf.position_account) == [0, 3] and list(v.keep_positions) == [True, False, True]
    assert list(pf.balance_account) == [0, 3]
    assert v.market.symbols == ("BTC",) and v.market.n_series == 2
    np.testing.assert_allclose(v.market.series_t, 30 / 365)
    np.testing.assert_allclose(sorted(v.market.series_vol), [0.6, 0.7])  # each series its own mark
    # collateral (§4): 20000 USDT + 0.1 BTC at 95 %
    np.testing.assert_allclose(v.book.collateral, [20000 + 0.1 * 60000 * 0.95, 100.0])


def test_merged_health_has_pm_rows_and_consistent_totals():
    params, state, options, marks = venue()
    v = split(params, state, options, marks)
    pm = portfolio_margin(market=v.market, book=v.book)
    h = merge_health(evaluate_health(params, v.cross_state), pm, v)
    full = evaluate_health(params, state)
    np.testing.assert_allclose(h.accounts.equity[[0, 3]], full.accounts.equity[[0, 3]])
    np.testing.assert_allclose(h.accounts.maintenance_margin[[1, 2]], pm.maintenance_margin_account)
    assert h.accounts.liquidatable[2] and not h.accounts.liquidatable[1]  # 100 USD against a short put
    assert h.totals.maintenance_margin == pytest.approx(h.accounts.maintenance_margin.sum(), rel=1e-12)
    assert h.totals.liquidatable_accounts == int(h.accounts.liquidatable.sum())


def test_gap_stress_revalues_and_merges():
    params, state, options, marks = venue()
    v = split(params, state, options, marks)
    shocks = np.array([[0.0, 0.0], [0.0, -0.3], [0.0, 0.3]])
    pms = pm_gap_stress(params=params, venue=v, asset_prices=state.asset_prices, shocks=shocks)
    base = portfolio_margin(market=v.market, book=v.book)
    np.testing.assert_allclose(pms.equity[0], base.equity, rtol=1e-12)  # r = 0 is the base
    np.testing.assert_allclose(pms.maintenance_margin[0], base.maintenance_margin_account, rtol=1e-12)
    # −30 %: the short put (K 55000) is 13000 in the money, far above its 100 USD
    assert pms.shortfall[1] > 12000 and pms.top2_account[1, 0] == 2
    cross = run_scenarios(params, v.cross_state, shocks)
    merged = merge_stress(cross, pms)
    np.testing.assert_allclose(merged.shortfall, cross.shortfall + pms.shortfall)
    assert list(merged.n_liquidated) == list(cross.n_liquidated + pms.n_liquidated)
    top = np.sort(np.concatenate([cross.top2_shortfall, pms.top2_shortfall], axis=1), axis=1)[:, ::-1][:, :2]
    np.testing.assert_allclose(merged.top2_shortfall, top)


def test_underlying_books_sum_the_units():
    params, state, options, marks = venue()
    v = split(params, state, options, marks)
    pm = portfolio_margin(market=v.market, book=v.book)
    (b,) = underlying_books(v.market, pm, top=5)
    assert b.units == 2 and b.grid.n == 35
    assert b.delta == pytest.approx(pm.delta.sum()) and b.vega == pytest.approx(pm.vega.sum())
    np.testing.assert_allclose(b.loss, np.nansum(pm.scenario_loss, axis=0))
    assert pm.unit_account[b.riskiest[0]] == 1  # the short put's account: liquidatable, ratio highest


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pm_params": {}}, "no active PM parameters for underlying BTC"),
        ({"mark_iv": np.array([0.7])}, "has no mark"),
    ],
)
def test_split_refuses_bad_inputs(change, message):
    params, state, options, marks = venue()
    kw = {"pm_params": {"BTC": PMParams()}, **options, **marks}
    if "mark_iv" in change:
        kw.update(
            mark_underlying=np.array([1]),
            mark_expiry=np.array([AS_OF + 30 * DAY]),
            mark_strike=np.array([55000.0]),
            mark_is_call=np.array([False]),
        )
    kw.update(change)
    with pytest.raises(EngineInputError, match=message):
        split_venue(params=params, state=state, portfolio_mode=np.array([False, True, True, False]), as_of=AS_OF, **kw)


def test_path_stress_first_liquidating_step():
    """One step is the gap stress; along a path the PM account is liquidated at the first
    step where E' < MM' and its shortfall is taken there, even if the path comes back."""
    from riskgov.engine.path_stress import run_path_stress
    from riskgov.engine.pm_venue import merge_path_stress, pm_path_stress

    params, state, options, marks = venue()
    v = split(params, state, options, marks)
    gaps = np.array([[0.0, -0.3], [0.0, 0.2]])
    one = pm_path_stress(params=params, venue=v, asset_prices=state.asset_prices, paths=gaps[:, None, :])
    gap = pm_gap_stress(params=params, venue=v, asset_prices=state.asset_prices, shocks=gaps)
    np.testing.assert_allclose(one.shortfall, gap.shortfall)
    assert list(one.n_liquidated) == list(gap.n_liquidated)
    path = np.array([[[0.0, -0.1], [0.0, -0.3], [0.0, 0.0]]])  # down 30 % at step 2, back at step 3
    res = pm_path_stress(params=params, venue=v, asset_prices=state.asset_prices, paths=path)
    steps = pm_gap_stress(params=params, venue=v, asset_prices=state.asset_prices, shocks=path[0])
    liq = steps.equity < steps.maintenance_margin  # (T, A_pm)
    first = np.argmax(liq, axis=0)
    assert liq.any(axis=0).all() and first[1] == 0  # the short put: liquidatable already at −10 %
    expected = sum(max(0.0, -steps.equity[first[a], a]) for a in range(2))
    assert res.shortfall[0] == pytest.approx(expected, rel=1e-12)
    assert res.liquidated_by_step[0].tolist() == np.bincount(first, minlength=3).tolist()
    cross = run_path_stress(params, v.cross_state, path)
    merged = merge_path_stress(cross, res)
    np.testing.assert_allclose(merged.shortfall_by_step, cross.shortfall_by_step + res.shortfall_by_step)
    assert merged.n_liquidated[0] == cross.n_liquidated[0] + 2

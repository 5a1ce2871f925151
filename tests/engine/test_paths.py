"""Path scenarios and path stress (RISK_MODEL §8–§11): hand-derived examples and construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskgov.engine.path_cascade import path_replay, run_path_cascade
from riskgov.engine.path_stress import run_path_stress
from riskgov.engine.path_tail import family_tail
from riskgov.engine.paths import PathSet, concat_paths, gap_paths, historical_paths, trend_paths
from riskgov.engine.scenarios import uniform_scenarios
from riskgov.engine.stress import run_scenarios
from riskgov.engine.types import EngineInputError, MarketSpec, PriceError, UnknownSymbolError
from tests.engine import reference as ref
from tests.engine.path_reference import reference_path


def one_btc(mmf: float, *, depth: float = math.inf, pen: float = 0.005):
    """USDT + BTC at 100 (no haircut); BTC-PERP one bracket, IMF 0.1."""
    params = ref.params(
        MarketSpec("BTC-PERP", "BTC", [0.0], [0.1], [mmf], liquidation_penalty=pen, depth_usd_per_1pct=depth)
    )
    return params


def path_of(params, btc_moves):
    """(1, T, A) path moving BTC only (assets USDT, BTC, ETH)."""
    r = np.zeros((1, len(btc_moves), params.assets.n))
    r[0, :, params.assets.index("BTC")] = btc_moves
    return r


# BTC 97, 94, 89, 85, 80 over five steps
FIVE = [-0.03, -0.06, -0.11, -0.15, -0.20]


def long_one(insurance_fund: float = 0.0, collateral: float = 10.0):
    """Account 0: 10 USDT, 1 BTC long at 100 (cross). E_t = 10 + (p_t − 100)."""
    return ref.state(
        n_accounts=1,
        balances=[(0, 0, collateral)],
        positions=[(0, 0, 1.0, 100.0)],
        prices=(1.0, 100.0, 2000.0),
        insurance_fund=insurance_fund,
    )


@pytest.mark.parametrize("prune", [True, False])
def test_liquidated_at_step_3_of_5_and_earlier_with_higher_mmf(prune):
    # E = 7, 4, −1, −5, −10. MMF 1 %: MM = 0.97, 0.94, 0.89 → first E < MM at step 3 (E = −1).
    # slip = 0.01·89/940, cost 89·slip → shortfall 1 + 89²·0.01/940; no penalty (E_after < 0).
    # MMF 5 %: MM = 4.85, 4.70 → step 2 (E = 4 < 4.7): cost 94²·0.01/940 = 0.094, E_after 3.906,
    # penalty min(0.005·94, 3.906) = 0.47, no shortfall.
    state = long_one()
    low, high = one_btc(0.01, depth=940.0), one_btc(0.05, depth=940.0)
    r = path_of(low, FIVE)
    a = run_path_stress(low, state, r, prune=prune)
    b = run_path_stress(high, state, r, prune=prune)
    assert a.n_liquidated.tolist() == [1] and a.liquidated_by_step.tolist() == [[0, 0, 1, 0, 0]]
    assert a.worst_step.tolist() == [3]
    assert a.shortfall[0] == pytest.approx(1 + 89**2 * 0.01 / 940, rel=1e-12)
    assert a.shortfall_by_step[0, 2] == a.shortfall[0] and a.penalties[0] == 0
    assert a.liquidated_notional[0, 0] == pytest.approx(89.0, rel=1e-12)
    assert a.n_bankrupt.tolist() == [1] and a.top2_account[0].tolist() == [0, -1]
    assert b.liquidated_by_step.tolist() == [[0, 1, 0, 0, 0]]
    assert b.shortfall.tolist() == [0.0] and b.n_bankrupt.tolist() == [0] and b.worst_step.tolist() == [0]
    assert b.penalties[0] == pytest.approx(0.47, rel=1e-12)
    assert b.shortfall[0] < a.shortfall[0]
    # the gap to the path's end (−20 %) is much worse: E = −10 at once
    g = run_path_stress(low, state, r[:, -1:, :])
    assert g.shortfall[0] == pytest.approx(10 + 80**2 * 0.01 / 940, rel=1e-12)
    for params, res in ((low, a), (high, b)):
        rp = reference_path(params, state, r[0])
        assert res.shortfall[0] == pytest.approx(rp.shortfall, rel=1e-9, abs=1e-6)
        assert res.penalties[0] == pytest.approx(rp.penalties, rel=1e-9, abs=1e-6)


def test_gap_through_bankruptcy_draws_the_fund_and_leaves_adl():
    # one step of −20 %: E = −10 < MM = 0.8; slip 0.01·80/940 → shortfall 10 + 80²·0.01/940
    params, state = one_btc(0.01, depth=940.0), long_one(insurance_fund=5.0)
    r = path_of(params, [-0.20])
    res = run_path_stress(params, state, r)
    s = 10 + 80**2 * 0.01 / 940
    assert res.n_liquidated.tolist() == [1] and res.n_bankrupt.tolist() == [1]
    assert res.shortfall[0] == pytest.approx(s, rel=1e-12)
    assert res.insurance_fund_after.tolist() == [0.0]
    assert res.adl_amount[0] == pytest.approx(s - 5.0, rel=1e-12)
    assert res.coverage[0] == pytest.approx(5.0 / s, rel=1e-12)
    assert res.worst_step.tolist() == [1] and res.cover2 == pytest.approx(s, rel=1e-12)
    static = run_scenarios(params, state, r[:, 0, :])
    assert static.shortfall[0] == pytest.approx(res.shortfall[0], rel=1e-12)
    assert static.adl_amount[0] == pytest.approx(res.adl_amount[0], rel=1e-12)


def cascade_venue():
    """A: 500 USDT, 100 BTC long at 100 (liquidated at step 1, sells 9,500 USD);
    B: 7 USDT, 1 BTC long at 100. Depth 10,000 USD per 1 %, no penalty, MMF 1 %."""
    params = one_btc(0.01, depth=10_000.0, pen=0.0)
    state = ref.state(
        n_accounts=2,
        balances=[(0, 0, 500.0), (1, 0, 7.0)],
        positions=[(0, 0, 100.0, 100.0), (1, 0, 1.0, 100.0)],
        prices=(1.0, 100.0, 2000.0),
    )
    return params, state


def test_cascade_moves_a_later_step():
    # step 1 (95): A's E = 0 < MM 95 → liquidated; net sold 9,500 → factor 1 − 0.01·9500/10000
    # = 0.9905; round 2 at 94.0975: B's E = 1.0975 ≥ MM 0.940975 → stays.
    # step 2 (−6 %): without impact p = 94, E_B = 1 ≥ 0.94 → stays; with the carried impact
    # p = 94·0.9905 = 93.107, E_B = 0.107 < 0.93107 → liquidated at step 2.
    params, state = cascade_venue()
    r = path_of(params, [-0.05, -0.06])
    off = run_path_cascade(params, state, r, impact=False)
    on = run_path_cascade(params, state, r, impact=True)
    assert off.liquidated_by_step.tolist() == [1, 0]
    assert on.liquidated_by_step.tolist() == [1, 1]
    assert on.market_prices[1, 0] == pytest.approx(94 * 0.9905, rel=1e-12)
    assert off.market_prices[1, 0] == pytest.approx(94.0, rel=1e-12)
    assert on.round_step.tolist() == [1, 2] and on.round_index.tolist() == [0, 0]
    assert on.round_net_sold[0, 0] == pytest.approx(9500.0, rel=1e-12)
    assert on.converged.all()
    # A's shortfall: slip 0.0095 → cost 90.25 → E_after −90.25; B: E_after = 0.107 − 93.107²·1e-6 > 0
    assert on.shortfall == pytest.approx(90.25, rel=1e-12) and on.n_liquidated == 2
    assert on.liquidated_notional[0] == pytest.approx(9500 + 93.107, rel=1e-12)
    # the pruned path stress (no cascade) agrees with the impact-free run
    ps = run_path_stress(params, state, r)
    assert ps.liquidated_by_step.tolist() == [[1, 0]] and ps.shortfall[0] == pytest.approx(off.shortfall, rel=1e-12)
    for impact, res in ((False, off), (True, on)):
        rp = reference_path(params, state, r[0], impact=impact)
        assert res.shortfall == pytest.approx(rp.shortfall, rel=1e-9)
        assert res.n_liquidated == len(rp.liquidated_accounts)


def test_isolated_position_liquidated_alone():
    # cross: 1000 USDT, 1 BTC short at 100; isolated: 1 BTC long at 100, margin 3.5.
    # step 1 (99): iso E = 2.5 ≥ 0.99; step 2 (97): iso E = 0.5 < MM 0.97 → liquidated alone;
    # penalty min(0.005·97, 0.5) = 0.485, no shortfall; the cross side (E = 1003) stays open.
    params = one_btc(0.01)
    state = ref.state(
        n_accounts=1,
        balances=[(0, 0, 1000.0)],
        positions=[(0, 0, -1.0, 100.0), (0, 0, 1.0, 100.0, 3.5)],
        prices=(1.0, 100.0, 2000.0),
    )
    r = path_of(params, [-0.01, -0.03, -0.05])
    res = run_path_stress(params, state, r)
    assert res.n_liquidated.tolist() == [1] and res.liquidated_by_step.tolist() == [[0, 1, 0]]
    assert res.penalties[0] == pytest.approx(0.485, rel=1e-12) and res.shortfall[0] == 0
    assert res.liquidated_notional[0, 0] == pytest.approx(97.0, rel=1e-12)
    rep = path_replay(params, state, r)
    assert rep.liquidated_units_by_step.tolist() == [0, 1, 0]
    # open book at step 3: the cross short alone, E = 1000 + 5, MM = 0.95
    assert rep.mm_coverage[2] == pytest.approx(1005 / 0.95, rel=1e-12)


def test_flat_path_liquidates_only_the_base_liquidatable():
    params = one_btc(0.01)
    state = ref.state(
        n_accounts=2,
        balances=[(0, 0, 0.5), (1, 0, 50.0)],
        positions=[(0, 0, 1.0, 100.0), (1, 0, 1.0, 100.0)],
        prices=(1.0, 100.0, 2000.0),
    )
    res = run_path_stress(params, state, np.zeros((1, 6, params.assets.n)))
    assert res.liquidated_by_step.tolist() == [[1, 0, 0, 0, 0, 0]]


# --------------------------------------------------------------------------- construction


def test_trend_paths_reach_the_move_linearly_and_keep_stables():
    params = one_btc(0.01)
    ps = trend_paths(params.assets, [-0.24, {"BTC": -0.12, "USDT": -0.06}], steps=24)
    assert ps.shocks.shape == (2, 24, 3) and ps.kind == "trend" and ps.horizon_hours == 24
    btc, usdt, eth = (params.assets.index(s) for s in ("BTC", "USDT", "ETH"))
    assert ps.shocks[0, :, btc].tolist() == pytest.approx([-0.01 * (t + 1) for t in range(24)], rel=1e-15)
    assert ps.shocks[0, -1, btc] == -0.24 and ps.shocks[0, :, usdt].tolist() == [0.0] * 24
    assert ps.shocks[1, -1, usdt] == -0.06 and ps.shocks[1, -1, eth] == 0.0  # depeg only when named
    assert ps.names[0] == "trend -24.0% 24h"
    with pytest.raises(UnknownSymbolError):
        trend_paths(params.assets, [{"XYZ": 0.1}])
    with pytest.raises(PriceError):
        trend_paths(params.assets, [-1.5])
    with pytest.raises(EngineInputError):
        trend_paths(params.assets, [0.1], steps=0)


def test_gap_paths_are_one_step():
    params = one_btc(0.01)
    sc = uniform_scenarios(params.assets, [-0.1, 0.2])
    ps = gap_paths(sc, family="uniform_gap")
    assert ps.shocks.shape == (2, 1, 3) and np.array_equal(ps.final_shocks, sc.shocks)
    assert ps.names == sc.names and ps.family == "uniform_gap"


def hourly_matrix():
    """Two assets over 4 days of hours, BTC starts at 06:00 of day 0, ETH has a hole on day 2."""
    hours = np.arange(np.datetime64("2024-01-01T00", "h"), np.datetime64("2024-01-05T01", "h"))
    n = hours.size
    btc = 100.0 * np.exp(0.001 * np.arange(n))
    eth = 50.0 + 0.5 * np.arange(n)
    btc[:6] = np.nan
    eth[2 * 24 + 5] = np.nan
    mask = np.zeros((n, 2), dtype=bool)
    mask[24 + 1 : 24 + 4, 1] = True  # three interpolated ETH hours on day 1
    return hours, np.column_stack([btc, eth]), mask


def test_historical_paths_from_shared_hours_starting_at_midnight():
    params = ref.params()
    hours, px, mask = hourly_matrix()
    ps = historical_paths(params.assets, px, ["BTC", "ETH"], hours, 24, interpolated=mask)
    # day 0 lacks BTC before 06:00, day 2 has an ETH hole, day 4 has only its 00:00 row:
    # the windows starting 2024-01-01 and 2024-01-03 need 01-02T00 / 01-04T00 too → days 1 and 3
    assert ps.start == ("2024-01-02T00", "2024-01-04T00")
    assert ps.family == "hist_1d" and ps.n_steps == 24 and ps.names[0] == "path 1d 2024-01-02"
    btc = params.assets.index("BTC")
    i0 = 24
    assert ps.shocks[0, :, btc] == pytest.approx(px[i0 + 1 : i0 + 25, 0] / px[i0, 0] - 1, rel=1e-15)
    assert ps.shocks[0, :, params.assets.index("USDT")].tolist() == [0.0] * 24
    # 3 of ETH's 24 steps interpolated on day 1 (its steps are hours 01..24 of the window)
    eth = params.assets.index("ETH")
    assert ps.interpolated_by_asset[0, eth] == pytest.approx(3 / 24)
    assert ps.interpolated_share.tolist() == pytest.approx([3 / 48, 0.0])
    with pytest.raises(UnknownSymbolError):
        historical_paths(params.assets, px[:, :1], ["BTC"], hours, 24)
    proxied = historical_paths(params.assets, px[:, :1], ["BTC"], hours, 24, proxies={"ETH": "BTC"})
    assert np.array_equal(proxied.shocks[:, :, btc], proxied.shocks[:, :, eth])


def test_historical_paths_errors():
    params = ref.params()
    hours, px, _ = hourly_matrix()
    with pytest.raises(EngineInputError):
        historical_paths(params.assets, px, ["BTC", "ETH"], hours, 72)  # no clean 3-day window
    with pytest.raises(EngineInputError):
        historical_paths(params.assets, px, ["BTC", "ETH"], hours[::-1], 24)
    bad = px.copy()
    bad[30, 0] = -1.0
    with pytest.raises(PriceError):
        historical_paths(params.assets, bad, ["BTC", "ETH"], hours, 24)


def test_pathset_validation_and_concat():
    params = one_btc(0.01)
    a = trend_paths(params.assets, [-0.1], steps=4)
    b = trend_paths(params.assets, [0.1], steps=4)
    c = concat_paths(a, b, family="trend_4h")
    assert c.n == 2 and c.family == "trend_4h" and c.names == a.names + b.names
    with pytest.raises(EngineInputError):
        concat_paths(a, trend_paths(params.assets, [0.1], steps=5))
    with pytest.raises(PriceError):
        PathSet(
            "x", "trend", 1.0, ("a",), np.full((1, 2, 3), -1.0), a.asset_symbols, ("",), np.zeros(1), np.zeros((1, 3))
        )
    with pytest.raises(EngineInputError):
        run_path_stress(params, long_one(), np.zeros((1, 2, 2)))


def test_family_tail_is_labelled_and_uses_section_10():
    params, state = one_btc(0.01, depth=940.0), long_one(insurance_fund=2.0)
    ps = trend_paths(params.assets, [-0.05, -0.2, -0.3, 0.1], steps=24, family="trend_1d")
    res = run_path_stress(params, state, ps)
    t = family_tail(res, 0.75)  # k = ⌈0.25·4⌉ = 1
    assert t.family == "trend_1d" and t.label == "1-day trends" and t.horizon_hours == 24
    assert t.k == 1 and t.var == t.es == res.shortfall.max() == t.worst_shortfall
    assert t.coverage_at_es == pytest.approx(2.0 / t.es) and t.cover2 == pytest.approx(res.shortfall.max())
    assert t.worst_scenario == ps.names[int(np.argmax(res.shortfall))]
    t2 = family_tail(res, 0.5)  # k = 2: mean of the two largest
    top = np.sort(res.shortfall)[::-1][:2]
    assert t2.k == 2 and t2.es == pytest.approx(top.mean()) and t2.var == top[1]


def test_higher_mmf_can_cost_more_when_slippage_exceeds_the_margin():
    # RISK_MODEL §9's "raising any MMF never increases shortfall" needs the close's slippage to
    # stay below MM. 5 USDT + 1 BTC long at 100, depth 30 USD per 1 %; BTC 97 then back to 100.
    # MMF 1 %: step 1 E = 2 ≥ 0.97, never liquidated, no shortfall.
    # MMF 5 %: step 1 E = 2 < 4.85 → closed at 97 with slip 0.01·97/30: cost 97²·0.01/30 = 3.136…
    # → E_after = −1.136…: a shortfall the lower margin never had.
    state = long_one(collateral=5.0)
    r = path_of(one_btc(0.01), [-0.03, 0.0])
    low = run_path_stress(one_btc(0.01, depth=30.0), state, r)
    high = run_path_stress(one_btc(0.05, depth=30.0), state, r)
    assert low.shortfall.tolist() == [0.0] and low.n_liquidated.tolist() == [0]
    assert high.shortfall[0] == pytest.approx(97**2 * 0.01 / 30 - 2, rel=1e-12)


def test_three_day_windows_overlap_one_per_day():
    params = ref.params()
    hours = np.arange(np.datetime64("2024-03-01T00", "h"), np.datetime64("2024-03-05T01", "h"))  # 97 hours
    px = np.column_stack([np.linspace(100, 120, hours.size), np.linspace(50, 40, hours.size)])
    ps = historical_paths(params.assets, px, ["BTC", "ETH"], hours, 72)
    assert ps.family == "hist_3d" and ps.start == ("2024-03-01T00", "2024-03-02T00") and ps.horizon_hours == 72
    assert ps.shocks[1, -1, params.assets.index("ETH")] == pytest.approx(px[96, 1] / px[24, 1] - 1, rel=1e-15)
    res = run_path_stress(params, long_one(), ps)
    assert res.shortfall_by_step.shape == (2, 72) and res.family == "hist_3d"


def test_to_hourly_interpolates_a_coarser_series_and_marks_it():
    from riskgov.engine.paths import to_hourly

    grid = np.arange(np.datetime64("2024-01-01T00", "h"), np.datetime64("2024-01-02T06", "h"))
    obs = np.array(["2024-01-01T00", "2024-01-01T04", "2024-01-01T08", "2024-01-02T04"], dtype="datetime64[h]")
    px, mask = to_hourly(obs, np.array([100.0, 104.0, 96.0, 50.0]), grid, max_gap_hours=8)
    assert px[:9].tolist() == [100, 101, 102, 103, 104, 102, 100, 98, 96]
    assert mask[:9].tolist() == [False, True, True, True, False, True, True, True, False]
    assert np.isnan(px[9:28]).all() and not mask[9:28].any()  # 20 h hole: not bridged
    assert px[28] == 50.0 and not mask[28] and np.isnan(px[29])
    hourly, m = to_hourly(grid, np.arange(grid.size) + 1.0, grid)
    assert np.array_equal(hourly, np.arange(grid.size) + 1.0) and not m.any()
    with pytest.raises(PriceError):
        to_hourly(obs, np.array([1.0, -1.0, 1.0, 1.0]), grid)

"""Portfolio margin (RISK_MODEL §14): hand-derived cases against a scalar reference, grid, validation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskgov.engine.options import forward_and_discount
from riskgov.engine.portfolio_margin import (
    DEFAULT_EXTENDED,
    PMBook,
    PMMarket,
    PMParams,
    liquidation_move,
    liquidation_moves,
    portfolio_margin,
    scenario_grid,
    shocked_vols,
)
from riskgov.engine.types import EngineInputError

DAY = 1.0 / 365.0


# ----------------------------------------------------------------- scalar reference (§14 by hand)


def _n(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def ref_price(call: bool, s: float, k: float, vol: float, t: float, r: float = 0.0) -> float:
    if t <= 0:
        return max(0.0, s - k) if call else max(0.0, k - s)
    f, d = s * math.exp(r * t), math.exp(-r * t)
    d1 = (math.log(f / k) + vol * vol * t / 2) / (vol * math.sqrt(t))
    d2 = d1 - vol * math.sqrt(t)
    return d * (f * _n(d1) - k * _n(d2)) if call else d * (k * _n(-d2) - f * _n(-d1))


def ref_shocks(p: PMParams, vol: float, t: float) -> dict[str, float]:
    dte = 365.0 * t
    power = p.short_term_vega_power if dte < 30 else p.long_term_vega_power
    x = (30.0 / max(dte, p.dte_floor_days)) ** power
    return {
        "down": vol * (1 - p.vol_range_down * x),
        "none": vol,
        "up": max(vol * (1 + p.vol_range_up * x), p.min_vol_for_shock_up),
    }


def ref_scenarios(p: PMParams) -> list[tuple[float, str, float]]:
    if p.scenarios is not None:
        return list(p.scenarios)
    out = []
    for i in range(-p.buckets, p.buckets + 1):
        for v in ("down", "none", "up"):
            out.append((p.price_range * i / p.buckets, v, 1.0))
    return out + [(m, "up", w) for m, w in p.extended]


def ref_unit(p: PMParams, s: float, legs, perp_q: float = 0.0):
    """legs: [(call, strike, t, vol, q)] → (losses, L, c_so, c_p, MM, IM)."""
    losses = []
    for m, v, w in ref_scenarios(p):
        change = perp_q * s * m
        for call, k, t, vol, q in legs:
            change += q * (ref_price(call, s * (1 + m), k, ref_shocks(p, vol, t)[v], t) - ref_price(call, s, k, vol, t))
        losses.append(-w * change)
    worst = max(0.0, max(losses))
    net: dict[tuple, float] = {}
    for call, k, t, _vol, q in legs:
        net[(call, k, t)] = net.get((call, k, t), 0.0) + q
    c_so = p.short_option_contingency * s * sum(max(0.0, -q) for q in net.values())
    c_p = p.perp_contingency * s * abs(perp_q)
    mm = worst + c_so + c_p
    return losses, worst, c_so, c_p, mm, mm / p.mm_factor


# ----------------------------------------------------------------- builders


def make_market(series, *, spot=(100_000.0,), params=None, symbols=None):
    """series: [(underlying, call, strike, t, vol)]."""
    u = np.array([x[0] for x in series], dtype=np.int64)
    t = np.array([x[3] for x in series], dtype=np.float64)
    s = np.asarray(spot, dtype=np.float64)
    fwd, disc = forward_and_discount(spot=s.take(u), t=t)
    return PMMarket(
        symbols=symbols or tuple(f"U{i}" for i in range(s.size)),
        spot=s,
        params=params or tuple(PMParams() for _ in range(s.size)),
        series_underlying=u,
        series_is_call=np.array([x[1] for x in series], dtype=bool),
        series_strike=np.array([x[2] for x in series], dtype=np.float64),
        series_t=t,
        series_forward=np.asarray(fwd, dtype=np.float64).reshape(-1),
        series_discount=np.asarray(disc, dtype=np.float64).reshape(-1),
        series_vol=np.array([x[4] for x in series], dtype=np.float64),
    )


def make_book(n_accounts, options=(), perps=(), collateral=None, moving=None):
    """options: [(account, series, size)]; perps: [(account, underlying, size, entry)]."""
    o = np.array(options, dtype=np.float64).reshape(-1, 3)
    q = np.array(perps, dtype=np.float64).reshape(-1, 4)
    return PMBook(
        n_accounts=n_accounts,
        option_account=o[:, 0].astype(np.int64),
        option_series=o[:, 1].astype(np.int64),
        option_size=o[:, 2],
        perp_account=q[:, 0].astype(np.int64),
        perp_underlying=q[:, 1].astype(np.int64),
        perp_size=q[:, 2],
        perp_entry_price=q[:, 3],
        collateral=np.zeros(n_accounts) if collateral is None else np.asarray(collateral, dtype=np.float64),
        collateral_moving=None if moving is None else np.asarray(moving, dtype=np.float64),
    )


S = 100_000.0
P = PMParams()


def _assert_unit(res, unit, p, s, legs, perp_q=0.0):
    losses, worst, c_so, c_p, mm, im = ref_unit(p, s, legs, perp_q)
    n = len(losses)
    np.testing.assert_allclose(res.scenario_loss[unit, :n], losses, rtol=1e-9, atol=1e-6)
    assert res.worst_loss[unit] == pytest.approx(worst, rel=1e-9, abs=1e-6)
    assert res.short_option_contingency[unit] == pytest.approx(c_so, rel=1e-12)
    assert res.perp_contingency[unit] == pytest.approx(c_p, rel=1e-12)
    assert res.maintenance_margin[unit] == pytest.approx(mm, rel=1e-9)
    assert res.initial_margin[unit] == pytest.approx(im, rel=1e-9)
    return losses


# ----------------------------------------------------------------- the grid


def test_default_grid_is_27_standard_plus_8_extended():
    g = scenario_grid(P)
    assert g.n == 35
    np.testing.assert_allclose(g.move[:27:3], [-0.16, -0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12, 0.16])
    np.testing.assert_array_equal(g.vol[:3], [-1, 0, 1])
    np.testing.assert_array_equal(g.weight[:27], 1.0)
    np.testing.assert_allclose(g.move[27:], [-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(g.vol[27:], 1)
    np.testing.assert_allclose(g.weight[27:], 0.036 / np.abs(g.move[27:]))
    assert DEFAULT_EXTENDED[0] == (-0.66, pytest.approx(0.036 / 0.66))


def test_explicit_scenarios_replace_the_grid():
    p = PMParams(scenarios=((-0.2, "up", 1.0), (0.3, "none", 0.5)))
    g = scenario_grid(p)
    np.testing.assert_allclose(g.move, [-0.2, 0.3])
    np.testing.assert_array_equal(g.vol, [1, 0])
    np.testing.assert_allclose(g.weight, [1.0, 0.5])
    m = make_market([(0, True, S, 30 * DAY, 0.5)], params=(p,))
    res = portfolio_margin(market=m, book=make_book(1, options=[(0, 0, -2.0)]))
    assert res.scenario_loss.shape == (1, 2)
    _assert_unit(res, 0, p, S, [(True, S, 30 * DAY, 0.5, -2.0)])


def test_vol_shock_uses_the_dte_floor_and_the_two_powers():
    vol = np.array([0.6, 0.6, 0.6, 0.6, 0.2])
    t = np.array([0.1, 1.0, 29.0, 90.0, 90.0]) * DAY
    down, up = shocked_vols(params=P, vol=vol, t=t)
    x = np.array([30.0**0.3, 30.0**0.3, (30 / 29) ** 0.3, (30 / 90) ** 0.13, (30 / 90) ** 0.13])
    np.testing.assert_allclose(down, vol * (1 - 0.25 * x), rtol=1e-14)
    np.testing.assert_allclose(up, np.maximum(vol * (1 + 0.5 * x), 0.5), rtol=1e-14)
    assert up[4] == 0.5  # min_vol_for_shock_up


# ----------------------------------------------------------------- hand-derived cases


def test_covered_call():
    """Long 1 perp + short 1 call 110k, 30 DTE: worst at −16 % with vol up (the call keeps value)."""
    m = make_market([(0, True, 110_000.0, 30 * DAY, 0.55)])
    book = make_book(1, options=[(0, 0, -1.0)], perps=[(0, 0, 1.0, 95_000.0)], collateral=[30_000.0])
    res = portfolio_margin(market=m, book=book)
    losses = _assert_unit(res, 0, P, S, [(True, 110_000.0, 30 * DAY, 0.55, -1.0)], perp_q=1.0)
    g = scenario_grid(P)
    assert (g.move[res.worst_scenario[0]], g.vol[res.worst_scenario[0]]) == (-0.16, 1)
    call = ref_price(True, S, 110_000.0, 0.55, 30 * DAY)
    call_up = ref_price(True, 0.84 * S, 110_000.0, ref_shocks(P, 0.55, 30 * DAY)["up"], 30 * DAY)
    assert max(losses) == pytest.approx(0.16 * S - (call - call_up), rel=1e-9)
    # contingencies: one net short call, one perp
    assert res.short_option_contingency[0] == pytest.approx(1_000.0)
    assert res.perp_contingency[0] == pytest.approx(1_000.0)
    # equity = collateral + perp uPnL + option value
    assert res.equity[0] == pytest.approx(30_000.0 + 5_000.0 - call, rel=1e-12)
    assert res.maintenance_margin_account[0] == pytest.approx(res.maintenance_margin[0])
    assert res.liquidatable[0] == (res.equity[0] < res.maintenance_margin_account[0])


def test_short_straddle_near_expiry_uses_the_dte_floor():
    """Short straddle at 6 hours: shocks as at the 1-day floor; same MM at 0.1 and 0.5 days' shocks."""
    t = 0.25 * DAY
    legs = [(True, S, t, 0.5, -1.0), (False, S, t, 0.5, -1.0)]
    m = make_market([(0, True, S, t, 0.5), (0, False, S, t, 0.5)])
    res = portfolio_margin(market=m, book=make_book(1, options=[(0, 0, -1.0), (0, 1, -1.0)]))
    _assert_unit(res, 0, P, S, legs)
    x = 30.0**0.3  # floor: max(0.25, 1) = 1 day
    assert ref_shocks(P, 0.5, t)["down"] == pytest.approx(0.5 * (1 - 0.25 * x))
    down, up = shocked_vols(params=P, vol=np.array([0.5]), t=np.array([t]))
    assert down[0] == pytest.approx(0.5 * (1 - 0.25 * x), rel=1e-14)
    assert up[0] == pytest.approx(0.5 * (1 + 0.5 * x), rel=1e-14)
    # without the floor the 6-hour shock would be (30/0.25)^0.3 ≈ 4.2, not 2.77
    g = scenario_grid(P)
    worst = res.worst_scenario[0]
    assert abs(g.move[worst]) == pytest.approx(0.16) and g.vol[worst] == 1  # a ±16 % move, vol up
    assert res.short_option_contingency[0] == pytest.approx(2 * 0.01 * S)


def test_far_otm_short_call_is_dominated_by_the_extended_table():
    """Short call at 2.5× spot, 7 DTE: the standard ±16 % grid barely moves it; +500 % wins."""
    t = 7 * DAY
    m = make_market([(0, True, 2.5 * S, t, 0.6)])
    res = portfolio_margin(market=m, book=make_book(1, options=[(0, 0, -1.0)]))
    losses = _assert_unit(res, 0, P, S, [(True, 2.5 * S, t, 0.6, -1.0)])
    g = scenario_grid(P)
    assert g.move[res.worst_scenario[0]] == 5.0
    assert max(losses[:27]) < 1.0  # the standard grid: under a dollar
    call = ref_price(True, S, 2.5 * S, 0.6, t)
    c6 = ref_price(True, 6 * S, 2.5 * S, ref_shocks(P, 0.6, t)["up"], t)
    assert res.worst_loss[0] == pytest.approx(0.036 / 5.0 * (c6 - call), rel=1e-9)
    assert res.maintenance_margin[0] == pytest.approx(res.worst_loss[0] + 0.01 * S, rel=1e-12)


def test_perp_hedged_call():
    """Long 2 calls hedged with a short perp of their delta: delta 0, c_p on the perp only."""
    t = 45 * DAY
    m = make_market([(0, True, 105_000.0, t, 0.5)])
    unhedged = portfolio_margin(market=m, book=make_book(1, options=[(0, 0, 2.0)]))
    hedge = -float(unhedged.delta[0])
    res = portfolio_margin(market=m, book=make_book(1, options=[(0, 0, 2.0)], perps=[(0, 0, hedge, S)]))
    _assert_unit(res, 0, P, S, [(True, 105_000.0, t, 0.5, 2.0)], perp_q=hedge)
    assert res.delta[0] == pytest.approx(0.0, abs=1e-12)
    assert res.short_option_contingency[0] == 0.0
    assert res.perp_contingency[0] == pytest.approx(0.01 * S * abs(hedge))
    assert res.worst_loss[0] < unhedged.worst_loss[0]
    # a long option never loses more than its premium
    assert unhedged.worst_loss[0] <= unhedged.option_value[0]


def test_accounts_sum_underlyings_without_offset_and_mm_is_mm_factor_times_im():
    p2 = PMParams(price_range=0.2, mm_factor=0.5)
    m = make_market(
        [(0, True, S, 20 * DAY, 0.5), (1, False, 3_000.0, 60 * DAY, 0.7)],
        spot=(S, 3_100.0),
        params=(P, p2),
    )
    book = make_book(
        3,
        options=[(0, 0, -1.0), (0, 1, 10.0), (2, 1, -5.0), (2, 1, 2.0)],
        perps=[(0, 1, -3.0, 3_000.0), (1, 0, 0.5, 90_000.0)],
        collateral=[50_000.0, 10_000.0, 20_000.0],
    )
    res = portfolio_margin(market=m, book=book)
    np.testing.assert_array_equal(res.unit_account, [0, 0, 1, 2])
    np.testing.assert_array_equal(res.unit_underlying, [0, 1, 0, 1])
    _assert_unit(res, 0, P, S, [(True, S, 20 * DAY, 0.5, -1.0)])
    _assert_unit(res, 1, p2, 3_100.0, [(False, 3_000.0, 60 * DAY, 0.7, 10.0)], perp_q=-3.0)
    _assert_unit(res, 2, P, S, [], perp_q=0.5)
    # the same series twice nets: −5 + 2 = −3 short for c_so
    _assert_unit(res, 3, p2, 3_100.0, [(False, 3_000.0, 60 * DAY, 0.7, -3.0)])
    assert res.short_option_contingency[3] == pytest.approx(0.01 * 3_100.0 * 3.0)
    np.testing.assert_allclose(
        res.maintenance_margin_account, np.bincount(res.unit_account, res.maintenance_margin), rtol=1e-15
    )
    np.testing.assert_allclose(res.maintenance_margin, res.initial_margin * np.array([0.8, 0.5, 0.8, 0.5]))
    # the other unit's scenarios stop at 35 (p2 has 35 too, explicit lists may be shorter)
    assert res.scenario_loss.shape == (4, 35)


def test_equity_ratio_and_flags_follow_section_5():
    m = make_market([(0, False, 90_000.0, 10 * DAY, 0.8)])
    book = make_book(4, options=[(0, 0, -1.0), (1, 0, -1.0), (2, 0, 1.0)], collateral=[1e6, 0.0, 0.0, 5.0])
    res = portfolio_margin(market=m, book=book)
    put = ref_price(False, S, 90_000.0, 0.8, 10 * DAY)
    np.testing.assert_allclose(res.equity, [1e6 - put, -put, put, 5.0], rtol=1e-12)
    assert list(res.liquidatable) == [False, True, False, False]
    assert list(res.bankrupt) == [False, True, False, False]
    assert res.margin_ratio[1] == np.inf and res.margin_ratio[3] == 0.0
    assert res.margin_ratio[0] == pytest.approx(res.maintenance_margin_account[0] / res.equity[0])
    assert res.shortfall[1] == pytest.approx(put)


def test_expired_option_is_worth_intrinsic_in_every_scenario_and_loses_like_a_forward():
    m = make_market([(0, True, 90_000.0, 0.0, 0.5)])
    res = portfolio_margin(market=m, book=make_book(1, options=[(0, 0, 1.0)]))
    assert res.option_value[0] == pytest.approx(10_000.0)
    _assert_unit(res, 0, P, S, [(True, 90_000.0, 0.0, 0.5, 1.0)])
    assert res.gamma[0] == 0.0 and res.vega[0] == 0.0


# ----------------------------------------------------------------- the liquidation move


def test_liquidation_move_order_and_cases():
    moves = liquidation_moves()
    assert moves.size == 200
    np.testing.assert_allclose(moves[:4], [-0.005, 0.005, -0.01, 0.01])
    assert moves[-1] == pytest.approx(0.5)
    # long perp only: MM(r) = (0.16 + 0.01)·S·(1+r), E(r) = V + S·r; liquidatable for
    # r < (0.17·S − V)/(0.83·S). V chosen so that the threshold is −0.1025 → first step −0.105.
    v_long = 0.17 * S + 0.83 * S * 0.1025
    m = make_market([(0, True, S, 30 * DAY, 0.5)])
    book = make_book(
        4,
        perps=[(0, 0, 1.0, S), (1, 0, -1.0, S), (2, 0, 1.0, S), (3, 0, 1.0, S)],
        collateral=[v_long, v_long, 1_000.0, 1e7],
    )
    res = portfolio_margin(market=m, book=book)
    assert res.maintenance_margin[0] == pytest.approx(0.17 * S)
    r = liquidation_move(market=m, book=book, result=res)
    assert r[0] == pytest.approx(-0.105)
    # short perp: MM(r) = 0.17·S·(1+r) with the loss at +16 %; E = V − S·r
    # liquidatable for r > (V − 0.17·S)/(1.17·S) = 0.0727… → first step +0.075
    assert r[1] == pytest.approx(0.075)
    assert r[2] == 0.0  # already liquidatable
    assert np.isnan(r[3])  # never within 50 %


def test_liquidation_move_moves_collateral_held_in_the_underlying():
    # 1 BTC of collateral (haircut 0 here) against a short perp of 1: E is flat in r, MM grows
    m = make_market([(0, True, S, 30 * DAY, 0.5)])
    book = make_book(1, perps=[(0, 0, -1.0, S)], collateral=[S], moving=[S])
    res = portfolio_margin(market=m, book=book)
    assert not res.liquidatable[0]
    # E(r) = S(1+r) − S·r = S; MM(r) = 0.17·S·(1+r): never above S within 50 %
    assert np.isnan(liquidation_move(market=m, book=book)[0])
    book_usd = make_book(1, perps=[(0, 0, -1.0, S)], collateral=[S])
    # with USD collateral E(r) = S − S·r < 0.17·S(1+r) ⇔ r > 0.83/1.17 → none within 50 %;
    # at 0.3·S collateral: r > 0.13/1.17 = 0.111 → +0.115
    book_usd = make_book(1, perps=[(0, 0, -1.0, S)], collateral=[0.3 * S])
    assert liquidation_move(market=m, book=book_usd)[0] == pytest.approx(0.115)


def test_liquidation_move_of_an_option_book_matches_a_direct_revaluation():
    t = 20 * DAY
    m = make_market([(0, True, S, t, 0.6), (0, False, 95_000.0, t, 0.6)])
    book = make_book(2, options=[(0, 0, -1.0), (0, 1, -1.0), (1, 0, -2.0)], collateral=[40_000.0, 60_000.0])
    r = liquidation_move(market=m, book=book, batch=7)
    for a in range(2):
        legs = [(True, S, t, 0.6, -1.0), (False, 95_000.0, t, 0.6, -1.0)] if a == 0 else [(True, S, t, 0.6, -2.0)]
        coll = [40_000.0, 60_000.0][a]

        def liq(move: float, legs=legs, coll=coll) -> bool:
            s = S * (1 + move)
            mm = ref_unit(P, s, legs)[4]
            eq = coll + sum(q * ref_price(c, s, k, v, tt) for c, k, tt, v, q in legs)
            return mm > 0 and eq < mm

        expected = next((mv for mv in liquidation_moves() if liq(mv)), np.nan)
        assert (np.isnan(expected) and np.isnan(r[a])) or r[a] == pytest.approx(expected)
    assert not np.isnan(r).all()


# ----------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(price_range=1.0), "price_range"),
        (dict(price_range=0.0), "price_range"),
        (dict(buckets=0), "buckets"),
        (dict(mm_factor=0.0), "mm_factor"),
        (dict(mm_factor=1.5), "mm_factor"),
        (dict(short_term_vega_power=-0.1), "short_term_vega_power"),
        (dict(long_term_vega_power=-1.0), "long_term_vega_power"),
        (dict(vol_range_down=0.4), "vol_range_down"),  # 0.4·30^0.3 ≥ 1
        (dict(dte_floor_days=0.0), "dte_floor_days"),
        (dict(extended=((0.5, 0.0),)), r"extended\[0\].weight"),
        (dict(extended=((0.5, 1.5),)), r"extended\[0\].weight"),
        (dict(extended=((-1.0, 0.5),)), r"extended\[0\].move"),
        (dict(scenarios=((0.1, "sideways", 1.0),)), r"scenarios\[0\].vol"),
        (dict(scenarios=((0.1, "up", 0.0),)), r"scenarios\[0\].weight"),
        (dict(perp_contingency=-0.01), "perp_contingency"),
        (dict(price_range=float("nan")), "price_range"),
    ],
)
def test_parameters_are_validated_naming_the_field(kwargs, field):
    with pytest.raises(EngineInputError, match=rf"^{field}: "):
        PMParams(**kwargs)


def test_market_and_book_validation_name_the_field():
    m = make_market([(0, True, S, 30 * DAY, 0.5)])
    bad_strike = make_market([(0, True, -1.0, 30 * DAY, 0.5)])
    with pytest.raises(EngineInputError, match="^series_strike: must be > 0"):
        portfolio_margin(market=bad_strike, book=make_book(1, options=[(0, 0, 1.0)]))
    bad_vol = make_market([(0, True, S, 30 * DAY, 0.0)])
    with pytest.raises(EngineInputError, match="^series_vol: must be > 0"):
        portfolio_margin(market=bad_vol, book=make_book(1, options=[(0, 0, 1.0)]))
    with pytest.raises(EngineInputError, match=r"^option_series: index out of range"):
        portfolio_margin(market=m, book=make_book(1, options=[(0, 3, 1.0)]))
    with pytest.raises(EngineInputError, match=r"^option_account: index out of range"):
        portfolio_margin(market=m, book=make_book(1, options=[(1, 0, 1.0)]))
    with pytest.raises(EngineInputError, match=r"^perp_entry_price: must be > 0"):
        portfolio_margin(market=m, book=make_book(1, perps=[(0, 0, 1.0, 0.0)]))
    with pytest.raises(EngineInputError, match=r"^collateral: must have shape"):
        portfolio_margin(market=m, book=make_book(1, collateral=[1.0, 2.0]))


def test_empty_book():
    m = make_market([(0, True, S, 30 * DAY, 0.5)])
    res = portfolio_margin(market=m, book=make_book(2, collateral=[1.0, -1.0]))
    assert res.unit_account.size == 0 and res.scenario_loss.shape == (0, 35)
    np.testing.assert_array_equal(res.maintenance_margin_account, 0.0)
    assert list(res.liquidatable) == [False, False] and list(res.bankrupt) == [False, True]
    assert np.isnan(liquidation_move(market=m, book=make_book(2, collateral=[1.0, -1.0]))).all()


# ----------------------------------------------------------------- a venue with PM beside cross and isolated


def test_pm_accounts_beside_cross_and_isolated_ones():
    from riskgov.engine.accounts import account_metrics
    from riskgov.engine.portfolio_margin import pm_collateral, venue_accounts
    from tests.engine.reference import params, state

    # venue accounts 0 (cross), 1 (PM), 2 (isolated), 3 (PM); the PM accounts' balances and
    # perps are left out of the bracket pass
    ps = params()
    st = state(
        n_accounts=4,
        balances=[(0, 0, 5_000.0), (2, 0, 100.0)],
        positions=[(0, 0, 0.5, 29_000.0), (2, 1, 1.0, 2_000.0, 150.0)],
    )
    metrics = account_metrics(ps, st)
    # the PM accounts: 1 holds 0.2 BTC (haircut 0.05) and USDT, 3 USDT only
    pm_state = state(n_accounts=2, balances=[(0, 1, 0.2), (0, 0, 1_000.0), (1, 0, 50.0)])
    coll, moving = pm_collateral(
        params=ps, portfolio=pm_state.portfolio, asset_prices=pm_state.asset_prices, moving_assets=[1]
    )
    np.testing.assert_allclose(coll, [0.2 * 30_000 * 0.95 + 1_000.0, 50.0])
    np.testing.assert_allclose(moving, [0.2 * 30_000 * 0.95, 0.0])
    m = make_market([(0, True, 30_000.0, 30 * DAY, 0.5)], spot=(30_000.0,), symbols=("BTC",))
    pm = portfolio_margin(
        market=m, book=make_book(2, options=[(0, 0, -1.0), (1, 0, 1.0)], collateral=coll, moving=moving)
    )
    venue = venue_accounts(metrics=metrics, pm=pm, pm_accounts=np.array([1, 3]))
    np.testing.assert_array_equal(venue.portfolio_mode, [False, True, False, True])
    np.testing.assert_allclose(venue.equity[[0, 2]], metrics.equity[[0, 2]])
    np.testing.assert_allclose(venue.equity[[1, 3]], pm.equity)
    np.testing.assert_allclose(venue.maintenance_margin[[1, 3]], pm.maintenance_margin_account)
    np.testing.assert_allclose(venue.initial_margin[[0, 2]], metrics.initial_margin[[0, 2]])
    np.testing.assert_array_equal(venue.liquidatable[[1, 3]], pm.liquidatable)
    with pytest.raises(EngineInputError, match="^pm_accounts: must be distinct"):
        venue_accounts(metrics=metrics, pm=pm, pm_accounts=np.array([1, 1]))
    with pytest.raises(EngineInputError, match="^pm_accounts: index out of range"):
        venue_accounts(metrics=metrics, pm=pm, pm_accounts=np.array([1, 4]))

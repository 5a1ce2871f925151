"""PM liquidations with the §8 closes, in the cascade and the ADL attribution (engine.pm_venue,
RISK_MODEL §8, §9, §11, §14).

The reference is a plain loop over scenarios, steps, accounts and legs with scalar math
(Black-76 delta by ``math.erf``); ``E'`` and ``MM'`` come from ``portfolio_margin`` on the
moved market (tested on its own in ``test_portfolio_margin``).
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskgov.engine import pm_venue as pv
from riskgov.engine.adl import adl_attribution
from riskgov.engine.brackets import build_parameter_set
from riskgov.engine.cascade import run_cascade
from riskgov.engine.fund import insurance_fund_after
from riskgov.engine.path_cascade import run_path_cascade
from riskgov.engine.path_stress import run_path_stress
from riskgov.engine.pm_venue import merge_path_stress, pm_gap_stress, pm_path_stress, split_venue
from riskgov.engine.portfolio_margin import PMParams, portfolio_margin
from riskgov.engine.types import AssetSpec, MarketSpec, Portfolio, VenueState

DAY = 86400
AS_OF = 1_700_000_000
EXPIRY = AS_OF + 30 * DAY


def make_venue(*, depth=2e6, penalty=0.005, pm_perp=1.0, collateral=(20000.0, 100.0), fund=1000.0):
    """Accounts: 0 cross long, 1 PM covered call (long perp + short call), 2 PM short put,
    3 cross short. BTC at 60 000."""
    params = build_parameter_set(
        markets=[
            MarketSpec(
                "BTC-PERP",
                "BTC",
                floors=[0],
                imf=[0.02],
                mmf=[0.01],
                liquidation_penalty=penalty,
                depth_usd_per_1pct=depth,
            )
        ],
        assets=[AssetSpec("USDT", stable=True), AssetSpec("BTC", haircut=0.05)],
    )
    pf = Portfolio(
        n_accounts=4,
        balance_account=np.array([0, 1, 2, 3]),
        balance_asset=np.array([0, 0, 0, 0]),
        balance_amount=np.array([5000.0, collateral[0], collateral[1], 4000.0]),
        position_account=np.array([0, 1, 3]),
        position_market=np.array([0, 0, 0]),
        size=np.array([0.5, pm_perp, -0.3]),
        entry_price=np.array([60000.0, 59000.0, 61000.0]),
        isolated=np.zeros(3, dtype=bool),
        isolated_margin=np.zeros(3),
    )
    state = VenueState(portfolio=pf, asset_prices=np.array([1.0, 60000.0]), insurance_fund=fund)
    venue = split_venue(
        params=params,
        state=state,
        portfolio_mode=np.array([False, True, True, False]),
        as_of=AS_OF,
        option_account=np.array([1, 2, 2]),
        option_underlying=np.array([1, 1, 1]),
        option_expiry=np.array([EXPIRY] * 3),
        option_strike=np.array([66000.0, 55000.0, 70000.0]),
        option_is_call=np.array([True, False, True]),
        option_size=np.array([-1.0, -1.0, 0.5]),
        mark_underlying=np.array([1, 1, 1]),
        mark_expiry=np.array([EXPIRY] * 3),
        mark_strike=np.array([55000.0, 66000.0, 70000.0]),
        mark_is_call=np.array([False, True, True]),
        mark_iv=np.array([0.7, 0.6, 0.65]),
        pm_params={"BTC": PMParams()},
    )
    return params, state, venue


def _delta(is_call, f, k, vol, t):
    d1 = (math.log(f / k) + 0.5 * vol * vol * t) / (vol * math.sqrt(t))
    n1 = 0.5 * (1.0 + math.erf(d1 / math.sqrt(2.0)))
    return n1 if is_call else n1 - 1.0


def reference(params, venue, prices, paths):
    """Plain loops: ``(shortfall, penalties, n_liquidated, notional)`` per scenario."""
    mk, m, b = params.markets, venue.market, venue.book
    out = []
    for path in paths:
        alive = [True] * b.n_accounts
        short_s = pen_s = 0.0
        n_liq = 0
        notional = 0.0
        last = None
        for r in path:
            f = 1.0 + r[venue.underlying_asset]
            moved = replace(m, spot=m.spot * f, series_forward=m.series_forward * f[m.series_underlying])
            coll = (
                venue.balances.balance_amount
                * prices[venue.balances.balance_asset]
                * (1.0 + r[venue.balances.balance_asset])
            )
            coll = np.bincount(venue.balances.balance_account, weights=coll, minlength=b.n_accounts)
            res = portfolio_margin(market=moved, book=replace(b, collateral=coll, collateral_moving=None))
            last = res
            for a in range(b.n_accounts):
                if not alive[a]:
                    continue
                e, mm = float(res.equity[a]), float(res.maintenance_margin_account[a])
                if not (mm > 0 and e < mm):
                    continue
                alive[a] = False
                n_liq += 1
                slip = due = 0.0
                for j in range(b.perp_size.size):
                    if b.perp_account[j] != a:
                        continue
                    mkt = venue.perp_market[j]
                    n = abs(b.perp_size[j]) * moved.spot[b.perp_underlying[j]]
                    slip += n * min(1.0, 0.01 * n / mk.depth_usd_per_1pct[mkt])
                    due += n * mk.liquidation_penalty[mkt]
                    notional += n
                for j in range(b.option_size.size):
                    if b.option_account[j] != a:
                        continue
                    s = b.option_series[j]
                    u = m.series_underlying[s]
                    d = _delta(
                        m.series_is_call[s], moved.series_forward[s], m.series_strike[s], m.series_vol[s], m.series_t[s]
                    )
                    n = abs(b.option_size[j] * d) * moved.spot[u]
                    mkt = venue.option_market[j]
                    slip += n * min(1.0, 0.01 * n / mk.depth_usd_per_1pct[mkt])
                    due += n * mk.liquidation_penalty[mkt]
                    notional += n
                after = e - slip
                pen_s += min(due, max(0.0, after))
                short_s += max(0.0, -after)
        for a in range(b.n_accounts):  # never liquidated: max(0, −E_T)
            if alive[a]:
                short_s += max(0.0, -float(last.equity[a]))
        out.append((short_s, pen_s, n_liq, notional))
    return out


def test_gap_and_path_equal_the_dense_reference():
    params, state, venue = make_venue()
    gaps = np.array([[0.0, -0.3], [0.0, -0.1], [0.0, 0.25], [0.0, -0.6]])
    res = pm_gap_stress(params=params, venue=venue, asset_prices=state.asset_prices, shocks=gaps)
    ref = reference(params, venue, state.asset_prices, gaps[:, None, :])
    np.testing.assert_allclose(res.shortfall, [x[0] for x in ref], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(res.penalties, [x[1] for x in ref], rtol=1e-9, atol=1e-6)
    assert res.n_liquidated.tolist() == [x[2] for x in ref]
    np.testing.assert_allclose(res.liquidated_notional[:, 0], [x[3] for x in ref], rtol=1e-9)
    assert res.penalties[0] > 0 and res.n_liquidated[0] == 2  # both PM accounts, with penalties paid

    paths = np.array([[[0.0, -0.05], [0.0, -0.2], [0.0, -0.35]], [[0.0, 0.1], [0.0, 0.3], [0.0, -0.1]]])
    res = pm_path_stress(params=params, venue=venue, asset_prices=state.asset_prices, paths=paths)
    ref = reference(params, venue, state.asset_prices, paths)
    np.testing.assert_allclose(res.shortfall, [x[0] for x in ref], rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(res.penalties, [x[1] for x in ref], rtol=1e-9, atol=1e-6)
    assert res.n_liquidated.tolist() == [x[2] for x in ref]
    np.testing.assert_allclose(res.shortfall_by_step.sum(axis=1), res.shortfall)


def test_slippage_and_penalty_change_the_outcome_as_section_8_says():
    """Against closing at model value (infinite depth, no penalty): the same accounts are
    liquidated, slippage adds to the shortfall, the penalty is paid to the fund."""
    gaps = np.array([[0.0, -0.3], [0.0, -0.45]])
    free = make_venue(depth=float("inf"), penalty=0.0)
    costly = make_venue(depth=5e5, penalty=0.005)
    a = pm_gap_stress(params=free[0], venue=free[2], asset_prices=free[1].asset_prices, shocks=gaps)
    b = pm_gap_stress(params=costly[0], venue=costly[2], asset_prices=costly[1].asset_prices, shocks=gaps)
    assert a.n_liquidated.tolist() == b.n_liquidated.tolist()
    assert (a.penalties == 0).all() and (b.shortfall > a.shortfall).all()
    # closed at model value: max(0, −E') of the liquidated accounts
    liq = (a.maintenance_margin > 0) & (a.equity < a.maintenance_margin)
    np.testing.assert_allclose(a.shortfall, np.where(liq, np.maximum(0.0, -a.equity), 0.0).sum(axis=1))


def test_batches_bound_memory_without_changing_results(monkeypatch):
    """Batches of scenarios (memory) and stacked rows (speed) change no number."""
    params, state, venue = make_venue()
    rng = np.random.default_rng(7)
    paths = np.zeros((9, 4, 2))
    paths[:, :, 1] = np.cumsum(rng.normal(0, 0.08, (9, 4)), axis=1).clip(-0.8, 2)
    whole = pm_path_stress(params=params, venue=venue, asset_prices=state.asset_prices, paths=paths)
    monkeypatch.setattr(pv, "BATCH_ELEMENTS", 5)  # one scenario per batch
    monkeypatch.setattr(pv, "STACK_LEGS", 1)  # one row of prices per portfolio_margin call
    parts = pm_path_stress(params=params, venue=venue, asset_prices=state.asset_prices, paths=paths)
    for f in (
        "shortfall",
        "penalties",
        "shortfall_by_step",
        "liquidated_by_step",
        "liquidated_notional",
        "top2_shortfall",
    ):
        np.testing.assert_array_equal(getattr(whole, f), getattr(parts, f))


def test_gap_is_a_path_of_one_step():
    params, state, venue = make_venue()
    gaps = np.array([[0.0, -0.3], [0.0, 0.2], [0.0, -0.5]])
    gap = pm_gap_stress(params=params, venue=venue, asset_prices=state.asset_prices, shocks=gaps)
    path = pm_path_stress(params=params, venue=venue, asset_prices=state.asset_prices, paths=gaps[:, None, :])
    for f in (
        "n_liquidated",
        "n_bankrupt",
        "shortfall",
        "penalties",
        "liquidated_notional",
        "top2_shortfall",
        "top2_account",
    ):
        np.testing.assert_array_equal(getattr(gap, f), getattr(path, f))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    move=st.floats(-0.7, 1.0),
    depth=st.floats(1e4, 1e8),
    penalty=st.floats(0.0, 0.01),
    extra=st.floats(0.0, 0.01),
    usd=st.floats(0.0, 30000.0),
    perp=st.floats(-3.0, 3.0),
)
def test_properties(move, depth, penalty, extra, usd, perp):
    """Shortfall and penalties ≥ 0 and penalties ≤ what is due; a higher penalty rate leaves
    the shortfall and the liquidations unchanged and never lowers what the fund keeps; a
    shallower market never lowers the shortfall."""
    gaps = np.array([[0.0, move]])

    def run(d, p):
        params, state, venue = make_venue(depth=d, penalty=min(p, 0.01), pm_perp=perp, collateral=(usd, 100.0))
        return pm_gap_stress(params=params, venue=venue, asset_prices=state.asset_prices, shocks=gaps), state

    base, state = run(depth, penalty)
    assert (base.shortfall >= 0).all() and (base.penalties >= 0).all()
    more, _ = run(depth, penalty + extra)
    np.testing.assert_array_equal(more.shortfall, base.shortfall)
    assert more.n_liquidated.tolist() == base.n_liquidated.tolist()
    assert (more.penalties >= base.penalties - 1e-9).all()
    fund = state.insurance_fund
    assert (
        insurance_fund_after(fund, more.penalties, more.shortfall)
        >= insurance_fund_after(fund, base.penalties, base.shortfall) - 1e-9
    ).all()
    shallow, _ = run(depth / 10.0, penalty)
    assert (shallow.shortfall >= base.shortfall - 1e-9).all()
    assert shallow.n_liquidated.tolist() == base.n_liquidated.tolist()


def test_cascade_includes_pm_accounts():
    """One round of the cascade is the gap stress (PM side included); with the impact, the PM
    accounts' selling moves the price: the cascade liquidates at least as much as without them."""
    params, state, venue = make_venue(depth=3e5, pm_perp=3.0)
    shock = np.array([0.0, -0.3])
    one = run_cascade(params, venue.cross_state, shock, max_rounds=1, pm=venue)
    gap = pm_gap_stress(params=params, venue=venue, asset_prices=state.asset_prices, shocks=shock[None, :])
    plain = run_cascade(params, venue.cross_state, shock, max_rounds=1)
    assert one.liquidated_accounts[0] == plain.liquidated_accounts[0] + gap.n_liquidated[0]
    assert one.shortfall[0] == pytest.approx(plain.shortfall[0] + gap.shortfall[0], rel=1e-12)
    assert one.penalties[0] == pytest.approx(plain.penalties[0] + gap.penalties[0], rel=1e-12)
    # the PM long perp (3 BTC) and short put sell: the round's net flow includes them
    _, net = pv.closed_notional(params, venue, shock, np.ones(2, dtype=bool))
    assert net[0] > 0
    np.testing.assert_allclose(one.net_sold[0], plain.net_sold[0] + net if plain.n_rounds else net)
    full = run_cascade(params, venue.cross_state, shock, pm=venue)
    without = run_cascade(params, venue.cross_state, shock)
    assert full.market_prices[-1, 0] < without.market_prices[-1, 0]  # more selling, lower price
    assert full.total_liquidated_accounts >= without.total_liquidated_accounts + 2
    assert full.total_shortfall >= without.total_shortfall


def test_path_cascade_without_impact_is_the_merged_path_stress():
    params, state, venue = make_venue()
    path = np.array([[[0.0, -0.1], [0.0, -0.25], [0.0, -0.4]]])
    rep = run_path_cascade(params, venue.cross_state, path, impact=False, pm=venue)
    merged = merge_path_stress(
        run_path_stress(params, venue.cross_state, path),
        pm_path_stress(params=params, venue=venue, asset_prices=state.asset_prices, paths=path),
    )
    assert rep.shortfall == pytest.approx(float(merged.shortfall[0]), rel=1e-9)
    assert rep.penalties == pytest.approx(float(merged.penalties[0]), rel=1e-9)
    np.testing.assert_allclose(rep.shortfall_by_step, merged.shortfall_by_step[0], rtol=1e-9, atol=1e-6)
    assert rep.n_liquidated == int(merged.n_liquidated[0])
    np.testing.assert_allclose(rep.liquidated_notional, merged.liquidated_notional[0], rtol=1e-9)
    impact = run_path_cascade(params, venue.cross_state, path, pm=venue)
    assert impact.shortfall >= rep.shortfall - 1e-6


def test_adl_attribution_covers_pm_accounts():
    """The −40 % gap: the short put's account is bankrupt; its shortfall is owed by the long
    side of BTC-PERP (a short put is long delta); attributed + unattributed = total."""
    params, state, venue = make_venue(collateral=(20000.0, 100.0), fund=100.0)
    shock = np.array([0.0, -0.4])
    att = adl_attribution(params, venue.cross_state, shock, pm=venue)
    plain = adl_attribution(params, venue.cross_state, shock)
    gap = pm_gap_stress(params=params, venue=venue, asset_prices=state.asset_prices, shocks=shock[None, :])
    assert att.shortfall == pytest.approx(plain.shortfall + gap.shortfall[0], rel=1e-12)
    assert att.penalties == pytest.approx(plain.penalties + gap.penalties[0], rel=1e-12)
    assert att.shortfall_by_market.sum() + att.unattributed == pytest.approx(att.shortfall, rel=1e-9)
    added = att.shortfall_by_market - plain.shortfall_by_market
    assert added[0, 0] > 0.9 * gap.shortfall[0] and att.adl_amount > 0
    np.testing.assert_allclose(att.adl_by_market.sum(), att.adl_amount * att.shortfall_by_market.sum() / att.shortfall)


def _random_pm_venue(seed, n_accounts=40):
    """A random PM venue on BTC and ETH: options around the money, perps, USDT and BTC collateral."""
    rng = np.random.default_rng(seed)
    params = build_parameter_set(
        markets=[
            MarketSpec(
                "BTC-PERP", "BTC", floors=[0], imf=[0.02], mmf=[0.01], liquidation_penalty=0.004, depth_usd_per_1pct=3e6
            ),
            MarketSpec(
                "ETH-PERP", "ETH", floors=[0], imf=[0.02], mmf=[0.01], liquidation_penalty=0.006, depth_usd_per_1pct=1e6
            ),
        ],
        assets=[AssetSpec("USDT", stable=True), AssetSpec("BTC", haircut=0.05), AssetSpec("ETH", haircut=0.1)],
    )
    spot = np.array([1.0, 60000.0, 3000.0])
    n_o = 3 * n_accounts
    und = rng.integers(1, 3, n_o)
    expiry = AS_OF + rng.choice([2, 9, 30, 90], n_o) * DAY
    strike = np.round(spot[und] * np.exp(rng.normal(0, 0.15, n_o)), -1)
    call = rng.random(n_o) < 0.5
    n_p = n_accounts // 2
    perp_acc = rng.choice(n_accounts, n_p, replace=False)
    pf = Portfolio(
        n_accounts=n_accounts,
        balance_account=np.concatenate([np.arange(n_accounts), perp_acc]),
        balance_asset=np.concatenate([np.zeros(n_accounts, np.int64), np.ones(n_p, np.int64)]),
        balance_amount=np.concatenate([rng.uniform(500, 20000, n_accounts), rng.uniform(0, 0.2, n_p)]),
        position_account=perp_acc,
        position_market=rng.integers(0, 2, n_p),
        size=rng.normal(0, 0.5, n_p),
        entry_price=np.full(n_p, 60000.0),
        isolated=np.zeros(n_p, bool),
        isolated_margin=np.zeros(n_p),
    )
    pf = replace(pf, entry_price=np.where(pf.position_market == 0, 60000.0, 3000.0) * np.exp(rng.normal(0, 0.05, n_p)))
    state = VenueState(portfolio=pf, asset_prices=spot, insurance_fund=1e5)
    venue = split_venue(
        params=params,
        state=state,
        portfolio_mode=np.ones(n_accounts, bool),
        as_of=AS_OF,
        option_account=rng.integers(0, n_accounts, n_o),
        option_underlying=und,
        option_expiry=expiry,
        option_strike=strike,
        option_is_call=call,
        option_size=np.round(rng.normal(0, 1, n_o) * np.where(und == 1, 0.5, 5.0), 2) + 0.01,
        mark_underlying=und,
        mark_expiry=expiry,
        mark_strike=strike,
        mark_is_call=call,
        mark_iv=rng.uniform(0.4, 1.2, n_o),
        pm_params={"BTC": PMParams(), "ETH": PMParams()},
    )
    return params, state, venue


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), vol=st.floats(0.01, 0.12))
def test_pruned_path_stress_equals_the_dense_one(seed, vol):
    """The exact bound skips accounts that cannot be liquidated: pruned = dense (counts exact,
    money rtol 1e-9), on random books and random-walk paths (also with a depeg of USDT)."""
    params, state, venue = _random_pm_venue(seed)
    rng = np.random.default_rng(seed + 1)
    paths = np.zeros((6, 8, 3))
    paths[..., 1:] = np.expm1(np.cumsum(rng.normal(0, vol, (6, 8, 2)), axis=1))
    paths[5, :, 0] = -0.02  # a stablecoin move: collateral only
    dense = pm_path_stress(params=params, venue=venue, asset_prices=state.asset_prices, paths=paths, prune=False)
    fast = pm_path_stress(params=params, venue=venue, asset_prices=state.asset_prices, paths=paths)
    for f in ("n_liquidated", "n_bankrupt", "liquidated_by_step", "top2_account"):
        np.testing.assert_array_equal(getattr(fast, f), getattr(dense, f), err_msg=f)
    for f in ("shortfall", "penalties", "shortfall_by_step", "liquidated_notional", "top2_shortfall"):
        np.testing.assert_allclose(getattr(fast, f), getattr(dense, f), rtol=1e-9, atol=1e-6, err_msg=f)


def test_the_path_bound_is_below_every_account_and_prunes_calm_paths():
    params, state, venue = _random_pm_venue(3, n_accounts=60)
    rng = np.random.default_rng(4)
    paths = np.zeros((4, 6, 3))
    paths[..., 1:] = np.expm1(np.cumsum(rng.normal(0, 0.01, (4, 6, 2)), axis=1))
    rows = paths.reshape(-1, 3)
    bound = pv._PathBound(params, venue, state.asset_prices, paths)
    rev = pv.pm_revalue(params, venue, state.asset_prices, rows)
    h = rev.equity - rev.maintenance_margin  # (R, A_pm)
    c = pv._collateral_rows(params, venue.balances, state.asset_prices * (1.0 + rows))
    lb = c.T + bound.h0[:, None]
    for u, g in enumerate(bound.grid):
        x = rows[:, int(venue.underlying_asset[u])]
        j = np.abs(x[None, :] - g[:, None]).argmin(axis=0)
        lb += bound.d[u][:, j] - bound.lip[:, u : u + 1] * np.abs(x - g[j])[None, :]
    assert (lb.T <= h + 1e-6).all()  # a lower bound everywhere
    cand = bound.candidates(rows)
    liq = ((rev.maintenance_margin > 0) & (rev.equity < rev.maintenance_margin)).any(axis=0)
    assert set(np.flatnonzero(liq)) <= set(cand)  # every liquidatable account is a candidate
    assert cand.size < venue.book.n_accounts  # calm paths: most accounts are skipped

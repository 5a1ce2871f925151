"""Property tests of the margin engine (RISK_MODEL §2, §5, §7, §10) with hypothesis."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from riskgov.engine.brackets import build_parameter_set, maintenance_margin
from riskgov.engine.liquidation import liquidation_prices
from riskgov.engine.margin import account_metrics, position_metrics
from riskgov.engine.tail import var_es
from riskgov.engine.types import AssetSpec, MarketSpec
from tests.engine.reference import random_case

SETTINGS = settings(max_examples=200, deadline=None)
SEEDS = st.integers(0, 2**32 - 1)


@st.composite
def bracket_tables(draw):
    """A valid §2 table: floors increasing from 0, 0 < MMF < IMF ≤ 1, both non-decreasing."""
    k = draw(st.integers(1, 8))
    gaps = draw(st.lists(st.floats(1e3, 1e7), min_size=k - 1, max_size=k - 1))
    floors = [0.0] + list(np.cumsum(gaps))
    mmf_steps = draw(st.lists(st.floats(0.0, 0.05), min_size=k, max_size=k))
    mmf = list(np.minimum(np.cumsum(mmf_steps) + 0.001, 0.45))
    imf = list(np.maximum.accumulate([min(1.0, m * draw(st.floats(1.1, 2.2))) for m in mmf]))
    return floors, imf, mmf


def one_market(floors, imf, mmf):
    return build_parameter_set(
        assets=[AssetSpec("USDT", 0.0, True), AssetSpec("BTC")],
        markets=[MarketSpec("BTC-PERP", "BTC", floors, imf, mmf)],
    )


@SETTINGS
@given(bracket_tables())
def test_mm_continuous_at_every_floor(table) -> None:
    ps = one_market(*table)
    floors = np.array(table[0][1:])
    if floors.size == 0:
        return
    m = np.zeros(floors.size, dtype=np.int64)
    left = maintenance_margin(ps.markets, m, np.nextafter(floors, 0))
    right = maintenance_margin(ps.markets, m, floors)
    np.testing.assert_allclose(left, right, rtol=1e-9, atol=0)


@SETTINGS
@given(bracket_tables(), st.lists(st.floats(0, 1e8), min_size=2, max_size=50))
def test_mm_monotone_in_notional(table, notionals) -> None:
    ps = one_market(*table)
    n = np.sort(np.array(notionals))
    mm = maintenance_margin(ps.markets, np.zeros(n.size, dtype=np.int64), n)
    assert (np.diff(mm) >= -1e-9 * np.maximum(1.0, mm[1:])).all()
    assert (mm >= -1e-9).all()


@SETTINGS
@given(SEEDS)
def test_liquidation_price_makes_equity_equal_mm(seed: int) -> None:
    params, state = random_case(seed, plug_back_safe=True, n_accounts=12)
    pm = position_metrics(params, state)
    am = account_metrics(params, state, pm)
    liq = liquidation_prices(params, state, pm, am)
    pf = state.portfolio
    for i in np.flatnonzero(np.isfinite(liq)):
        prices = state.asset_prices.copy()
        prices[params.markets.base_asset[pf.position_market[i]]] = liq[i]
        moved = dataclasses.replace(state, asset_prices=prices)
        pm2 = position_metrics(params, moved)
        am2 = account_metrics(params, moved, pm2)
        if pf.isolated[i]:
            e, mm = pm2.isolated_equity[i], pm2.maintenance_margin[i]
        else:
            a = pf.position_account[i]
            e, mm = am2.cross_equity[a], am2.cross_maintenance_margin[a]
        assert abs(e - mm) <= 1e-6 * max(1.0, abs(mm)), (seed, i, e, mm)


@SETTINGS
@given(SEEDS, st.data())
def test_raising_an_mmf_never_reduces_liquidations(seed: int, data) -> None:
    params, state = random_case(seed, n_accounts=20)
    mk = params.markets
    m = data.draw(st.integers(0, mk.n - 1))
    nb = int(mk.n_brackets[m])
    k = data.draw(st.integers(0, nb - 1))
    upper = min(mk.imf[m, k], mk.mmf[m, k + 1] if k + 1 < nb else np.inf)
    new = data.draw(st.floats(mk.mmf[m, k], upper, exclude_max=True))
    specs = []
    for j in range(mk.n):
        n_j = int(mk.n_brackets[j])
        mmf = list(mk.mmf[j, :n_j])
        if j == m:
            mmf[k] = new
        specs.append(
            MarketSpec(
                mk.symbols[j],
                params.assets.symbols[mk.base_asset[j]],
                list(mk.floors[j, :n_j]),
                list(mk.imf[j, :n_j]),
                mmf,
                oi_cap_lower=float(mk.oi_cap_lower[j]),
                oi_cap_upper=float(mk.oi_cap_upper[j]),
            )
        )
    assets = [
        AssetSpec(s, float(h), bool(b))
        for s, h, b in zip(params.assets.symbols, params.assets.haircut, params.assets.stable, strict=True)
    ]
    raised = build_parameter_set(assets=assets, markets=specs)
    before = account_metrics(params, state).liquidatable
    after = account_metrics(raised, state).liquidatable
    assert after.sum() >= before.sum()
    assert (after | ~before).all()  # every account liquidatable before still is


@SETTINGS
@given(
    st.lists(st.floats(0, 1e9), min_size=1, max_size=300),
    st.floats(0.5, 0.999),
)
def test_var_at_most_es(shortfalls, alpha) -> None:
    var, es, k = var_es(shortfalls, alpha)
    assert 1 <= k <= len(shortfalls)
    assert var <= es * (1 + 1e-12) + 1e-9
    assert es <= max(shortfalls) * (1 + 1e-12)

"""Liquidation cascade (RISK_MODEL §11) on a tiny venue worked out by hand."""

import numpy as np
import pytest

from riskgov.engine.brackets import build_parameter_set
from riskgov.engine.cascade import run_cascade
from riskgov.engine.scenarios import uniform_scenarios
from riskgov.engine.stress import run_scenarios
from riskgov.engine.types import AssetSpec, EngineInputError, MarketSpec, Portfolio, VenueState


def venue():
    """BTC at 100; BTC-PERP single bracket MMF 5 %, penalty 1 %, depth 1000 USD per 1 %.

    acct 0: 10 BTC long @100, 60 USDT; acct 1: 10 BTC long @100, 100 USDT;
    acct 2: no position, 1 BTC collateral (no haircut) and a 94.5 USDT liability.
    """
    params = build_parameter_set(
        assets=[AssetSpec("USDT", 0.0, True), AssetSpec("BTC", 0.0)],
        markets=[
            MarketSpec(
                "BTC-PERP",
                "BTC",
                (0.0,),
                (0.1,),
                (0.05,),
                liquidation_penalty=0.01,
                depth_usd_per_1pct=1000.0,
            )
        ],
    )
    pf = Portfolio(
        n_accounts=3,
        balance_account=np.array([0, 1, 2, 2]),
        balance_asset=np.array([0, 0, 1, 0]),
        balance_amount=np.array([60.0, 100.0, 1.0, -94.5]),
        position_account=np.array([0, 1]),
        position_market=np.array([0, 0]),
        size=np.array([10.0, 10.0]),
        entry_price=np.array([100.0, 100.0]),
        isolated=np.array([False, False]),
        isolated_margin=np.zeros(2),
    )
    state = VenueState(portfolio=pf, asset_prices=np.array([1.0, 100.0]), insurance_fund=1.0)
    return params, state


def test_two_round_cascade_by_hand():
    params, state = venue()
    res = run_cascade(params, state, np.array([0.0, -0.05]))
    # round 0 at 95: acct 0 E = 60 − 50 = 10 < MM 47.5 → liquidated; acct 1 E = 50 ≥ 47.5.
    #   slip 0.01·950/1000 = 0.0095 → cost 9.025, E_after 0.975; penalty due 9.5, paid 0.975.
    #   net sold 950 → price × (1 − 0.0095) = 94.0975.
    # round 1 at 94.0975: acct 1 E = 100 − 59.025 = 40.975 < MM 47.04875 → liquidated;
    #   N = 940.975, slip 0.00940975, cost 8.8543…, E_after 32.12…, penalty 9.40975 paid.
    #   net sold 940.975 → price × (1 − 0.00940975).
    # round 2: nothing left → converged after 2 rounds.
    p1 = 95 * (1 - 0.0095)
    n1 = 10 * p1
    p2 = p1 * (1 - 0.01 * n1 / 1000)
    assert res.n_rounds == 2 and res.converged
    np.testing.assert_allclose(res.market_prices[:, 0], [95.0, p1, p2], rtol=1e-13)
    np.testing.assert_allclose(res.asset_prices[:, 1], [95.0, p1, p2], rtol=1e-13)
    assert res.liquidated_units.tolist() == [1, 1]
    assert res.liquidated_accounts.tolist() == [1, 1]
    np.testing.assert_allclose(res.net_sold[:, 0], [950.0, n1], rtol=1e-13)
    np.testing.assert_allclose(res.shortfall, [0.0, 0.0])
    np.testing.assert_allclose(res.penalties, [0.975, 0.01 * n1], rtol=1e-12)
    # acct 2's BTC collateral followed the market: E = p2 − 94.5 < 0 at the end
    assert p2 < 94.5
    np.testing.assert_allclose(res.collateral_shortfall, 94.5 - p2, rtol=1e-12)
    np.testing.assert_allclose(res.total_shortfall, 94.5 - p2, rtol=1e-12)
    assert res.total_liquidated_accounts == 2
    tot_pen = 0.975 + 0.01 * n1
    np.testing.assert_allclose(res.insurance_fund_after, 1.0 + tot_pen - (94.5 - p2), rtol=1e-12)
    assert res.adl_amount == 0.0


def test_one_round_equals_the_stress_run():
    params, state = venue()
    sc = uniform_scenarios(params.assets, [-0.05, -0.2])
    stress = run_scenarios(params, state, sc)
    for s in range(2):
        c = run_cascade(params, state, sc, scenario=s, max_rounds=1)
        # the stress shortfall also holds acct 2's collateral gap at the shocked price
        collateral_gap = max(0.0, 94.5 - 100.0 * (1 + sc.shocks[s, 1]))
        np.testing.assert_allclose(c.shortfall.sum() + collateral_gap, stress.shortfall[s], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(c.total_penalties, stress.penalties[s], rtol=1e-12)
        assert c.total_liquidated_accounts == stress.n_liquidated[s]
        assert not c.converged or c.n_rounds == 0


def test_stops_at_max_rounds_and_errors():
    params, state = venue()
    res = run_cascade(params, state, np.array([0.0, -0.05]), max_rounds=1)
    assert res.n_rounds == 1 and not res.converged
    assert res.market_prices.shape == (2, 1)
    calm = run_cascade(params, state, np.array([0.0, 0.0]))
    assert calm.n_rounds == 0 and calm.converged and calm.net_sold.shape == (0, 1)
    with pytest.raises(EngineInputError):
        run_cascade(params, state, np.array([0.0, 0.0]), max_rounds=0)


@pytest.mark.parametrize("seed", range(8))
def test_revalue_in_blocks_is_the_elementwise_formula(seed, monkeypatch):
    """``_Sub.revalue`` (in place, MM in blocks) gives bit for bit the elementwise §4–§6
    formulas over the whole book, for any block size."""
    from riskgov.engine import cascade
    from riskgov.engine.brackets import maintenance_margin
    from riskgov.engine.units import build_unit_book
    from tests.engine.reference import random_case

    params, state = random_case(seed)
    book = build_unit_book(params, state)
    sub = cascade._Sub(params, book, None)
    rng = np.random.default_rng(seed)
    mk = params.markets
    apx = np.asarray(state.asset_prices) * (1 + rng.uniform(-0.4, 0.4, params.assets.n))
    mpx = apx[mk.base_asset] * (1 + rng.uniform(-0.05, 0.05, mk.n))
    p = mpx[sub.pos_market]
    notional = np.abs(sub.size) * p
    equity = (
        sub.collateral(apx)
        + np.bincount(sub.pos_unit, weights=sub.size * (p - sub.entry), minlength=sub.n)
        + sub.margin
    )
    mm = np.bincount(sub.pos_unit, weights=maintenance_margin(mk, sub.pos_market, notional), minlength=sub.n)
    for block in (1, 3, 1 << 20):
        monkeypatch.setattr(cascade, "REVALUE_BLOCK", block)
        e2, mm2, n2 = sub.revalue(mk, apx, mpx)
        assert e2.tobytes() == equity.tobytes() and mm2.tobytes() == mm.tobytes() and n2.tobytes() == notional.tobytes()

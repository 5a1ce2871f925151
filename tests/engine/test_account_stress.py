"""Each account's stress shortfall (RISK_MODEL §8, §9, §14): the fast path's sparse running
maximum against a dense loop, the sum-consistency properties, and the PM accounts."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskgov.engine.account_stress import account_stress, with_pm_accounts
from riskgov.engine.pm_venue import pm_gap_stress
from riskgov.engine.stress import _dense_units, run_scenarios, run_scenarios_dense
from riskgov.engine.types import EngineInputError
from tests.engine.test_pm_venue import split, venue
from tests.engine.test_stress import hand_venue, random_venue


def dense_account_matrix(params, state, shocks):
    """``(S, A)`` every account's shortfall in every scenario, by a plain loop (reference only)."""
    n_acc = state.portfolio.n_accounts
    out = np.zeros((shocks.shape[0], n_acc))
    for s in range(shocks.shape[0]):
        owner, _liq, _pen, short, _e = _dense_units(params, state, shocks[s])
        for u in range(owner.size):  # unit by unit: no shared reduction with the engine
            out[s, owner[u]] += short[u]
    return out


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch_size", [1, 9, 64])
def test_per_account_stress_shortfall_equals_dense_loop(seed, batch_size):
    params, state, shocks = random_venue(seed, n_accounts=150, n_positions=450)
    mat = dense_account_matrix(params, state, shocks)
    res = run_scenarios(params, state, shocks, batch_size=batch_size)
    acc = account_stress(res)
    assert mat.max() > 0  # the venue has bankrupt accounts under some scenario
    np.testing.assert_allclose(acc.shortfall, mat.max(axis=0), rtol=1e-9, atol=1e-6)
    hit = acc.shortfall > 0
    assert hit.any() and acc.computed.all()
    # the scenario named gives that shortfall, and no earlier scenario gives more
    np.testing.assert_allclose(mat[acc.scenario[hit], np.flatnonzero(hit)], acc.shortfall[hit], rtol=1e-9, atol=1e-6)
    assert (acc.scenario[~hit] == -1).all()
    dense = run_scenarios_dense(params, state, shocks)
    np.testing.assert_allclose(dense.account_stress_shortfall, acc.shortfall, rtol=1e-9, atol=1e-6)
    clear = np.abs(np.sort(mat, axis=0)[-1] - np.sort(mat, axis=0)[-2]) > 1e-6 * (1 + mat.max(axis=0))
    sel = hit & clear  # where the worst scenario is unambiguous, both name the same one
    np.testing.assert_array_equal(dense.account_stress_scenario[sel], acc.scenario[sel])


@pytest.mark.parametrize("seed", range(4))
def test_sum_consistency(seed):
    params, state, shocks = random_venue(seed, n_accounts=150, n_positions=450)
    res = run_scenarios(params, state, shocks, batch_size=16, want_account_detail=True)
    acc = account_stress(res)
    mat = dense_account_matrix(params, state, shocks)
    scen = acc.scenario
    hit = scen >= 0
    # the per-scenario total is at least each account's shortfall in that scenario
    assert (res.shortfall[scen[hit]] >= acc.shortfall[hit] * (1 - 1e-12)).all()
    # the largest single account's stress shortfall is the run's largest top-1 account shortfall
    assert acc.shortfall.max() == pytest.approx(res.top2_shortfall[:, 0].max(), rel=1e-9)
    # an account's stress shortfall is at least its shortfall in the worst (venue) scenario
    assert (acc.shortfall >= res.worst_account_shortfall - 1e-9).all()
    # per scenario, the totals are the sums of the accounts' shortfalls
    np.testing.assert_allclose(mat.sum(axis=1), res.shortfall, rtol=1e-9, atol=1e-6)
    # the accounts bankrupt in some scenario are exactly those with a stress shortfall
    assert set(np.flatnonzero(mat.max(axis=0) > 0)) == set(np.flatnonzero(hit))


def test_hand_venue_stress_shortfall_and_scenario():
    params, state = hand_venue()
    shocks = np.array([[0.0, -0.05], [0.0, -0.10], [0.0, -0.20], [0.0, 0.10]])
    res = run_scenarios(params, state, shocks)
    acc = account_stress(res)
    mat = dense_account_matrix(params, state, shocks)
    np.testing.assert_allclose(acc.shortfall, mat.max(axis=0), rtol=1e-12)
    assert acc.scenario[1] == 2  # −20 % is the worst move for the long BTC account 1


@given(st.integers(0, 10_000), st.integers(1, 40))
@settings(max_examples=15, deadline=None)
def test_batching_never_changes_the_figures(seed, batch_size):
    params, state, shocks = random_venue(seed % 50, n_accounts=60, n_positions=180)
    one = account_stress(run_scenarios(params, state, shocks, batch_size=batch_size))
    ref = account_stress(run_scenarios(params, state, shocks, batch_size=1000))
    np.testing.assert_allclose(one.shortfall, ref.shortfall, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(one.scenario, ref.scenario)


def test_no_scenarios_is_not_computed():
    params, state, _ = random_venue(0, n_accounts=20, n_positions=40)
    acc = account_stress(run_scenarios(params, state, np.zeros((0, params.assets.n))))
    assert not acc.computed.any() and (acc.scenario == -1).all()


def test_pm_accounts_from_their_revaluation():
    params, state, options, marks = venue()
    v = split(params, state, options, marks)
    shocks = np.array([[0.0, 0.0], [0.0, -0.3], [0.0, -0.15], [0.0, 0.3]])
    cross = account_stress(run_scenarios(params, v.cross_state, shocks))
    assert (cross.shortfall[v.pm_accounts] == 0).all()  # empty on the bracket side
    pms = pm_gap_stress(params=params, venue=v, asset_prices=state.asset_prices, shocks=shocks)
    acc = with_pm_accounts(cross, pms, v.pm_accounts)
    # account 2 (short put on 100 USD): worst at −30 %, equal to the PM stress top account there
    assert acc.scenario[2] == 1
    assert acc.shortfall[2] == pytest.approx(pms.top2_shortfall[1, 0], rel=1e-12)
    assert acc.shortfall[2] <= pms.shortfall.max() + 1e-9
    np.testing.assert_array_equal(acc.shortfall[[0, 3]], cross.shortfall[[0, 3]])
    with pytest.raises(EngineInputError, match="PM accounts"):
        with_pm_accounts(cross, pms, v.pm_accounts[:1])


def test_pm_account_shortfall_is_the_pm_stress_outcome_slippage_included():
    params, state, options, marks = venue()
    v = split(params, state, options, marks)
    shocks = np.array([[0.0, 0.0], [0.0, -0.3], [0.0, -0.15], [0.0, 0.3], [-0.4, -0.4]])
    pms = pm_gap_stress(params=params, venue=v, asset_prices=state.asset_prices, shocks=shocks)
    per = pms.account_shortfall()
    assert per.shape == pms.equity.shape
    # the per-account outcome adds up to the PM stress totals, scenario by scenario
    np.testing.assert_allclose(per.sum(axis=1), pms.shortfall, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(np.count_nonzero(per > 0, axis=1), pms.n_bankrupt)
    # a liquidated account pays its close cost: never less than max(0, -E')
    liq = (pms.maintenance_margin > 0) & (pms.equity < pms.maintenance_margin)
    assert (per >= np.maximum(0.0, -pms.equity) - 1e-12).all()
    np.testing.assert_allclose(per[liq], np.maximum(0.0, -(pms.equity - pms.slippage))[liq], rtol=1e-12)


def test_fold_takes_the_largest_and_the_lowest_scenario_on_ties_in_any_order():
    from riskgov.engine.pruning import _Acc

    acc = _Acc(10, 4)
    # batch 1 (grouped by account), then batch 2 out of order; account 1 ties at 5.0 in 7 and 3
    acc.put_account_max(np.array([0, 0, 1, 1]), np.array([9, 8, 7, 6]), np.array([1.0, 2.0, 5.0, 4.0]))
    acc.put_account_max(np.array([3, 1, 0, 1]), np.array([2, 3, 5, 4]), np.array([0.5, 5.0, 2.0, 1.0]))
    assert acc.account_short.tolist() == [2.0, 5.0, 0.0, 0.5]
    assert acc.account_scen.tolist() == [5, 3, -1, 2]  # account 0: 2.0 in 8 and 5 → 5

"""The frontier's one-pass shortfall over several multipliers (RISK_MODEL §2, §9, §15).

``run_path_shortfall_multi`` must give, per multiplier, the floats of a separate
``run_path_shortfall`` on the scaled table (bit for bit), which must agree with the plain-loop
reference (``path_reference``) to 1e-9 relative (which paths have a shortfall: exactly); without
slippage a larger multiplier never adds shortfall (§9; with slippage it can, see
``test_paths.py::test_higher_mmf_can_cost_more_when_slippage_exceeds_the_margin``).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskgov.engine.brackets import scale_bracket_table
from riskgov.engine.path_stress import run_path_shortfall, run_path_shortfall_multi
from riskgov.engine.types import EngineInputError, MarketSpec
from tests.engine import reference as ref
from tests.engine.path_reference import close, reference_path
from tests.engine.test_paths_properties import finite_depth, random_paths

KS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, 45.0)  # ×45: BTC's last MMF (2.5 %) capped at 1


def venue():
    """BTC (four tiers, floors 50k/250k/1M, depth 2M USD per 1 %) and ETH; four accounts.

    0: cross, 1.6 BTC long at 30,000 (N = 48k, one up-move from the 50k floor) and 10 ETH
    short, 2,500 USDT; 1: isolated 2 BTC long with 1,500 USD margin, and 100 USDT cross;
    2: cross 40 BTC short (N = 1.2M, 4th tier), 30,000 USDT: a gap up bankrupts it;
    3: ETH only (BTC's table does not touch it), 300 USDT, 5 ETH long.
    """
    btc = MarketSpec(
        "BTC-PERP",
        "BTC",
        [0, 50_000, 250_000, 1_000_000],
        [0.008, 0.01, 0.02, 0.05],
        [0.004, 0.005, 0.01, 0.025],
        liquidation_penalty=0.002,
        depth_usd_per_1pct=2e6,
    )
    eth = MarketSpec("ETH-PERP", "ETH", [0], [0.02], [0.01], liquidation_penalty=0.005, depth_usd_per_1pct=5e5)
    params = ref.params(btc, eth)
    state = ref.state(
        n_accounts=4,
        balances=[(0, 0, 2_500.0), (1, 0, 100.0), (2, 0, 30_000.0), (3, 0, 300.0)],
        positions=[
            (0, 0, 1.6, 30_000.0),
            (0, 1, -10.0, 2_000.0),
            (1, 0, 2.0, 30_000.0, 1_500.0),
            (2, 0, -40.0, 30_000.0),
            (3, 1, 5.0, 2_000.0),
        ],
        insurance_fund=1_000.0,
    )
    return params, state


def paths(params):
    """Six 8-step BTC paths (ETH moves half as much): flat, a slow fall, a fall by 1 % steps
    through the isolated margin, an up-move across the 50k floor, a gap up through account
    2's bankruptcy after a flat step, a fall then a rally."""
    btc = [
        [0.0] * 8,
        [-0.002, -0.004, -0.005, -0.007, -0.008, -0.01, -0.011, -0.012],
        [-0.01 * (t + 1) for t in range(8)],
        [0.01, 0.02, 0.03, 0.045, 0.05, 0.05, 0.045, 0.04],
        [0.0, 0.2, 0.25, 0.22, 0.22, 0.22, 0.22, 0.22],
        [-0.02, -0.04, -0.06, -0.08, -0.05, 0.0, 0.03, 0.06],
    ]
    r = np.zeros((len(btc), 8, params.assets.n))
    r[:, :, params.assets.index("BTC")] = btc
    r[:, :, params.assets.index("ETH")] = np.array(btc) * 0.5
    return r


def test_each_multiplier_equals_its_own_run_and_the_plain_reference():
    params, state = venue()
    r = paths(params)
    multi = run_path_shortfall_multi(params, state, r, 0, KS, batch_size=2)
    assert multi.shape == (len(KS), r.shape[0])
    for i, k in enumerate(KS):
        scaled = scale_bracket_table(params, 0, k)
        assert np.array_equal(multi[i], run_path_shortfall(scaled, state, r, batch_size=2)), k
        for s in range(r.shape[0]):
            want = reference_path(scaled, state, r[s]).shortfall
            assert close(multi[i, s], want), (k, s, multi[i, s], want)
            assert (multi[i, s] > 0) == (want > 0)
    # the cases bite: each path's shortfall stops at a different multiplier (the isolated
    # unit's fall above ×1, the up-move across the floor above ×1.25, the gap above ×2: a
    # table that high liquidates account 2 at the flat first step, before the gap)
    k = np.array(KS)
    assert ((multi[:, 2] > 0) == (k <= 1.0)).all()
    assert ((multi[:, 3] > 0) == (k <= 1.25)).all()
    assert ((multi[:, 4] > 0) == (k <= 2.0)).all()
    assert len({float(x) for x in multi[:, 5]}) == 3


def test_a_gap_through_bankruptcy_is_the_same_at_one_step():
    params, state = venue()
    r = paths(params)[4:5, 1:2, :]  # BTC +20 % at once, from base prices
    multi = run_path_shortfall_multi(params, state, r, 0, KS)
    for i, k in enumerate(KS):
        want = reference_path(scale_bracket_table(params, 0, k), state, r[0]).shortfall
        assert want > 0 and close(multi[i, 0], want), k


def test_bad_multipliers_and_market_are_refused_and_none_gives_no_row():
    params, state = venue()
    r = paths(params)
    for bad in ([1.0, 0.0], [-1.0], [float("nan")]):
        with pytest.raises(EngineInputError, match="multipliers"):
            run_path_shortfall_multi(params, state, r, 0, bad)
    with pytest.raises(EngineInputError, match="market"):
        run_path_shortfall_multi(params, state, r, 5, [1.0])
    assert run_path_shortfall_multi(params, state, r, 0, []).shape == (0, r.shape[0])


SEEDS = st.integers(0, 2**32 - 1)
MULTS = st.lists(st.sampled_from([0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 8.0]), min_size=1, max_size=6)


@given(SEEDS, st.integers(1, 6), st.booleans(), MULTS)
@settings(max_examples=40, deadline=None)
def test_one_pass_equals_separate_runs_and_the_reference(seed, n_t, slippage, ks):
    params, state = ref.random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    if slippage:
        params = finite_depth(params, rng)
    r = random_paths(rng, params, 3, n_t)
    m = int(rng.integers(0, params.markets.n))
    bs = int(rng.integers(1, 4))
    multi = run_path_shortfall_multi(params, state, r, m, ks, batch_size=bs)
    for i, k in enumerate(ks):
        scaled = scale_bracket_table(params, m, k)
        assert np.array_equal(multi[i], run_path_shortfall(scaled, state, r, batch_size=bs)), (k, multi[i])
        s = int(rng.integers(0, r.shape[0]))
        assert close(multi[i, s], reference_path(scaled, state, r[s]).shortfall)


@given(SEEDS, st.integers(1, 6), MULTS)
@settings(max_examples=40, deadline=None)
def test_a_larger_multiplier_never_adds_shortfall_without_slippage(seed, n_t, ks):
    # infinite depth (random_case): the close costs nothing, so liquidating earlier at a
    # higher margin happens at an equity ≥ the lower table's margin > 0 (§9, no cascade)
    params, state = ref.random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    r = random_paths(rng, params, 4, n_t)
    m = int(rng.integers(0, params.markets.n))
    ks = sorted(ks)
    multi = run_path_shortfall_multi(params, state, r, m, ks)
    for i in range(1, len(ks)):
        assert (multi[i] <= multi[i - 1] + 1e-9 * np.abs(multi[i - 1]) + 1e-6).all(), (ks, multi)

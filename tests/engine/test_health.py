"""``engine.health``: which positions are liquidatable now (RISK_MODEL §5, §6)."""

import numpy as np

from riskgov.engine.health import evaluate_health, position_liquidatable
from tests.engine.test_stress import random_venue


def test_cross_positions_follow_their_account_isolated_ones_themselves():
    params, state, _ = random_venue(3, n_accounts=60, n_positions=200)
    h = evaluate_health(params, state, with_prices=False)
    got = position_liquidatable(h, state)
    pf = state.portfolio
    want = [
        bool(h.positions.isolated_liquidatable[i])
        if pf.isolated[i]
        else bool(h.accounts.cross_liquidatable[pf.position_account[i]])
        for i in range(pf.n_positions)
    ]
    np.testing.assert_array_equal(got, want)
    assert got.dtype == bool and 0 < got.sum() < pf.n_positions
    assert (got & pf.isolated).any() and (got & ~pf.isolated).any()

"""Hand-derived liquidation and bankruptcy prices (RISK_MODEL §7).

BTC-PERP tiers: F = 0, 50 000, 250 000, 1 000 000; MMF = 0.004, 0.005, 0.01, 0.025;
C = 0, 50, 1 300, 16 300. Candidate in bracket k: p = (W − MM_o + C_k − q·e)/(|q|·MMF_k − q).
"""

from __future__ import annotations

import numpy as np
import pytest

from riskgov.engine.liquidation import (
    bankruptcy_prices,
    liquidation_prices,
    position_reference_equity,
)
from riskgov.engine.margin import account_metrics
from tests.engine.reference import params, state

PS = params()


def test_long_bracket_one_candidate_lands_in_bracket_two() -> None:
    # Long q = 10 BTC, e = p = 30 000 (N = 300 000, bracket 3), V = W = 100 000, MM_o = 0.
    #   k=1: (100 000 + 0      − 300 000)/(10·0.004 − 10) = −200 000/−9.96 = 20 080.32
    #        → N = 200 803 is in bracket 2, not 1: rejected
    #   k=2: (100 000 + 50     − 300 000)/(10·0.005 − 10) = −199 950/−9.95 = 20 095.477
    #        → N = 200 955 ∈ [50 000, 250 000): consistent
    #   k=3: (100 000 + 1 300  − 300 000)/(10·0.01 − 10)  = −198 700/−9.9  = 20 070.71
    #        → N = 200 707 ∉ [250 000, 1 000 000): rejected
    #   k=4: (100 000 + 16 300 − 300 000)/(10·0.025 − 10) = −183 700/−9.75 = 18 841.03
    #        → N = 188 410 ∉ [1 000 000, ∞): rejected
    # Check at p = 20 095.477: E = 100 000 + 10·(20 095.477 − 30 000) = 954.77,
    #   MM = 200 954.77·0.005 − 50 = 954.77.
    # Using the bracket-1 candidate would be wrong by 15 USD.
    st = state(n_accounts=1, balances=[(0, 0, 100_000.0)], positions=[(0, 0, 10.0, 30_000.0)])
    liq = liquidation_prices(PS, st)
    assert liq[0] == pytest.approx(199_950 / 9.95, rel=1e-12)
    assert liq[0] != pytest.approx(200_000 / 9.96, rel=1e-6)
    # Bankruptcy: p_bk = e − W/q = 30 000 − 100 000/10 = 20 000.
    assert bankruptcy_prices(PS, st)[0] == pytest.approx(20_000)


def test_short_liquidation_and_bankruptcy() -> None:
    # Short q = −10 BTC, e = 30 000, V = 100 000.
    #   k=3: (100 000 + 1 300 + 300 000)/(10·0.01 + 10) = 401 300/10.1 = 39 732.67
    #        → N = 397 327 ∈ [250 000, 1 000 000): consistent
    #   k=2: (100 050 + 300 000)/(10.05) = 39 806.97 → N = 398 070 ∉ bracket 2
    # Bankruptcy: 30 000 − 100 000/(−10) = 40 000.
    st = state(n_accounts=1, balances=[(0, 0, 100_000.0)], positions=[(0, 0, -10.0, 30_000.0)])
    assert liquidation_prices(PS, st)[0] == pytest.approx(401_300 / 10.1, rel=1e-12)
    assert bankruptcy_prices(PS, st)[0] == pytest.approx(40_000)


def test_isolated_uses_its_own_margin_and_cross_ignores_it() -> None:
    # Cross long 1 BTC at 30 000, V = 1 000: W = 1 000, MM_o = 0 (the isolated position is
    #   not "another cross position"): p = (1 000 − 30 000)/(0.004 − 1) = 29 116.47,
    #   N = 29 116 < 50 000: bracket 1 consistent.
    # Isolated short 10 ETH at 2 000, w = 1 100 (MMF 0.01, C 0):
    #   p = (1 100 + 20 000)/(10·0.01 + 10) = 21 100/10.1 = 2 089.11 (below the mark 2 100:
    #   it is already liquidatable); bankruptcy 2 000 − 1 100/(−10) = 2 110.
    st = state(
        n_accounts=1,
        balances=[(0, 0, 1_000.0)],
        positions=[(0, 0, 1.0, 30_000.0), (0, 1, -10.0, 2_000.0, 1_100.0)],
        prices=(1.0, 30_000.0, 2_100.0),
    )
    w, mm_o = position_reference_equity(PS, st)
    np.testing.assert_allclose(w, [1_000, 1_100])
    np.testing.assert_allclose(mm_o, [0, 0])
    np.testing.assert_allclose(liquidation_prices(PS, st), [29_000 / 0.996, 21_100 / 10.1], rtol=1e-12)
    # Cross bankruptcy 30 000 − 1 000/1 = 29 000.
    np.testing.assert_allclose(bankruptcy_prices(PS, st), [29_000, 2_110], rtol=1e-12)


def test_other_cross_positions_enter_w_and_mm_o() -> None:
    # V = 5 000; ETH long 10 from 1 900 at 2 000 (uPnL 1 000, MM 200); BTC long 1 at 30 000.
    # For BTC: W = 5 000 + 1 000 = 6 000, MM_o = 200:
    #   p = (6 000 − 200 − 30 000)/(0.004 − 1) = −24 200/−0.996 = 24 297.19 (bracket 1).
    st = state(
        n_accounts=1,
        balances=[(0, 0, 5_000.0)],
        positions=[(0, 1, 10.0, 1_900.0), (0, 0, 1.0, 30_000.0)],
    )
    assert liquidation_prices(PS, st)[1] == pytest.approx(24_200 / 0.996, rel=1e-12)
    # bankruptcy of the BTC leg: 30 000 − 6 000/1 = 24 000
    assert bankruptcy_prices(PS, st)[1] == pytest.approx(24_000)


def test_none_when_non_positive_or_zero_size() -> None:
    # Long 1 BTC with 1e6 collateral: p = (1e6 − 30 000)/(0.004 − 1) < 0 → none; the
    # bankruptcy price 30 000 − 1e6 is negative → none. A zero-size row has neither.
    st = state(
        n_accounts=2,
        balances=[(0, 0, 1e6)],
        positions=[(0, 0, 1.0, 30_000.0), (1, 0, 0.0, 30_000.0)],
    )
    assert np.isnan(liquidation_prices(PS, st)).all()
    assert np.isnan(bankruptcy_prices(PS, st)).all()


def test_liquidation_price_with_precomputed_metrics_matches() -> None:
    st = state(n_accounts=1, balances=[(0, 0, 100_000.0)], positions=[(0, 0, 10.0, 30_000.0)])
    am = account_metrics(PS, st)
    from riskgov.engine.margin import position_metrics

    pm = position_metrics(PS, st)
    assert liquidation_prices(PS, st, pm, am)[0] == liquidation_prices(PS, st)[0]

"""ADL attribution, ranking and allocation (RISK_MODEL §8) on a hand-worked example; the
blocked attribution against one block on random venues."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskgov.engine.adl import adl_allocation, adl_attribution, adl_ranking
from riskgov.engine.brackets import build_parameter_set
from riskgov.engine.stress import run_scenarios
from riskgov.engine.types import AssetSpec, EngineInputError, MarketSpec, Portfolio, VenueState

SHOCK = np.array([0.0, -0.1])  # BTC 100 → 90


def venue():
    """BTC-PERP MMF 5 %, no penalty, infinite depth; insurance fund 10.

    row 0 acct 0: long 10 @100, 50 USDT → E' = −50, bankrupt (p_bk = 95, gap 5)
    row 1 acct 1: short 2 @100, 100 USDT → uPnL 20, E 120, score (20/120)(180/120) = 0.25
    row 2 acct 2: short 1 @95, 10 USDT → uPnL 5, E 15, score (5/15)(90/15) = 2.0
    row 3 acct 3: short 1 @89, 10 USDT → losing, not ranked
    row 4 acct 4: isolated short 3 @100, w 30 → uPnL 30, E_i 60, score (30/60)(270/60) = 2.25
    row 5 acct 5: long 1 @80, 100 USDT → profitable long (other group)
    """
    params = build_parameter_set(
        assets=[AssetSpec("USDT", 0.0, True), AssetSpec("BTC", 0.0)],
        markets=[MarketSpec("BTC-PERP", "BTC", (0.0,), (0.1,), (0.05,))],
    )
    pf = Portfolio(
        n_accounts=6,
        balance_account=np.array([0, 1, 2, 3, 5]),
        balance_asset=np.zeros(5, dtype=np.int64),
        balance_amount=np.array([50.0, 100.0, 10.0, 10.0, 100.0]),
        position_account=np.arange(6),
        position_market=np.zeros(6, dtype=np.int64),
        size=np.array([10.0, -2.0, -1.0, -1.0, -3.0, 1.0]),
        entry_price=np.array([100.0, 100.0, 95.0, 89.0, 100.0, 80.0]),
        isolated=np.array([False, False, False, False, True, False]),
        isolated_margin=np.array([0, 0, 0, 0, 30.0, 0]),
    )
    state = VenueState(portfolio=pf, asset_prices=np.array([1.0, 100.0]), insurance_fund=10.0)
    return params, state


def test_ranking_order_and_cumulative_profit():
    params, state = venue()
    rk = adl_ranking(params, state, shocks=SHOCK)
    assert rk.group_start.tolist() == [[0, 1]] and rk.group_end.tolist() == [[1, 4]]
    assert rk.position.tolist() == [5, 4, 2, 1]  # long group, then shorts by score
    np.testing.assert_allclose(rk.score[1:], [2.25, 2.0, 0.25], rtol=1e-13)
    np.testing.assert_allclose(rk.cum_profit, [10.0, 30.0, 35.0, 55.0], rtol=1e-13)


def test_attribution_gap_and_allocation():
    params, state = venue()
    att = adl_attribution(params, state, SHOCK)
    stress = run_scenarios(params, state, SHOCK.reshape(1, -1))
    assert att.shortfall == pytest.approx(stress.shortfall[0]) == pytest.approx(50.0)
    np.testing.assert_allclose(att.shortfall_by_market, [[50.0, 0.0]])
    np.testing.assert_allclose(att.bankruptcy_gap, [[5.0, 0.0]])  # p_bk = 100 − 50/10 = 95
    assert att.adl_amount == pytest.approx(40.0) == pytest.approx(stress.adl_amount[0])
    np.testing.assert_allclose(att.adl_by_market, [[40.0, 0.0]])

    rk = adl_ranking(params, state, shocks=SHOCK)
    # profit-capped: 40 USD from the shorts in rank order: 30 (row 4), 5 (row 2), 5 (row 1)
    al = adl_allocation(rk, att.adl_by_market)
    np.testing.assert_allclose(al.amount, [0.0, 30.0, 5.0, 5.0])
    np.testing.assert_allclose(al.size_reduced, [0.0, 3.0, 1.0, 0.5])
    np.testing.assert_allclose(al.uncovered, [[0.0, 0.0]])
    # at the bankruptcy price: 40/5 = 8 BTC to match, only 6 short → 30 covered, 10 left
    al = adl_allocation(rk, att.adl_by_market, att.bankruptcy_gap)
    np.testing.assert_allclose(al.size_reduced, [0.0, 3.0, 1.0, 2.0])
    np.testing.assert_allclose(al.amount, [0.0, 15.0, 5.0, 10.0])
    np.testing.assert_allclose(al.uncovered, [[10.0, 0.0]])


def test_allocation_errors():
    params, state = venue()
    rk = adl_ranking(params, state)
    with pytest.raises(EngineInputError):
        adl_allocation(rk, np.array([[-1.0, 0.0]]))
    with pytest.raises(EngineInputError):
        adl_allocation(rk, np.zeros((2, 2)))


@given(st.integers(0, 2**32 - 1), st.integers(1, 7))
@settings(max_examples=40, deadline=None)
def test_attribution_in_blocks_of_whole_units_equals_one_block(seed, rows):
    """``adl_attribution`` sums position by position in blocks of whole units (bounded
    temporaries at 10M accounts); any block size gives the one-block figures."""
    from riskgov.engine import adl
    from riskgov.engine.units import build_unit_book
    from tests.engine.reference import random_case

    params, state = random_case(seed % 10_000)
    shock = np.random.default_rng(seed).uniform(-0.6, 0.4, params.assets.n)
    book = build_unit_book(params, state)
    old = adl.BLOCK_POSITIONS
    try:
        adl.BLOCK_POSITIONS = rows
        blocks = adl._unit_blocks(book)
        assert [b[0] for b in blocks[1:]] == [b[1] for b in blocks[:-1]]
        assert not blocks or (blocks[0][0], blocks[-1][1]) == (0, book.size.size)
        for lo, hi, u_lo, u_hi in blocks:  # whole units: no unit in two blocks
            assert lo == 0 or book.pos_unit[lo] != book.pos_unit[lo - 1]
            assert (book.pos_unit[lo:hi] >= u_lo).all() and (book.pos_unit[lo:hi] < u_hi).all()
        adl.BLOCK_POSITIONS = 10**9
        one = adl_attribution(params, state, shock, book=book)
        adl.BLOCK_POSITIONS = rows
        many = adl_attribution(params, state, shock, book=book)
    finally:
        adl.BLOCK_POSITIONS = old
    for f in ("shortfall_by_market", "liquidated_size", "bankruptcy_gap", "adl_by_market"):
        np.testing.assert_allclose(getattr(many, f), getattr(one, f), rtol=1e-12, atol=1e-9)
    assert many.shortfall == one.shortfall and many.penalties == one.penalties
    assert many.unattributed == one.unattributed and many.adl_amount == one.adl_amount


def test_a_venue_without_balances_builds_and_attributes():
    """No balance rows at all (isolated margin only): the unit book's equity and the blocked
    attribution stay float (``bincount`` of nothing is int64) — found by the combine test."""
    import dataclasses

    from riskgov.engine.units import build_unit_book
    from tests.engine.reference import random_case

    params, state = random_case(11)
    pf = state.portfolio
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
    bare = dataclasses.replace(
        state,
        portfolio=dataclasses.replace(pf, balance_account=empty_i, balance_asset=empty_i, balance_amount=empty_f),
    )
    book = build_unit_book(params, bare)
    assert book.equity0.dtype == np.float64
    att = adl_attribution(params, bare, np.full(params.assets.n, -0.3), book=book)
    assert np.isfinite(att.shortfall) and att.shortfall_by_market.dtype == np.float64

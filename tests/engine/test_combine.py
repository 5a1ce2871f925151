"""The combine kernel of a chunked run (RISK_MODEL §1, §8–§10; engine.combine, engine.run).

Any split of the accounts into ranges, combined in any order, gives the one-chunk result:
counts and the Cover-2 top 2 exactly, money to 1e-9 relative (§1). Fund after, ADL amount
and coverage are checked on a hand-derived example.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskgov.engine.combine import (
    ChunkPartial,
    chunk_partial,
    combine_partials,
    empty_partial,
    merge_top2,
)
from riskgov.engine.health import evaluate_health
from riskgov.engine.run import family_result, run_result
from riskgov.engine.stress import run_scenarios
from riskgov.engine.types import EngineInputError, Portfolio, VenueState
from tests.engine.test_stress import random_venue

REL = 1e-9
COUNTS = ("n_accounts", "n_positions", "liquidatable_accounts", "bankrupt_accounts", "limit_breaches")
MONEY = ("equity", "initial_margin", "maintenance_margin", "shortfall")
COUNT_ARRAYS = ("scenario_liquidated", "scenario_bankrupt", "top2_account")
MONEY_ARRAYS = ("scenario_shortfall", "scenario_penalties", "top2_shortfall")


def account_range(state: VenueState, first: int, last: int) -> VenueState:
    """Accounts ``[first, last)`` of ``state`` renumbered from 0, with the venue's open interest."""
    pf = state.portfolio
    pos = (pf.position_account >= first) & (pf.position_account < last)
    bal = (pf.balance_account >= first) & (pf.balance_account < last)
    sub = Portfolio(
        n_accounts=last - first,
        balance_account=pf.balance_account[bal] - first,
        balance_asset=pf.balance_asset[bal],
        balance_amount=pf.balance_amount[bal],
        position_account=pf.position_account[pos] - first,
        position_market=pf.position_market[pos],
        size=pf.size[pos],
        entry_price=pf.entry_price[pos],
        isolated=pf.isolated[pos],
        isolated_margin=pf.isolated_margin[pos],
    )
    return dataclasses.replace(state, portfolio=sub)


def partial_of(params, state, shocks, first: int, last: int) -> ChunkPartial:
    sub = account_range(state, first, last)
    health = evaluate_health(params, sub, with_prices=False)
    return chunk_partial(health.totals, run_scenarios(params, sub, shocks, threads=1), first_account=first)


def venue(seed: int):
    params, state, shocks = random_venue(seed, n_accounts=40, n_positions=140)
    oi = evaluate_health(params, state, with_prices=False).totals.open_interest_long_usd
    return params, dataclasses.replace(state, open_interest=oi), shocks[:24]


def assert_same_partial(got: ChunkPartial, want: ChunkPartial) -> None:
    for k in COUNTS:
        assert getattr(got, k) == getattr(want, k), k
    for k in MONEY:
        assert getattr(got, k) == pytest.approx(getattr(want, k), rel=REL, abs=1e-9), k
    for k in COUNT_ARRAYS:
        np.testing.assert_array_equal(getattr(got, k), getattr(want, k), err_msg=k)
    for k in MONEY_ARRAYS:
        np.testing.assert_allclose(getattr(got, k), getattr(want, k), rtol=REL, atol=1e-9, err_msg=k)


@st.composite
def splits(draw):
    seed = draw(st.integers(0, 5))
    cuts = draw(st.lists(st.integers(1, 39), max_size=8, unique=True))
    order = draw(st.permutations(range(len(cuts) + 1)))
    return seed, [0, *sorted(cuts), 40], order


@settings(max_examples=25, deadline=None)
@given(splits())
def test_any_split_combines_to_the_one_chunk_result(case) -> None:
    seed, edges, order = case
    params, state, shocks = venue(seed)
    one = partial_of(params, state, shocks, 0, 40)
    parts = [partial_of(params, state, shocks, a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)]
    combined = combine_partials([parts[i] for i in order])
    assert combined.first_account == 0
    assert_same_partial(combined, one)
    # the order the partials arrive in changes no bit
    in_order = combine_partials(parts)
    for f in dataclasses.fields(ChunkPartial):
        np.testing.assert_array_equal(getattr(combined, f.name), getattr(in_order, f.name), err_msg=f.name)
    # and the run's results follow
    fund = float(state.insurance_fund)
    a, b = run_result(combined, insurance_fund=fund), run_result(one, insurance_fund=fund)
    np.testing.assert_array_equal(a.scenarios.n_liquidated, b.scenarios.n_liquidated)
    for k in ("insurance_fund_after", "adl_amount", "coverage", "top2_sum"):
        np.testing.assert_allclose(getattr(a.scenarios, k), getattr(b.scenarios, k), rtol=REL, atol=1e-9, err_msg=k)
    assert a.tail.k == b.tail.k
    for k in ("var", "es", "cover2", "coverage_at_es", "cover2_coverage"):
        assert getattr(a.tail, k) == pytest.approx(getattr(b.tail, k), rel=REL, abs=1e-9), k


def test_one_chunk_partial_is_the_engine_result() -> None:
    params, state, shocks = venue(1)
    health = evaluate_health(params, state, with_prices=False)
    stress = run_scenarios(params, state, shocks)
    assert stress.shortfall.max() > 0 and stress.n_bankrupt.max() > 1
    p = combine_partials([chunk_partial(health.totals, stress, first_account=0)])
    assert (p.n_accounts, p.bankrupt_accounts) == (health.totals.n_accounts, health.totals.bankrupt_accounts)
    assert p.shortfall == health.totals.shortfall
    np.testing.assert_array_equal(p.scenario_shortfall, stress.shortfall)
    np.testing.assert_array_equal(p.top2_account, stress.top2_account)
    r = run_result(p, insurance_fund=state.insurance_fund)
    np.testing.assert_array_equal(r.scenarios.insurance_fund_after, stress.insurance_fund_after)
    np.testing.assert_array_equal(r.scenarios.adl_amount, stress.adl_amount)
    np.testing.assert_array_equal(r.scenarios.coverage, stress.coverage)
    assert r.tail.cover2 == stress.cover2
    assert r.worst_scenario == stress.worst_scenario
    assert r.coverage_ratio == health.totals.coverage_ratio


def hand_partial(first_account: int = 0, **kw) -> ChunkPartial:
    """Three scenarios over accounts 0..2 (top-2 account indices as given)."""
    base = dict(
        first_account=first_account,
        n_accounts=3,
        n_positions=4,
        equity=1000.0,
        initial_margin=300.0,
        maintenance_margin=150.0,
        liquidatable_accounts=0,
        bankrupt_accounts=0,
        shortfall=0.0,
        limit_breaches=0,
        scenario_liquidated=np.array([0, 2, 3]),
        scenario_bankrupt=np.array([0, 1, 2]),
        scenario_shortfall=np.array([0.0, 50.0, 200.0]),
        scenario_penalties=np.array([5.0, 10.0, 20.0]),
        top2_shortfall=np.array([[0.0, 0.0], [50.0, 0.0], [150.0, 50.0]]),
        top2_account=np.array([[-1, -1], [1, -1], [2, 0]]),
    )
    base.update(kw)
    return ChunkPartial(**base)


def test_hand_worked_fund_after_adl_and_coverage() -> None:
    """IF = 100; S = (0, 50, 200), penalties (5, 10, 20) (RISK_MODEL §8–§10):

    fund after max(0, IF + pen − S) = (105, 60, 0); ADL max(0, S − IF − pen) = (0, 0, 80);
    coverage IF/S = (∞, 2, 0.5). α = 0.5 over 3 scenarios: k = ⌈1.5⌉ = 2, VaR = 50,
    ES = (200 + 50)/2 = 125, IF/ES = 0.8; Cover-2 = max(0, 50, 200) = 200, IF/Cover-2 = 0.5.
    Base shortfall 0: coverage ∞.
    """
    r = run_result(hand_partial(), insurance_fund=100.0, alpha=0.5)
    np.testing.assert_array_equal(r.scenarios.insurance_fund_after, [105.0, 60.0, 0.0])
    np.testing.assert_array_equal(r.scenarios.adl_amount, [0.0, 0.0, 80.0])
    np.testing.assert_array_equal(r.scenarios.coverage, [math.inf, 2.0, 0.5])
    np.testing.assert_array_equal(r.scenarios.top2_sum, [0.0, 50.0, 200.0])
    assert math.isinf(r.coverage_ratio)
    t = r.tail
    assert (t.k, t.n_scenarios, t.var, t.es, t.coverage_at_es) == (2, 3, 50.0, 125.0, 0.8)
    assert (t.cover2, t.cover2_coverage) == (200.0, 0.5)
    assert r.worst_scenario == 2
    # the tail family: only the marked scenarios (Cover-2 stays over the run's scenarios)
    r = run_result(hand_partial(), insurance_fund=100.0, in_tail=np.array([True, True, False]), alpha=0.5)
    assert (r.tail.k, r.tail.n_scenarios, r.tail.var, r.tail.es, r.tail.cover2) == (1, 2, 50.0, 50.0, 200.0)


def test_nothing_to_cover_is_infinite() -> None:
    r = run_result(empty_partial(2), insurance_fund=10.0)
    np.testing.assert_array_equal(r.scenarios.coverage, [math.inf, math.inf])
    np.testing.assert_array_equal(r.scenarios.insurance_fund_after, [10.0, 10.0])
    assert (r.tail.var, r.tail.es, r.tail.cover2) == (0.0, 0.0, 0.0)
    assert math.isinf(r.tail.coverage_at_es) and math.isinf(r.tail.cover2_coverage)
    none = run_result(combine_partials([], n_scenarios=0), insurance_fund=10.0)
    assert (none.tail.k, none.tail.n_scenarios, none.worst_scenario) == (0, 0, -1)


def test_two_hand_partials_merge_top2_exactly() -> None:
    a = hand_partial(0)
    b = hand_partial(
        3,
        top2_shortfall=np.array([[0.0, 0.0], [70.0, 50.0], [150.0, 10.0]]),
        top2_account=np.array([[-1, -1], [4, 3], [5, 3]]),
    )
    c = combine_partials([b, a])
    assert (c.n_accounts, c.first_account) == (6, 0)
    np.testing.assert_array_equal(c.scenario_liquidated, [0, 4, 6])
    np.testing.assert_array_equal(c.scenario_shortfall, [0.0, 100.0, 400.0])
    np.testing.assert_array_equal(c.top2_shortfall, [[0.0, 0.0], [70.0, 50.0], [150.0, 150.0]])
    # 50 = 50 in scenario 1: the smaller account (1 in a, before 4 in b); 150 = 150: 2 before 5
    np.testing.assert_array_equal(c.top2_account, [[-1, -1], [4, 1], [2, 5]])


def test_merge_top2_and_combine_errors() -> None:
    with pytest.raises(EngineInputError):
        merge_top2(np.zeros((1, 2, 3)), np.zeros((1, 2, 3), dtype=np.int64))
    with pytest.raises(EngineInputError):
        combine_partials([])
    with pytest.raises(EngineInputError):
        combine_partials([hand_partial(0), empty_partial(2, first_account=3)])
    with pytest.raises(EngineInputError):
        combine_partials([hand_partial(0), hand_partial(0)])
    with pytest.raises(EngineInputError):
        run_result(hand_partial(), insurance_fund=1.0, in_tail=np.array([True]))
    with pytest.raises(EngineInputError):
        run_result(hand_partial(), insurance_fund=1.0, alpha=1.5)
    with pytest.raises(EngineInputError):
        empty_partial(-1)


def test_family_result_keeps_other_scenarios_out_of_the_tail() -> None:
    """§10, never pooled: S = (0, 50, 200), the family is scenarios 0 and 1 (say the 1-day gap
    windows; scenario 2 a 3-day window). α = 0.5 over 2: k = 1, VaR = ES = 50, Cover-2 = 50
    (the 200 of scenario 2 enters none of them), IF/ES = 2; the worst member is index 1."""
    fam, idx = family_result(hand_partial(), insurance_fund=100.0, members=np.array([True, True, False]), alpha=0.5)
    assert idx.tolist() == [0, 1] and fam.worst_scenario == 1
    t = fam.tail
    assert (t.n_scenarios, t.k, t.var, t.es, t.cover2, t.coverage_at_es) == (2, 1, 50.0, 50.0, 50.0, 2.0)
    np.testing.assert_array_equal(fam.scenarios.shortfall, [0.0, 50.0])
    # no member marked: every scenario (a run without historical windows)
    every, idx = family_result(hand_partial(), insurance_fund=100.0, members=np.zeros(3, dtype=bool), alpha=0.5)
    assert idx.tolist() == [0, 1, 2] and every.tail.cover2 == 200.0
    with pytest.raises(EngineInputError, match="members has shape"):
        family_result(hand_partial(), insurance_fund=1.0, members=np.array([True]))


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.floats(0, 1e6, allow_nan=False), min_size=2, max_size=20),
    st.floats(0, 1e9, allow_nan=False),
)
def test_a_non_member_shortfall_never_moves_the_family_tail(s, huge) -> None:
    """Raising the shortfall of a scenario outside the family changes none of its tail."""
    n = len(s)
    members = np.arange(n) % 2 == 0
    base = _sized_partial(np.array(s))
    bumped = _sized_partial(np.where(members, s, np.array(s) + huge))
    a, _ = family_result(base, insurance_fund=10.0, members=members)
    b, _ = family_result(bumped, insurance_fund=10.0, members=members)
    assert (a.tail.var, a.tail.es, a.tail.cover2, a.tail.n_scenarios) == (
        b.tail.var,
        b.tail.es,
        b.tail.cover2,
        b.tail.n_scenarios,
    )


def _sized_partial(s: np.ndarray) -> ChunkPartial:
    n = s.size
    top2 = np.stack([s, np.zeros(n)], axis=1)
    return dataclasses.replace(
        empty_partial(n),
        scenario_shortfall=s.astype(np.float64),
        top2_shortfall=top2,
        top2_account=np.where(top2 > 0, 0, -1).astype(np.int64),
        scenario_bankrupt=(s > 0).astype(np.int64),
    )

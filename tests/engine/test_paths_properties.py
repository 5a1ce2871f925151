"""Path stress properties (RISK_MODEL §8, §9, §11) with hypothesis, and the dense reference.

* the pruned vectorised path stress = the unpruned run = the plain-loop reference
  (``path_reference``): counts exact, money to 1e-9 relative (1e-6 USD absolute);
* a trend with ``T = 1`` is the gap result of ``stress.run_scenarios`` on the same book;
* a flat path liquidates nobody who is not liquidatable at base prices;
* raising any MMF never increases any account's path shortfall (cascade off). The venues
  here have infinite depth: with slippage, a unit liquidated earlier by a higher MMF pays its
  slippage at a step where the lower MMF would not have liquidated it at all, and the
  property needs the slippage cost to stay below MM (``slip_m(N) ≤ MMF_1``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from riskgov.engine.path_cascade import run_path_cascade
from riskgov.engine.path_stress import run_path_shortfall, run_path_stress
from riskgov.engine.stress import run_scenarios
from tests.engine.path_reference import close, reference_path
from tests.engine.reference import random_case

SETTINGS = settings(max_examples=40, deadline=None)
SEEDS = st.integers(0, 2**32 - 1)


def random_paths(rng, params, n_s, n_t, vol=0.06):
    """(S, T, A) random-walk paths of the non-stable assets (occasionally a stable depegs)."""
    moving = (~params.assets.stable).astype(float)
    if rng.random() < 0.2:
        moving = np.ones(params.assets.n)
    steps = rng.standard_t(3, size=(n_s, n_t, params.assets.n)) * vol * moving
    return np.maximum(np.cumsum(steps, axis=1), -0.95)


def finite_depth(params, rng):
    """The same parameters with finite depths (slippage on)."""
    mk = params.markets
    depth = rng.uniform(1e4, 1e7, mk.n)
    return dataclasses.replace(params, markets=dataclasses.replace(mk, depth_usd_per_1pct=depth))


@given(SEEDS, st.integers(1, 6), st.booleans())
@SETTINGS
def test_pruned_equals_unpruned_equals_plain_reference(seed, n_t, slippage):
    params, state = random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    if slippage:
        params = finite_depth(params, rng)
    r = random_paths(rng, params, 3, n_t)
    fast = run_path_stress(params, state, r, want_account_shortfall=True, batch_size=int(rng.integers(1, 4)))
    full = run_path_stress(params, state, r, want_account_shortfall=True, prune=False)
    for k in ("n_liquidated", "n_bankrupt", "liquidated_by_step", "top2_account", "worst_step"):
        assert np.array_equal(getattr(fast, k), getattr(full, k)), k
    for k in ("shortfall", "penalties", "shortfall_by_step", "liquidated_notional", "account_shortfall"):
        np.testing.assert_allclose(getattr(fast, k), getattr(full, k), rtol=1e-9, atol=1e-6)
    assert (fast.evaluated_steps <= full.evaluated_steps).all()
    for s in range(r.shape[0]):
        ref = reference_path(params, state, r[s])
        assert fast.n_liquidated[s] == len(ref.liquidated_accounts)
        assert fast.n_bankrupt[s] == ref.n_bankrupt
        first = np.bincount(list(ref.first_step.values()), minlength=n_t) if ref.first_step else np.zeros(n_t)
        assert fast.liquidated_by_step[s].tolist() == first.tolist()
        assert close(fast.shortfall[s], ref.shortfall)
        assert close(fast.penalties[s], ref.penalties)
        for t in range(n_t):
            assert close(fast.shortfall_by_step[s, t], ref.shortfall_by_step[t])
        for m in range(params.markets.n):
            assert close(fast.liquidated_notional[s, m], ref.liquidated_notional[m])
        top = ref.top2()
        assert [a for _, a in top] == [a for a in fast.top2_account[s] if a >= 0]
        for a, v in ref.account_shortfall.items():
            assert close(fast.account_shortfall[s, a], v)


@given(SEEDS, st.sampled_from([63, 64, 65, 72, 130]))
@settings(max_examples=6, deadline=None)
def test_long_paths_over_several_flag_words_equal_the_reference(seed, n_t):
    # long paths (3-day paths have 72 hourly steps; 130 crosses any 64-step word size): the
    # first liquidation steps far along a path equal the plain reference's
    params, state = random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    params = finite_depth(params, rng)
    r = random_paths(rng, params, 2, n_t, vol=0.02)
    fast = run_path_stress(params, state, r, want_account_shortfall=True)
    full = run_path_stress(params, state, r, want_account_shortfall=True, prune=False)
    for k in ("n_liquidated", "n_bankrupt", "liquidated_by_step", "top2_account", "worst_step"):
        assert np.array_equal(getattr(fast, k), getattr(full, k)), k
    for k in ("shortfall", "penalties", "shortfall_by_step", "account_shortfall"):
        np.testing.assert_allclose(getattr(fast, k), getattr(full, k), rtol=1e-9, atol=1e-6)
    for s in range(r.shape[0]):
        ref = reference_path(params, state, r[s])
        first = np.bincount(list(ref.first_step.values()), minlength=n_t) if ref.first_step else np.zeros(n_t)
        assert fast.liquidated_by_step[s].tolist() == first.tolist()
        assert close(fast.shortfall[s], ref.shortfall)


@given(SEEDS, st.integers(1, 6), st.booleans(), st.booleans())
@SETTINGS
def test_shortfall_alone_is_the_path_stress_shortfall_to_the_bit(seed, n_t, slippage, shallow):
    # run_path_shortfall skips the (unit, path) pairs that cannot end with a shortfall: the
    # dropped terms are zeros, so S is the same float as run_path_stress's and the reference's
    params, state = random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    if slippage:
        params = finite_depth(params, rng)
        if shallow:  # slippage large enough to bankrupt units that stay above zero equity
            mk = params.markets
            params = dataclasses.replace(
                params, markets=dataclasses.replace(mk, depth_usd_per_1pct=mk.depth_usd_per_1pct / 1000)
            )
    r = random_paths(rng, params, 4, n_t)
    b = int(rng.integers(1, 4))
    full = run_path_stress(params, state, r, batch_size=b)
    alone = run_path_shortfall(params, state, r, batch_size=b)
    assert np.array_equal(alone, full.shortfall)
    for s in range(r.shape[0]):
        assert close(alone[s], reference_path(params, state, r[s]).shortfall)


@given(SEEDS)
@SETTINGS
def test_path_cascade_matches_plain_reference(seed):
    params, state = random_case(seed % 10_000, n_accounts=15)
    rng = np.random.default_rng(seed)
    params = finite_depth(params, rng)
    r = random_paths(rng, params, 1, 4)
    res = run_path_cascade(params, state, r, impact=True)
    ref = reference_path(params, state, r[0], impact=True)
    assert res.n_liquidated == len(ref.liquidated_accounts)
    assert close(res.shortfall, ref.shortfall) and close(res.penalties, ref.penalties)
    for t in range(4):
        assert close(res.shortfall_by_step[t], ref.shortfall_by_step[t])


@given(SEEDS, st.integers(1, 8))
@SETTINGS
def test_trend_with_one_step_is_the_gap(seed, n_s):
    params, state = random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    if rng.random() < 0.5:
        params = finite_depth(params, rng)
    gap = random_paths(rng, params, n_s, 1, vol=0.15)[:, 0, :]
    g = run_scenarios(params, state, gap)
    p = run_path_stress(params, state, gap[:, None, :])
    for k in ("n_liquidated", "n_bankrupt", "top2_account"):
        assert np.array_equal(getattr(g, k), getattr(p, k)), k
    for k in ("shortfall", "penalties", "top2_shortfall", "adl_amount", "insurance_fund_after", "coverage"):
        np.testing.assert_allclose(getattr(g, k), getattr(p, k), rtol=1e-9, atol=1e-6)


@given(SEEDS, st.integers(1, 8))
@SETTINGS
def test_flat_path_liquidates_nobody_new(seed, n_t):
    params, state = random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    if rng.random() < 0.5:
        params = finite_depth(params, rng)
    res = run_path_stress(params, state, np.zeros((1, n_t, params.assets.n)))
    base = run_scenarios(params, state, np.zeros((1, params.assets.n)))
    assert res.liquidated_by_step[0, 1:].tolist() == [0] * (n_t - 1)
    assert res.n_liquidated[0] == base.n_liquidated[0]
    np.testing.assert_allclose(res.shortfall, base.shortfall, rtol=1e-9, atol=1e-6)


def raise_mmf(params, rng):
    """Every MMF raised (×[1, 2] per bracket, kept non-decreasing), maintenance amounts re-derived."""
    mk = params.markets
    mmf = np.maximum.accumulate(mk.mmf * rng.uniform(1.0, 2.0, mk.mmf.shape), axis=1)
    mmf = np.minimum(mmf, 0.5)
    mmf = np.maximum(mmf, mk.mmf)
    diff = np.diff(mmf, axis=1)
    steps = np.where(diff == 0, 0.0, mk.floors[:, 1:] * np.where(diff == 0, 1.0, diff))
    cum = np.concatenate([np.zeros((mk.n, 1)), np.cumsum(steps, axis=1)], axis=1)
    return dataclasses.replace(params, markets=dataclasses.replace(mk, mmf=mmf, maintenance_amount=cum))


@given(SEEDS, st.integers(1, 8))
@SETTINGS
def test_raising_any_mmf_never_increases_an_account_shortfall(seed, n_t):
    params, state = random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    r = random_paths(rng, params, 4, n_t, vol=0.08)
    high = raise_mmf(params, rng)
    assert (high.markets.mmf >= params.markets.mmf).all()
    lo = run_path_stress(params, state, r, want_account_shortfall=True)
    hi = run_path_stress(high, state, r, want_account_shortfall=True)
    tol = 1e-9 * np.abs(lo.account_shortfall) + 1e-6
    assert (hi.account_shortfall <= lo.account_shortfall + tol).all()
    assert (hi.shortfall <= lo.shortfall + 1e-9 * lo.shortfall + 1e-6).all()


@given(SEEDS, st.integers(1, 6))
@SETTINGS
def test_replay_without_impact_is_the_path_stress_of_its_scenario(seed, n_t):
    params, state = random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    if rng.random() < 0.5:
        params = finite_depth(params, rng)
    r = random_paths(rng, params, 2, n_t)
    res = run_path_stress(params, state, r, want_account_shortfall=True)
    for s in range(2):
        rep = run_path_cascade(params, state, r, scenario=s, impact=False)
        assert rep.n_liquidated == res.n_liquidated[s] and rep.n_bankrupt == res.n_bankrupt[s]
        assert rep.liquidated_by_step.tolist() == res.liquidated_by_step[s].tolist()
        assert rep.worst_step == res.worst_step[s] or np.isclose(
            rep.shortfall_by_step[rep.worst_step - 1], res.shortfall_by_step[s, res.worst_step[s] - 1], rtol=1e-9
        )
        assert rep.top2_account.tolist() == res.top2_account[s].tolist()
        np.testing.assert_allclose(rep.shortfall_by_step, res.shortfall_by_step[s], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(rep.account_shortfall, res.account_shortfall[s], rtol=1e-9, atol=1e-6)
        np.testing.assert_allclose(rep.liquidated_notional, res.liquidated_notional[s], rtol=1e-9, atol=1e-6)
        assert np.isclose(rep.penalties, res.penalties[s], rtol=1e-9, atol=1e-6)
        assert (rep.rounds_by_step <= 1).all() and rep.converged.all()


@given(SEEDS, st.booleans())
@SETTINGS
def test_pruned_cascade_equals_the_full_one(seed, shallow):
    params, state = random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    params = finite_depth(params, rng)
    if shallow:  # big price impact: effective prices leave the first envelope, the run widens it
        mk = params.markets
        params = dataclasses.replace(
            params, markets=dataclasses.replace(mk, depth_usd_per_1pct=mk.depth_usd_per_1pct / 100)
        )
    r = random_paths(rng, params, 1, 5, vol=0.08)
    a = run_path_cascade(params, state, r)
    b = run_path_cascade(params, state, r, prune=False)
    assert (a.n_liquidated, a.n_bankrupt) == (b.n_liquidated, b.n_bankrupt)
    assert a.round_liquidated_units.tolist() == b.round_liquidated_units.tolist()
    assert a.liquidated_by_step.tolist() == b.liquidated_by_step.tolist()
    for k in ("shortfall_by_step", "account_shortfall", "open_equity", "open_mm", "final_market_prices"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=1e-9, atol=1e-6)


@given(SEEDS, st.booleans())
@SETTINGS
def test_open_book_sums_equal_the_units_revalued(seed, zero_first_mmf):
    """``path_cascade._OpenSums`` (Σ E and Σ MM of never-liquidated units from net sizes and
    sorted |q| prefix sums) equals revaluing every unit, at random prices and at prices that
    put positions exactly on bracket floors; with a market whose first MMF is 0 it declines
    (``None``), and the replay then revalues (the pruned replay still equals the full one)."""
    from riskgov.engine.cascade import _Sub
    from riskgov.engine.path_cascade import _OpenSums
    from riskgov.engine.units import build_unit_book

    params, state = random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    mk = params.markets
    if zero_first_mmf:
        mmf = mk.mmf.copy()
        mmf[0, 0] = 0.0
        params = dataclasses.replace(params, markets=dataclasses.replace(mk, mmf=mmf))
        mk = params.markets
    book = build_unit_book(params, state)
    sub = _Sub(params, book, None)
    sums = _OpenSums(params, book, np.arange(book.n_units))
    base = np.asarray(state.asset_prices, dtype=np.float64)
    trials = [base * (1 + rng.uniform(-0.5, 0.5, base.size)) for _ in range(5)]
    pf = state.portfolio
    if pf.size.size:  # a price that puts one position's notional exactly on a floor
        i = int(rng.integers(pf.size.size))
        m, a = int(pf.position_market[i]), abs(float(pf.size[i]))
        k = int(rng.integers(1, max(2, int(mk.n_brackets[m]))))
        if a > 0 and k < int(mk.n_brackets[m]) and mk.floors[m, k] > 0:
            px = base.copy()
            px[mk.base_asset[m]] = mk.floors[m, k] / a
            trials.append(px)
    for asset_px in trials:
        mkt_px = asset_px[mk.base_asset]
        e, mm, _ = sub.revalue(mk, asset_px, mkt_px)
        o = mm > 0
        got = sums.sums(asset_px, mkt_px)
        used_zero = zero_first_mmf and 0 in set(pf.position_market[pf.size != 0].tolist())
        if used_zero:
            assert got is None
            continue
        assert got is not None
        scale = float(np.abs(e[o]).sum()) + 1.0
        assert abs(got[0] - float(e[o].sum())) <= 1e-9 * scale
        assert abs(got[1] - float(mm[o].sum())) <= 1e-9 * (float(mm[o].sum()) + 1.0)
    r = random_paths(rng, params, 1, 4, vol=0.05)
    a, b = (
        run_path_cascade(params, state, r, impact=False),
        run_path_cascade(params, state, r, impact=False, prune=False),
    )
    for k in ("open_equity", "open_mm", "mm_coverage", "shortfall_by_step"):
        np.testing.assert_allclose(getattr(a, k), getattr(b, k), rtol=1e-9, atol=1e-6)


@given(SEEDS, st.integers(1, 9))
@SETTINGS
def test_candidate_units_in_blocks_equal_one_block(seed, positions):
    """``path_cascade._candidate_units`` bounds the units block by block
    (``UnitBook.slice_units``: views of whole units); any block size gives the same units."""
    from riskgov.engine import path_cascade
    from riskgov.engine.units import build_unit_book

    params, state = random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    book = build_unit_book(params, state)
    ranges = book.unit_ranges(positions)
    assert ranges[0][0] == 0 and ranges[-1][1] == book.n_units
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    r = random_paths(rng, params, 1, 3, vol=0.08)[0]
    lo, hi = np.maximum(r.min(axis=0) - 0.25, -1 + 1e-6), r.max(axis=0) + 0.25
    old = path_cascade.CANDIDATE_BLOCK_POSITIONS
    try:
        path_cascade.CANDIDATE_BLOCK_POSITIONS = 10**9
        whole = path_cascade._candidate_units(params, book, lo, hi)
        path_cascade.CANDIDATE_BLOCK_POSITIONS = positions
        blocked = path_cascade._candidate_units(params, book, lo, hi)
    finally:
        path_cascade.CANDIDATE_BLOCK_POSITIONS = old
    assert whole[0].tolist() == blocked[0].tolist() and whole[1].tolist() == blocked[1].tolist()


@given(SEEDS)
@SETTINGS
def test_open_book_sums_of_a_subset_of_units(seed):
    """``_OpenSums`` of a random strict subset of the units (what the replay passes: those
    outside the candidates) equals those units revalued, with market prices apart from their
    assets' (the cascade's impact moves a market on its own)."""
    from riskgov.engine.cascade import _Sub
    from riskgov.engine.path_cascade import _OpenSums
    from riskgov.engine.units import build_unit_book

    params, state = random_case(seed % 10_000)
    rng = np.random.default_rng(seed)
    book = build_unit_book(params, state)
    units = np.flatnonzero(rng.random(book.n_units) < 0.5)
    sub, sums = _Sub(params, book, units), _OpenSums(params, book, units)
    mk = params.markets
    base = np.asarray(state.asset_prices, dtype=np.float64)
    for _ in range(3):
        apx = base * (1 + rng.uniform(-0.5, 0.5, base.size))
        mpx = apx[mk.base_asset] * (1 + rng.uniform(-0.1, 0.1, mk.n))
        e, mm, _ = sub.revalue(mk, apx, mpx)
        o = mm > 0
        got = sums.sums(apx, mpx)
        assert got is not None
        assert abs(got[0] - e[o].sum()) <= 1e-9 * (np.abs(e[o]).sum() + 1)
        assert abs(got[1] - mm[o].sum()) <= 1e-9 * (mm[o].sum() + 1)

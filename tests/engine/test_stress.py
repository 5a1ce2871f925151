"""Stress runs (RISK_MODEL §8, §9): hand-worked closes, and fast path = dense reference."""

import numpy as np
import pytest

from riskgov.engine import margin
from riskgov.engine.brackets import build_parameter_set
from riskgov.engine.scenarios import concat, per_asset_scenario, uniform_scenarios, zero_scenario
from riskgov.engine.stress import run_scenarios, run_scenarios_dense
from riskgov.engine.types import (
    AssetSpec,
    MarketSpec,
    Portfolio,
    PriceError,
    UnknownSymbolError,
    VenueState,
)


def _portfolio(n_accounts, balances, positions):
    """balances: (account, asset, amount); positions: (account, market, size, entry, iso, w)."""
    b = np.array(balances, dtype=float).reshape(-1, 3)
    p = np.array(positions, dtype=float).reshape(-1, 6)
    return Portfolio(
        n_accounts=n_accounts,
        balance_account=b[:, 0].astype(np.int64),
        balance_asset=b[:, 1].astype(np.int64),
        balance_amount=b[:, 2],
        position_account=p[:, 0].astype(np.int64),
        position_market=p[:, 1].astype(np.int64),
        size=p[:, 2],
        entry_price=p[:, 3],
        isolated=p[:, 4].astype(bool),
        isolated_margin=p[:, 5],
    )


def hand_venue():
    """USDT (stable) + BTC at 100 (haircut 0.1); BTC-PERP MMF 1 %/2 % (floor 10k),
    penalty 0.5 %, depth 900 USD per 1 %; insurance fund 5 USD."""
    params = build_parameter_set(
        assets=[AssetSpec("USDT", 0.0, True), AssetSpec("BTC", 0.1)],
        markets=[
            MarketSpec(
                "BTC-PERP",
                "BTC",
                (0.0, 10_000.0),
                (0.02, 0.04),
                (0.01, 0.02),
                liquidation_penalty=0.005,
                depth_usd_per_1pct=900.0,
            )
        ],
    )
    pf = _portfolio(
        4,
        [(0, 0, 10.5), (1, 0, 40.0), (2, 0, 100.0), (3, 0, -5.0), (3, 1, 0.05)],
        [
            (0, 0, 1.0, 100.0, 0, 0.0),  # acct 0: 1 BTC long, cross
            (1, 0, 5.0, 100.0, 0, 0.0),  # acct 1: 5 BTC long, cross
            (2, 0, 1.0, 100.0, 1, 9.5),  # acct 2: isolated 1 BTC long, margin 9.5
            (2, 0, -1.0, 100.0, 0, 0.0),  # acct 2: cross 1 BTC short
        ],
    )
    return params, VenueState(portfolio=pf, asset_prices=np.array([1.0, 100.0]), insurance_fund=5.0)


@pytest.mark.parametrize("runner", [run_scenarios, run_scenarios_dense])
def test_hand_worked_minus_10pct(runner):
    params, state = hand_venue()
    res = runner(params, state, uniform_scenarios(params.assets, [-0.1]), want_account_detail=True)
    # p' = 90. acct 0: E' = 10.5 − 10 = 0.5 < MM' = 0.9 → liquidated; N' = 90,
    #   slip = 0.01·90/900 = 0.001 → cost 0.09; E_after = 0.41; penalty due 0.45, paid 0.41.
    # acct 1: E' = 40 − 50 = −10 < MM' = 4.5; slip = 0.01·450/900 = 0.005 → cost 2.25;
    #   E_after = −12.25 → shortfall 12.25, no penalty.
    # acct 2: isolated E = 9.5 − 10 = −0.5 < 0.9 → liquidated alone: cost 0.09 → shortfall
    #   0.59; its cross side (E' = 100 + 10, MM' 0.9) stays open. Counted once.
    # acct 3: no positions; V' = 0.05·90·0.9 − 5 = −0.95 → bankrupt (shortfall 0.95), not
    #   liquidated.
    assert res.n_liquidated.tolist() == [3]
    assert res.n_bankrupt.tolist() == [3]
    s = 12.25 + 0.59 + 0.95
    np.testing.assert_allclose(res.shortfall, [s], rtol=1e-12)
    np.testing.assert_allclose(res.penalties, [0.41], rtol=1e-12)
    np.testing.assert_allclose(res.insurance_fund_after, [0.0])
    np.testing.assert_allclose(res.adl_amount, [s - 5.0 - 0.41], rtol=1e-12)
    np.testing.assert_allclose(res.coverage, [5.0 / s], rtol=1e-12)
    np.testing.assert_allclose(res.top2_shortfall, [[12.25, 0.95]], rtol=1e-12)
    assert res.top2_account.tolist() == [[1, 3]]
    np.testing.assert_allclose(res.worst_account_shortfall, [0.0, 12.25, 0.59, 0.95], rtol=1e-12)
    assert res.cover2 == pytest.approx(13.2)


def test_penalty_and_fund_when_no_shortfall():
    params, state = hand_venue()
    sc = per_asset_scenario(params.assets, "small", {"BTC": -0.095})
    res = run_scenarios(params, state, sc)
    ref = run_scenarios_dense(params, state, sc)
    # acct 0: E' = 10.5 − 9.5 = 1.0 ≥ MM' 0.905 → not liquidated; acct 1: −7.5 → liquidated
    assert res.n_liquidated.tolist() == ref.n_liquidated.tolist()
    p = 90.5
    short1 = -(40 - 5 * 9.5 - 5 * p * (0.01 * 5 * p / 900))
    short2 = -(9.5 - 9.5 - p * (0.01 * p / 900))
    short3 = -(0.05 * p * 0.9 - 5)
    np.testing.assert_allclose(res.shortfall, [short1 + short2 + short3], rtol=1e-12)
    assert res.n_liquidated.tolist() == [2]


def test_zero_shock_is_the_base_pass():
    params, state = hand_venue()
    res = run_scenarios(params, state, zero_scenario(params.assets))
    tot = margin.protocol_totals(params, state)
    assert res.n_liquidated[0] == tot.liquidatable_accounts
    # infinite depth and no penalty: shortfall and bankrupt count equal the base pass too
    params_inf = build_parameter_set(
        assets=[AssetSpec("USDT", 0.0, True), AssetSpec("BTC", 0.1)],
        markets=[MarketSpec("BTC-PERP", "BTC", (0.0, 10_000.0), (0.02, 0.04), (0.01, 0.02))],
    )
    res = run_scenarios(params_inf, state, zero_scenario(params.assets))
    tot = margin.protocol_totals(params_inf, state)
    assert res.n_liquidated[0] == tot.liquidatable_accounts
    assert res.n_bankrupt[0] == tot.bankrupt_accounts
    np.testing.assert_allclose(res.shortfall[0], tot.shortfall, rtol=1e-12)


def random_venue(seed, n_accounts=400, n_positions=1200):
    rng = np.random.default_rng(seed)
    assets = [AssetSpec("USDT", 0.0, True), AssetSpec("USDC", 0.0, True)]
    assets += [AssetSpec(f"C{i}", float(rng.uniform(0, 0.5))) for i in range(5)]
    markets = []
    for m in range(7):
        base = f"C{m % 5}"  # markets 5, 6 share a base asset with 0, 1
        k = int(rng.integers(1, 5))
        floors = np.concatenate([[0.0], np.cumsum(rng.uniform(500, 5000, k - 1))])
        mmf = np.sort(rng.uniform(0.005, 0.05, k))
        imf = mmf * 2
        markets.append(
            MarketSpec(
                f"M{m}",
                base,
                tuple(floors),
                tuple(imf),
                tuple(mmf),
                liquidation_penalty=float(mmf[0] * rng.uniform(0, 1)),
                depth_usd_per_1pct=float(rng.choice([1e3, 1e5, np.inf])),
            )
        )
    params = build_parameter_set(assets=assets, markets=markets)
    prices = np.concatenate([[1.0, 1.0], np.exp(rng.normal(3, 2, 5))])
    acc = np.sort(rng.integers(0, n_accounts, n_positions))
    if seed % 2:
        acc = rng.permutation(acc)  # unsorted rows too
    mkt = rng.integers(0, 7, n_positions)
    p = prices[params.markets.base_asset[mkt]]
    notional = np.exp(rng.normal(6, 1.5, n_positions))
    size = np.where(rng.random(n_positions) < 0.5, 1, -1) * notional / p
    entry = p * np.exp(rng.normal(0, 0.05, n_positions))
    iso = rng.random(n_positions) < 0.15
    w = np.where(iso, notional * rng.uniform(0.01, 0.3, n_positions), 0.0)
    n_bal = n_accounts * 2
    b_acc = rng.integers(0, n_accounts, n_bal)
    b_ast = rng.integers(0, 7, n_bal)
    val = np.exp(rng.normal(4.5, 1.5, n_bal)) * np.where(rng.random(n_bal) < 0.15, -0.5, 1.0)
    pf = Portfolio(
        n_accounts=n_accounts,
        balance_account=b_acc,
        balance_asset=b_ast,
        balance_amount=val / prices[b_ast],
        position_account=acc,
        position_market=mkt,
        size=size,
        entry_price=entry,
        isolated=iso,
        isolated_margin=w,
    )
    state = VenueState(portfolio=pf, asset_prices=prices, insurance_fund=float(rng.uniform(0, 5e3)))
    shocks = np.clip(rng.standard_t(3, (60, 1)) * 0.08 + rng.standard_t(3, (60, 7)) * 0.05, -0.95, 2.0)
    shocks[:, :2] = 0.0
    shocks[7, 0] = -0.2  # a depeg
    shocks[11] = 0.0
    return params, state, shocks


def _assert_same(fast, dense):
    for k in ("n_liquidated", "n_bankrupt", "top2_account"):
        np.testing.assert_array_equal(getattr(fast, k), getattr(dense, k), err_msg=k)
    for k in ("shortfall", "penalties", "insurance_fund_after", "adl_amount", "top2_shortfall"):
        np.testing.assert_allclose(getattr(fast, k), getattr(dense, k), rtol=1e-9, atol=1e-6, err_msg=k)
    np.testing.assert_allclose(fast.worst_account_shortfall, dense.worst_account_shortfall, rtol=1e-9, atol=1e-6)
    assert fast.worst_scenario == dense.worst_scenario


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("batch_size", [1, 7, 64])
def test_fast_path_equals_dense_reference(seed, batch_size):
    params, state, shocks = random_venue(seed)
    dense = run_scenarios_dense(params, state, shocks, want_account_detail=True)
    fast = run_scenarios(params, state, shocks, batch_size=batch_size, want_account_detail=True)
    assert dense.n_liquidated.max() > 0 and dense.shortfall.max() > 0
    _assert_same(fast, dense)
    # pruning really prunes
    assert fast.evaluated_pairs.sum() < dense.evaluated_pairs.sum()


def test_fast_path_single_thread_same_result():
    params, state, shocks = random_venue(3)
    a = run_scenarios(params, state, shocks, threads=1, want_account_detail=True)
    b = run_scenarios(params, state, shocks, threads=2, want_account_detail=True)
    _assert_same(a, b)


def test_zero_shock_rows_match_margin_on_random_venue():
    params, state, shocks = random_venue(4)
    res = run_scenarios(params, state, shocks)
    tot = margin.protocol_totals(params, state)
    assert res.n_liquidated[11] == tot.liquidatable_accounts


def test_input_errors():
    params, state = hand_venue()
    with pytest.raises(PriceError):
        run_scenarios(params, state, np.array([[0.0, -1.0]]))
    other = build_parameter_set(
        assets=[AssetSpec("USDT", 0.0, True), AssetSpec("ETH")],
        markets=[MarketSpec("ETH-PERP", "ETH", (0.0,), (0.1,), (0.05,))],
    )
    with pytest.raises(UnknownSymbolError):
        run_scenarios(params, state, zero_scenario(other.assets))
    empty = run_scenarios(params, state, np.zeros((0, 2)))
    assert empty.shortfall.shape == (0,) and empty.worst_scenario == -1
    both = concat(zero_scenario(params.assets), uniform_scenarios(params.assets, [-0.1]))
    assert run_scenarios(params, state, both).names == ("base", "uniform -10.0%")


def test_bench_smoke_stress_and_base_passes_agree():
    """bench/engine.py's generator and checks at a tiny scale (not timed)."""
    from bench import engine as bench
    from bench.venue import make_venue

    v = make_venue(n_accounts=3000, n_positions=9000, n_markets=20, n_scenarios=60, seed=3)
    ref = bench.base_engine(v.params, v.state)
    frames = bench._frames(v.params, v.state)
    bench.check_totals("pandas", ref, bench.base_pandas(v.params, v.state, frames))
    con = bench.duckdb_connect(frames)
    bench.check_totals("duckdb", ref, bench.base_duckdb(con))
    con.close()
    sub_state, sub_scen = bench.subsample(v, 1500, 2)
    bench.compare_stress(
        run_scenarios(v.params, sub_state, sub_scen),
        run_scenarios_dense(v.params, sub_state, sub_scen),
    )
    out = bench.run(bench.parse(["--accounts", "2000", "--positions", "6000", "--markets", "20", "--scenarios", "40"]))
    assert out["stress"] > 0


def _reduce_reference(nb, s_local, owner, liq, pen, short):
    """Brute-force per-scenario totals (RISK_MODEL §9) for ``reduce_pairs``."""
    n_liq = np.zeros(nb, dtype=np.int64)
    n_bk = np.zeros(nb, dtype=np.int64)
    top2 = np.zeros((nb, 2))
    top2_acc = np.full((nb, 2), -1, dtype=np.int64)
    for s in range(nb):
        here = s_local == s
        n_liq[s] = len(set(owner[here & liq].tolist()))
        sums = {}
        for a, v in zip(owner[here].tolist(), short[here].tolist(), strict=True):
            if v > 0:
                sums[a] = sums.get(a, 0.0) + v
        n_bk[s] = len(sums)
        ranked = sorted(sums.items(), key=lambda kv: (-kv[1], kv[0]))[:2]
        for j, (a, v) in enumerate(ranked):
            top2[s, j], top2_acc[s, j] = v, a
    return n_liq, n_bk, top2, top2_acc


@pytest.mark.parametrize("shuffle", [False, True])
def test_reduce_pairs_counts_accounts_once_and_ranks_ties(shuffle):
    from riskgov.engine.pruning import reduce_pairs

    rng = np.random.default_rng(5)
    nb, n = 6, 400
    owner = np.sort(rng.integers(0, 40, n))
    s_local = rng.integers(0, nb, n)
    order = np.lexsort((s_local, owner))  # (owner, scenario) sorted, as the fast path emits
    owner, s_local = owner[order], s_local[order]
    liq = rng.random(n) < 0.6
    short = np.where(rng.random(n) < 0.5, rng.choice([1.0, 2.0, 3.0], n), 0.0)  # many ties
    pen = rng.random(n)
    if shuffle:
        p = rng.permutation(n)
        owner, s_local, liq, short, pen = owner[p], s_local[p], liq[p], short[p], pen[p]
    got = reduce_pairs(nb, 40, s_local, owner, liq, pen, short)
    n_liq, n_bk, top2, top2_acc = _reduce_reference(nb, s_local, owner, liq, pen, short)
    np.testing.assert_array_equal(got.n_liquidated, n_liq)
    np.testing.assert_array_equal(got.n_bankrupt, n_bk)
    np.testing.assert_allclose(got.top2, top2, rtol=1e-12)
    np.testing.assert_array_equal(got.top2_account, top2_acc)
    np.testing.assert_allclose(got.shortfall, np.bincount(s_local, weights=short, minlength=nb), rtol=1e-12)
    np.testing.assert_allclose(got.penalties, np.bincount(s_local, weights=pen, minlength=nb), rtol=1e-12)
    np.testing.assert_array_equal(got.evaluated, np.bincount(s_local, minlength=nb))


def test_unit_book_bracket_fields_match_the_lookup():
    from riskgov.engine.brackets import bracket_index
    from riskgov.engine.units import build_unit_book

    params, state, _ = random_venue(2)
    book = build_unit_book(params, state)
    mk = params.markets
    k = bracket_index(mk, book.pos_market, book.notional0)
    np.testing.assert_array_equal(book.pos_bracket, k)
    np.testing.assert_array_equal(book.pos_mmf0, mk.mmf[book.pos_market, k])
    np.testing.assert_array_equal(book.pos_cum0, mk.maintenance_amount[book.pos_market, k])
    np.testing.assert_array_equal(book.pos_mm0, book.notional0 * book.pos_mmf0 - book.pos_cum0)
    floors = np.concatenate([mk.floors, np.full((mk.n, 1), np.inf)], axis=1)
    np.testing.assert_array_equal(book.pos_floor_lo, floors[book.pos_market, k])
    np.testing.assert_array_equal(book.pos_floor_hi, floors[book.pos_market, k + 1])
    np.testing.assert_array_equal(book.depth, mk.depth_usd_per_1pct[book.pos_market])
    np.testing.assert_array_equal(book.penalty_rate, mk.liquidation_penalty[book.pos_market])
    assert (book.pos_floor_lo <= book.notional0).all() and (book.notional0 < book.pos_floor_hi).all()


def test_fast_path_with_few_moving_assets_and_liability_only_accounts():
    """Columns only for shocked assets; units with a liability and no position."""
    params, state, shocks = random_venue(5)
    shocks = shocks.copy()
    shocks[:, 3:] = 0.0  # only C0 moves (and the USDT depeg row)
    pf = state.portfolio
    n_acc = pf.n_accounts + 3
    extra = [(pf.n_accounts + i, 2, a) for i, a in enumerate((-1e4, -50.0, 30.0))]
    b = np.array(extra, dtype=float)
    pf2 = type(pf)(
        n_accounts=n_acc,
        balance_account=np.concatenate([pf.balance_account, b[:, 0].astype(np.int64)]),
        balance_asset=np.concatenate([pf.balance_asset, b[:, 1].astype(np.int64)]),
        balance_amount=np.concatenate([pf.balance_amount, b[:, 2]]),
        position_account=pf.position_account,
        position_market=pf.position_market,
        size=pf.size,
        entry_price=pf.entry_price,
        isolated=pf.isolated,
        isolated_margin=pf.isolated_margin,
    )
    state2 = VenueState(portfolio=pf2, asset_prices=state.asset_prices, insurance_fund=state.insurance_fund)
    dense = run_scenarios_dense(params, state2, shocks, want_account_detail=True)
    fast = run_scenarios(params, state2, shocks, batch_size=9, want_account_detail=True)
    _assert_same(fast, dense)
    assert dense.n_bankrupt.min() >= 2  # the two liability-only accounts are bankrupt everywhere

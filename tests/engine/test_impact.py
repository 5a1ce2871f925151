"""§15 impact: cost, protection per family and frontier (engine.impact)."""

from __future__ import annotations

import numpy as np
import pytest

from riskgov.engine.impact import (
    MULTIPLIERS,
    Family,
    accounts_holding,
    changed_markets,
    impact_comparison,
    impact_cost,
    market_frontier,
    scale_market,
    with_market_of,
)
from riskgov.engine.path_stress import run_path_stress
from riskgov.engine.paths import PathSet, gap_paths, trend_paths
from riskgov.engine.scenarios import uniform_scenarios
from tests.engine import reference as ref


def random_paths(params, seed: int, n: int = 40, steps: int = 24, family: str = "path_1d") -> PathSet:
    """Random-walk hourly paths of every non-stable asset (jointly), 1-day."""
    rng = np.random.default_rng(seed)
    moving = ~params.assets.stable
    r = np.zeros((n, steps, params.assets.n))
    inc = rng.normal(0, 0.02, (n, steps, int(moving.sum())))
    r[:, :, moving] = np.exp(np.cumsum(inc, axis=1)) - 1.0
    return PathSet(
        family=family,
        kind="historical",
        step_hours=1.0,
        names=tuple(f"p{i}" for i in range(n)),
        shocks=r,
        asset_symbols=tuple(params.assets.symbols),
        start=("",) * n,
        interpolated_share=np.zeros(n),
        interpolated_by_asset=np.zeros((n, params.assets.n)),
    )


@pytest.mark.parametrize("seed", range(6))
def test_tightening_only_costs_and_never_adds_shortfall_without_cascade(seed):
    # §15: every MMF and IMF up or equal → cost >= 0 and shortfall <= 0 in every scenario.
    # Depth is infinite in random_case (no slippage): the known exception — slippage larger
    # than the margin a higher MMF buys (tests/engine/test_paths.py::
    # test_higher_mmf_can_cost_more_when_slippage_exceeds_the_margin) — cannot arise.
    params, state = ref.random_case(seed, n_accounts=60)
    rng = np.random.default_rng(seed)
    proposed = params
    for m in rng.choice(len(params.markets.symbols), size=2, replace=False):
        proposed = scale_market(proposed, int(m), float(rng.choice([1.0, 1.1, 1.5, 2.0])))
    paths = random_paths(params, seed)
    gaps = gap_paths(uniform_scenarios(params.assets, [-0.3, -0.1, 0.1, 0.3]))
    trends = trend_paths(params.assets, [-0.3, 0.3])
    fams = [Family(gaps), Family(trends), Family(paths)]
    doc = impact_comparison(params, proposed, state, fams)
    cost = doc["cost"]
    assert cost["delta_initial_margin_usd"] >= 0 and cost["delta_maintenance_margin_usd"] >= 0
    assert cost["top_up_usd"] >= -1e-9 and cost["no_longer_liquidatable_accounts"] == 0
    assert all(r["delta_maintenance_margin_usd"] >= 0 for r in cost["per_market"])
    for fam in fams:
        cur = run_path_stress(params, state, fam.paths)
        new = run_path_stress(proposed, state, fam.paths)
        assert (new.shortfall <= cur.shortfall * (1 + 1e-9) + 1e-6).all()
    for p in doc["protection"]:
        assert p["delta_es_usd"] <= 1e-6 and p["delta_mean_shortfall_usd"] <= 1e-6
        for row in p["standard_scenarios"]:
            assert row["shortfall_after_usd"] <= row["shortfall_before_usd"] * (1 + 1e-9) + 1e-6
    assert [p["family"] for p in doc["protection"]] == ["gap", "trend", "path_1d"]
    assert len(doc["protection"][0]["standard_scenarios"]) == 4 and not doc["protection"][2]["standard_scenarios"]


def test_frontier_has_seven_points_with_current_and_proposed_marked():
    params, state = ref.random_case(3, n_accounts=80)
    m = params.markets.symbols.index("BTC-PERP")
    proposed = scale_market(params, m, 1.25)
    assert changed_markets(params, proposed) == [m]
    paths = random_paths(params, 3)
    fr = market_frontier(params, proposed, state, m, paths, alpha=0.99)
    assert fr["market"] == "BTC-PERP" and fr["family"] == "path_1d"
    assert [p["multiplier"] for p in fr["points"]] == list(MULTIPLIERS) and len(fr["points"]) == 7
    assert [p["current"] for p in fr["points"]] == [k == 1.0 for k in MULTIPLIERS]
    cur = next(p for p in fr["points"] if p["current"])
    assert fr["current"] == {"mm_usd": cur["mm_usd"], "es_usd": cur["es_usd"]}
    x125 = fr["points"][MULTIPLIERS.index(1.25)]
    assert fr["proposed"]["mm_usd"] == pytest.approx(x125["mm_usd"], rel=1e-12)
    assert fr["proposed"]["es_usd"] == pytest.approx(x125["es_usd"], rel=1e-12)
    mm = [p["mm_usd"] for p in fr["points"]]
    es = [p["es_usd"] for p in fr["points"]]
    assert all(b >= a for a, b in zip(mm, mm[1:], strict=False))  # more margin …
    assert all(b <= a * (1 + 1e-9) + 1e-6 for a, b in zip(es, es[1:], strict=False))  # … less tail (no slippage)


def test_frontier_reruns_only_the_accounts_holding_the_market():
    params, state = ref.random_case(5, n_accounts=60)
    m = params.markets.symbols.index("ETH-PERP")
    sub, keep = accounts_holding(params, state, m)
    pf = state.portfolio
    assert set(keep.tolist()) == set(pf.position_account[pf.position_market == m].tolist())
    paths = random_paths(params, 5, n=12)
    tight = scale_market(params, m, 2.0)
    # the other accounts are untouched by m's table: the venue's change is the subset's change
    full = run_path_stress(tight, state, paths).shortfall - run_path_stress(params, state, paths).shortfall
    part = run_path_stress(tight, sub, paths).shortfall - run_path_stress(params, sub, paths).shortfall
    np.testing.assert_allclose(full, part, rtol=1e-9, atol=1e-6)


def test_cost_counts_and_leverage():
    params = ref.params()
    # one 1 BTC long at 30k with 400 USDT: MM 120 (0.4 %), IM 240 (0.8 %)
    state = ref.state(n_accounts=1, balances=[(0, 0, 300.0)], positions=[(0, 0, 1.0, 30_000.0)])
    m = 0
    proposed = with_market_of(params, scale_market(params, m, 1.5), m)  # MMF 0.6 %, IMF 1.2 %: IM 360 > E 300
    cost = impact_cost(params, proposed, state)
    assert cost["delta_maintenance_margin_usd"] == pytest.approx(60.0, rel=1e-12)
    assert cost["delta_initial_margin_usd"] == pytest.approx(120.0, rel=1e-12)
    assert cost["newly_below_im_accounts"] == 1 and cost["top_up_usd"] == pytest.approx(60.0, rel=1e-12)
    assert cost["newly_liquidatable_accounts"] == 0
    lev = cost["max_leverage"][0]
    assert lev["market"] == "BTC-PERP" and lev["brackets"][0]["current"] == pytest.approx(125.0)
    assert lev["brackets"][0]["proposed"] == pytest.approx(1 / 0.012)


def _protection_of_full_runs(params, proposed, state, fams, alpha=0.99):
    """The protection section from two whole-venue runs per family (no split): the reference."""
    from riskgov.engine.impact import family_protection

    return [
        family_protection(
            f, run_path_stress(params, state, f.paths), run_path_stress(proposed, state, f.paths), alpha=alpha
        )
        for f in fams
    ]


def _assert_same_doc(a, b, path=""):
    """Nested dicts/lists equal: ints and bools exactly, floats to rtol 1e-9 (atol 1e-6 USD)."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _assert_same_doc(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same_doc(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and not isinstance(a, bool):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-6, nan_ok=True), path
    else:
        assert a == b, path


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("n_changed", [1, 2])
def test_comparison_running_holders_twice_equals_two_whole_venue_runs(seed, n_changed):
    # the split (accounts holding no changed market run once) and the frontier's reuse of the
    # protection runs must not change a figure: counts exact, money to 1e-9 (§1)
    params, state = ref.random_case(seed, n_accounts=70)
    rng = np.random.default_rng(seed + 10)
    proposed = params
    for m in rng.choice(len(params.markets.symbols), size=n_changed, replace=False):
        proposed = scale_market(proposed, int(m), float(rng.choice([0.5, 1.25, 1.3, 2.0])))
    fams = [
        Family(gap_paths(uniform_scenarios(params.assets, [-0.3, -0.1, 0.1, 0.3]))),
        Family(trend_paths(params.assets, [-0.3, 0.3])),
        Family(random_paths(params, seed, n=30)),
    ]
    doc = impact_comparison(params, proposed, state, fams)
    _assert_same_doc(doc["protection"], _protection_of_full_runs(params, proposed, state, fams))
    for fr in doc["frontier"]:
        m = params.markets.symbols.index(fr["market"])
        sub, _ = accounts_holding(params, state, m)
        for pt in fr["points"]:
            p = scale_market(params, m, pt["multiplier"])
            es = ref_es(run_path_stress(p, sub, fams[2].paths).shortfall)
            assert pt["es_usd"] == pytest.approx(es, rel=1e-9, abs=1e-6)
        es_p = ref_es(run_path_stress(with_market_of(params, proposed, m), sub, fams[2].paths).shortfall)
        assert fr["proposed"]["es_usd"] == pytest.approx(es_p, rel=1e-9, abs=1e-6)


def ref_es(shortfall, alpha=0.99):
    """ES_α of §10 by hand: the mean of the ⌈(1 − α)·n⌉ largest."""
    k = int(np.ceil((1 - alpha) * shortfall.size - 1e-12))
    return float(np.sort(shortfall)[::-1][:k].mean())


def test_frontier_mm_is_the_markets_positions_margin():
    from riskgov.engine.health import evaluate_health

    params, state = ref.random_case(2, n_accounts=50)
    m = params.markets.symbols.index("BTC-PERP")
    fr = market_frontier(params, scale_market(params, m, 1.5), state, m, random_paths(params, 2, n=8), alpha=0.99)
    sel = state.portfolio.position_market == m
    for pt in fr["points"]:
        h = evaluate_health(scale_market(params, m, pt["multiplier"]), state, with_prices=False)
        assert pt["mm_usd"] == pytest.approx(float(h.positions.maintenance_margin[sel].sum()), rel=1e-12)


def test_comparison_with_a_penalty_change_runs_every_account_on_both_sides():
    # a change outside the bracket tables (here a penalty) touches accounts that hold no
    # changed market's table: no split, the sides are whole-venue runs
    from dataclasses import replace

    params, state = ref.random_case(1, n_accounts=60)
    m = params.markets.symbols.index("BTC-PERP")
    proposed = scale_market(params, m, 1.5)
    pen = proposed.markets.liquidation_penalty.copy()
    pen[:] = pen * 2 + 0.001
    proposed = replace(proposed, markets=replace(proposed.markets, liquidation_penalty=pen))
    fams = [Family(random_paths(params, 1, n=20))]
    doc = impact_comparison(params, proposed, state, fams)
    _assert_same_doc(doc["protection"], _protection_of_full_runs(params, proposed, state, fams))

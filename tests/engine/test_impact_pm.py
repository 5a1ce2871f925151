"""§15 impact with portfolio-margin accounts on both sides (RISK_MODEL §14, §15).

The PM side of each comparison equals the PM kernels run directly (``portfolio_margin``,
``pm_path_stress``) merged into the bracket side, with the current and the proposed PM
parameters; a higher contingency never lowers PM margin (hypothesis).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskgov.engine.health import evaluate_health
from riskgov.engine.impact import Family, changed_underlyings, impact_comparison, impact_cost
from riskgov.engine.path_stress import run_path_stress
from riskgov.engine.paths import gap_paths, trend_paths
from riskgov.engine.pm_venue import merge_health, merge_path_stress, pm_path_stress, with_pm_params
from riskgov.engine.portfolio_margin import PMParams, portfolio_margin
from riskgov.engine.scenarios import uniform_scenarios
from riskgov.engine.types import EngineInputError
from tests.engine.test_pm_venue import split, venue

STRICT = PMParams(price_range=0.25, short_option_contingency=0.02)


def pm_sides(proposed_pm: PMParams = STRICT):
    params, state, options, marks = venue()
    v = split(params, state, options, marks)
    return params, v, with_pm_params(v, {"BTC": proposed_pm})


def families(params):
    return [
        Family(gap_paths(uniform_scenarios(params.assets, [-0.3, -0.1, 0.1, 0.3]))),
        Family(trend_paths(params.assets, [-0.3, 0.3])),
    ]


def test_with_pm_params_replaces_only_the_parameters():
    _, v, p = pm_sides()
    assert p.market.params == (STRICT,) and v.market.params == (PMParams(),)
    assert p.book is v.book and p.cross_state is v.cross_state
    with pytest.raises(EngineInputError, match="no PM parameters for underlying BTC"):
        with_pm_params(v, {"ETH": STRICT})


def test_pm_change_cost_and_protection_equal_the_pm_kernels():
    params, cur, prop = pm_sides()
    fams = families(params)
    doc = impact_comparison(params, params, cur.cross_state, fams, pm_current=cur, pm_proposed=prop)
    assert doc["changed_markets"] == [] and doc["changed_underlyings"] == ["BTC"] and doc["frontier"] == []
    rc, rp = portfolio_margin(market=cur.market, book=cur.book), portfolio_margin(market=prop.market, book=prop.book)
    cost = doc["cost"]
    (btc,) = cost["per_underlying"]
    d_mm = float(rp.maintenance_margin.sum() - rc.maintenance_margin.sum())
    d_im = float(rp.initial_margin.sum() - rc.initial_margin.sum())
    assert d_mm > 0 and d_im > 0 and btc["risk_units"] == 2
    assert btc["delta_maintenance_margin_usd"] == pytest.approx(d_mm, rel=1e-12)
    assert cost["delta_maintenance_margin_usd"] == pytest.approx(d_mm, rel=1e-9)
    assert cost["delta_initial_margin_usd"] == pytest.approx(d_im, rel=1e-9)
    hp = merge_health(evaluate_health(params, cur.cross_state), rp, prop)
    hc = merge_health(evaluate_health(params, cur.cross_state), rc, cur)
    assert cost["newly_liquidatable_accounts"] == int((hp.accounts.liquidatable & ~hc.accounts.liquidatable).sum())
    for fam, prot in zip(fams, doc["protection"], strict=True):
        cross = run_path_stress(params, cur.cross_state, fam.paths)
        px = cur.cross_state.asset_prices
        for side, v in (("current", cur), ("proposed", prop)):
            ref = merge_path_stress(
                cross, pm_path_stress(params=params, venue=v, asset_prices=px, paths=fam.paths.shocks)
            )
            assert prot[side]["worst_shortfall_usd"] == pytest.approx(float(ref.shortfall.max()), rel=1e-12)
            assert prot[side]["mean_shortfall_usd"] == pytest.approx(float(ref.shortfall.mean()), rel=1e-12)


def test_unchanged_pm_side_gives_zero_pm_deltas_and_needs_both_sides():
    params, cur, _ = pm_sides()
    doc = impact_comparison(params, params, cur.cross_state, families(params), pm_current=cur, pm_proposed=cur)
    assert doc["changed_underlyings"] == [] and doc["cost"]["per_underlying"] == []
    assert doc["cost"]["delta_maintenance_margin_usd"] == 0.0
    assert all(p["delta_es_usd"] == 0.0 for p in doc["protection"])
    with pytest.raises(EngineInputError, match="both current and proposed"):
        impact_cost(params, params, cur.cross_state, pm_current=cur)


@settings(max_examples=25, deadline=None)
@given(
    so=st.floats(0.0, 0.05),
    extra=st.floats(0.0, 0.05),
    perp=st.floats(0.0, 0.05),
)
def test_a_higher_contingency_never_lowers_pm_margin(so, extra, perp):
    base = replace(PMParams(), short_option_contingency=so, perp_contingency=perp)
    params, cur, _ = pm_sides()
    cur = with_pm_params(cur, {"BTC": base})
    prop = with_pm_params(cur, {"BTC": replace(base, short_option_contingency=so + extra)})
    cost = impact_cost(params, params, cur.cross_state, pm_current=cur, pm_proposed=prop)
    assert cost["delta_maintenance_margin_usd"] >= -1e-9 and cost["delta_initial_margin_usd"] >= -1e-9
    assert cost["no_longer_liquidatable_accounts"] == 0
    assert changed_underlyings(cur, prop) == (["BTC"] if so + extra != so else [])

"""presentation.impact: a frozen impact document in, formatted rows out (pure, no database)."""

import re

from riskgov.presentation.figures.svg import nice_ticks
from riskgov.presentation.impact import frontier_csv, impact_view

PROTECTION = {
    "family": "path_1d",
    "alpha": 0.99,
    "scenarios": 1234,
    "current": {"es_usd": 0.0, "var_usd": 0.0, "coverage_at_es": None, "mean_bankrupt_accounts": 0.5},
    "proposed": {"es_usd": 2500.4, "var_usd": 2000.0, "coverage_at_es": 16.0, "mean_bankrupt_accounts": 0.25},
    "delta_es_usd": 2500.4,
    "delta_var_usd": 2000.0,
    "delta_coverage_at_es": None,
    "delta_mean_shortfall_usd": -1e-12,
    "delta_mean_bankrupt_accounts": -0.25,
}
FRONTIER = {
    "market": "ETH-PERP",
    "family": "path_1d",
    "alpha": 0.99,
    "accounts": 12000,
    "points": [
        {"multiplier": m, "mm_usd": 1000.0 * m, "es_usd": 5000.0 / m, "current": m == 1.0} for m in (0.5, 1.0, 2.0)
    ],
    "current": {"mm_usd": 1000.0, "es_usd": 5000.0},
    "proposed": {"mm_usd": 2000.0, "es_usd": 2500.0},
}


def test_pending_and_failed_documents():
    assert impact_view(None, pending="waiting").state == "pending"
    assert impact_view({}, pending="waiting").pending == "waiting"
    failed = impact_view({"proposed": {"run": 3}, "error": "boom"})
    assert (failed.state, failed.error, failed.source) == ("failed", "boom", "proposed run #3")


def test_protection_figures_are_named_by_family_and_formatted():
    (fam,) = impact_view({"protection": [PROTECTION]}).protection
    rows = fam.by_key()
    assert rows["es_usd"].label == "ES 99 %, 1-day paths"
    assert (rows["es_usd"].current, rows["es_usd"].proposed, rows["es_usd"].delta) == ("$0", "$2,500", "+$2,500")
    assert rows["coverage_at_es"].current == "∞" and rows["coverage_at_es"].proposed == "1,600.0 %"
    assert rows["coverage_at_es"].delta == "—"  # ∞ → finite has no difference to state
    assert rows["mean_shortfall_usd"].delta == "$0"  # a rounding residue is no change
    assert rows["mean_bankrupt_accounts"].delta == "-0.25" and rows["es_usd"].up is True
    assert fam.caption.startswith("1-day paths — 1,234 scenarios")


def test_frontier_points_mark_current_and_proposed_and_draw_an_svg():
    (fr,) = impact_view({"frontier": [FRONTIER]}).frontiers
    assert [(p.table, p.mm, p.es, p.mark) for p in fr.points] == [
        ("×0.5", "$500", "$10,000", ""),
        ("×1", "$1,000", "$5,000", "current"),
        ("×2", "$2,000", "$2,500", "proposed"),
        ("current table", "$1,000", "$5,000", "current"),
        ("proposed table", "$2,000", "$2,500", "proposed"),
    ]
    assert fr.accounts == "12,000" and fr.es_label == "ES 99 % of shortfall, 1-day paths"
    assert fr.svg.startswith("<svg") and fr.svg.count("<polygon") == 2  # proposed marker + its legend
    assert "$10,000" in fr.svg and not re.search(r">[^<]*\d\.\d{4,}[^<]*<", fr.svg)
    lines = frontier_csv({"frontier": [FRONTIER]}).splitlines()
    assert lines[0] == "market,table,multiplier,mm_usd,es_usd,marked"
    assert lines[2] == "ETH-PERP,bracket table × multiplier,1.0,1000.0,5000.0,current"
    assert lines[-1] == "ETH-PERP,proposed table,,2000.0,2500.0,proposed"


def test_an_unknown_document_is_formatted_not_dumped():
    view = impact_view(
        {"weird": {"deep": {"before": 1.5, "after": 2.25}}, "flag": True, "n_items": 12345, "xs": [0.123456789, 7]}
    )
    rows = {r.key: r for r in view.other}
    assert (rows["weird.deep"].current, rows["weird.deep"].proposed, rows["weird.deep"].delta) == (
        "1.50",
        "2.25",
        "+0.75",
    )
    assert rows["flag"].proposed == "yes" and rows["n_items"].proposed == "12,345"
    assert rows["xs"].proposed == "0.123, 7"


def test_nice_ticks_cover_the_range():
    ticks = nice_ticks(4744.9, 28470.0)
    assert ticks[0] <= 4744.9 and ticks[-1] >= 28470.0 and len(ticks) <= 7
    assert nice_ticks(5.0, 5.0)[0] < 5.0 < nice_ticks(5.0, 5.0)[-1]


def test_the_raw_number_scanner_skips_the_code_version_but_not_scientific_notation():
    """A commit id like ``7788e94`` (digits, one ``e``, digits) is the run's code version, an id;
    ``1e18`` or ``+0E-9`` shown on a page are numbers without the presentation rule."""
    from riskgov.health.services._base import code_version
    from tests.raw_numbers import _code_ids, raw_numbers

    ids = _code_ids()  # empty outside a git checkout (the package version has no hex id)
    assert all(i in code_version() for i in ids)
    assert [raw_numbers(f"code {i}") for i in ids] == [[] for _ in ids]
    assert raw_numbers("code 7788e94") == (["7788e94"] if not any("7788e94" in i for i in ids) else [])
    assert raw_numbers("IMF 1e18 and +0E-9") == ["1e18", "0E-9"]


def test_pm_cost_per_underlying_is_formatted():
    doc = {
        "format": "riskgov.impact/1",
        "proposed": {"run": 7},
        "changed_markets": [],
        "changed_underlyings": ["BTC"],
        "cost": {
            "delta_initial_margin_usd": 123456.789,
            "delta_maintenance_margin_usd": 98765.4321,
            "per_market": [],
            "per_underlying": [
                {
                    "underlying": "BTC",
                    "risk_units": 12345,
                    "delta_initial_margin_usd": 123456.789,
                    "delta_maintenance_margin_usd": 98765.4321,
                },
                {
                    "underlying": "ETH",
                    "risk_units": 3,
                    "delta_initial_margin_usd": -0.001,
                    "delta_maintenance_margin_usd": 0.0,
                },
            ],
        },
    }
    v = impact_view(doc)
    assert v.changed_underlyings == "BTC" and v.cost_markets == []
    btc, eth = v.cost_underlyings
    assert (btc.underlying, btc.risk_units, btc.delta_im, btc.delta_mm, btc.up) == (
        "BTC",
        "12,345",
        "+$123,457",
        "+$98,765",
        True,
    )
    assert (eth.delta_im, eth.up) == ("$0", None)
    assert not [r for r in v.other if "underlying" in r.label.lower()]  # not dumped into "other"

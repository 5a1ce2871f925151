"""Stress and coverage: every standard scenario, shortfall vs shock, the historical
distribution with VaR/ES, the cascade of the worst scenario and its ADL exposure."""

from __future__ import annotations

import dash
from dash import html

from dashboards import components as c
from riskgov.health import selectors
from riskgov.presentation import formats
from riskgov.presentation.figures import health as hf

dash.register_page(__name__, path="/stress", title="Stress and coverage · riskgov", name="Stress and coverage", order=2)

SCENARIO_COLUMNS = list(selectors.SCENARIO_FIELDS)
TABLE = [
    ("Scenario", "name"),
    ("Kind", "kind"),
    ("Liquidated accounts", "liquidatable_accounts"),
    ("Bankrupt accounts", "bankrupt_accounts"),
    ("Shortfall (USD)", "shortfall_usd"),
    ("Insurance fund after (USD)", "insurance_fund_after_usd"),
    ("ADL (USD)", "adl_usd"),
    ("Coverage", "coverage"),
]


def layout(run: str | None = None, **_kwargs):
    """Scenarios, tail, cascade and ADL of a published run (``?run=``)."""
    obj = selectors.published_run(run, with_json=("cascade", "adl"))
    if obj is None:
        return html.Div([html.H1("Stress and coverage"), c.no_run()])
    rows = [r.as_dict() for r in selectors.run_scenario_rows(obj)]
    standard = [r for r in rows if r["kind"] != "historical"]
    tail = [r for r in rows if r["in_tail"]]
    fund = obj.insurance_fund_usd or 0.0
    alpha = obj.tail_alpha or 0.99
    table_rows = [
        {
            **r,
            "shortfall_usd": formats.rounded_money(r["shortfall_usd"]),
            "insurance_fund_after_usd": formats.rounded_money(r["insurance_fund_after_usd"]),
            "adl_usd": formats.rounded_money(r["adl_usd"]),
            "coverage": c.ratio(r["coverage_ratio"]),
        }
        for r in standard
    ]
    cascade, adl = obj.cascade or {}, obj.adl or {}
    return html.Div(
        [
            html.H1("Stress and coverage"),
            c.run_header(obj),
            c.cards(
                [
                    c.card("stress-var", f"VaR {alpha:.1%}", c.usd(obj.var_usd), f"k = {obj.tail.get('k')}"),
                    c.card("stress-es", f"ES {alpha:.1%}", c.usd(obj.es_usd)),
                    c.card("stress-cover2", "Cover-2", c.usd(obj.cover2_usd)),
                    c.card("stress-fund", "Insurance fund", c.usd(fund)),
                    c.card("stress-coverage-es", "Coverage at ES", c.ratio(obj.coverage_at_es)),
                    c.card("stress-worst", "Worst scenario", str(obj.tail.get("worst_scenario") or "—")),
                ]
            ),
            c.chart("stress-scenarios", hf.scenario_bars_figure(standard, fund), standard, SCENARIO_COLUMNS),
            html.Div(
                [
                    c.chart(
                        "stress-shock",
                        hf.shock_curve_figure(rows),
                        [r for r in rows if r["shock"] is not None],
                        SCENARIO_COLUMNS,
                    ),
                    c.chart(
                        "stress-tail",
                        hf.tail_figure(
                            [r["shortfall_usd"] for r in tail],
                            var=obj.var_usd or 0.0,
                            es=obj.es_usd or 0.0,
                            insurance_fund=fund,
                            alpha=alpha,
                        ),
                        tail,
                        SCENARIO_COLUMNS,
                    ),
                ],
                className="grid2",
            ),
            html.H2("Cascade and ADL of the worst scenario"),
            html.P(
                f"{cascade.get('n_rounds', 0)} rounds, {c.count(cascade.get('liquidated_accounts'))} accounts"
                f" liquidated, shortfall {c.usd(cascade.get('shortfall_usd'))}, ADL {c.usd(cascade.get('adl_usd'))}"
                f" ({'converged' if cascade.get('converged') else 'round limit reached'}).",
                id="cascade-summary",
            )
            if cascade
            else html.P("No cascade: no scenario produced a shortfall.", className="muted"),
            html.Div(
                [
                    c.chart(
                        "stress-cascade",
                        hf.cascade_figure(cascade) if cascade else None,
                        cascade.get("rounds", []),
                        ["round", "liquidated_accounts", "liquidated_units", "shortfall_usd", "penalties_usd"],
                    ),
                    c.chart(
                        "stress-adl",
                        hf.adl_figure(adl) if adl else None,
                        adl.get("by_market", []),
                        ["market", "shortfall_longs_usd", "shortfall_shorts_usd", "adl_longs_usd", "adl_shorts_usd"],
                    ),
                ],
                className="grid2",
            ),
            html.H2("Standard scenarios"),
            c.table("stress-table", table_rows, TABLE),
        ]
    )

"""Dashboards start: every page with what it answers, and the latest published run."""

import dash
from dash import dcc, html

from dashboards import components as c
from riskgov.health import selectors

dash.register_page(__name__, path="/", title="Dashboards · riskgov", name="Dashboards")

#: what each page answers (README "Dashboards"), by path
ABOUT = {
    "/overview": "Key figures of the latest run coloured against the alert thresholds, their history, freshness, inputs.",
    "/accounts": "Margin-ratio distribution, liquidation map per market, the riskiest accounts and their positions.",
    "/stress": "Shortfall and insurance fund after each scenario, VaR/ES, cascade rounds and ADL exposure.",
    "/impact": "A proposal's frozen impact: current against proposed totals, tail and newly liquidatable accounts.",
    "/portfolio": "Per underlying, the PM book's Greeks, the riskiest PM accounts' loss grids and the worst scenarios.",
    "/model-health": "§12 recommended against current MMF/IMF per market, backtest exceedances and Kupiec's test.",
    "/parameters": "Per market, the version timeline and bracket curves against the Binance, Hyperliquid and dYdX tables.",
}


def layout(**_kwargs):
    """A card per dashboard page (the shared page bar is above every page)."""
    run = selectors.latest_published_run()
    pages = [p for p in dash.page_registry.values() if p["path"] in ABOUT]
    head = [html.H1("Dashboards")]
    head.append(
        html.P(
            f"Every page reads the latest published health run (#{run.pk}, published {run.published_at:%Y-%m-%d %H:%M} UTC) "
            "or the one named by ?run=<id>.",
            className="muted",
            id="dash-index-run",
        )
        if run is not None
        else c.no_run()
    )
    return html.Div(
        [
            *head,
            html.Div(
                [
                    dcc.Link(
                        html.Div(
                            [
                                html.Div(p["name"], className="kpi-value"),
                                html.Div(ABOUT[p["path"]], className="kpi-note"),
                            ]
                        ),
                        href=p["relative_path"],
                        className="kpi dash-card",
                        id=f"dash-card{p['path'].replace('/', '-')}",
                    )
                    for p in pages
                ],
                className="kpis",
            ),
        ]
    )

"""Portfolio margin per underlying (RISK_MODEL §14): the venue's PM Greeks, the loss grid of
the riskiest PM accounts as a heat map, the worst scenarios of the venue's PM book, and what
the run does not cover yet for PM accounts. ``?underlying=BTC`` (default: the first), ``?run=``."""

from __future__ import annotations

import dash
from dash import dcc, html

from dashboards import components as c
from riskgov.health import selectors
from riskgov.presentation import formats
from riskgov.presentation.figures import portfolio as pf

dash.register_page(__name__, path="/portfolio", title="Portfolio margin · riskgov", name="Portfolio margin", order=4)

RISKIEST_TABLE = [
    ("Account", "account_id"),
    ("Margin ratio (MM / E)", "ratio"),
    ("Equity (USD)", "equity"),
    ("Maintenance margin (USD)", "mm"),
    ("Worst loss on this underlying (USD)", "worst"),
]
WORST_TABLE = [("Scenario (move, vol)", "scenario"), ("Venue PM loss (USD)", "loss")]


def _links(run_pk: int, symbols: list[str], current: str) -> html.Div:
    return html.Div(
        [
            html.Strong(s) if s == current else dcc.Link(s, href=f"/dash/portfolio?run={run_pk}&underlying={s}")
            for s in symbols
        ],
        className="subnav",
        id="portfolio-underlyings",
    )


def layout(run: str | None = None, underlying: str | None = None, **_kwargs):
    """The PM book of one underlying in a published run."""
    obj = selectors.published_run(run)
    if obj is None:
        return html.Div([html.H1("Portfolio margin"), c.no_run()])
    pm = selectors.run_portfolio_margin(obj)
    books = (pm or {}).get("underlyings") or {}
    if not books:
        return html.Div(
            [
                html.H1("Portfolio margin"),
                c.run_header(obj),
                html.P("No account in portfolio margin mode in this run.", id="portfolio-none", className="muted"),
            ]
        )
    symbols = list(books)
    symbol = underlying if underlying in books else symbols[0]
    book = books[symbol]
    worst = pf.worst_scenario_rows(book)
    riskiest = [
        {
            "account_id": r["account_id"],
            "ratio": formats.ratio(r["margin_ratio"]),
            "equity": formats.money(r["equity_usd"]),
            "mm": formats.money(r["maintenance_margin_usd"]),
            "worst": formats.money(r["worst_loss_usd"]),
        }
        for r in book["riskiest"]
    ]
    labels = pf.scenario_labels(book["grid"])
    grid_rows = [
        {"account_id": r["account_id"], **{lab: x for lab, x in zip(labels, r["loss_usd"], strict=True)}}
        for r in book["riskiest"]
    ]
    return html.Div(
        [
            html.H1(f"Portfolio margin · {symbol}"),
            c.run_header(obj),
            _links(obj.pk, symbols, symbol),
            c.cards(
                [
                    c.card("pm-accounts", "PM accounts (all underlyings)", c.count(pm["accounts"])),
                    c.card("pm-units", f"Accounts with a {symbol} book", c.count(book["units"])),
                    c.card("pm-liquidatable", "PM accounts liquidatable", c.count(pm["liquidatable"])),
                    c.card("pm-mm", f"{symbol} maintenance margin", c.usd(book["maintenance_margin_usd"])),
                    c.card("pm-value", f"{symbol} option value (Σ q·V)", c.usd(book["option_value_usd"])),
                ]
            ),
            html.H2("Venue Greeks of the PM book"),
            c.cards(
                [
                    c.card("pm-delta", f"Delta ({symbol})", formats.number(book["delta"]), "perps included"),
                    c.card("pm-gamma", f"Gamma (per USD of {symbol})", formats.number(book["gamma"], 6)),
                    c.card("pm-vega", "Vega (per 1 vol point)", c.usd(book["vega_usd"])),
                    c.card("pm-theta", "Theta (per day)", c.usd(book["theta_usd"])),
                ]
            ),
            html.H2("Loss grid of the riskiest PM accounts"),
            c.chart(
                "portfolio-heatmap",
                pf.riskiest_heatmap_figure(book, symbol),
                grid_rows,
                ["account_id", *labels],
            ),
            c.table("portfolio-riskiest", riskiest, RISKIEST_TABLE),
            html.H2("Worst scenarios of the venue's PM book"),
            c.chart("portfolio-worst", pf.worst_scenarios_figure(worst, symbol), worst, ["scenario", "loss_usd"]),
            c.table("portfolio-worst-table", worst, WORST_TABLE),
            html.H2("Covered for PM accounts"),
            html.Ul([html.Li(s) for s in pm.get("covered", [])], id="portfolio-covered"),
            html.H2("Not covered yet for PM accounts"),
            html.Ul([html.Li(s) for s in pm["not_covered"]], id="portfolio-not-covered"),
        ]
    )

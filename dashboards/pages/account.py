"""Account detail: one account of a run, its positions with liquidation and bankruptcy prices."""

from __future__ import annotations

import dash
from dash import html

from dashboards import components as c
from riskgov.health import selectors

dash.register_page(__name__, path="/account", title="Account · riskgov", name="Account detail", order=9)

POSITION_COLUMNS = [
    ("Market", "market_symbol"),
    ("Size (base units)", "size"),
    ("Notional (USD)", "notional_usd"),
    ("IM (USD)", "initial_margin_usd"),
    ("MM (USD)", "maintenance_margin_usd"),
    ("Liquidation price (USD)", "liquidation_price"),
    ("Bankruptcy price (USD)", "bankruptcy_price"),
]


def layout(run: str | None = None, idx: str | None = None, **_kwargs):
    """One account of a published run (``?run=``, ``?idx=`` its dense index) and its positions."""
    obj = selectors.published_run(run)
    if obj is None:
        return html.Div([html.H1("Account"), c.no_run()])
    acc, positions = selectors.run_account(obj, idx)
    if acc is None:
        return html.Div([html.H1("Account"), html.P(f"No account #{idx} in run #{obj.pk}.", id="no-account")])
    return html.Div(
        [
            html.H1(f"Account {acc.account_id}"),
            c.run_header(obj),
            c.cards(
                [
                    c.card("acct-equity", "Equity", c.usd(acc.equity_usd)),
                    c.card("acct-im", "Initial margin", c.usd(acc.initial_margin_usd)),
                    c.card("acct-mm", "Maintenance margin", c.usd(acc.maintenance_margin_usd)),
                    c.card("acct-ratio", "Margin ratio (MM / E)", c.ratio(acc.margin_ratio)),
                    c.card(
                        "acct-state",
                        "State",
                        "bankrupt" if acc.bankrupt else "liquidatable" if acc.liquidatable else "healthy",
                    ),
                    c.card("acct-shortfall", "Shortfall", c.usd(acc.shortfall_usd)),
                    c.card(
                        "acct-stress-shortfall",
                        "Stress shortfall",
                        "not computed" if acc.stress_shortfall_usd is None else c.usd(acc.stress_shortfall_usd),
                        (acc.stress_scenario or "no gap scenario leaves a shortfall")
                        if acc.stress_shortfall_usd is not None
                        else "",
                    ),
                ]
            ),
            html.H2("Positions"),
            # every position on one page, wrapped cells, the table scrolls inside its box
            c.table(
                "account-positions",
                positions,
                POSITION_COLUMNS,
                page_size=max(25, len(positions)),
                style_data={"whiteSpace": "normal", "height": "auto"},
                style_header={"whiteSpace": "normal", "height": "auto"},
            ),
            html.P(html.A("← Accounts", href=f"/dash/accounts?run={obj.pk}")),
        ]
    )

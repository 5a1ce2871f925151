"""Parameters page: per market, the version timeline and bracket curves, compared with the
real venue tables loaded as references (Binance, Hyperliquid, dYdX). Read-only."""

import dash
from dash import Input, Output, State, callback, dash_table, dcc, html

from dashboards import components as c
from riskgov.core.roles import ANALYST
from riskgov.parameters import selectors
from riskgov.presentation import exports
from riskgov.presentation.figures import brackets as figures

dash.register_page(__name__, path="/parameters", title="Parameters · riskgov", name="Parameters", order=5)


def layout(market: str | None = None, **_kwargs):
    """Market picker (``?market=``), bracket charts and the version timeline."""
    markets = [v.market.symbol for v in selectors.active_market_versions()]
    chosen = market if market in markets else (markets[0] if markets else None)
    mmf, leverage, mm, versions = show_market(chosen)  # drawn here: no callback round trip on load
    return html.Div(
        [
            html.H1("Parameters"),
            html.P("Our active brackets against the real venue tables loaded for comparison.", className="muted"),
            html.Div(
                c.action_link("Propose a parameter change", "/proposals/new/", ANALYST, link_id="propose-link"),
                style={"marginBottom": "1rem"},
            ),
            html.Label("Market", htmlFor="parameters-market", style={"display": "block", "marginBottom": ".25rem"}),
            dcc.Dropdown(
                id="parameters-market", options=markets, value=chosen, clearable=False, style={"maxWidth": "320px"}
            ),
            html.Div(
                [
                    dcc.Graph(id="parameters-mmf", figure=mmf),
                    dcc.Graph(id="parameters-leverage", figure=leverage),
                    dcc.Graph(id="parameters-mm", figure=mm),
                ],
                className="charts",
            ),
            html.Button("Download bracket data (CSV)", id="parameters-download-button"),
            dcc.Download(id="parameters-download"),
            html.H2("Version timeline"),
            dash_table.DataTable(
                id="parameters-versions",
                data=versions,
                columns=[
                    {"name": n, "id": i}
                    for n, i in [
                        ("Version", "number"),
                        ("Status", "status"),
                        ("Brackets", "brackets"),
                        ("Created", "created"),
                        ("Activated", "activated"),
                        ("Superseded", "superseded"),
                        ("By", "by"),
                        ("Reason", "reason"),
                    ]
                ],
                sort_action="native",
                export_format="csv",
                style_cell={"textAlign": "left", "fontFamily": "system-ui"},
                style_cell_conditional=[{"if": {"column_id": k}, "textAlign": "right"} for k in ("number", "brackets")],
            ),
        ]
    )


def _curves(market: str):
    versions = list(selectors.market_versions(markets=[market]))
    active = [v for v in versions if v.status == "active"]
    # the two versions the active one replaced, for the timeline of the curves
    past = sorted((v for v in versions if v.superseded_at), key=lambda v: v.superseded_at, reverse=True)[:2]
    ours = [
        selectors.market_version_curve(v, label=f"riskgov v{v.number} (until {v.superseded_at:%Y-%m-%d})")
        for v in reversed(past)
    ]
    ours += [selectors.market_version_curve(v, label=f"riskgov v{v.number} (active)") for v in active]
    # references first, ours last: drawn on top and listed last in the legend
    return versions, selectors.reference_curves(market=market) + ours


@callback(
    Output("parameters-mmf", "figure"),
    Output("parameters-leverage", "figure"),
    Output("parameters-mm", "figure"),
    Output("parameters-versions", "data"),
    Input("parameters-market", "value"),
    prevent_initial_call=True,
)
def show_market(market):
    """Bracket charts (MMF, max leverage, MM) and version timeline of one market (the layout
    draws the first market; this redraws on a change of market)."""
    if not market:
        return {}, {}, {}, []
    versions, curves = _curves(market)
    rows = [
        {
            "number": v.number,
            "status": v.status,
            "brackets": len(v.brackets.all()),
            "created": f"{v.created_at:%Y-%m-%d %H:%M}",
            "activated": f"{v.activated_at:%Y-%m-%d %H:%M}" if v.activated_at else "",
            "superseded": f"{v.superseded_at:%Y-%m-%d %H:%M}" if v.superseded_at else "",
            "by": v.created_by_name or "system",
            "reason": v.reason,
        }
        for v in versions
    ]
    return (
        figures.bracket_curves_figure(curves, market=market, measure="mmf"),
        figures.bracket_curves_figure(curves, market=market, measure="leverage"),
        figures.maintenance_margin_figure(curves, market=market),
        rows,
    )


@callback(
    Output("parameters-download", "data"),
    Input("parameters-download-button", "n_clicks"),
    State("parameters-market", "value"),
    prevent_initial_call=True,
)
def download(_n, market):
    """The bracket data of the chosen market as CSV."""
    _, curves = _curves(market)
    return {"content": exports.curves_csv(curves, market=market), "filename": f"{market}-brackets.csv"}

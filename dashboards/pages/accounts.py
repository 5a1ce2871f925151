"""Accounts: margin-ratio distribution, liquidation map per market, riskiest accounts (ranked
by margin ratio, stress shortfall or notional).

Everything here is precomputed at run time (``HealthRun.distributions``) or read through an
index (the riskiest accounts); no callback reads all accounts of a run.
"""

from __future__ import annotations

from urllib.parse import urlencode

import dash
from dash import Input, Output, State, callback, dcc, html

from dashboards import components as c
from riskgov.health import selectors
from riskgov.presentation import formats
from riskgov.presentation.figures import health as hf

dash.register_page(__name__, path="/accounts", title="Accounts · riskgov", name="Accounts", order=1)

RISKIEST = 200
MAP_COLUMNS = ["market", "side", "distance_from_mark_pct", "price_usd", "notional_usd"]
ACCOUNT_COLUMNS = [
    ("Account", "account_link"),
    ("Margin ratio (%)", "margin_ratio_pct"),
    # the stress columns next to the margin ratio: on screen at 1280 px, not beyond Shortfall
    ("Stress shortfall (USD)", "stress_shortfall_usd"),
    ("Stress scenario", "stress_scenario"),
    ("Equity (USD)", "equity_usd"),
    ("Notional (USD)", "notional_usd"),
    ("IM (USD)", "initial_margin_usd"),
    ("MM (USD)", "maintenance_margin_usd"),
    ("Liquidatable", "liquidatable"),
    ("Bankrupt", "bankrupt"),
    ("Shortfall (USD)", "shortfall_usd"),
]
#: the rankings offered (``selectors.ACCOUNT_RANKINGS``): value → label
RANKINGS = {"margin_ratio": "margin ratio", "stress_shortfall": "stress shortfall", "notional": "notional"}
NOT_COMPUTED = "not computed"


def _map_rows(market: str, m: dict, lm: dict) -> list[dict]:
    rows = []
    for side in ("long", "short"):
        for i, notional in enumerate(m[side]):
            if notional:
                pct = lm["low_pct"] + lm["step_pct"] * i
                rows.append(
                    {
                        "market": market,
                        "side": side,
                        "distance_from_mark_pct": pct,
                        "price_usd": m["mark_price"] * (1 + (pct + lm["step_pct"] / 2) / 100),
                        "notional_usd": notional,
                    }
                )
    return rows


def account_rows(run, limit: int = RISKIEST, rank: str = "margin_ratio") -> list[dict]:
    """The riskiest accounts by ``rank`` (selector, index scan) as table rows: margin ratio in
    percent (``None`` = ∞), USD rounded to cents (stress shortfall ``None`` = not computed),
    the stress scenario's name (``—`` when no scenario leaves a shortfall), a link to the
    account page."""
    rows = selectors.run_riskiest_accounts(run, limit=limit, rank=rank)
    for r in rows:
        query = urlencode({"run": run.pk, "idx": r["account_idx"]})
        r["account_link"] = f"[{r['account_id']}](/dash/account?{query})"
        r["margin_ratio_pct"] = formats.percent_value(r["margin_ratio"])
        for k in (
            "equity_usd",
            "notional_usd",
            "initial_margin_usd",
            "maintenance_margin_usd",
            "shortfall_usd",
            "stress_shortfall_usd",
        ):
            r[k] = formats.rounded_money(r[k])
        if r["stress_shortfall_usd"] is None:
            r["stress_scenario"] = NOT_COMPUTED
        else:
            r["stress_scenario"] = r["stress_scenario"] or formats.MISSING
        r["liquidatable"] = "yes" if r["liquidatable"] else "no"
        r["bankrupt"] = "yes" if r["bankrupt"] else "no"
    return rows


def riskiest_table(run, rank: str = "margin_ratio") -> list:
    """The heading, note and table of the riskiest accounts ranked by ``rank``."""
    rank = rank if rank in RANKINGS else "margin_ratio"
    rows = account_rows(run, rank=rank)
    note = {
        "margin_ratio": "Margin ratio MM/E descending (RISK_MODEL §5); ∞ (no equity left) first.",
        "stress_shortfall": "Stress shortfall: the account's largest shortfall over this run's gap"
        " scenarios (RISK_MODEL §8, §9), with the scenario that gives it; accounts where it is not"
        " computed are not ranked.",
        "notional": "Gross position notional Σ|N| descending.",
    }[rank]
    return [
        html.H2(f"Riskiest accounts (top {c.count(len(rows))} by {RANKINGS[rank]})", id="accounts-riskiest-title"),
        html.P(note, id="accounts-rank-note", className="muted"),
        c.table(
            "accounts-riskiest",
            rows,
            ACCOUNT_COLUMNS,
            infinite_when_null=("margin_ratio_pct",),
            null_text={"stress_shortfall_usd": NOT_COMPUTED},
        ),
    ]


def layout(run: str | None = None, market: str | None = None, rank: str | None = None, **_kwargs):
    """Margin-ratio histogram, liquidation map and riskiest accounts of a published run
    (``?run=``, ``?market=``, ``?rank=`` margin_ratio | stress_shortfall | notional)."""
    obj = selectors.published_run(run, with_json=("distributions",))
    if obj is None:
        return html.Div([html.H1("Accounts"), c.no_run()])
    dist = obj.distributions or {}
    markets = list(dist.get("liquidation_map", {}).get("markets", {}))
    by_notional = sorted(
        markets, key=lambda s: -(dist["markets"][s]["long_notional_usd"] + dist["markets"][s]["short_notional_usd"])
    )
    chosen = market if market in markets else (by_notional[0] if by_notional else None)
    ratio = dist.get("margin_ratio")
    ratio_rows = []
    if ratio:
        edges = ratio["edges"]
        ratio_rows = [
            {"margin_ratio_from": a, "margin_ratio_to": b, "accounts": n}
            for a, b, n in zip(edges, [*edges[1:], None], ratio["counts"], strict=True)
        ] + [{"margin_ratio_from": "inf", "margin_ratio_to": "inf", "accounts": ratio["infinite"]}]
    rank = rank if rank in RANKINGS else "margin_ratio"
    map_figure, map_csv, map_note = show_map(chosen, obj.pk, obj)  # drawn here: no round trip on load
    return html.Div(
        [
            html.H1("Accounts"),
            c.run_header(obj),
            dcc.Store(id="accounts-run", data=obj.pk),
            html.P(
                f"{c.count(ratio['no_margin'])} accounts have no margin requirement (no positions);"
                " they are counted in the first bin.",
                id="accounts-no-margin",
                className="muted",
            )
            if ratio
            else None,
            c.chart(
                "accounts-ratio",
                hf.margin_ratio_figure(ratio) if ratio else None,
                ratio_rows,
                ["margin_ratio_from", "margin_ratio_to", "accounts"],
            ),
            html.H2("Liquidation map"),
            html.P(
                "Notional that would be liquidated if the market's price moved to each level, other prices"
                " unchanged (RISK_MODEL §7), from every position's liquidation price in this run.",
                className="muted",
            ),
            html.Label("Market", htmlFor="accounts-market"),
            dcc.Dropdown(
                id="accounts-market", options=by_notional, value=chosen, clearable=False, style={"maxWidth": "320px"}
            ),
            c.chart("accounts-map", map_figure, csv=map_csv),
            html.P(map_note, id="accounts-map-note", className="muted"),
            html.Label("Rank by", htmlFor="accounts-rank"),
            dcc.RadioItems(
                id="accounts-rank",
                options=[{"label": label, "value": value} for value, label in RANKINGS.items()],
                value=rank,
                inline=True,
            ),
            html.Div(riskiest_table(obj, rank), id="accounts-riskiest-box"),
        ]
    )


@callback(
    Output("accounts-riskiest-box", "children"),
    Input("accounts-rank", "value"),
    State("accounts-run", "data"),
    prevent_initial_call=True,
)
def rank_accounts(rank, run_id):
    """The riskiest-accounts table ranked by the chosen figure (margin ratio, stress shortfall
    or notional)."""
    obj = selectors.published_run(run_id)
    if obj is None:
        return [c.no_run()]
    return riskiest_table(obj, rank)


@callback(
    Output("accounts-map", "figure"),
    Output(c.store_id("accounts-map"), "data"),
    Output("accounts-map-note", "children"),
    Input("accounts-market", "value"),
    State("accounts-run", "data"),
    prevent_initial_call=True,
)
def show_map(market, run_id, run=None):
    """The liquidation map of one market: figure, its CSV and the note on notional not drawn
    (the layout draws the first market with the ``run`` it read; a change of market redraws)."""
    obj = run if run is not None else selectors.published_run(run_id, with_json=("distributions",))
    lm = (obj.distributions or {}).get("liquidation_map") if obj else None
    if not lm or market not in lm["markets"]:
        return {}, None, ""
    m = lm["markets"][market]
    note = (
        f"Liquidatable already (not drawn at a price): longs {c.usd(m.get('now_long', 0.0))},"
        f" shorts {c.usd(m.get('now_short', 0.0))}. Without a liquidation price or beyond ±50 %:"
        f" longs {c.usd(m['outside_long'])}, shorts {c.usd(m['outside_short'])}."
    )
    return (
        hf.liquidation_map_figure(market, m, low=lm["low_pct"], step=lm["step_pct"]),
        c.csv_store(f"liquidation-map-{market}", _map_rows(market, m, lm), MAP_COLUMNS),
        note,
    )

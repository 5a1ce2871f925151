"""Model health: per market, the §12 recommended MMF/IMF at the market's liquidation horizon
against the current ones and the backtest of the current MMF_1 (exceedances against the
expected count and Kupiec's POF test), stated in words, from the run's stored
recommendations. Runs stored before the liquidation horizon show their first-edition 1-/3-day
recommendation, labelled as such."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
from dash import html

from dashboards import components as c
from riskgov.core.roles import ANALYST
from riskgov.health import selectors
from riskgov.health.read_models import MarketHealth
from riskgov.presentation import formats
from riskgov.presentation.figures import health as hf

dash.register_page(__name__, path="/model-health", title="Model health · riskgov", name="Model health", order=4)

#: CSV columns of the charts (runs at the liquidation horizon)
HORIZON_COLUMNS = [
    "market",
    "asset",
    "horizon_minutes",
    "resolution",
    "source",
    "current_mmf",
    "mmf_rec",
    "current_imf",
    "imf_rec",
    "q_recent",
    "q_long",
    "n",
    "exceedances",
    "expected",
    "lr",
    "reject",
    "too_many",
    "too_low",
    "flagged",
    "status",
    "verdict",
]
HORIZON_TABLE = [
    ("Market", "market"),
    ("Horizon", "horizon_label"),
    ("Series", "series"),
    ("Current MMF", "current_mmf_pct"),
    ("Rec. MMF", "mmf_rec_pct"),
    ("Current IMF", "current_imf_pct"),
    ("Rec. IMF", "imf_rec_pct"),
    ("Q recent (365 d)", "q_recent_pct"),
    ("Q long (≤ 10 y)", "q_long_pct"),
    ("Lookbacks", "lookbacks"),
    ("n", "n"),
    ("x", "exceedances"),
    ("expected x", "expected_txt"),
    ("Kupiec LR", "lr_txt"),
    ("Status", "status"),
]
BRACKET_TABLE = [
    ("Market", "market"),
    ("Bracket", "bracket"),
    ("Floor (USD)", "floor_txt"),
    ("N⁺ (USD)", "upper_txt"),
    ("Slippage", "slippage_pct"),
    ("Current MMF", "current_mmf_pct"),
    ("Rec. MMF", "mmf_rec_pct"),
    ("Current IMF", "current_imf_pct"),
    ("Rec. IMF", "imf_rec_pct"),
]

COLUMNS = [
    "market",
    "current_mmf",
    "current_imf",
    "mmf_rec_h1",
    "imf_rec_h1",
    "mmf_rec_h3",
    "imf_rec_h3",
    "exceedances_h1",
    "windows_h1",
    "kupiec_h1",
    "reject_h1",
    "exceedances_h3",
    "windows_h3",
    "kupiec_h3",
    "reject_h3",
    "status",
]
TABLE = [
    ("Market", "market"),
    ("Current MMF", "current_mmf_pct"),
    ("Rec. MMF 1d", "mmf_rec_h1_pct"),
    ("Rec. MMF 3d", "mmf_rec_h3_pct"),
    ("Current IMF", "current_imf_pct"),
    ("Rec. IMF 1d", "imf_rec_h1_pct"),
    ("Rec. IMF 3d", "imf_rec_h3_pct"),
    ("Exceedances 1d", "exceed_h1"),
    ("Kupiec LR 1d", "kupiec_h1"),
    ("Exceedances 3d", "exceed_h3"),
    ("Kupiec LR 3d", "kupiec_h3"),
    ("Status", "status"),
]


def flatten(markets: list[MarketHealth]) -> list[dict]:
    """One table/chart row per market from ``selectors.run_model_health`` (presentation only:
    the flags are the selector's, i.e. ``engine.model_flags``)."""
    rows = []
    for m in markets:
        row = {"market": m.market, "current_mmf": m.current_mmf, "current_imf": m.current_imf}
        problems = []
        for h in m.horizons:
            k = f"h{h.horizon_days}"
            row.update(
                {
                    f"mmf_rec_{k}": h.mmf_rec,
                    f"imf_rec_{k}": h.imf_rec,
                    f"exceedances_{k}": h.exceedances,
                    f"windows_{k}": h.n,
                    f"kupiec_{k}": None if h.kupiec_lr is None else round(h.kupiec_lr, 3),
                    f"reject_{k}": h.backtest == "fail",
                }
            )
            if h.backtest == "fail":
                problems.append(f"backtest fails ({h.horizon_days}d)")
            if h.below_recommendation:
                problems.append(f"MMF below recommendation ({h.horizon_days}d)")
        for k in ("h1", "h3"):
            for col in ("mmf_rec", "imf_rec", "exceedances", "windows", "kupiec", "reject"):
                row.setdefault(f"{col}_{k}", None)
        row["status"] = "; ".join(problems) or ("ok" if m.horizons else m.note or "no history")
        row["flagged"] = m.flagged
        rows.append(row)
    return rows


def _minutes(m: float | None) -> str:
    if m is None:
        return "—"
    if m >= 60 and m % 60 == 0:
        return f"{m / 60:g} h"
    return f"{m:g} min"


def _lookbacks(m: MarketHealth) -> str:
    """§12's two lookbacks in words: the last 365 days and the full history, each with its n."""
    if m.n_recent is None:
        return "—"
    return (
        f"last {formats.count(m.recent_days)} d (n = {formats.count(m.n_recent)}); "
        f"full {formats.count(m.long_days)} d (n = {formats.count(m.n_long)})"
        + (": the floor binds" if m.floor_binds else "")
    )


def horizon_rows(markets: list[MarketHealth]) -> list[dict]:
    """One row per market of a run at the liquidation horizon (edition 2; presentation only:
    the flags are the selector's, i.e. ``engine.model_flags``)."""
    rows = []
    for m in markets:
        bt = m.backtest
        problems = []
        if m.backtest_fails and bt is not None:
            problems.append(f"backtest rejects: {bt.exceedances:,} exceedances, expected {bt.expected:,.1f}")
        if m.below_recommendation:
            problems.append("MMF_1 below 75 % of the recommendation")
        status = "; ".join(problems) or ("ok" if m.has_recommendation else m.note or "no history")
        rows.append(
            {
                "market": m.market,
                "asset": m.asset,
                "horizon_minutes": m.horizon_minutes,
                "horizon_label": _minutes(m.horizon_minutes),
                "resolution": m.resolution,
                "source": m.source,
                "series": f"{m.resolution} {m.source}".strip() or "no history",
                "lookbacks": _lookbacks(m),
                "current_mmf": m.current_mmf,
                "current_imf": m.current_imf,
                "mmf_rec": m.mmf_rec,
                "imf_rec": m.imf_rec,
                "q_recent": m.q_recent,
                "q_long": m.q_long,
                "n": None if bt is None else bt.n,
                "exceedances": None if bt is None else bt.exceedances,
                "expected": None if bt is None else bt.expected,
                "lr": None if bt is None or bt.lr is None else round(bt.lr, 3),
                "reject": bool(bt and bt.reject),
                "too_many": bool(bt and bt.too_many),
                "too_low": bool(bt and bt.too_low),
                "flagged": m.flagged,
                "status": status,
                "verdict": m.verdict or f"{m.market}: {m.note or 'no history'}; not flagged.",
            }
        )
    return rows


def _horizon_layout(obj, markets: list[MarketHealth]):
    rows = horizon_rows(markets)
    table_rows = [
        {
            **r,
            "current_mmf_pct": c.fraction(r["current_mmf"]),
            "current_imf_pct": c.fraction(r["current_imf"]),
            "mmf_rec_pct": c.fraction(r["mmf_rec"]),
            "imf_rec_pct": c.fraction(r["imf_rec"]),
            "q_recent_pct": c.fraction(r["q_recent"]),
            "q_long_pct": c.fraction(r["q_long"]),
            "expected_txt": formats.number(r["expected"], 1),
            "lr_txt": formats.number(r["lr"], 2),
        }
        for r in rows
    ]
    brackets = [
        {
            "market": m.market,
            "bracket": b.bracket,
            "floor_txt": formats.money(b.notional_floor),
            "upper_txt": formats.money(b.upper_notional_usd),
            "slippage_pct": c.fraction(b.slippage),
            "current_mmf_pct": c.fraction(b.current_mmf),
            "mmf_rec_pct": c.fraction(b.mmf_rec),
            "current_imf_pct": c.fraction(b.current_imf),
            "imf_rec_pct": c.fraction(b.imf_rec),
        }
        for m in markets
        for b in m.brackets
    ]
    flagged = [r for r in rows if r["flagged"]]
    no_history = [r["market"] for r in rows if r["series"] == "no history"]
    links = [
        c.action_link(
            f"Propose a change to {r['market']}",
            "/proposals/new/?" + urlencode({"market": r["market"]}),
            ANALYST,
            link_id=f"propose-{r['market']}",
        )
        for r in flagged
    ]
    betas = sorted({m.beta for m in markets if m.beta is not None})
    beta = f"{betas[0]:g}" if len(betas) == 1 else "0.99"
    summary = (
        f"{len(flagged)} of {len(rows)} markets flagged at their liquidation horizon (RISK_MODEL §12): "
        + (", ".join(r["market"] for r in flagged) if flagged else "none")
        + ". A market is flagged when the backtest of its MMF_1 rejects with more exceedances than expected, "
        "or when MMF_1 is below 75 % of the recommended MMF_1."
    )
    method = (
        f"Q(h) = Q_β(|r_Δ|)·√(h/Δ) with β = {beta}, from each asset's finest real series of resolution Δ "
        "(hourly bars where stored, else daily closes), the larger of the last 365 days (Q recent) and the full "
        "history up to 10 years (Q long, the anti-procyclicality floor); MMF_rec,k = Q + slippage at the bracket's "
        "upper notional, IMF_rec,k = λ·MMF_rec,k with λ = 2. Backtest: the last 365 days of Δ-returns, "
        "n returns, x exceedances of the MMF_1 threshold against n·(1 − β) expected, Kupiec LR against 3.841."
    )
    return html.Div(
        [
            html.H1("Model health"),
            c.run_header(obj),
            html.P(summary, id="model-health-summary"),
            html.P(method, id="model-health-method", className="muted small"),
            html.P(f"No price history (nothing recommended): {', '.join(no_history)}.", id="model-health-no-history")
            if no_history
            else None,
            html.Div([x for x in links if x is not None], className="actions"),
            c.chart("model-recommendation", hf.horizon_recommendation_figure(rows), rows, HORIZON_COLUMNS),
            c.chart(
                "model-recommendation-imf", hf.horizon_recommendation_figure(rows, measure="imf"), rows, HORIZON_COLUMNS
            ),
            c.chart(
                "model-kupiec",
                hf.horizon_kupiec_figure(rows, critical=selectors.KUPIEC_CRITICAL),
                rows,
                HORIZON_COLUMNS,
            ),
            html.H2("Per market"),
            c.table("model-table", table_rows, HORIZON_TABLE),
            html.H2("Verdicts"),
            html.Ul([html.Li(r["verdict"]) for r in rows], id="model-verdicts"),
            html.H2("Per bracket"),
            c.table("model-brackets", brackets, BRACKET_TABLE),
        ]
    )


def layout(run: str | None = None, **_kwargs):
    """§12 recommended vs current MMF/IMF and the Kupiec backtest per market of a published run."""
    obj = selectors.published_run(run, with_json=("recommendations",))
    if obj is None:
        return html.Div([html.H1("Model health"), c.no_run()])
    markets = selectors.run_model_health(obj)
    if any(m.edition >= 2 for m in markets):
        return _horizon_layout(obj, markets)
    rows = flatten(markets)
    table_rows = [
        {
            **r,
            "current_mmf_pct": c.fraction(r["current_mmf"]),
            "current_imf_pct": c.fraction(r["current_imf"]),
            "imf_rec_h3_pct": c.fraction(r["imf_rec_h3"]),
            "mmf_rec_h1_pct": c.fraction(r["mmf_rec_h1"]),
            "imf_rec_h1_pct": c.fraction(r["imf_rec_h1"]),
            "mmf_rec_h3_pct": c.fraction(r["mmf_rec_h3"]),
            "exceed_h1": f"{r['exceedances_h1']} / {r['windows_h1']}" if r["windows_h1"] else "—",
            "exceed_h3": f"{r['exceedances_h3']} / {r['windows_h3']}" if r["windows_h3"] else "—",
        }
        for r in rows
    ]
    flagged = [r for r in rows if r["flagged"]]
    links = [
        c.action_link(
            f"Propose a change to {r['market']}",
            "/proposals/new/?" + urlencode({"market": r["market"]}),
            ANALYST,
            link_id=f"propose-{r['market']}",
        )
        for r in flagged
    ]
    return html.Div(
        [
            html.H1("Model health"),
            c.run_header(obj),
            html.P(
                "This run holds the first-edition 1-/3-day recommendation (1- and 3-day windows of daily "
                "closes, β = 0.995, λ = 2), stored before recommendations moved to the liquidation horizon; "
                "a new run recommends at each market's liquidation horizon.",
                id="model-health-edition",
                className="muted",
            ),
            html.P(
                f"{len(flagged)} of {len(rows)} markets have a first-bracket MMF below 75 % of the recommendation"
                " or fail the Kupiec backtest with more exceedances than expected (RISK_MODEL §12 rule).",
                id="model-health-summary",
            ),
            html.Div([x for x in links if x is not None], className="actions"),
            c.chart("model-recommendation", hf.recommendation_figure(rows), rows, COLUMNS),
            c.chart("model-recommendation-imf", hf.recommendation_figure(rows, measure="imf"), rows, COLUMNS),
            c.chart("model-kupiec", hf.kupiec_figure(rows, critical=selectors.KUPIEC_CRITICAL), rows, COLUMNS),
            html.H2("Per market"),
            c.table("model-table", table_rows, TABLE),
        ]
    )

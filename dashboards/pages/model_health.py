"""Model health: per market, the §12 recommended MMF/IMF against the current ones and the
backtest of the current MMF (exceedances and Kupiec's POF test), from the run's stored
recommendations."""

from __future__ import annotations

from urllib.parse import urlencode

import dash
from dash import html

from dashboards import components as c
from riskgov.core.roles import ANALYST
from riskgov.health import selectors
from riskgov.health.read_models import MarketHealth
from riskgov.presentation.figures import health as hf

dash.register_page(__name__, path="/model-health", title="Model health · riskgov", name="Model health", order=4)

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


def layout(run: str | None = None, **_kwargs):
    """§12 recommended vs current MMF/IMF and the Kupiec backtest per market of a published run."""
    obj = selectors.published_run(run, with_json=("recommendations",))
    if obj is None:
        return html.Div([html.H1("Model health"), c.no_run()])
    rows = flatten(selectors.run_model_health(obj))
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
                f"{len(flagged)} of {len(rows)} markets have a first-bracket MMF below the volatility-based"
                " recommendation or fail the Kupiec backtest (RISK_MODEL §12, β = 0.995, λ = 2).",
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

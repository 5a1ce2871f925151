"""Model validation: the margin model against the venue's real liquidations — the events
on a time line at the model's margin ratio, each liquidated account's ratio before its
liquidation, recall/precision/lead time, the MMF sensitivity and the worst misses
explained. Reads the latest stored liquidation backtest (``backtest_liquidations``)."""

from __future__ import annotations

import dash
from dash import html

from dashboards import components as c
from riskgov.presentation import formats
from riskgov.presentation.figures import validation as vf
from riskgov.snapshots.selectors import latest_backtest

dash.register_page(
    __name__, path="/model-validation", title="Model validation · riskgov", name="Model validation", order=5
)

EVENT_COLUMNS = ["time", "user", "predicted_liquidatable", "lead_minutes", "equity_error_usd", "mm_over_reported"]
MISSES = [
    ("Time (UTC)", "time"),
    ("Account", "user"),
    ("Equity error (USD)", "equity_error"),
    ("Model MM ÷ reported value", "mm_over_reported"),
    ("Fee bound (USD)", "fee_bound"),
    ("Oldest mark (min)", "mark_age"),
    ("Why missed", "explanation"),
]
SENSITIVITY = [
    ("MMF ×", "mmf_factor"),
    ("Detected", "detected"),
    ("Recall", "recall"),
    ("False alarms", "false_alarms"),
    ("Precision", "precision"),
    ("Reported value < model MM", "below"),
]


def layout(**_kwargs):
    """The latest stored backtest, or a note saying how to make one."""
    bt = latest_backtest()
    if bt is None:
        return html.Div(
            [
                html.H1("Model validation"),
                html.P(
                    "No liquidation backtest stored yet: run manage.py backtest_liquidations on a venue history.",
                    id="no-backtest",
                ),
            ]
        )
    t = bt.totals
    misses = sorted(
        (e for e in bt.events if not e["predicted_liquidatable"]),
        key=lambda e: -abs(e["equity_error_usd"] or 0),
    )
    miss_rows = [
        {
            "time": e["time"][:16],
            "user": e["user"],
            "equity_error": formats.money(e["equity_error_usd"], signed=True),
            "mm_over_reported": formats.multiple(e["mm_over_reported"]),
            "fee_bound": formats.money(e["fee_bound_usd"]),
            "mark_age": formats.number(e["mark_age_minutes"], 0),
            "explanation": e["explanation"],
        }
        for e in misses[:10]
    ]
    sens_rows = [
        {
            **r,
            "recall": formats.share(r["recall"]),
            "precision": formats.share(r["precision"]),
            "below": f"{r['reported_value_below_mm']} / {r['events']}",
        }
        for r in bt.sensitivity
    ]
    return html.Div(
        [
            html.H1("Model validation"),
            html.P(
                f"Backtest #{bt.id} of {bt.source} under {bt.parameters_name} — replay grid "
                f"{bt.every_minutes:g} min, alarm window {bt.window_minutes:g} min, stored "
                f"{bt.created_at:%Y-%m-%d %H:%M} UTC. Equity is rebuilt from public fills and ledger "
                "updates: fees and funding are not in the data, marks are last fill prices.",
                className="muted",
                id="backtest-header",
            ),
            c.cards(
                [
                    c.card("val-events", "Liquidations", formats.count(t.get("events"))),
                    c.card("val-recall", "Recall", formats.share(t.get("recall")), f"{t.get('detected')} detected"),
                    c.card(
                        "val-precision",
                        "Precision",
                        formats.share(t.get("precision")),
                        f"{t.get('false_alarms')} false alarms",
                    ),
                    c.card("val-lead", "Median lead", f"{formats.number(t.get('median_lead_minutes'), 0)} min"),
                    c.card(
                        "val-equity-error",
                        "Median equity error",
                        formats.money(t.get("median_equity_error"), signed=True),
                    ),
                ]
            ),
            c.chart("val-timeline", vf.events_timeline_figure(bt.events), bt.events, EVENT_COLUMNS),
            c.chart("val-paths", vf.ratio_paths_figure(bt.events)),
            html.H2("Sensitivity to the MMF table"),
            c.chart(
                "val-sensitivity",
                vf.sensitivity_figure(bt.sensitivity),
                bt.sensitivity,
                list(bt.sensitivity[0]) if bt.sensitivity else [],
            ),
            c.table("val-sensitivity-table", sens_rows, SENSITIVITY),
            html.H2("Worst misses"),
            c.table("val-misses", miss_rows, MISSES),
        ]
    )

"""Figures of the liquidation backtest (model validation): stored rows in, ``go.Figure`` out.

Inputs are the stored event details and sensitivity rows of a
``riskgov.snapshots.models.LiquidationBacktest`` (``BacktestView.events`` /
``.sensitivity``); nothing is recomputed. Margin ratios are ``MM / E`` (RISK_MODEL §5): at
or above 100 % the model calls the account liquidatable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import plotly.graph_objects as go

from riskgov.presentation import formats
from riskgov.presentation.figures.style import LAYOUT, PALETTE, money_axes

__all__ = ["events_timeline_figure", "ratio_paths_figure", "sensitivity_figure"]

#: Margin ratios are drawn up to this (∞ — no equity — is drawn at the cap).
RATIO_CAP = 3.0


def _capped(x: float | None) -> float:
    return RATIO_CAP if x is None else min(float(x), RATIO_CAP)


def _finish(fig: go.Figure, title: str, x: str, y: str, **extra: Any) -> go.Figure:
    fig.update_layout(title=title, xaxis={"title": x}, yaxis={"title": y}, **LAYOUT)
    fig.update_layout(**extra)
    return money_axes(fig)


def events_timeline_figure(events: Sequence[dict[str, Any]]) -> go.Figure:
    """Every real liquidation on a time line at the model's margin ratio just before it;
    detected events and misses in two colours, the 100 % liquidation line dashed."""
    fig = go.Figure()
    for detected, name, color in ((True, "flagged by the model", PALETTE[2]), (False, "missed", PALETTE[1])):
        rows = [e for e in events if bool(e["predicted_liquidatable"]) == detected]
        fig.add_trace(
            go.Scatter(
                x=[e["time"] for e in rows],
                y=[_capped(e["series"][-1][1] if e["series"] else 0.0) * 100 for e in rows],
                mode="markers",
                name=name,
                marker={"color": color, "size": 11, "symbol": "circle" if detected else "x"},
                customdata=[[e["user"], formats.money(e["equity_error_usd"]), e.get("explanation", "")] for e in rows],
                hovertemplate="%{x}<br>%{customdata[0]}<br>margin ratio %{y:.1f} %<br>"
                "equity error %{customdata[1]}<br>%{customdata[2]}<extra></extra>",
            )
        )
    fig.add_hline(y=100, line_dash="dash", line_color="#868e96", annotation_text="liquidatable (MM = E)")
    return _finish(fig, "Real liquidations and the model's margin ratio just before each", "time (UTC)", "MM / E (%)")


def ratio_paths_figure(events: Sequence[dict[str, Any]]) -> go.Figure:
    """The model's margin ratio of each liquidated account over the hours before its
    liquidation (x = hours before the event, 0 = one second before)."""
    fig = go.Figure()
    for i, e in enumerate(events):
        pts = e["series"]
        fig.add_trace(
            go.Scatter(
                x=[-m / 60 for m, _ in pts],
                y=[_capped(r) * 100 for _, r in pts],
                mode="lines+markers",
                name=f"{e['time'][:16]} {e['user'][:8]}",
                line={"color": PALETTE[i % len(PALETTE)], "width": 1.5},
                hovertemplate=f"{e['user']}<br>%{{x:.1f}} h<br>MM / E %{{y:.1f}} %<extra></extra>",
            )
        )
    fig.add_hline(y=100, line_dash="dash", line_color="#868e96")
    return _finish(
        fig,
        "Margin ratio of each liquidated account before its liquidation",
        "hours before the liquidation",
        "MM / E (%)",
        showlegend=False,
    )


def sensitivity_figure(rows: Sequence[dict[str, Any]]) -> go.Figure:
    """Recall, false alarms and the share of events whose reported account value is below
    the model's MM, as the MMF table is scaled."""
    xs = [r["mmf_factor"] for r in rows]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[(r["recall"] or 0) * 100 for r in rows],
            name="recall (replayed equity)",
            mode="lines+markers",
            line={"color": PALETTE[0]},
            hovertemplate="MMF × %{x}<br>recall %{y:.1f} %<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=[(r["reported_value_below_mm"] / r["events"] * 100) if r["events"] else 0 for r in rows],
            name="reported account value below model MM",
            mode="lines+markers",
            line={"color": PALETTE[2], "dash": "dot"},
            hovertemplate="MMF × %{x}<br>%{y:.1f} % of events<extra></extra>",
        )
    )
    fig.add_trace(
        go.Bar(
            x=xs,
            y=[r["false_alarms"] for r in rows],
            name="false alarms",
            marker_color=PALETTE[1],
            opacity=0.5,
            yaxis="y2",
            hovertemplate="MMF × %{x}<br>%{y} false alarms<extra></extra>",
        )
    )
    return _finish(
        fig,
        "Sensitivity to the MMF table (0.5×–2×)",
        "MMF multiplier",
        "% of liquidations",
        yaxis2={"title": "false alarms", "overlaying": "y", "side": "right", "rangemode": "tozero"},
    )

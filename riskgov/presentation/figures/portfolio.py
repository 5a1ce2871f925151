"""Figures of the venue's portfolio-margin book per underlying (RISK_MODEL §14).

Input: one underlying's entry of a run's ``tail["portfolio_margin"]["underlyings"]`` (stored
by the health run: venue Greeks, the scenario grid, the venue's PM loss per scenario, the
riskiest PM accounts' losses); output ``go.Figure``. Nothing is recomputed. Scenario labels
are ``move, vol`` (``-16.0 %, up``); money is USD.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from riskgov.presentation import formats
from riskgov.presentation.figures.style import LAYOUT, PALETTE, money_axes

__all__ = ["riskiest_heatmap_figure", "scenario_labels", "worst_scenario_rows", "worst_scenarios_figure"]

_COLOURS = [[0, "#16a34a"], [0.5, "#ffffff"], [1, "#dc2626"]]


def scenario_labels(grid: Mapping[str, Sequence[Any]]) -> list[str]:
    """``move, vol`` per scenario of a stored grid (``{"move", "vol", "weight"}`` lists)."""
    return [
        f"{formats.percent(m, 1, signed=True)}, {v}" + ("" if w == 1 else f" (w {formats.number(w, 4)})")
        for m, v, w in zip(grid["move"], grid["vol"], grid["weight"], strict=True)
    ]


def riskiest_heatmap_figure(book: Mapping[str, Any], symbol: str) -> go.Figure:
    """Heat map of the riskiest PM accounts' weighted scenario losses: one row per account
    (riskiest at the top), one column per scenario; red a loss, green a gain."""
    labels = scenario_labels(book["grid"])
    rows = list(book["riskiest"])
    fig = go.Figure(
        go.Heatmap(
            z=[r["loss_usd"] for r in rows],
            x=labels,
            y=[f"{r['account_id']} ({formats.ratio(r['margin_ratio'])})" for r in rows],
            customdata=[[formats.money(x) for x in r["loss_usd"]] for r in rows],
            colorscale=_COLOURS,
            zmid=0,
            colorbar={"title": "loss (USD)"},
            hovertemplate="%{y}<br>scenario %{x}<br>loss %{customdata}<extra></extra>",
        )
    )
    fig.update_layout(
        **LAYOUT,
        title=f"{symbol}: scenario losses of the riskiest PM accounts (margin ratio MM/E)",
        xaxis={"title": "scenario (move, vol)", "tickangle": -60},
        yaxis={"title": "account", "autorange": "reversed"},
        height=max(320, 60 + 28 * len(rows)),
    )
    return money_axes(fig)


def worst_scenario_rows(book: Mapping[str, Any], n: int = 8) -> list[dict[str, Any]]:
    """The ``n`` scenarios with the largest venue PM loss, largest first: ``scenario``,
    ``loss_usd`` (a number, for the chart and CSV) and ``loss`` (formatted)."""
    labels = scenario_labels(book["grid"])
    pairs = sorted(zip(labels, book["loss_usd"], strict=True), key=lambda p: -p[1])[:n]
    return [{"scenario": s, "loss_usd": formats.rounded_money(x), "loss": formats.money(x)} for s, x in pairs]


def worst_scenarios_figure(rows: Sequence[Mapping[str, Any]], symbol: str) -> go.Figure:
    """Bars of the venue's PM loss in its worst scenarios (``worst_scenario_rows``)."""
    fig = go.Figure(
        go.Bar(
            x=[r["scenario"] for r in rows],
            y=[r["loss_usd"] for r in rows],
            marker_color=PALETTE[1],
            text=[r["loss"] for r in rows],
            hovertemplate="%{x}<br>venue PM loss %{text}<extra></extra>",
        )
    )
    fig.update_layout(
        **LAYOUT,
        title=f"{symbol}: worst scenarios of the venue's PM book (weighted loss)",
        xaxis={"title": "scenario (move, vol)"},
        yaxis={"title": "loss (USD)"},
    )
    return money_axes(fig)

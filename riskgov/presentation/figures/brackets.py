"""Bracket-table figures: curves in, ``plotly.graph_objects.Figure`` out (STYLE rule 14).

Every figure has a title, axis labels with units and hover details. Fractions are shown to
people as percent (RISK_MODEL §1); leverage is ``1/IMF`` (§2). A curve is anything shaped
like :class:`Curve` (``riskgov.parameters.selectors.BracketCurve`` is one).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

import plotly.graph_objects as go

from riskgov.presentation.figures.style import PALETTE, money_axes


class Curve(Protocol):
    """One bracket table of one source: floors (USD), IMF/MMF (fractions), C_k (USD)."""

    label: str
    floors: Sequence[Decimal | float]
    imf: Sequence[Decimal | float]
    mmf: Sequence[Decimal | float]
    maintenance_amounts: Sequence[Decimal | float]


def _step_x(floors: Sequence[float], x_max: float) -> list[float]:
    xs = [max(float(f), 1.0) for f in floors]
    return [*xs, x_max]


def bracket_curves_figure(curves: Sequence[Curve], *, market: str, measure: str = "mmf") -> go.Figure:
    """Step chart of a bracket table per source against position notional (log scale).

    Args:
        curves: bracket tables, references first and ours last (drawn on top).
        measure: ``"mmf"`` (maintenance margin fraction, %), ``"imf"`` (initial margin
            fraction, %) or ``"leverage"`` (max leverage, ×).
    """
    titles = {
        "mmf": ("Maintenance margin fraction by notional", "MMF (%)"),
        "imf": ("Initial margin fraction by notional", "IMF (%)"),
        "leverage": ("Max leverage by notional", "max leverage (×)"),
    }
    title, y_label = titles[measure]
    x_max = max([float(c.floors[-1]) * 10 for c in curves if c.floors] + [1e7])
    fig = go.Figure()
    last = len(curves) - 1
    # ours (the last curve) is wide and translucent beneath (zorder), the references dashed on
    # top: a reference equal to ours stays visible as a dashed line inside our band (issue #16
    # item 12); trace and legend order are unchanged (references first, ours last).
    for i, c in enumerate(curves):
        if measure == "leverage":
            ys = [1 / float(v) for v in c.imf]
        else:
            ys = [float(v) * 100 for v in (c.mmf if measure == "mmf" else c.imf)]
        fig.add_trace(
            go.Scatter(
                x=_step_x(c.floors, x_max),
                y=[*ys, ys[-1]],
                mode="lines+markers",
                line={
                    "shape": "hv",
                    "color": PALETTE[i % len(PALETTE)],
                    "width": 7 if i == last else 2,
                    "dash": "solid" if i == last else "dash",
                },
                opacity=0.45 if i == last else 1.0,
                zorder=0 if i == last else 1,
                name=c.label,
                hovertemplate="%{fullData.name}<br>notional ≥ %{x:$,.0f}<br>" + y_label + ": %{y:.4g}<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"{market}: {title}",
        xaxis={"title": "position notional (USD, log scale)", "type": "log"},
        yaxis={"title": y_label},
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
    )
    return money_axes(fig)


def maintenance_margin_figure(curves: Sequence[Curve], *, market: str, points: int = 200) -> go.Figure:
    """MM(N) = N·MMF_k − C_k in USD against notional (RISK_MODEL §2): continuous by design."""
    import numpy as np

    x_max = max([float(c.floors[-1]) * 10 for c in curves if c.floors] + [1e7])
    ns = np.logspace(3, np.log10(x_max), points)
    fig = go.Figure()
    for i, c in enumerate(curves):
        floors = np.array([float(f) for f in c.floors])
        k = np.searchsorted(floors, ns, side="right") - 1
        mm = ns * np.array([float(v) for v in c.mmf])[k] - np.array([float(v) for v in c.maintenance_amounts])[k]
        fig.add_trace(
            go.Scatter(
                x=ns,
                y=mm,
                mode="lines",
                name=c.label,
                # references dashed over ours (wide, translucent): an equal one stays visible
                line={
                    "color": PALETTE[i % len(PALETTE)],
                    "width": 7 if i == len(curves) - 1 else 2,
                    "dash": "solid" if i == len(curves) - 1 else "dash",
                },
                opacity=0.45 if i == len(curves) - 1 else 1.0,
                zorder=0 if i == len(curves) - 1 else 1,
                hovertemplate="%{fullData.name}<br>notional %{x:$,.0f}<br>MM %{y:$,.0f}<extra></extra>",
            )
        )
    fig.update_layout(
        title=f"{market}: maintenance margin by notional",
        xaxis={"title": "position notional (USD, log scale)", "type": "log"},
        yaxis={"title": "maintenance margin (USD, log scale)", "type": "log"},
        legend={"orientation": "h", "y": -0.25},
        margin={"l": 60, "r": 20, "t": 50, "b": 60},
    )
    return money_axes(fig)

"""The margin simulator's result for people (RISK_MODEL §14; FORMATS.md ``riskgov.margin_result/1``).

Pure: a result document in, rows of formatted text out (the web page) or a Plotly figure
(a Dash page). The loss grid is shown as a heat map: one row per move, one column per vol
(``down | none | up``), each cell the weighted scenario loss in USD — red for a loss, green
for a gain, intensity relative to the largest ``|loss|`` of the grid; the worst scenario is
marked. Extended-table scenarios (and an explicit list's moves outside the grid) are the
rows whose other vol columns are empty.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go

from riskgov.presentation import formats as fmt
from riskgov.presentation.figures.style import LAYOUT, money_axes

__all__ = [
    "VOLS",
    "GridCell",
    "LossGrid",
    "account_rows",
    "comparison_rows",
    "loss_grid",
    "loss_grid_figure",
    "underlying_rows",
]

VOLS = ("down", "none", "up")


@dataclass(frozen=True)
class GridCell:
    """One heat-map cell: ``text`` (money), ``colour`` (CSS rgba), ``title`` (hover), ``worst``."""

    text: str
    colour: str
    title: str
    worst: bool = False
    loss: float | None = None


@dataclass(frozen=True)
class LossGrid:
    """Rows ``(move label, weight label, cells by VOLS)`` ordered by move; ``cells`` may be None."""

    asset: str
    rows: list[tuple[str, str, list[GridCell | None]]]
    largest: float


def _colour(loss: float, scale: float) -> str:
    if scale <= 0 or loss == 0:
        return "rgba(255,255,255,1)"
    a = min(1.0, abs(loss) / scale) * 0.85 + 0.05
    return f"rgba(220,38,38,{a:.3f})" if loss > 0 else f"rgba(22,163,74,{a:.3f})"


def loss_grid(u: Mapping[str, Any]) -> LossGrid:
    """The scenarios of one ``underlyings[i]`` entry as a heat map (moves × vols)."""
    scen = u["scenarios"]
    largest = max((abs(s["loss_usd"]) for s in scen), default=0.0)
    worst = u["worst_scenario"]
    by_move: dict[float, dict[str, Any]] = {}
    for s in scen:
        by_move.setdefault(float(s["move"]), {})[s["vol"]] = s
    rows = []
    for move in sorted(by_move):
        cells: list[GridCell | None] = []
        weights = set()
        for vol in VOLS:
            s = by_move[move].get(vol)
            if s is None:
                cells.append(None)
                continue
            weights.add(s["weight"])
            is_worst = u["worst_loss_usd"] > 0 and (s["move"], s["vol"], s["weight"]) == (
                worst["move"],
                worst["vol"],
                worst["weight"],
            )
            cells.append(
                GridCell(
                    text=fmt.money(float(round(s["loss_usd"]))),  # whole dollars, never "−$0"
                    colour=_colour(s["loss_usd"], largest),
                    title=f"move {fmt.percent(move, 1, signed=True)}, vol {vol}, weight {fmt.number(s['weight'])}: "
                    f"loss {fmt.money(s['loss_usd'])}",
                    worst=is_worst,
                    loss=s["loss_usd"],
                )
            )
        weight = "" if weights == {1.0} else ", ".join(fmt.number(w, 4) for w in sorted(weights))
        rows.append((fmt.percent(move, 1, signed=True), weight, cells))
    return LossGrid(asset=u["asset"], rows=rows, largest=largest)


def loss_grid_figure(u: Mapping[str, Any]) -> go.Figure:
    """The same heat map as a Plotly figure (moves on y, vols on x, USD loss as colour)."""
    g = loss_grid(u)
    z = [[None if c is None else c.loss for c in cells] for _, _, cells in g.rows]
    text = [[("" if c is None else c.text) for c in cells] for _, _, cells in g.rows]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=list(VOLS),
            y=[label for label, _, _ in g.rows],
            text=text,
            texttemplate="%{text}",
            colorscale=[[0, "#16a34a"], [0.5, "#ffffff"], [1, "#dc2626"]],
            zmid=0,
            colorbar={"title": "loss (USD)"},
            hovertemplate="move %{y}, vol %{x}: %{text}<extra></extra>",
        )
    )
    fig.update_layout(**LAYOUT, title=f"{g.asset}: scenario losses", xaxis_title="vol", yaxis_title="move")
    return money_axes(fig)


def _move(x: Any) -> str:
    if x is None:
        return "none within ±50 %"
    return "already liquidatable" if x == 0 else fmt.percent(x, 1, signed=True)


def account_rows(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, formatted value)`` of the account block."""
    a = result["account"]
    return [
        ("Equity", fmt.money(a["equity_usd"])),
        ("Initial margin", fmt.money(a["initial_margin_usd"])),
        ("Maintenance margin", fmt.money(a["maintenance_margin_usd"])),
        ("Margin ratio (MM / equity)", fmt.ratio(a["margin_ratio"])),
        ("Liquidatable", "yes" if a["liquidatable"] else "no"),
        ("Liquidation move", _move(a["liquidation_move"])),
    ]


def underlying_rows(u: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(label, formatted value)`` of one underlying's risk unit."""
    w, g, c = u["worst_scenario"], u["greeks"], u["contingencies"]
    return [
        ("Maintenance margin", fmt.money(u["maintenance_margin_usd"])),
        ("Initial margin", fmt.money(u["initial_margin_usd"])),
        ("Worst loss", fmt.money(u["worst_loss_usd"])),
        (
            "Worst scenario",
            f"move {fmt.percent(w['move'], 1, signed=True)}, vol {w['vol']}, weight {fmt.number(w['weight'])}",
        ),
        ("Short-option contingency", fmt.money(c["short_option_usd"])),
        ("Perp contingency", fmt.money(c["perp_usd"])),
        ("Option value", fmt.money(u["option_value_usd"])),
        ("Delta (base units)", fmt.number(g["delta"])),
        ("Gamma (per USD)", f"{g['gamma']:.3e}"),
        ("Vega (USD per vol point)", fmt.money(g["vega_usd"])),
        ("Theta (USD per day)", fmt.money(g["theta_usd"])),
    ]


def comparison_rows(active: Mapping[str, Any], proposed: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(what, active, proposal, change)`` for the account and each underlying (same book)."""
    rows = []
    pairs: Sequence[tuple[str, str]] = (
        ("initial_margin_usd", "IM"),
        ("maintenance_margin_usd", "MM"),
    )
    a, p = active["account"], proposed["account"]
    for key, label in pairs:
        rows.append((f"Account {label}", fmt.money(a[key]), fmt.money(p[key]), fmt.money(p[key] - a[key], signed=True)))
    rows.append(("Account margin ratio", fmt.ratio(a["margin_ratio"]), fmt.ratio(p["margin_ratio"]), ""))
    rows.append(("Liquidation move", _move(a["liquidation_move"]), _move(p["liquidation_move"]), ""))
    for ua, up in zip(active["underlyings"], proposed["underlyings"], strict=True):
        for key, label in (*pairs, ("worst_loss_usd", "worst loss")):
            rows.append(
                (
                    f"{ua['asset']} {label}",
                    fmt.money(ua[key]),
                    fmt.money(up[key]),
                    fmt.money(up[key] - ua[key], signed=True),
                )
            )
    return rows

"""Report charts: a report's stored figures in, a bar series out, and that series drawn as a
Plotly figure (rendered to PNG by ``riskgov.reports.charts``) or as a self-contained SVG
(no browser needed). Pure: no Django, no I/O.

Money is USD; the model-health series are fractions (RISK_MODEL §1).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from riskgov.presentation import formats

WIDTH, HEIGHT = 760, 340
#: bars per chart
MAX_BARS = 12
#: the unit of a series of fractions (drawn and labelled as percent); the other is ``"USD"``
FRACTION = "fraction"
#: the two series colours of the SVG fallback
SVG_COLORS = ("#1f4e79", "#e07b00")


@dataclass(frozen=True)
class BarSeries:
    """One chart's data: labels and one or two series of values (same length)."""

    title: str
    labels: list[str]
    series: dict[str, list[float]]
    unit: str
    line: float | None = None  # a reference line (e.g. the insurance fund)
    line_label: str = ""


def stress_series(figures: dict[str, Any]) -> BarSeries | None:
    """Shortfall of the worst scenarios (standard and historical), USD, with the fund as a line."""
    stress = figures.get("stress") or {}
    rows = [*stress.get("standard", []), *stress.get("historical_worst", [])]
    total = len(rows)
    rows = sorted(rows, key=lambda r: -(r.get("shortfall_usd") or 0.0))[:MAX_BARS]
    if not rows:
        return None
    fund = (figures.get("overview") or {}).get("insurance_fund_usd")
    shown = f"the worst {len(rows)} of {total} scenarios" if total > len(rows) else "the worst scenarios"
    return BarSeries(
        title=f"Shortfall of {shown} vs the insurance fund (USD)",
        labels=[r["name"] for r in rows],
        series={"shortfall": [float(r.get("shortfall_usd") or 0.0) for r in rows]},
        unit="USD",
        line=float(fund) if fund is not None else None,
        line_label="insurance fund",
    )


def _furthest_below(rows: list[dict[str, Any]], rec_of: Any) -> tuple[list[dict[str, Any]], str]:
    """At most ``MAX_BARS`` rows: with more, the ones furthest below their recommendation
    (``rec_of(row)`` − current MMF), and the title suffix saying how many of how many."""
    total = len(rows)
    if total > MAX_BARS:
        rows = sorted(rows, key=lambda m: -(float(rec_of(m) or 0.0) - float(m.get("current_mmf") or 0.0)))[:MAX_BARS]
    shown = (
        f" — {len(rows)} of {total} markets, those furthest below the recommendation (all in the table)"
        if total > len(rows)
        else ""
    )
    return rows, shown


def model_series(figures: dict[str, Any]) -> BarSeries | None:
    """Current vs recommended first-bracket MMF per market, as fractions: at each market's
    liquidation horizon (§12), or, for a run stored before it, the first-edition 1-day one.
    With more than ``MAX_BARS`` markets, the ones furthest below their recommendation are
    drawn and the title says how many of how many (every market is in the report's table)."""
    models = figures.get("model_health") or []
    horizon = [m for m in models if (m.get("edition") or 1) >= 2 and m.get("mmf_rec") is not None]
    if horizon:
        horizon, shown = _furthest_below(horizon, lambda m: m["mmf_rec"])
        hs = sorted({float(m.get("horizon_minutes") or 0) for m in horizon})
        h = f"{hs[0]:g}-minute" if len(hs) == 1 else "each market's"
        return BarSeries(
            title=f"Maintenance margin fraction, bracket 1: current vs recommended (§12, {h} liquidation horizon){shown}",
            labels=[m["market"] for m in horizon],
            series={
                "current MMF": [float(m.get("current_mmf") or 0.0) for m in horizon],
                "recommended MMF": [float(m["mmf_rec"]) for m in horizon],
            },
            unit=FRACTION,
        )
    rows, shown = _furthest_below([m for m in models if m.get("horizons")], lambda m: m["horizons"][0].get("mmf_rec"))
    if not rows:
        return None
    return BarSeries(
        title=f"Maintenance margin fraction: current vs recommended (§12 first edition, 1-day horizon){shown}",
        labels=[m["market"] for m in rows],
        series={
            "current MMF": [float(m.get("current_mmf") or 0.0) for m in rows],
            "recommended MMF": [float(m["horizons"][0].get("mmf_rec") or 0.0) for m in rows],
        },
        unit=FRACTION,
    )


def axis_text(unit: str, value: float) -> str:
    """An axis label of a series in ``unit`` (``"USD"`` or ``FRACTION``) as people read it:
    ``formats.money`` for USD (``$472,200``), ``formats.fraction`` for a fraction
    (``0.01737`` → ``1.737 %``), ``formats.number`` otherwise — never ``4.722e+05``."""
    if unit == "USD":
        return formats.money(value)
    if unit == FRACTION:
        return formats.fraction(value)
    return formats.number(value)


def plotly_figure(data: BarSeries) -> Any:
    """The Plotly figure of a bar series (pure: data in, figure out): a USD axis with the money
    ticks (``style.money_axes``), a fraction axis in percent (values × 100, ``" %"``)."""
    import plotly.graph_objects as go

    from riskgov.presentation.figures.style import money_axes

    pct = data.unit == FRACTION
    scale = 100.0 if pct else 1.0
    fig = go.Figure()
    for name, values in data.series.items():
        fig.add_trace(go.Bar(name=name, x=data.labels, y=[None if v is None else v * scale for v in values]))
    if data.line is not None:
        fig.add_hline(y=data.line * scale, line_dash="dash", line_color="#b00020", annotation_text=data.line_label)
    fig.update_layout(
        title={"text": data.title, "font": {"size": 14}},
        barmode="group",
        template="plotly_white",
        margin={"l": 60, "r": 20, "t": 50, "b": 110},
        legend={"orientation": "h", "y": 1.02, "x": 0},
        yaxis_title="percent (%)" if pct else data.unit,
    )
    if pct:
        fig.update_yaxes(tickformat=",.3~f", ticksuffix=" %")
    fig.update_xaxes(tickangle=-35, tickfont={"size": 9})
    return money_axes(fig)


def svg_bars(data: BarSeries) -> str:
    """A self-contained SVG grouped bar chart of ``data`` (no browser needed)."""
    colors = SVG_COLORS
    left, right, top, bottom = 70, 20, 40, 110
    w, h = WIDTH - left - right, HEIGHT - top - bottom
    values = [v for vs in data.series.values() for v in vs] + ([data.line] if data.line is not None else [])
    vmax = max([v for v in values if v is not None] + [0.0]) or 1.0
    n, k = len(data.labels), len(data.series)
    slot = w / max(n, 1)
    bar = slot * 0.8 / max(k, 1)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Arial, sans-serif">',
        f'<text x="{left}" y="20" font-size="13">{html.escape(data.title)}</text>',
        f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#444"/>',
        f'<text x="{left - 6}" y="{top + 4}" font-size="9" text-anchor="end">{html.escape(axis_text(data.unit, vmax))}</text>',
        f'<text x="{left - 6}" y="{top + h}" font-size="9" text-anchor="end">{html.escape(axis_text(data.unit, 0))}</text>',
    ]
    for j, (name, vs) in enumerate(data.series.items()):
        out.append(
            f'<rect x="{left + 150 * j}" y="{HEIGHT - 14}" width="10" height="10" fill="{colors[j % 2]}"/>'
            f'<text x="{left + 150 * j + 14}" y="{HEIGHT - 5}" font-size="10">{html.escape(name)}</text>'
        )
        for i, v in enumerate(vs):
            bh = max(0.0, (v or 0.0) / vmax * h)
            x = left + i * slot + slot * 0.1 + j * bar
            out.append(
                f'<rect x="{x:.1f}" y="{top + h - bh:.1f}" width="{bar:.1f}" height="{bh:.1f}" fill="{colors[j % 2]}"/>'
            )
    for i, label in enumerate(data.labels):
        x = left + (i + 0.5) * slot
        out.append(
            f'<text x="{x:.1f}" y="{top + h + 12}" font-size="8" text-anchor="end" '
            f'transform="rotate(-35 {x:.1f} {top + h + 12})">{html.escape(label[:28])}</text>'
        )
    if data.line is not None:
        y = top + h - data.line / vmax * h
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + w}" y2="{y:.1f}" stroke="#b00020" '
            f'stroke-dasharray="6 4"/><text x="{left + w}" y="{y - 4:.1f}" font-size="9" '
            f'text-anchor="end" fill="#b00020">{html.escape(data.line_label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)

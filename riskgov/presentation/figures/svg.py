"""A Plotly scatter figure drawn as a self-contained inline SVG (no JavaScript, no browser).

Pages that cannot load plotly.js (the committee's Django pages, under a strict CSP) show
the same figure the Dash pages build: :func:`scatter_svg` reads the figure's ``Scatter``
traces (``x``, ``y``, ``mode``, ``name``, ``text``, marker colour and symbol) and its axis
titles, and draws them with money ticks (``riskgov.presentation.formats.money``, USD).
Pure: a figure in, SVG text out.
"""

from __future__ import annotations

import html
import math
from typing import Any

from riskgov.presentation import formats
from riskgov.presentation.figures.style import PALETTE

WIDTH, HEIGHT = 720, 380
LEFT, RIGHT, TOP, BOTTOM = 86, 24, 36, 84
TICKS = 5


def nice_ticks(lo: float, hi: float, n: int = TICKS) -> list[float]:
    """About ``n`` round tick values covering ``[lo, hi]`` (steps 1, 2, 2.5 or 5 × 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0]
    if hi <= lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(n - 1, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 0.999:
        ticks.append(round(t, 10))
        t += step
    return ticks


def _attr(obj: Any, name: str, default: Any = None) -> Any:
    value = getattr(obj, name, None) if obj is not None else None
    return default if value is None else value


def _title(axis: Any) -> str:
    return str(_attr(_attr(axis, "title"), "text", "") or "")


def _marker(x: float, y: float, symbol: str, size: float, color: str, label: str) -> str:
    r = size / 2
    tip = f"<title>{html.escape(label)}</title>"
    if symbol == "diamond":
        pts = f"{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r:.1f},{y:.1f}"
        return f'<polygon points="{pts}" fill="{color}" stroke="#fff" stroke-width="1">{tip}</polygon>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" fill="{color}" stroke="#fff" stroke-width="1">{tip}</circle>'


def scatter_svg(
    fig: Any,
    *,
    title: str | None = None,
    names: tuple[str, str] = ("x", "y"),
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """The ``Scatter`` traces of the Plotly figure ``fig`` as one ``<svg>`` element.

    Both axes are USD (money ticks); each marker carries a ``<title>`` (its trace, its text,
    x and y formatted) for screen readers and hover; the legend is drawn under the plot.
    ``title`` replaces the figure's title; ``names`` name x and y in the markers' titles
    (``("MM", "ES")``). Traces without points are skipped.
    """
    traces = [t for t in fig.data if getattr(t, "type", "") == "scatter" and t.x is not None and len(t.x)]
    xs = [float(v) for t in traces for v in t.x if formats.to_float(v) is not None]
    ys = [float(v) for t in traces for v in t.y if formats.to_float(v) is not None]
    head = title if title is not None else _title(fig.layout)
    w, h = width - LEFT - RIGHT, height - TOP - BOTTOM
    xt = nice_ticks(min(xs, default=0.0), max(xs, default=1.0))
    yt = nice_ticks(min(ys, default=0.0), max(ys, default=1.0))
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]

    def px(v: float) -> float:
        return LEFT + (v - x0) / ((x1 - x0) or 1.0) * w

    def py(v: float) -> float:
        return TOP + h - (v - y0) / ((y1 - y0) or 1.0) * h

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
        f"<title>{html.escape(head)}</title>",
        f'<text x="{LEFT}" y="20" font-size="13" font-weight="bold">{html.escape(head)}</text>',
        f'<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="#fff" stroke="#d0d4da"/>',
    ]
    for v in xt:
        x = px(v)
        out.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + h}" stroke="#eceef1"/>'
            f'<text x="{x:.1f}" y="{TOP + h + 14}" text-anchor="middle">{formats.money(v)}</text>'
        )
    for v in yt:
        y = py(v)
        out.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + w}" y2="{y:.1f}" stroke="#eceef1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{formats.money(v)}</text>'
        )
    out.append(
        f'<text x="{LEFT + w / 2:.1f}" y="{TOP + h + 32}" text-anchor="middle">{html.escape(_title(fig.layout.xaxis))}</text>'
    )
    out.append(
        f'<text transform="translate(14 {TOP + h / 2:.1f}) rotate(-90)" text-anchor="middle" font-size="10">'
        f"{html.escape(_title(fig.layout.yaxis))}</text>"
    )
    legend_x = LEFT
    for i, t in enumerate(traces):
        marker, line = t.marker, t.line
        color = str(_attr(marker, "color") or _attr(line, "color") or PALETTE[i % len(PALETTE)])
        symbol = str(_attr(marker, "symbol", "circle"))
        size = float(_attr(marker, "size", 7))
        mode = str(t.mode or "markers")
        name = str(t.name or f"trace {i + 1}")
        pts = [
            (px(float(a)), py(float(b)), k)
            for k, (a, b) in enumerate(zip(t.x, t.y, strict=False))
            if formats.to_float(a) is not None and formats.to_float(b) is not None
        ]
        texts = list(t.text) if isinstance(t.text, list | tuple) else [t.text] * len(pts) if t.text else []
        if "lines" in mode and len(pts) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for x, y, k in pts:
            label = texts[k] if k < len(texts) and texts[k] else name
            tip = f"{name}: {label}, {names[0]} {formats.money(t.x[k])}, {names[1]} {formats.money(t.y[k])}"
            out.append(_marker(x, y, symbol, size if "lines" not in mode else 8, color, tip))
            if "text" in mode and k < len(texts) and texts[k]:
                out.append(
                    f'<text x="{x:.1f}" y="{y - 9:.1f}" text-anchor="middle" font-size="10">{html.escape(str(texts[k]))}</text>'
                )
        ly = height - 16
        out.append(_marker(legend_x + 6, ly - 4, symbol, 10, color, name))
        out.append(f'<text x="{legend_x + 16}" y="{ly}">{html.escape(name)}</text>')
        legend_x += 24 + 7 * len(name)
    out.append("</svg>")
    return "".join(out)

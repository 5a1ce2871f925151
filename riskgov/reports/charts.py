"""Static chart images of a report, so the HTML and PDF stand alone (no JavaScript, no CDN).

Charts are Plotly figures built by ``riskgov.presentation.figures.report`` (figures dict
in, bar series out, ``go.Figure`` out) rendered to PNG by **kaleido 1.x**, which drives a Chrome/Chromium
(Debian's ``/usr/bin/chromium`` here; ``.ci/run`` installs it). If kaleido cannot render
(no browser, a running event loop, a timeout) the same data is drawn as a plain SVG bar
chart by ``svg_bars`` — no browser needed — and the chart says so in its ``engine``.
``settings.RISKGOV_REPORT_CHARTS = "svg"`` skips kaleido altogether (fast tests, hosts
without a browser).

Each chart is returned as ``{"title", "engine", "mime", "data_uri"}``; the template embeds
``data_uri`` as ``<img src>`` (WeasyPrint renders both PNG and SVG data URIs).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any

from django.conf import settings

from riskgov.presentation.figures.report import (
    HEIGHT,
    WIDTH,
    model_series,
    plotly_figure,
    stress_series,
    svg_bars,
)

log = logging.getLogger(__name__)


def _kaleido_png(figs: list[Any]) -> list[bytes]:
    import kaleido

    async def render() -> list[bytes]:
        async with kaleido.Kaleido(n=1, timeout=60) as k:
            opts = {"format": "png", "width": WIDTH, "height": HEIGHT, "scale": 2}
            return [await k.calc_fig(fig, opts=opts) for fig in figs]

    return asyncio.run(render())


#: How to get a browser for the PNG charts: the OS's own package, never a download at run time.
CHROMIUM_HINT = (
    "install Chromium from the OS packages (Debian/Ubuntu: `apt-get install chromium`; "
    "Fedora: `dnf install chromium`; macOS: `brew install --cask chromium`), "
    "or set RISKGOV_REPORT_CHARTS=svg"
)


def chart_fallback_message(exc: BaseException) -> str:
    """The warning when kaleido cannot render: a missing browser says how to get one from the
    OS packages (kaleido's own advice, ``kaleido_get_chrome``, downloads Chrome and cannot work
    offline); any other failure is named."""
    if type(exc).__name__ == "ChromeNotFoundError":
        return f"no Chromium found for the report's PNG charts, using SVG charts: {CHROMIUM_HINT}"
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"kaleido could not render the report charts ({type(exc).__name__}: {first}); using SVG charts"


def _uri(mime: str, payload: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def render_charts(figures: dict[str, Any]) -> list[dict[str, str]]:
    """The report's charts as embeddable images (module docstring). Never raises on rendering."""
    series = [s for s in (stress_series(figures), model_series(figures)) if s is not None]
    if not series:
        return []
    if getattr(settings, "RISKGOV_REPORT_CHARTS", "kaleido") == "kaleido":
        try:
            pngs = _kaleido_png([plotly_figure(s) for s in series])
            return [
                {"title": s.title, "engine": "kaleido", "mime": "image/png", "data_uri": _uri("image/png", png)}
                for s, png in zip(series, pngs, strict=True)
            ]
        except Exception as exc:  # noqa: BLE001 — any renderer failure falls back to SVG, logged
            log.warning("%s", chart_fallback_message(exc))
    return [
        {
            "title": s.title,
            "engine": "svg",
            "mime": "image/svg+xml",
            "data_uri": _uri("image/svg+xml", svg_bars(s).encode()),
        }
        for s in series
    ]

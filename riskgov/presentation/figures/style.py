"""Colours and layout shared by every figure (one look across pages and reports)."""

from __future__ import annotations

from typing import Any

import plotly.io as pio

#: every riskgov figure's template. Set as plotly's default, not per figure: plotly applies
#: its default template without re-validating it (~3 ms a figure), where ``template=`` in a
#: figure's layout deep-copies and validates the whole template (~50 ms a figure: a page of
#: ten charts spent 0.5 s there — bench/dashboards.py)
TEMPLATE = "plotly_white"
pio.templates.default = TEMPLATE

#: trace colours, in order
PALETTE = ("#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285")

#: the layout of the health-run figures
LAYOUT = {
    "margin": {"l": 70, "r": 20, "t": 50, "b": 60},
    "legend": {"orientation": "h", "y": -0.2},
}

#: money axis ticks (d3 format): whole US dollars with separators, the sign before the dollar
#: ("$250,000", "−$950,000"), never SI suffixes ("250k", "−0.95M") — ``formats.money``'s rule
USD_TICKS = "$,.0f"
#: price axis ticks (USD per unit of the base asset): separators, up to 6 significant digits,
#: trailing zeros dropped ("$95,000", "$0.35"), never SI suffixes or exponents
PRICE_TICKS = "$,.6~r"


def is_money_title(title: str) -> bool:
    """Whether an axis title says its unit is US dollars (``"… (USD)"``, ``"USD"``)."""
    return "USD" in (title or "")


def money_ticks(title: str) -> str | None:
    """The tick format of an axis titled ``title``: ``PRICE_TICKS`` for a price in USD,
    ``USD_TICKS`` for any other amount in USD, ``None`` (Plotly's own) otherwise."""
    if not is_money_title(title):
        return None
    return PRICE_TICKS if "price" in title.lower() and "ratio" not in title.lower() else USD_TICKS


def money_axes(fig: Any) -> Any:
    """Give every axis (and colour bar) of ``fig`` whose title is in USD the money tick format
    (``money_ticks``): the one rule for money on an axis, applied by every riskgov figure.
    Returns ``fig``."""
    axes = [*fig.select_xaxes(), *fig.select_yaxes()]
    axes += [t.colorbar for t in fig.data if "colorbar" in t and t.colorbar.title.text]
    for axis in axes:
        ticks = money_ticks(str(axis.title.text or ""))
        if ticks is not None:
            axis.tickformat = ticks
    return fig

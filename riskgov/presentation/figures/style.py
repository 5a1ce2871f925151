"""Colours and layout shared by every figure (one look across pages and reports)."""

from __future__ import annotations

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

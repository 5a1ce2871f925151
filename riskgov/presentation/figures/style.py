"""Colours and layout shared by every figure (one look across pages and reports)."""

from __future__ import annotations

#: trace colours, in order
PALETTE = ("#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285")

#: the layout of the health-run figures
LAYOUT = {
    "template": "plotly_white",
    "margin": {"l": 70, "r": 20, "t": 50, "b": 60},
    "legend": {"orientation": "h", "y": -0.2},
}

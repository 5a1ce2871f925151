"""Dashboards index: links to the pages."""

import dash
from dash import html

dash.register_page(__name__, path="/", title="Dashboards · riskgov", name="Dashboards")


def layout(**_kwargs):
    """Links to every dashboard page."""
    pages = [p for p in dash.page_registry.values() if p["path"] not in ("/", "/account")]
    return html.Div(
        [
            html.H1("Dashboards"),
            html.Ul([html.Li(dash.dcc.Link(p["name"], href=p["relative_path"])) for p in pages]),
        ]
    )

"""The Dash app: pages in ``dashboards/pages`` (one module each), shared navigation.

``mount(django_app)`` returns the WSGI application serving Django with Dash under /dash/
(werkzeug ``DispatcherMiddleware``). Dash 4 is created with ``use_async=False`` so that ORM
calls in callbacks run synchronously (DESIGN.md stack facts). The navigation bar is Django's
own ``templates/nav.html`` rendered per request for the current user.
"""

from __future__ import annotations

from pathlib import Path

import dash
import flask
from django.conf import settings
from django.template.loader import render_to_string
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from dashboards import auth, components
from riskgov.core.roles import ROLE_LABELS

PREFIX = "/dash/"

INDEX = """<!DOCTYPE html>
<html>
<head>
{%metas%}
<title>{%title%}</title>
{%favicon%}
<link rel="stylesheet" href="/static/riskgov/riskgov.css">
{%css%}
</head>
<body>
RISKGOV_NAV
<main class="container">{%app_entry%}</main>
<footer>{%config%}{%scripts%}{%renderer%}</footer>
</body>
</html>"""


class RiskgovDash(dash.Dash):
    """Dash with riskgov's shared navigation injected into every page."""

    def interpolate_index(self, **kwargs):  # noqa: ANN003, ANN201 — Dash's signature
        html = super().interpolate_index(**kwargs)
        user = auth.current_user()
        context = {
            "user": user,
            "user_role_labels": [ROLE_LABELS[r] for r in ROLE_LABELS if r in auth.current_roles()],
            # the logout form posts to Django; the CSRF cookie's secret is a valid token
            "csrf_token": flask.request.cookies.get(settings.CSRF_COOKIE_NAME, ""),
        }
        nav = render_to_string("nav.html", context)
        return html.replace("RISKGOV_NAV", nav)


#: the pages of the shared page bar, in order (the account page is reached from Accounts)
PAGE_BAR_EXCLUDE = ("/account",)


def page_bar() -> dash.html.Div:
    """The navigation between the dashboard pages, above every page (``id="dash-pages"``; a
    ``div`` with the navigation role: ``nav`` is the site's bar, which tests address)."""
    pages = sorted(
        (p for p in dash.page_registry.values() if p["path"] not in PAGE_BAR_EXCLUDE),
        key=lambda p: (p["path"] != "/", p.get("order") if p.get("order") is not None else 99),
    )
    return dash.html.Div(
        [
            dash.dcc.Link(
                "All dashboards" if p["path"] == "/" else p["name"], href=p["relative_path"], className="dash-page-link"
            )
            for p in pages
        ],
        className="subnav",
        id="dash-pages",
        role="navigation",
    )


def _layout():
    """The app's layout, built per request (Dash pages: ``layout()`` as a function)."""
    return dash.html.Div([page_bar(), dash.page_container])


def create_app() -> dash.Dash:
    """Build the Dash app (pages are imported from ``dashboards/pages``)."""
    app = RiskgovDash(
        __name__,
        use_pages=True,
        pages_folder=str(Path(__file__).parent / "pages"),
        requests_pathname_prefix=PREFIX,
        routes_pathname_prefix="/",
        use_async=False,
        suppress_callback_exceptions=True,
        title="riskgov dashboards",
        serve_locally=True,
    )
    app.index_string = INDEX
    auth.install(app.server, prefix=PREFIX)
    app.layout = _layout
    components.register_callbacks(app)
    _install_csp(app)
    return app


def csp_header(app: dash.Dash) -> str:
    """Django's Content-Security-Policy (settings.CONTENT_SECURITY_POLICY) for the Dash pages:
    the same directives, with the hashes of Dash's inline scripts instead of a nonce."""
    from csp.constants import NONCE

    directives = {k: list(v) for k, v in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"].items()}
    directives["script-src"] = [v for v in directives.get("script-src", ["'self'"]) if v is not NONCE]
    directives["script-src"] += list(app.csp_hashes())
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


def _install_csp(app: dash.Dash) -> None:
    """Send the policy on every Dash response (the Flask server has no Django middleware)."""
    header: list[str] = []

    @app.server.after_request
    def _csp(response):  # noqa: ANN001, ANN202 — Flask hook
        if not header:  # computed once, after every callback (and its inline script) is defined
            header.append(csp_header(app))
        response.headers.setdefault("Content-Security-Policy", header[0])
        return response


def mount(django_app):  # noqa: ANN001, ANN201 — WSGI callables
    """Django at /, Dash at /dash/."""
    app = create_app()
    return DispatcherMiddleware(django_app, {PREFIX.rstrip("/"): app.server})


__all__ = ["create_app", "mount"]

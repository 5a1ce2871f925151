"""The Dash app: pages in ``dashboards/pages`` (one module each), shared navigation.

``mount(django_app)`` returns the WSGI application serving Django with Dash under /dash/
(werkzeug ``DispatcherMiddleware``). Dash 4 is created with ``use_async=False`` so that ORM
calls in callbacks run synchronously (DESIGN.md stack facts). The navigation bar is Django's
own ``templates/nav.html`` rendered per request for the current user.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

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
RISKGOV_PRELOAD
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
        html = _replace_polyfill(html)
        if _graphless_page():
            html = _PLOTLY_TAG.sub("", html, count=1)
        return html.replace("RISKGOV_PRELOAD", preload_links()).replace("RISKGOV_NAV", nav)


_PLOTLY_TAG = re.compile(r'\s*<script src="[^"]*/dashboards\.plotlyjs/[^"]*"></script>')
_POLYFILL_TAG = re.compile(r'<script src="[^"]*/deps/polyfill@[^"]*"></script>')
_RUNTIME_TAG = re.compile(r'\s*<script src="[^"]*/dashboards\.vendor/[^"]*"></script>')


def _replace_polyfill(html: str) -> str:
    """The page's scripts with the vendored regenerator runtime (:mod:`dashboards.vendor`) in
    the place of Dash's ``@babel/polyfill`` (first, before the bundles that use it); unchanged
    when either tag is missing."""
    polyfill, runtime = _POLYFILL_TAG.search(html), _RUNTIME_TAG.search(html)
    if polyfill is None or runtime is None:
        return html
    html = html.replace(runtime.group(0), "", 1)
    return html.replace(polyfill.group(0), runtime.group(0).strip(), 1)


#: the lazily loaded chunk each component type fetches when it first renders
#: (``(namespace, type)`` → scripts under ``_dash-component-suites/``)
LAZY_CHUNKS = {
    ("dash_core_components", "Graph"): ("dash/dcc/async-graph.js",),
    ("dash_core_components", "Dropdown"): ("dash/dcc/async-dropdown.js",),
    ("dash_table", "DataTable"): ("dash/dash_table/async-table.js", "dash/dash_table/async-highlight.js"),
}
_PAGE_CHUNKS: dict[str, tuple[str, ...]] = {}  # page path → the chunks its last layout needed


def _note_chunks(path: str, content: object) -> None:
    """Remember which lazy chunks (:data:`LAZY_CHUNKS`) the layout of page ``path`` needs."""
    found: list[str] = []
    for comp in (
        [content, *content._traverse()] if isinstance(content, dash.development.base_component.Component) else []
    ):
        for chunk in LAZY_CHUNKS.get((getattr(comp, "_namespace", ""), getattr(comp, "_type", "")), ()):
            if chunk not in found:
                found.append(chunk)
    _PAGE_CHUNKS[path] = tuple(found)


def _requested_path() -> str | None:
    """The page path (``/overview``) of the HTML request being served, ``None`` outside one."""
    if not flask.has_request_context():
        return None
    return "/" + flask.request.path.strip("/")  # the app is mounted at PREFIX


def _graphless_page() -> bool:
    """True when the requested page's last layout had no graph: its HTML then leaves out
    plotly.js (1.06 MB to parse and run); a graph that appears later still gets it (dcc
    injects it, see :func:`_use_riskgov_plotly`). False for a page not drawn yet."""
    chunks = _PAGE_CHUNKS.get(_requested_path() or "")
    return chunks is not None and LAZY_CHUNKS[("dash_core_components", "Graph")][0] not in chunks


def preload_links() -> str:
    """``<link rel="preload">`` tags for what the renderer fetches only after every script has
    run: the layout and the callback list (the renderer's ``fetch`` then takes the preloaded
    answers; the layout request carries the page's URL as its ``Referer``, as the renderer's
    does), and the lazy chunks of the components the page drew last time (a graph's
    ``async-graph.js``, a table's ``async-table.js``: fetched in parallel with the scripts,
    instead of after the first render)."""
    tags = [
        f'<link rel="preload" href="{PREFIX}_dash-layout" as="fetch" crossorigin>',
        f'<link rel="preload" href="{PREFIX}_dash-dependencies" as="fetch" crossorigin>',
    ]
    path = _requested_path()
    if path is not None:
        for chunk in _PAGE_CHUNKS.get(path, ()):
            tags.append(f'<link rel="preload" href="{PREFIX}_dash-component-suites/{chunk}" as="script">')
    return "\n".join(tags)


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


def _requested_page() -> tuple[dict, str, str] | None:
    """The page (registry entry), path and query string the browser is showing, from the
    ``Referer`` of the ``_dash-layout`` request; ``None`` outside a request, without a
    referrer (a policy may strip it) or when it names no page."""
    if not flask.has_request_context() or not flask.request.referrer:
        return None
    url = urlsplit(flask.request.referrer)
    if url.netloc != flask.request.host or not (url.path + "/").startswith(PREFIX):
        return None
    path = "/" + url.path[len(PREFIX) :].strip("/")
    page = next((p for p in dash.page_registry.values() if p["path"] == path), None)
    return (page, url.path, url.query) if page is not None else None


def page_container() -> dash.html.Div:
    """``dash.page_container`` with the requested page already in it.

    Dash draws a page by a callback on its ``dcc.Location`` once the app's layout is in the
    browser: one more round trip before anything of the page shows, and only then the page's
    own callbacks. Here the layout the browser fetches holds the page (same ids as Dash's
    container), and the location's ``pathname``/``search`` equal the browser's, so the router
    is not called on load; navigating between pages still goes through it. Without a usable
    referrer this is Dash's own empty container (the router draws the page)."""
    requested = _requested_page()
    if requested is None:
        return dash.page_container
    page, path, query = requested
    layout = page["layout"]
    content = layout(**dict(parse_qsl(query))) if callable(layout) else layout
    _note_chunks(page["path"], content)
    title = page["title"]() if callable(page["title"]) else page["title"]
    return dash.html.Div(
        [
            dash.dcc.Location(
                id="_pages_location", refresh="callback-nav", pathname=path, search=f"?{query}" if query else ""
            ),
            dash.html.Div(content, id="_pages_content", disable_n_clicks=True),
            dash.dcc.Store(id="_pages_store", data={"title": title}),
            dash.html.Div(id="_pages_dummy", disable_n_clicks=True),
        ]
    )


def _layout():
    """The app's layout, built per request (Dash pages: ``layout()`` as a function)."""
    return dash.html.Div([page_bar(), page_container()])


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
    _use_riskgov_plotly(app)
    _use_regenerator_runtime(app)
    _install_compression(app.server)
    return app


def _use_riskgov_plotly(app: dash.Dash) -> None:
    """Load the plotly.js bundle of the trace types riskgov draws (``dashboards.plotlyjs``,
    1.06 MB) with the page's scripts — while it is the installed plotly's plotly.js
    version; else nothing changes.

    ``dcc.Graph`` uses ``window.Plotly`` when it is there, and only otherwise injects the full
    bundle (4.8 MB, from an unfingerprinted URL) once the first graph mounts. As one of the
    app's scripts the bundle gets a fingerprinted URL that Dash serves with a year's cache,
    and downloads beside the other scripts.

    A page whose layout has no graph leaves the bundle out (:func:`_graphless_page`); when a
    graph mounts there later (the user follows a ``dcc.Link`` to a page with graphs), dcc
    injects ``_dash-component-suites/plotly/package_data/plotly.min.js``, which is then
    redirected to this bundle."""
    from plotly.offline import get_plotlyjs_version

    from dashboards import plotlyjs

    if get_plotlyjs_version() != plotlyjs.__version__:
        return
    resource = {"relative_package_path": plotlyjs.BUNDLE, "namespace": plotlyjs.__name__}
    app.scripts.append_script(resource)

    @app.server.before_request
    def _full_bundle_to_riskgov():  # noqa: ANN202 — Flask hook
        if flask.request.path == FULL_PLOTLY_PATH:
            return flask.redirect(app._collect_and_register_resources([resource])[0], code=302)
        return None


#: where dcc.Graph fetches plotly.js when the page has not loaded it (``window._dashPlotlyJSURL``
#: with ``serve_locally``), relative to the app
FULL_PLOTLY_PATH = "/_dash-component-suites/plotly/package_data/plotly.min.js"


def _use_regenerator_runtime(app: dash.Dash) -> None:
    """Serve the regenerator runtime (:mod:`dashboards.vendor`) as one of the app's scripts
    (fingerprinted, a year's cache); :func:`_replace_polyfill` puts it where Dash's polyfill
    was."""
    from dashboards import vendor

    app.scripts.append_script({"relative_package_path": vendor.RUNTIME, "namespace": vendor.__name__})


#: response types worth compressing (text); JSON covers the layout and callback answers
COMPRESSIBLE = ("application/javascript", "text/javascript", "text/css", "application/json", "text/html")
_GZIPPED: dict[str, bytes] = {}  # fingerprinted component-suite path → gzip body (never changes)


def _install_compression(server: flask.Flask) -> None:
    """gzip the Dash responses when the browser accepts it (``Vary: Accept-Encoding``).

    The scripts under ``_dash-component-suites`` have fingerprinted URLs that Dash serves with
    a year's ``Cache-Control``: they are compressed once per process (level 9) and kept; the
    layout, dependencies and callback answers are compressed per response (level 5). What
    ``Dash(compress=True)`` does with flask-compress, without the extra dependency and
    without compressing a 1 MB script on every request."""

    @server.after_request
    def _gzip(response):  # noqa: ANN001, ANN202 — Flask hook
        if (
            response.status_code != 200
            or response.direct_passthrough
            or "Content-Encoding" in response.headers
            or response.mimetype not in COMPRESSIBLE
            or "gzip" not in flask.request.headers.get("Accept-Encoding", "")
        ):
            return response
        response.vary.add("Accept-Encoding")
        path = flask.request.path
        immutable = "/_dash-component-suites/" in path and (response.cache_control.max_age or 0) > 0
        body = _GZIPPED.get(path) if immutable else None
        if body is None:
            data = response.get_data()
            if len(data) < 1024:
                return response
            body = gzip.compress(data, compresslevel=9 if immutable else 5, mtime=0)
            if immutable:
                _GZIPPED[path] = body
        response.set_data(body)
        response.headers["Content-Encoding"] = "gzip"
        return response


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

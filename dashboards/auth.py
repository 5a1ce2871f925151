"""Django sessions for the Dash app: every Dash request is checked against the Django user.

The Flask server under Dash has no Django middleware, so a ``before_request`` hook loads the
Django session from its cookie, resolves the user exactly as ``django.contrib.auth`` does
(session auth hash included, so a password change logs the user out here too), and refuses
requests without a riskgov role. Database connections are closed before and after each
request, as Django does for its own requests.
"""

from __future__ import annotations

from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import flask
from django.conf import settings
from django.contrib.auth import get_user
from django.db import close_old_connections

from riskgov.core.roles import can_view, user_roles


def django_user_for(cookie_value: str | None) -> Any:
    """The Django user of a session cookie value (``AnonymousUser`` when none/invalid)."""
    engine = import_module(settings.SESSION_ENGINE)
    session = engine.SessionStore(cookie_value)
    return get_user(SimpleNamespace(session=session))


def current_user() -> Any:
    """The Django user of the Dash request being served (set by the hook)."""
    return flask.g.get("riskgov_user")


def current_roles() -> frozenset[str]:
    """The riskgov roles of the Dash request's user."""
    return user_roles(current_user())


#: what the Dash server serves without a session: the component libraries' scripts and the
#: favicon (the same files for everyone, like Django's static files; a page loads ~12 of them)
PUBLIC_PATHS = ("/_dash-component-suites/", "/_favicon.ico")


def install(server: flask.Flask, *, login_url: str = "/login/", prefix: str = "/dash/") -> None:
    """Install the session check and connection hygiene on the Dash Flask server."""

    @server.before_request
    def _require_django_user():  # noqa: ANN202 — Flask hook
        if flask.request.path.startswith(PUBLIC_PATHS):
            return None  # library scripts (Dash, Plotly): no data, no session lookup per file
        close_old_connections()
        user = django_user_for(flask.request.cookies.get(settings.SESSION_COOKIE_NAME))
        flask.g.riskgov_user = user
        if not user.is_authenticated:
            if flask.request.path.startswith("/_dash"):
                return flask.Response("login required", status=401)
            target = prefix.rstrip("/") + flask.request.full_path.rstrip("?")
            return flask.redirect(f"{login_url}?next={quote(target)}")
        if not can_view(user):
            return flask.Response("You have no riskgov role; ask an administrator.", status=403)
        return None

    @server.teardown_request
    def _close_connections(exc):  # noqa: ANN001, ANN202
        close_old_connections()

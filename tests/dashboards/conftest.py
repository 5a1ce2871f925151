"""Render Dash page layouts as a given Django user, and find components in the tree."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dash
import flask
import pytest


def walk(node: Any) -> Iterator[Any]:
    """Every Dash component under ``node`` (depth first)."""
    if node is None or isinstance(node, (str, int, float)):
        return
    if isinstance(node, (list, tuple)):
        for n in node:
            yield from walk(n)
        return
    yield node
    yield from walk(getattr(node, "children", None))


def find(node: Any, component_id: Any) -> Any:
    """The component with ``id == component_id`` (``LookupError`` when absent)."""
    for n in walk(node):
        if getattr(n, "id", None) == component_id:
            return n
    raise LookupError(component_id)


def text(node: Any) -> str:
    """All text under a component, concatenated."""
    if isinstance(node, (str, int, float)):
        return str(node)
    if isinstance(node, (list, tuple)):
        return "".join(text(n) for n in node)
    return text(getattr(node, "children", "") or "")


def page_module(path: str) -> Any:
    """The module Dash imported for a page (its callbacks are module functions).

    Dash imports pages under its own module names; importing ``dashboards.pages.x`` again
    would register the page and its callbacks a second time.
    """
    import sys

    from riskgov.config.wsgi import application  # noqa: F401

    page = next(p for p in dash.page_registry.values() if p["path"] == path)
    return sys.modules[page["module"]]


@pytest.fixture
def render(monkeypatch):
    """``render(path, user, **query)``: the page's layout as ``user`` would get it."""
    import dashboards.auth
    from riskgov.config.wsgi import application  # noqa: F401 — creates the Dash app and its pages

    # like Django's test client: keep the test transaction's connection open
    monkeypatch.setattr(dashboards.auth, "close_old_connections", lambda: None)

    def _render(path: str, user: Any, **query: Any) -> Any:
        page = next(p for p in dash.page_registry.values() if p["path"] == path)
        app = dash.get_app()
        with app.server.test_request_context(f"/dash{path}"):
            flask.g.riskgov_user = user
            return page["layout"](**query)

    return _render


@pytest.fixture
def render_callback(render):
    """``render_callback(fn, user, *args)``: a page callback's output as ``user`` would get it."""

    def _call(fn: Any, user: Any, *args: Any) -> Any:
        app = dash.get_app()
        with app.server.test_request_context("/dash/_dash-update-component"):
            flask.g.riskgov_user = user
            return fn(*args)

    return _call

"""Browser tests: a live riskgov server (Django + Dash, the real WSGI app) on a free port,
driven by Playwright in headless Debian Chromium (never a downloaded browser).

Screenshots go to ``artifacts/screenshots/`` (CI keeps the folder).
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from django.core.signals import request_finished
from django.db import connections
from werkzeug.serving import make_server

from tests.tools import require_tool

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture
def live_app(transactional_db, settings):
    """Serve ``riskgov.config.wsgi.application`` (Django + /dash/) in a thread."""
    settings.DEBUG = True  # static files served by WhiteNoise finders
    from django.contrib.staticfiles.handlers import StaticFilesHandler

    from riskgov.config.wsgi import django_application, mount

    app = mount(StaticFilesHandler(django_application))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    main = threading.current_thread()

    def close_request_connections(**_kwargs):
        # One thread per request: with CONN_MAX_AGE each thread's connection would stay open
        # until garbage-collected, and a fuzzing run of thousands of requests exhausts
        # PostgreSQL's max_connections ("too many clients"). Close them as each request ends.
        if threading.current_thread() is not main:
            for conn in connections.all(initialized_only=True):
                conn.close()

    request_finished.connect(close_request_connections, dispatch_uid="live_app_close_connections")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        request_finished.disconnect(dispatch_uid="live_app_close_connections")


@pytest.fixture
def gated_chunks(monkeypatch):
    """Hold the impact run before its second account chunk until the test lets it go
    (so the page is seen mid-run); released and the background threads joined at the end."""
    from riskgov.health import services as health_services

    real = health_services.health_chunk_compute
    gate, calls = threading.Event(), []

    def compute(**kw):
        calls.append(kw["first_account"])
        if len(calls) == 2:
            gate.wait(timeout=60)
        return real(**kw)

    monkeypatch.setattr(health_services, "health_chunk_compute", compute)
    try:
        yield gate
    finally:
        gate.set()
        for t in threading.enumerate():
            if t.name.startswith("riskgov-"):
                t.join(timeout=120)


@pytest.fixture
def browser_page(monkeypatch):
    """A fresh Chromium page (1280×900).

    Playwright's sync API keeps an event loop on the test thread; the ORM calls the test
    makes there are plain synchronous calls, so Django's async guard is relaxed for this
    test only (the server runs in its own threads, unaffected).
    """
    chromium = require_tool("chromium")  # skipped without it, unless RISKGOV_REQUIRE_TOOLS=1 (CI)
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(30000)
        try:
            yield page
        finally:
            browser.close()


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot under artifacts/screenshots/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, base: str, username: str, password: str = "pw", next_url: str = "/") -> None:
    page.goto(f"{base}/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")

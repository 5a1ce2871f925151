"""Every page under the Content-Security-Policy in headless Chromium: no CSP violation on
the Django pages, every Dash page or the API docs, and nothing fetched from another origin
(the policy allows none: Swagger UI and every script come from the app)."""

from __future__ import annotations

import pytest

from riskgov.core.roles import ADMIN
from tests.e2e.conftest import log_in, screenshot
from tests.factories import UserFactory

pytestmark = pytest.mark.e2e

DJANGO_PAGES = [
    "/",
    "/parameters/",
    "/proposals/",
    "/policy/",
    "/audit/",
    "/alerts/",
    "/reports/",
    "/margin/simulator/",
]
DASH_PAGES = [
    "/dash/",
    "/dash/overview",
    "/dash/accounts",
    "/dash/stress",
    "/dash/impact",
    "/dash/parameters",
    "/dash/model-health",
    "/dash/model-validation",
    "/dash/portfolio",
]

# every securitypolicyviolation event the page sees, kept on window (read after each load)
RECORD = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
    e.violatedDirective + ' ' + e.blockedURI));
"""


def test_no_page_breaks_the_content_security_policy(live_app, browser_page, health_run, impact_proposal):
    page, base = browser_page, live_app
    UserFactory(username="adele", roles=[ADMIN])
    console, outside = [], []
    page.on("console", lambda m: console.append(m.text) if "Content Security Policy" in m.text else None)

    def route(r):
        if r.request.url.startswith(base):
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    page.context.route("**/*", route)
    page.add_init_script(RECORD)
    log_in(page, base, "adele", next_url="/")
    violations = {}
    for url in [*DJANGO_PAGES, *DASH_PAGES, "/api/v1/docs/"]:
        r = page.goto(f"{base}{url}")
        assert r is not None and r.status == 200, url
        if url.startswith("/dash/"):
            page.wait_for_selector("#_pages_content, #react-entry-point ._dash-loading, h1", state="attached")
            page.wait_for_load_state("networkidle")
        if url == "/api/v1/docs/":
            page.wait_for_selector(".swagger-ui .info .title")
        seen = page.evaluate("window.__csp || []")
        if seen:
            violations[url] = seen
    screenshot(page, "csp-api-docs")
    # the proposals filter submits on change without an inline handler (the CSP forbids those)
    page.goto(f"{base}/proposals/")
    with page.expect_navigation():
        page.select_option("#status-filter", "submitted")
    assert "status=submitted" in page.url
    seen = page.evaluate("window.__csp || []")
    if seen:
        violations["/proposals/?status=submitted"] = seen
    assert violations == {}
    assert console == []
    assert outside == []


def test_accounts_rank_by_stress_shortfall_in_the_browser(live_app, browser_page, health_run):
    from riskgov.health.models import AccountResult

    page, base = browser_page, live_app
    UserFactory(username="vic", roles=["viewer"])
    log_in(page, base, "vic", next_url="/dash/accounts")
    page.wait_for_selector("#accounts-riskiest-title")
    assert "by margin ratio" in page.text_content("#accounts-riskiest-title")
    page.click("#accounts-rank >> text=stress shortfall")
    page.wait_for_function(
        "() => document.querySelector('#accounts-riskiest-title').textContent.includes('stress shortfall')"
    )
    best = AccountResult.objects.filter(run=health_run, stress_shortfall_usd__isnull=False).order_by(
        "-stress_shortfall_usd", "account_idx"
    )[0]
    assert page.text_content("#accounts-riskiest a >> nth=0") == best.account_id
    assert best.stress_scenario in page.inner_text("#accounts-riskiest")
    screenshot(page, "dash-accounts-rank-stress")

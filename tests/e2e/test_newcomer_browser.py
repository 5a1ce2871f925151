"""#16 item 2 in a real browser: the demo's admin reaches Alert rules and Periodic tasks, and
the API docs render with every request outside the app blocked (Swagger UI from the package)."""

import pytest

from riskgov.demo.composition import demo_alerts_and_schedules_ensure, demo_users_ensure
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.e2e


def test_demo_admin_reaches_the_admin_pages_and_docs_work_offline(live_app, browser_page):
    page = browser_page
    demo_users_ensure()
    demo_alerts_and_schedules_ensure()
    outside = []

    def route(r):
        if r.request.url.startswith(live_app):
            return r.continue_()
        outside.append(r.request.url)
        return r.abort()

    page.context.route("**/*", route)
    page.goto(f"{live_app}/login/?next=/admin/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "admin-demo")
    page.click("button[type=submit]")
    page.wait_for_selector("#content")
    assert "permission to view or edit anything" not in page.inner_text("body")
    page.goto(f"{live_app}/admin/alerts/alertrule/")
    assert page.locator("#result_list tbody tr").count() == 10
    screenshot(page, "admin-alert-rules")
    page.goto(f"{live_app}/admin/django_celery_beat/periodictask/")
    assert page.locator("#result_list tbody tr").count() >= 5
    screenshot(page, "admin-periodic-tasks")

    page.goto(f"{live_app}/api/v1/docs/")
    page.wait_for_selector(".swagger-ui .info .title")
    assert "riskgov API" in page.inner_text(".swagger-ui .info .title")
    assert page.locator(".opblock-tag").count() > 5  # the endpoints are listed
    screenshot(page, "api-docs-offline")
    assert outside == []  # nothing was fetched from a CDN

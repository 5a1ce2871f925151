"""Real pages in a real browser: log in, open the committee UI and the Dash Parameters page."""

import pytest

from riskgov.core.roles import VIEWER
from riskgov.parameters.services import parameters_import_document
from tests.e2e.conftest import log_in, screenshot
from tests.factories import UserFactory, parameter_document

pytestmark = pytest.mark.e2e


def test_viewer_logs_in_and_sees_parameters_and_dash_charts(live_app, browser_page):
    page = browser_page
    UserFactory(username="vera", roles=[VIEWER])
    parameters_import_document(document=parameter_document())
    parameters_import_document(document=parameter_document(), venue="hyperliquid", reference=True)

    log_in(page, live_app, "vera", next_url="/parameters/")
    page.wait_for_selector("text=Active parameters")
    assert page.locator("table >> text=BTC-PERP").count() == 1
    screenshot(page, "parameters")

    page.goto(f"{live_app}/dash/parameters")
    page.wait_for_selector("#parameters-mmf .main-svg")
    page.wait_for_selector("#parameters-mmf >> text=BTC-PERP: Maintenance margin fraction by notional")
    legend = [t.text_content() for t in page.locator("#parameters-mmf .legendtext").all()]  # SVG text
    assert legend == ["hyperliquid (reference)", "riskgov v1 (active)"]
    assert page.locator("#parameters-versions >> text=active").count() >= 1
    assert page.locator("nav >> text=vera").count() == 1  # shared navigation knows the user
    screenshot(page, "dash-parameters")

    with page.expect_download() as download:
        page.click("#parameters-download-button")
    csv = download.value.path().read_text()
    assert csv.splitlines()[0].startswith("market,source,bracket")
    assert "BTC-PERP,riskgov v1 (active),2,300000" in csv


def test_anonymous_visitor_is_sent_to_login(live_app, browser_page):
    page = browser_page
    page.goto(f"{live_app}/dash/parameters")
    page.wait_for_selector("#id_username")
    assert "/login/" in page.url

"""The margin simulator in a real browser: an analyst adds a put leg, removes the perp,
simulates, and reads the heat map; then compares with a PM proposal."""

import pytest

from riskgov.core.roles import ANALYST
from riskgov.governance.services import proposal_create
from riskgov.markets.models import Asset
from riskgov.portfolio.services import pm_defaults_seed
from tests.e2e.conftest import log_in, screenshot
from tests.factories import AssetFactory, UserFactory
from tests.governance_fixtures import later

pytestmark = pytest.mark.e2e


def test_analyst_builds_a_book_and_compares_with_a_proposal(live_app, browser_page):
    page = browser_page
    ana = UserFactory(username="ana", roles=[ANALYST])
    pm_defaults_seed(underlying=AssetFactory(symbol="BTC"))
    p = proposal_create(
        by=ana,
        title="Wider BTC PM grid",
        rationale="vol regime",
        effective_at=later(days=3),
        changes=[{"pm": "BTC", "price_range": "0.3", "buckets": 6}],
    )
    assert Asset.objects.filter(symbol="BTC").exists()

    log_in(page, live_app, "ana", next_url="/margin/simulator/")
    page.wait_for_selector("#sim-form")
    assert page.locator("#legs-opt tbody tr").count() == 1
    page.click("#add-opt")
    row = page.locator("#legs-opt tbody tr").nth(1)
    cells = row.locator("input")
    for i, value in enumerate(["BTC", page.input_value("#legs-opt tbody tr >> nth=0 >> input >> nth=1"), "90000"]):
        cells.nth(i).fill(value)
    row.locator("select").select_option("put")
    cells.nth(3).fill("1")
    cells.nth(4).fill("0.6")
    page.locator("#legs-perp tbody tr .remove-leg").click()
    assert page.locator("#legs-perp tbody tr").count() == 0
    page.click("#simulate")
    page.wait_for_selector("#heat-active-BTC")
    assert page.locator("#heat-active-BTC td.cell").count() == 35
    assert page.locator("#heat-active-BTC td.cell.worst").count() == 1
    assert "$" in page.text_content("#result-active table.account")
    assert page.locator("#legs-opt tbody tr").count() == 2  # the posted book is kept
    screenshot(page, "margin-simulator")

    page.select_option("#proposal", str(p.pk))
    page.click("#simulate")
    page.wait_for_selector("#comparison")
    assert page.locator("#heat-proposal-BTC td.cell").count() == 13 * 3 + 8
    assert f"Proposal #{p.pk}" in page.text_content("#comparison thead")
    screenshot(page, "margin-simulator-compare")

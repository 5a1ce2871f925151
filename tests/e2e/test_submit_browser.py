"""Submitting a proposal returns at once (issue #16 item 7): on the embedded default's eager
Celery the impact job runs in a background thread of the served process
(``RISKGOV_EAGER_BACKGROUND``); the proposal page shows the impact run's progress, refreshing
itself, then the impact; a committee member's vote form appears only after."""

import time

import pytest

from riskgov.governance.models import Proposal
from tests.e2e.conftest import log_in, screenshot
from tests.governance_fixtures import later
from tests.venue_fixtures import STRICTER_BTC

pytestmark = pytest.mark.e2e


def test_submit_returns_at_once_and_the_page_follows_the_impact(
    live_app, browser_page, venue, people, settings, gated_chunks
):
    settings.RISKGOV_EAGER_BACKGROUND = True  # the served embedded default
    settings.RISKGOV_HEALTH_CHUNK_ACCOUNTS = 5  # 21 accounts: five chunks, so progress moves
    from riskgov.governance.services import proposal_create

    p = proposal_create(
        by=people["analyst"],
        title="Double BTC margins",
        rationale="Realised volatility doubled.",
        effective_at=later(days=3),
        changes=[{"market": "BTC-PERP", "brackets": STRICTER_BTC}],
    )
    page = browser_page
    log_in(page, live_app, "ana", next_url=f"/proposals/{p.pk}/")
    page.wait_for_selector("#submit-proposal")
    started = time.monotonic()
    with page.expect_navigation():
        page.click("#submit-proposal")
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"submitting took {elapsed:.2f} s"
    assert page.text_content("#status").strip() == "Submitted"
    assert "votes open when it is recorded" in page.text_content(".messages, main")

    # the page polls the status partial: the run is held after its first chunk (1 of 5)
    page.wait_for_selector("#impact-status[data-state=running] >> text=1 of 5 account chunks", timeout=60000)
    assert page.get_attribute("#impact-progress", "value") == "19"
    screenshot(page, "proposal-impact-running")

    # a committee member sees the progress and no vote form yet
    member = page.context.browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    log_in(member, live_app, "m1", next_url=f"/proposals/{p.pk}/")
    member.wait_for_selector("#impact-status")
    assert member.locator("#vote-form").count() == 0
    assert "votes open when the impact analysis of this revision is recorded" in member.text_content("#vote-closed")

    gated_chunks.set()  # the run goes on; both pages reload themselves when the impact is frozen
    member.wait_for_selector("#vote-form", timeout=120000)
    assert member.get_attribute("#impact-status", "data-state") == "recorded"
    page.wait_for_selector("#impact-status[data-state=recorded]", timeout=30000)
    screenshot(member, "proposal-impact-recorded")
    proposal = Proposal.objects.get(pk=p.pk)
    assert proposal.impact_revision == 1 and proposal.impact["proposed"]["totals"]

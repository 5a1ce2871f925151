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


def test_an_analyst_proposes_several_changes_in_one_go_edits_them_and_submits(
    live_app, browser_page, venue, people, settings, gated_chunks
):
    """Issue #16 item 8: two market changes and a haircut change in one save; the edit
    removes one and adds another in one save (nothing typed is lost on the way); then the
    submit returns under 1 s (item 7)."""
    settings.RISKGOV_EAGER_BACKGROUND = True  # the served embedded default: the impact runs off the request
    page = browser_page
    log_in(page, live_app, "ana", next_url="/proposals/new/?market=BTC-PERP")
    page.wait_for_selector("#change-form")
    # #16.10: the active values are pre-filled as percent, the spelling of the "active: … %" hint
    assert page.input_value("#id_changes-0-liquidation_penalty").endswith(" %")
    assert page.input_value("#id_changes-0-brackets-0-initial_margin_fraction").endswith(" %")
    page.fill("#id_title", "Tighten BTC and ETH")
    page.fill("#id_rationale", "Both books thinned; BTC collateral is more volatile.")
    page.fill("#id_changes-0-brackets-1-initial_margin_fraction", "2.5 %")
    with page.expect_navigation():
        page.click("#add-market")  # a second market change, server-side
    assert page.input_value("#id_changes-1-subject") == "ETH-PERP"
    assert page.input_value("#id_title") == "Tighten BTC and ETH"
    assert page.input_value("#id_changes-0-brackets-1-initial_margin_fraction") == "2.5 %"  # kept as typed
    page.fill("#id_changes-1-liquidation_penalty", "0.35 %")
    with page.expect_navigation():
        page.click("#add-asset")
    assert page.input_value("#id_changes-2-subject") == "BTC"
    assert page.input_value("#id_changes-1-liquidation_penalty") == "0.35 %"
    page.fill("#id_changes-2-haircut", "6 %")
    screenshot(page, "proposal-form-several-changes")
    page.click("#save")
    page.wait_for_selector("#status")
    assert page.text_content("#status").strip() == "Draft"
    p = Proposal.objects.get(title="Tighten BTC and ETH")
    assert {(c.kind, c.subject) for c in p.changes.all()} == {
        ("market", "BTC-PERP"),
        ("market", "ETH-PERP"),
        ("asset", "BTC"),
    }

    # edit: remove the BTC-PERP change, add ETH's haircut, in one save
    page.click("#edit-proposal")
    page.wait_for_selector("#change-form")
    assert page.locator("fieldset.change").count() == 3
    assert page.input_value("#id_changes-1-liquidation_penalty") == "0.35 %"  # #16.10: stored 0.0035, shown as percent
    page.check("#id_changes-0-DELETE")
    with page.expect_navigation():
        page.click("#add-asset")
    assert page.input_value("#id_changes-3-subject") == "ETH"
    assert page.is_checked("#id_changes-0-DELETE")  # the tick survives the round trip
    page.fill("#id_changes-3-haircut", "12 %")
    screenshot(page, "proposal-edit-several-changes")
    page.click("#save")
    page.wait_for_selector("#status")
    assert "All checks pass" in page.text_content("#lint")
    assert {(c.kind, c.subject) for c in p.changes.all()} == {
        ("market", "ETH-PERP"),
        ("asset", "BTC"),
        ("asset", "ETH"),
    }

    started = time.monotonic()
    with page.expect_navigation():
        page.click("#submit-proposal")
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"submitting took {elapsed:.2f} s"
    assert page.text_content("#status").strip() == "Submitted"
    screenshot(page, "proposal-several-changes-submitted")
    gated_chunks.set()

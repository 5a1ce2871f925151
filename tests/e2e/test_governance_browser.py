"""Governance in a real browser: an analyst drafts and submits a proposal, a committee member
finds it in the inbox, reads the diff and the frozen impact (formatted, both sides of §15)
and votes with a comment (quorum 1, so it is approved)."""

import re

import pytest

from riskgov.core.roles import ADMIN, ANALYST, COMMITTEE
from riskgov.governance.models import Proposal, ProposalStatus, Vote
from riskgov.parameters.services import parameters_import_document
from tests.e2e.conftest import log_in, screenshot
from tests.factories import UserFactory, parameter_document

pytestmark = pytest.mark.e2e


def test_analyst_proposes_and_committee_member_votes(live_app, browser_page, health_run):
    page = browser_page
    UserFactory(username="ana", roles=[ANALYST])
    UserFactory(username="mia", roles=[COMMITTEE])
    UserFactory(username="adm", roles=[ADMIN])
    # the venue's parameters (BTC-PERP as the factory's) and a published run: submitting
    # the proposal computes its impact on that run's snapshot (Celery eager)
    # test set-up: a one-vote policy (policy_update refuses to weaken; governed by proposal)
    from riskgov.governance.models import Policy
    from riskgov.governance.services import policy_current

    policy_current()
    Policy.objects.filter(is_active=True).update(is_active=False, status="superseded")
    Policy.objects.create(version=2, quorum=1, fast_track_quorum=1, comment="one vote approves (test)")

    # the analyst drafts the change: bracket 2 IMF 2 % → 2.5 %
    log_in(page, live_app, "ana", next_url="/proposals/new/?market=BTC-PERP")
    page.wait_for_selector("#change-form")
    page.fill("#id_title", "Raise BTC-PERP bracket 2 IMF")
    page.fill("#id_rationale", "Realised volatility doubled this week; thinner books above 300k.")
    assert page.input_value("#id_changes-0-brackets-1-notional_floor").startswith("300000")
    page.fill("#id_changes-0-brackets-1-initial_margin_fraction", "0.004")  # below bracket 1's IMF and its own MMF
    page.click("#save")
    page.wait_for_selector(".row-error")
    error = page.text_content(".row-error")
    assert "Bracket 2" in error and "mmf_below_imf" in error
    assert Proposal.objects.count() == 0
    screenshot(page, "proposal-form-errors")
    page.fill("#id_changes-0-brackets-1-initial_margin_fraction", "0.025")
    page.click("#save")
    page.wait_for_selector("#status")
    assert page.text_content("#status").strip() == "Draft"
    assert "All checks pass" in page.text_content("#lint")
    page.click("#submit-proposal", timeout=180000)
    page.wait_for_selector("text=submitted", timeout=180000)
    assert page.text_content("#status").strip() == "Submitted"
    proposal = Proposal.objects.get()
    assert proposal.status == ProposalStatus.SUBMITTED
    page.click("nav >> text=Log out")
    page.wait_for_selector("#id_username")

    # a committee member finds it in the inbox, reads the diff, votes with a comment
    log_in(page, live_app, "mia", next_url="/proposals/")
    page.wait_for_selector("#awaiting")
    row = page.locator("#awaiting tbody tr", has_text="Raise BTC-PERP bracket 2 IMF")
    assert row.count() == 1 and "BTC-PERP" in row.text_content() and "0/1" in row.text_content()
    screenshot(page, "inbox")
    row.locator("a").first.click()
    page.wait_for_selector("table.diff")
    diff = page.text_content("table.diff")
    assert "Bracket 2 · IMF" in diff and "2.000 %" in diff and "2.500 %" in diff and "+25.00 %" in diff
    assert "50× → 40×" in diff
    # the frozen impact, formatted: both sides of §15, family labels, the frontier marked
    proposal.refresh_from_db()
    assert proposal.impact and proposal.impact.get("frontier"), proposal.impact
    impact = page.text_content("#impact")
    assert "Cost to traders" in impact and "Protection of the venue, per scenario family" in impact
    assert "ES 99 %, 1-day paths" in impact and "VaR 99 %, 3-day paths" in impact
    assert re.search(r"\$\+?\d{1,3}(,\d{3})+", impact) and " %" in impact
    assert not re.search(r"\d\.\d{6,}", impact) and "{" not in impact and '"format"' not in impact
    points = page.text_content("#impact-frontier-points-BTC-PERP")
    assert "current" in points and "proposed" in points and "×0.5" in points
    assert page.locator("#impact-frontier-BTC-PERP svg").count() == 1
    page.locator("#vote-form").scroll_into_view_if_needed()
    screenshot(page, "proposal_vote")
    page.check("input[name=decision][value=approve]")
    page.fill("#id_comment", "Consistent with the vol regime; fine.")
    page.click("#cast-vote")
    page.wait_for_selector("text=Your vote (approve) is recorded")
    assert page.text_content("#status").strip() == "Scheduled"
    assert "Consistent with the vol regime" in page.text_content("#votes")
    assert "submitted → approved" in page.text_content("#timeline")
    screenshot(page, "proposal")
    page.goto(f"{live_app}/audit/?actor=mia")
    page.wait_for_selector("#audit-table")
    screenshot(page, "audit")
    vote = Vote.objects.get()
    assert vote.voter.username == "mia" and vote.decision == "approve"


def test_new_proposal_form_keeps_what_was_typed_on_a_market_switch(live_app, browser_page):
    """Issue #16 item 8: switching the market reloads its values, not the title/rationale."""
    page = browser_page
    UserFactory(username="ana", roles=[ANALYST])
    parameters_import_document(document=parameter_document())
    log_in(page, live_app, "ana", next_url="/proposals/new/?market=BTC-PERP")
    page.wait_for_selector("#change-form")
    page.fill("#id_title", "Two markets at once")
    page.fill("#id_rationale", "Typed before switching the market.")
    options = "os => os.map(o => o.value)"
    other = [v for v in page.eval_on_selector_all("#id_changes-0-subject option", options) if v][-1]
    assert page.is_hidden("#load-0")  # the script loads on a switch (the button serves without it)
    with page.expect_navigation():
        page.select_option("#id_changes-0-subject", other)
    page.wait_for_selector("#change-form")
    assert page.input_value("#id_title") == "Two markets at once"
    assert page.input_value("#id_rationale") == "Typed before switching the market."
    assert page.input_value("#id_changes-0-subject") == other
    assert page.input_value("#id_changes-0-loaded") == other
    screenshot(page, "proposal-form-market-switch")


def test_audit_log_market_version_and_policy_pages(live_app, browser_page):
    """Issue #16 item 13: the audit log filters by names and fits; the market version page has
    every market field and the propose action; opening the policy page writes no record."""
    from riskgov.core.models import AuditEvent

    page = browser_page
    UserFactory(username="ana", roles=[ANALYST])
    version = parameters_import_document(document=parameter_document()).market_versions[0]
    log_in(page, live_app, "ana", next_url=f"/parameters/versions/{version.pk}/")
    page.wait_for_selector("#market-fields")
    assert "Liquidation penalty" in page.text_content("#market-fields")
    assert page.is_visible("#propose-change")
    screenshot(page, "market-version")
    before = AuditEvent.objects.count()
    page.goto(f"{live_app}/policy/")
    page.wait_for_selector("h1")
    assert AuditEvent.objects.count() == before
    screenshot(page, "policy")
    page.goto(f"{live_app}/audit/")
    page.wait_for_selector("#audit-table")
    page.select_option("#id_actor", "ana") if page.locator("#id_actor option[value=ana]").count() else None
    page.fill("#id_object", version.market.symbol)
    page.click("#audit-filters button[type=submit]")
    page.wait_for_selector("#audit-table")
    width = page.evaluate("document.querySelector('.table-scroll').scrollWidth <= window.innerWidth + 1")
    assert width
    screenshot(page, "audit-filtered-by-name")

"""Issue #16 "Done means": each role's first hour in one browser session, on a small demo-like
venue (the demo's users and alert rules, the tiny venue with a real published health run, a
submitted proposal with its frozen impact, an archived report): log in → home → every
dashboard through the shared navigation → (analyst) propose → (member) vote → report.

Every page visited is saved as ``artifacts/screenshots/<role>-<step>.png``. The finding of
#16 each check covers is named beside it as ``#16.N``.
"""

from __future__ import annotations

import re
import time

import pytest

from riskgov.demo.composition import demo_alerts_and_schedules_ensure, demo_users_ensure
from riskgov.governance.models import Proposal, Vote
from tests.e2e.conftest import screenshot
from tests.raw_numbers import html_raw_numbers, raw_numbers

pytestmark = pytest.mark.e2e

#: the demo's users (riskgov.demo.composition.DEMO_USERS), by the role each walks as
DEMO_USER = {"viewer": "viewer", "analyst": "analyst", "member": "member1", "admin": "admin"}

#: the dashboards, in the shared page bar: (link text, a selector only that page shows, the
#: plotly charts it must draw, screenshot step); the bar navigates client-side, so the
#: selector must not match the page left behind
DASHBOARDS = [
    ("Overview", "#kpi-var", ["overview-margin"], "dash-overview"),
    ("Accounts", "#accounts-riskiest", ["accounts-ratio", "accounts-map"], "dash-accounts"),
    ("Stress and coverage", "#stress-es", ["stress-scenarios", "stress-cascade"], "dash-stress"),
    ("Model health", "#model-recommendation", ["model-recommendation"], "dash-model-health"),
    ("Proposal impact", "#impact-newly", ["impact-scenarios"], "dash-impact"),
    ("Portfolio margin", "#portfolio-none", [], "dash-portfolio"),  # the tiny venue has no PM account
    # the test venue has no liquidation backtest: the page says so (#no-backtest), no chart
    ("Model validation", "#no-backtest", [], "dash-model-validation"),
    ("Parameters", "#parameters-mmf", ["parameters-mmf"], "dash-parameters"),  # last: the analyst proposes from it
]


@pytest.fixture
def one_vote_policy(db):
    """Test set-up: a one-vote policy (a proposal keeps the policy it was submitted under), so
    that the member's vote schedules the change (policy_update refuses to weaken)."""
    from riskgov.governance.models import Policy
    from riskgov.governance.services import policy_current

    policy_current()
    Policy.objects.filter(is_active=True).update(is_active=False, status="superseded")
    Policy.objects.create(version=2, quorum=1, fast_track_quorum=1, comment="one vote approves (test)")


@pytest.fixture
def first_hour(one_vote_policy, health_run, impact_proposal, settings, tmp_path):
    """The demo's users and default alert rules (evaluated on the run), a report archived in
    a temporary MEDIA_ROOT (SVG charts: no kaleido). Returns the proposal awaiting votes
    (submitted under a one-vote policy)."""
    from riskgov.alerts.firing import alerts_evaluate
    from riskgov.reports.services import report_build

    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RISKGOV_REPORT_CHARTS = "svg"
    demo_users_ensure()
    demo_alerts_and_schedules_ensure()
    alerts_evaluate()
    report_build()
    return impact_proposal


def shot(page, role: str, step: str) -> None:
    screenshot(page, f"{role}-{step}")


def no_raw_numbers_on_django_page(page) -> None:
    """#16.10: the visible text of the page follows the presentation rule."""
    found = html_raw_numbers(page.content())
    assert found == [], f"{page.url}: raw numbers {found[:5]}"


def log_in_through_the_login_page(page, base: str, role: str) -> None:
    page.goto(f"{base}/")
    page.wait_for_selector("#id_username")  # anonymous: sent to the login page
    shot(page, role, "login")
    page.fill("#id_username", DEMO_USER[role])
    page.fill("#id_password", f"{DEMO_USER[role]}-demo")
    page.click("button[type=submit]")
    page.wait_for_selector("#home-health")


def check_home(page, role: str, proposal: Proposal) -> None:
    """#16.11: the start page is the committee's: health headline, alerts firing, proposals
    awaiting my vote, next activations."""
    assert page.is_visible("#home-verdict")
    assert "health run" in page.text_content("#home-verdict")
    assert page.locator("#home-health .kpi").count() >= 3
    alerts = page.text_content("#home-alerts")
    assert "Alerts firing" in alerts
    assert page.locator("#home-alerts li").count() >= 1, alerts  # #16.4: the demo sets up its rules
    votes = page.text_content("#home-votes")
    if role == "member":
        assert proposal.title in votes and page.locator(f"#home-votes a[href='/proposals/{proposal.pk}/']").count() == 1
    else:
        assert "Only committee members vote" in votes and proposal.title not in votes
    assert page.is_visible("#home-activations")
    no_raw_numbers_on_django_page(page)
    shot(page, role, "home")


def walk_dashboards(page, role: str) -> None:
    """#16.11: the dashboards through the shared navigation; #16.10: no raw number in the
    text the browser shows (Dash tables included); the analyst's action only for analysts."""
    page.click("nav.topnav >> text=Dashboards")
    page.wait_for_selector("#dash-index-run")
    assert page.locator("#dash-pages a.dash-page-link").count() >= len(DASHBOARDS)
    shot(page, role, "dashboards")
    for link, ready, charts, step in DASHBOARDS:
        page.locator("#dash-pages").get_by_role("link", name=link, exact=True).click()
        page.wait_for_url(f"**/dash/{step.removeprefix('dash-')}")
        page.wait_for_selector(ready)
        for chart in charts:
            page.wait_for_selector(f"#{chart} .main-svg")
            page.wait_for_function(
                f"() => {{ const d = document.querySelector('#{chart} .js-plotly-plot');"
                " return d && d.data && d.data.length > 0; }"
            )
        assert page.is_visible("nav.topnav") and page.is_visible("#dash-pages")  # one navigation everywhere
        # the text the browser shows: the page's, and the charts' (ticks, labels, titles)
        chart_text = page.eval_on_selector_all("#_pages_content svg text", "ns => ns.map(n => n.textContent)")
        text = page.inner_text("#_pages_content") + "\n" + "\n".join(chart_text)
        assert bool(chart_text) == bool(charts)  # the charts' text is read too
        assert "Traceback" not in text and "Error" not in text.split("\n")[0]
        assert raw_numbers(text) == [], f"{link}: raw numbers {raw_numbers(text)[:5]}"
        if link in ("Overview", "Parameters"):
            assert page.locator("#propose-link").count() == (1 if role == "analyst" else 0)
        if link == "Proposal impact":
            assert page.locator("#impact-vote-link").count() == (1 if role == "member" else 0)
        shot(page, role, step)


def read_the_alerts(page, role: str) -> None:
    """#16.4: the alerts the demo's default rules fire on the run, formatted (#16.10)."""
    page.click("nav.topnav >> text=Alerts")
    page.wait_for_selector("#active-alerts")
    assert page.locator("#active-alerts tbody tr td.muted").count() == 0  # not "No alert is firing"
    assert page.locator("#active-alerts tbody tr").count() >= 1
    assert page.locator("#alert-rules tbody tr").count() == 10  # the demo's default rules
    no_raw_numbers_on_django_page(page)
    shot(page, role, "alerts")


def check_impact_formatted(page) -> str:
    """#16.6: the impact on the page the vote happens on, formatted, both sides (§15)."""
    impact = page.text_content("#impact")
    assert "Cost to traders" in impact and "Protection of the venue, per scenario family" in impact
    assert "1-day paths" in impact  # the family labels, never pooled
    assert re.search(r"\$[+−-]?\d{1,3}(,\d{3})+", impact) and " %" in impact
    assert "{" not in impact and '"format"' not in impact and "totals." not in impact  # no JSON dump
    assert not re.search(r"\d\.\d{6,}", impact) and "E-" not in impact
    # #16.5: a signed amount ("−$1,055") never wraps: every number cell is one line high
    cells = page.eval_on_selector_all(
        "#impact td.num",
        # per cell: its text, white-space, and the most lines any of its text nodes takes
        "ns => ns.map(n => { let most = 0; const w = document.createTreeWalker(n, NodeFilter.SHOW_TEXT);"
        " while (w.nextNode()) { if (!w.currentNode.textContent.trim()) continue;"
        " const r = document.createRange(); r.selectNodeContents(w.currentNode);"
        " most = Math.max(most, r.getClientRects().length); }"
        " return [n.textContent.trim(), getComputedStyle(n).whiteSpace, most]; })",
    )
    assert cells and all(ws == "nowrap" for _t, ws, _n in cells), cells[:5]
    signed = [(t, lines) for t, _ws, lines in cells if t[:1] in "+−"]
    assert signed and all(lines == 1 for _t, lines in signed), signed[:5]  # "−" and "$1,055" on one line
    return impact


def analyst_proposes(page, base: str, settings, request) -> None:
    """#16.8: switching the market keeps Title/Rationale; #16.7: the submit returns under 1 s,
    the page shows the impact run's progress, then the impact."""
    page.click("#propose-link")  # from the Parameters dashboard
    page.wait_for_selector("#change-form")
    page.fill("#id_title", "Raise ETH-PERP bracket 2 IMF")
    page.fill("#id_rationale", "ETH books thinned above 300k this week.")
    with page.expect_navigation():  # the page's script loads the market's values (server-side)
        page.select_option("#id_changes-0-subject", "ETH-PERP")
    page.wait_for_selector("#change-form")
    assert page.input_value("#id_changes-0-subject") == "ETH-PERP"
    assert page.input_value("#id_title") == "Raise ETH-PERP bracket 2 IMF"
    assert page.input_value("#id_rationale") == "ETH books thinned above 300k this week."
    assert page.input_value("#id_changes-0-brackets-1-initial_margin_fraction").endswith(" %")  # #16.10: percent
    no_raw_numbers_on_django_page(page)
    shot(page, "analyst", "proposal-form")
    page.fill("#id_changes-0-brackets-1-initial_margin_fraction", "2.5 %")  # #16.10: inputs accept "2.5 %"
    page.click("#save")
    page.wait_for_selector("#status")
    assert page.text_content("#status").strip() == "Draft"
    assert "All checks pass" in page.text_content("#lint")
    shot(page, "analyst", "proposal-draft")

    # the served embedded default: the impact job runs in a background thread, held after
    # its first account chunk so that the progress is seen
    settings.RISKGOV_EAGER_BACKGROUND = True
    settings.RISKGOV_HEALTH_CHUNK_ACCOUNTS = 5  # 21 accounts: five chunks
    gate = request.getfixturevalue("gated_chunks")  # after the fixtures' own runs
    started = time.monotonic()
    with page.expect_navigation():
        page.click("#submit-proposal")
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"submitting took {elapsed:.2f} s"
    assert page.text_content("#status").strip() == "Submitted"
    assert "votes open when it is recorded" in page.text_content(".messages, main")
    page.wait_for_selector("#impact-status[data-state=running] >> text=1 of 5 account chunks", timeout=60000)
    assert page.is_visible("#impact-progress")
    shot(page, "analyst", "proposal-impact-running")
    gate.set()
    page.wait_for_selector("#impact-status[data-state=recorded]", timeout=120000)
    page.wait_for_selector("#impact-cost")
    check_impact_formatted(page)
    no_raw_numbers_on_django_page(page)
    shot(page, "analyst", "proposal-impact")
    proposal = Proposal.objects.get(title="Raise ETH-PERP bracket 2 IMF")
    assert proposal.impact_revision == 1 and proposal.impact["proposed"]["totals"]


def member_votes(page, base: str, proposal: Proposal) -> None:
    """#16.6: the vote page shows the formatted impact, both sides, no JSON; #16.11: the vote
    moves the proposal from "awaiting my vote" to "next activations" on the start page."""
    page.click("nav.topnav >> text=Home")
    page.wait_for_selector("#home-votes")
    page.click(f"#home-votes a[href='/proposals/{proposal.pk}/']")
    page.wait_for_selector("#vote-form")
    diff = page.text_content("table.diff")
    assert "2.000 %" in diff and "4.000 %" in diff  # bracket 2 IMF 2 % → 4 %, as percent
    check_impact_formatted(page)
    no_raw_numbers_on_django_page(page)
    shot(page, "member", "proposal")
    page.locator("#vote-form").scroll_into_view_if_needed()
    page.check("input[name=decision][value=approve]")
    page.fill("#id_comment", "Protection gained is worth the margin cost.")
    page.click("#cast-vote")
    page.wait_for_selector("text=Your vote (approve) is recorded")
    assert page.text_content("#status").strip() == "Scheduled"
    shot(page, "member", "proposal-voted")
    assert Vote.objects.filter(proposal=proposal, voter__username="member1", decision="approve").count() == 1
    page.click("nav.topnav >> text=Home")
    page.wait_for_selector("#home-activations")
    assert proposal.title in page.text_content("#home-activations")
    assert proposal.title not in page.text_content("#home-votes")
    shot(page, "member", "home-after-vote")


def viewer_is_refused_governance_writes(page, base: str, proposal: Proposal) -> None:
    """A viewer is offered no propose/vote action and is refused one with a clear 403 page."""
    page.goto(f"{base}/proposals/{proposal.pk}/")
    page.wait_for_selector("#impact")
    assert page.locator("#vote-form, #cast-vote, #submit-proposal, #edit-proposal").count() == 0
    check_impact_formatted(page)  # reading is every role's
    shot(page, "viewer", "proposal")
    response = page.goto(f"{base}/proposals/new/")
    assert response.status == 403
    assert page.text_content("#forbidden-message") == "Creating a proposal needs the analyst role."
    shot(page, "viewer", "proposal-new-refused")
    token = page.input_value("nav.topnav input[name=csrfmiddlewaretoken]")
    refused = page.request.post(
        f"{base}/proposals/{proposal.pk}/vote/",
        form={"csrfmiddlewaretoken": token, "decision": "approve", "comment": "a viewer tries"},
        headers={"Referer": f"{base}/proposals/{proposal.pk}/"},
    )
    assert refused.status == 403 and 'id="forbidden-message"' in refused.text()
    assert "CSRF" not in refused.text()  # refused for the role, not for a missing token
    assert not Vote.objects.filter(voter__username="viewer").exists()


def read_the_report(page, role: str) -> None:
    """#16.13/#16.10: the report list and the latest report, formatted, family labels."""
    page.click("nav.topnav >> text=Reports")
    page.wait_for_selector("#reports-table")
    assert page.locator("#reports-table tbody tr").count() == 1
    assert "not sent" in page.text_content("#reports-table")  # never-sent is not "Sent now"
    assert page.locator("#send-now").count() == (1 if role == "admin" else 0)
    no_raw_numbers_on_django_page(page)
    shot(page, role, "reports")
    page.click("#reports-table tbody tr >> nth=0 >> text=HTML")
    page.wait_for_selector("#family-tails")
    text = page.inner_text("body")
    assert "1-day paths" in text and "3-day paths" in text
    assert re.search(r"\$\d{1,3}(,\d{3})+", text) and " %" in text
    no_raw_numbers_on_django_page(page)
    shot(page, role, "report")


def admin_reaches_the_admin(page, base: str) -> None:
    """#16.2: the demo's admin reaches Alert rules (the default rules, #16.4)."""
    page.go_back()  # the archived report is a standalone page: back to the reports list
    page.wait_for_selector("#reports-table")
    page.click("nav.topnav >> text=Admin")
    page.wait_for_selector("#content")
    assert "permission to view or edit anything" not in page.inner_text("body")
    shot(page, "admin", "admin")
    page.goto(f"{base}/admin/alerts/alertrule/")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 10
    shot(page, "admin", "admin-alert-rules")


@pytest.mark.parametrize("role", ["viewer", "analyst", "member", "admin"])
def test_first_hour(live_app, browser_page, first_hour, settings, request, role):
    page, base, proposal = browser_page, live_app, first_hour
    log_in_through_the_login_page(page, base, role)
    check_home(page, role, proposal)
    walk_dashboards(page, role)
    if role == "analyst":
        analyst_proposes(page, base, settings, request)
    if role == "member":
        member_votes(page, base, proposal)
    if role == "viewer":
        viewer_is_refused_governance_writes(page, base, proposal)
    read_the_alerts(page, role)
    read_the_report(page, role)
    if role == "admin":
        admin_reaches_the_admin(page, base)

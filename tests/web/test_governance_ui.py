"""Governance committee UI through the Django test client on real PostgreSQL.

Pages render for each role that may see them; every action is tried by every role
(viewer, analyst, committee, admin, no role) and each forbidden cell is refused with
the database unchanged; form errors name the bracket and the rule; the audit CSV holds
the filtered rows only.
"""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from riskgov.core.models import AuditEvent
from riskgov.governance import services as gs
from riskgov.governance.models import Policy, Proposal, ProposalKind, ProposalStatus, Vote
from tests.factories import UserFactory
from tests.governance_fixtures import BRACKETS, later, submit_for_votes

pytestmark = pytest.mark.django_db

ROLES = ("viewer", "analyst", "committee", "admin", "none")


@pytest.fixture
def who(people):
    """Role name → the user acting in that role (the analyst is the proposer)."""
    return {
        "viewer": people["viewer"],
        "analyst": people["analyst"],
        "committee": people["m1"],
        "admin": people["admin"],
        "none": UserFactory(username="nobody"),
    }


HEAD = ("title", "rationale", "effective_at")


def changes_post(head, changes):
    """The change form's POST data: the proposal's fields and one change row per dict
    ``{"kind": "market", "subject": "BTC-PERP", <fields>…, "brackets": [rows], "DELETE": "on"}``
    (prefix ``changes``, tables as nested formsets ``changes-i-<table>``)."""
    data = {**head, "changes-TOTAL_FORMS": str(len(changes)), "changes-INITIAL_FORMS": "0"}
    data.update({"changes-MIN_NUM_FORMS": "0", "changes-MAX_NUM_FORMS": "50"})
    for i, ch in enumerate(changes):
        p = f"changes-{i}"
        data[f"{p}-kind"] = ch["kind"]
        data[f"{p}-subject"] = data[f"{p}-loaded"] = ch["subject"]
        for k, v in ch.items():
            if k in ("kind", "subject"):
                continue
            if isinstance(v, list):
                data.update({f"{p}-{k}-TOTAL_FORMS": str(len(v)), f"{p}-{k}-INITIAL_FORMS": "0"})
                for j, row in enumerate(v):
                    data.update({f"{p}-{k}-{j}-{c}": x for c, x in row.items()})
            else:
                data[f"{p}-{k}"] = v
    return data


def change_post(**over):
    """A valid BTC-PERP change form: bracket 2 IMF 2 % → 2.2 %. ``over`` keys: the
    proposal's fields, ``market`` (the subject), ``asset``/``haircut`` (adds a haircut
    change), ``brackets-i-<column>`` / ``brackets-TOTAL_FORMS`` and market fields."""
    head = {
        "title": "Raise BTC IMF",
        "rationale": "volatility is up",
        "effective_at": (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M"),
    }
    market = {
        "kind": "market",
        "subject": over.pop("market", "BTC-PERP"),
        "liquidation_penalty": "0.002",
        "depth_usd_per_1pct": "50000000",
        "oi_cap_lower_usd": "0",
        "oi_cap_upper_usd": "0",
        "max_position_notional_usd": "",
        "brackets": [*BRACKETS, {}],
    }
    asset = {"kind": "asset", "subject": over.pop("asset", ""), "haircut": over.pop("haircut", "")}
    extra = {}
    for k, v in over.items():
        if k in HEAD:
            head[k] = v
        elif k.startswith("brackets-"):
            extra[f"changes-0-{k}"] = v
        else:
            market[k] = v
    data = changes_post(head, [market, asset] if asset["subject"] else [market])
    data.update(extra)
    return data


def stricter_post(**over):
    """An emergency change: every MMF and IMF up (stricter everywhere)."""
    strict = {
        "brackets-0-initial_margin_fraction": "0.012",
        "brackets-0-maintenance_margin_fraction": "0.005",
        "brackets-1-initial_margin_fraction": "0.025",
        "brackets-1-maintenance_margin_fraction": "0.006",
        "brackets-2-initial_margin_fraction": "0.06",
        "brackets-2-maintenance_margin_fraction": "0.012",
        "title": "Emergency: tighten BTC",
    }
    data = change_post(**{**strict, **over})
    data.pop("effective_at")
    return data


# --- pages --------------------------------------------------------------------------------
def test_pages_need_login_and_a_role(client, who, make_proposal):
    p = make_proposal()
    urls = [
        reverse("proposals"),
        reverse("proposal-new"),
        reverse("emergency-new"),
        reverse("proposal-detail", args=[p.pk]),
        reverse("proposal-edit", args=[p.pk]),
        reverse("policy"),
        reverse("audit"),
        reverse("audit-export"),
    ]
    for url in urls:
        r = client.get(url)
        assert r.status_code == 302 and "/login/" in r["Location"], url
    client.force_login(who["none"])
    for url in urls:
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("role", ["viewer", "analyst", "committee", "admin"])
def test_pages_render_for_each_role(client, who, role, make_proposal):
    p = make_proposal()
    client.force_login(who[role])
    for name, args in (("proposals", []), ("proposal-detail", [p.pk]), ("policy", []), ("audit", [])):
        r = client.get(reverse(name, args=args))
        assert r.status_code == 200, (name, role)
    page = client.get(reverse("proposal-detail", args=[p.pk])).content.decode()
    assert "Raise BTC IMF" in page and "Bracket 2 · IMF" in page
    assert "2.000 %" in page and "2.200 %" in page and "+10.00 %" in page  # percent and relative change
    assert "50×" in page and "45.45×" in page  # max leverage before → after
    assert (client.get(reverse("proposal-new")).status_code == 200) == (role == "analyst")
    assert (client.get(reverse("emergency-new")).status_code == 200) == (role == "committee")
    assert (client.get(reverse("proposal-edit", args=[p.pk])).status_code == 200) == (role == "analyst")
    policy_page = client.get(reverse("policy")).content.decode()
    assert ('id="policy-form"' in policy_page) == (role == "admin")


def test_inbox_sections_and_status_filter(client, people, make_proposal):
    draft = make_proposal(title="Still a draft")
    submitted = submit_for_votes(make_proposal(title="Waiting for votes"), people["analyst"])
    client.force_login(people["m1"])
    page = client.get(reverse("proposals")).content.decode()
    awaiting = page.split('id="awaiting"')[1].split("</section>")[0]
    assert "Waiting for votes" in awaiting and "Still a draft" not in awaiting
    assert "BTC-PERP" in awaiting and "0/2" in awaiting  # markets touched, approvals k/n
    assert 'id="mine"' not in page  # not an analyst
    page = client.get(reverse("proposals"), {"status": "draft"}).content.decode()
    all_rows = page.split('id="all"')[1]
    assert "Still a draft" in all_rows and "Waiting for votes" not in all_rows
    client.force_login(people["analyst"])
    page = client.get(reverse("proposals")).content.decode()
    mine = page.split('id="mine"')[1].split("</section>")[0]
    assert f"/proposals/{draft.pk}/" in mine and f"/proposals/{submitted.pk}/" in mine
    assert 'id="awaiting"' not in page


def test_new_proposal_form_is_prefilled_from_the_active_version(client, people, market):
    client.force_login(people["analyst"])
    page = client.get(reverse("proposal-new"), {"market": "BTC-PERP", "asset": "BTC"}).content.decode()
    assert 'value="300000' in page and 'value="2 %"' in page and 'value="0.5 %"' in page  # fractions as percent
    assert 'name="changes-0-liquidation_penalty" value="0.2 %"' in page
    assert 'name="changes-1-haircut" value="5 %"' in page


# --- permission matrix --------------------------------------------------------------------
def _snapshot():
    return (
        list(Proposal.objects.order_by("pk").values_list("pk", "status", "title", "revision")),
        list(Vote.objects.values_list("pk", "decision")),
        list(Policy.objects.values_list("version", "is_active")),
        AuditEvent.objects.count(),
    )


def _act(action, client, people, make_proposal):
    """Do ``action`` via the web; returns (response, check) where ``check()`` says it happened."""
    if action == "create":
        n = Proposal.objects.count()
        r = client.post(reverse("proposal-new"), change_post(title="Web proposal"))
        return r, lambda: Proposal.objects.count() == n + 1
    if action == "edit":
        p = make_proposal()
        r = client.post(reverse("proposal-edit", args=[p.pk]), change_post(title="Edited title"))
        return r, lambda: Proposal.objects.get(pk=p.pk).title == "Edited title"
    if action == "submit":
        p = make_proposal()
        r = client.post(reverse("proposal-submit", args=[p.pk]))
        return r, lambda: Proposal.objects.get(pk=p.pk).status == ProposalStatus.SUBMITTED
    if action == "withdraw":
        p = make_proposal()
        r = client.post(reverse("proposal-withdraw", args=[p.pk]), {"comment": "not needed"})
        return r, lambda: Proposal.objects.get(pk=p.pk).status == ProposalStatus.WITHDRAWN
    if action in ("vote approve", "vote reject"):
        p = submit_for_votes(make_proposal(), people["analyst"])
        decision = action.split()[1]
        r = client.post(reverse("proposal-vote", args=[p.pk]), {"decision": decision, "comment": "looked at it"})
        return r, lambda: Vote.objects.filter(proposal=p, decision=decision).exists()
    if action == "emergency":
        n = Proposal.objects.filter(kind=ProposalKind.EMERGENCY).count()
        r = client.post(reverse("emergency-new"), stricter_post(rationale="liquidity vanished"))
        return r, lambda: Proposal.objects.filter(kind=ProposalKind.EMERGENCY).count() == n + 1
    if action == "policy edit":
        r = client.post(reverse("policy"), _policy_post(quorum=3))
        return r, lambda: Policy.objects.get(is_active=True).quorum == 3
    if action == "audit export":
        r = client.get(reverse("audit-export"))
        return r, lambda: r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    raise AssertionError(action)


def _policy_post(**over):
    p = gs.policy_current()
    data = {f: str(getattr(p, f)) for f in gs.POLICY_FIELDS}
    data["comment"] = "tighter"
    data.update({k: str(v) for k, v in over.items()})
    return data


ALLOWED = {
    "create": {"analyst"},
    "edit": {"analyst"},
    "submit": {"analyst"},
    "withdraw": {"analyst"},
    "vote approve": {"committee"},
    "vote reject": {"committee"},
    "emergency": {"committee"},
    "policy edit": {"admin"},
    "audit export": {"viewer", "analyst", "committee", "admin"},
}


@pytest.mark.parametrize("action", list(ALLOWED))
@pytest.mark.parametrize("role", ROLES)
def test_permission_matrix_via_the_web(client, who, people, make_proposal, role, action):
    gs.policy_current()
    client.force_login(who[role])
    if role in ALLOWED[action]:
        r, happened = _act(action, client, people, make_proposal)
        assert r.status_code in (200, 302), (role, action, r.status_code)
        assert happened(), (role, action, r.content.decode()[:2000])
        return
    # forbidden: the database is compared right before and after the refused request
    r, happened = _act_forbidden(action, client, people, make_proposal)
    assert r.status_code == 403, (role, action, r.status_code)
    assert not happened()


def _act_forbidden(action, client, people, make_proposal):
    """Like ``_act`` but snapshots the database after the setup and checks it is unchanged."""
    state = {}
    original_post, original_get = client.post, client.get

    def post(*a, **kw):
        state["before"] = _snapshot()
        resp = original_post(*a, **kw)
        assert _snapshot() == state["before"], f"{action}: database changed by a refused request"
        return resp

    def get(*a, **kw):
        state["before"] = _snapshot()
        resp = original_get(*a, **kw)
        assert _snapshot() == state["before"]
        return resp

    client.post, client.get = post, get
    try:
        return _act(action, client, people, make_proposal)
    finally:
        client.post, client.get = original_post, original_get


def test_forbidden_page_says_why(client, people, make_proposal):
    client.force_login(people["viewer"])
    r = client.post(reverse("proposal-new"), change_post())
    assert r.status_code == 403
    assert "creating a proposal needs the role analyst" in r.content.decode()


def test_proposer_cannot_vote_on_own_proposal_via_the_web(client, people, make_proposal):
    both = people["both"]  # analyst and committee member
    p = submit_for_votes(make_proposal(by=both), both)
    client.force_login(both)
    page = client.get(reverse("proposal-detail", args=[p.pk])).content.decode()
    assert 'id="vote-form"' not in page and "cannot vote on it" in page
    page = client.get(reverse("proposals")).content.decode()
    assert f"/proposals/{p.pk}/" not in page.split('id="awaiting"')[1].split("</section>")[0]
    r = client.post(reverse("proposal-vote", args=[p.pk]), {"decision": "approve", "comment": "mine, fine"})
    assert r.status_code == 403
    assert "maker-checker" in r.content.decode()
    assert not Vote.objects.filter(proposal=p).exists()
    # a co-author cannot either
    q = submit_for_votes(make_proposal(co_authors=[both]), people["analyst"])
    r = client.post(reverse("proposal-vote", args=[q.pk]), {"decision": "reject", "comment": "no"})
    assert r.status_code == 403 and not Vote.objects.filter(proposal=q).exists()


def test_vote_needs_a_comment_and_records_the_impact_seen(client, people, make_proposal):
    p = submit_for_votes(make_proposal(), people["analyst"])
    client.force_login(people["m1"])
    r = client.post(reverse("proposal-vote", args=[p.pk]), {"decision": "approve", "comment": "  "}, follow=True)
    assert "a vote needs a comment" in r.content.decode()
    assert not Vote.objects.exists()
    gs.proposal_record_impact(
        proposal=p,
        impact={"newly_liquidatable": {"current": 2, "proposed": 5}, "total_mm_usd": {"current": 10, "proposed": 12}},
        revision=p.revision,
    )
    page = client.get(reverse("proposal-detail", args=[p.pk])).content.decode()
    assert "Newly liquidatable" in page and "+3" in page and "impact revision 1" in page
    r = client.post(reverse("proposal-vote", args=[p.pk]), {"decision": "approve", "comment": "fine"}, follow=True)
    assert "Your vote (approve) is recorded" in r.content.decode()
    vote = Vote.objects.get(proposal=p)
    assert vote.impact_revision == 1 and vote.comment == "fine"
    client.force_login(people["m2"])
    r = client.post(reverse("proposal-vote", args=[p.pk]), {"decision": "approve", "comment": "ok"}, follow=True)
    p.refresh_from_db()
    assert p.status == ProposalStatus.SCHEDULED
    page = r.content.decode()
    assert "fine" in page and "m1" in page and "scheduled" in page.lower()


def test_impact_pending_and_timeline(client, people, make_proposal):
    p = gs.proposal_submit(proposal=make_proposal(), by=people["analyst"])  # the impact job is still to run
    client.force_login(people["viewer"])
    page = client.get(reverse("proposal-detail", args=[p.pk])).content.decode()
    assert 'data-state="queued"' in page and "Impact analysis queued" in page
    timeline = page.split('id="timeline"')[1]
    assert "ana" in timeline and "draft → submitted" in timeline and "create" in timeline


# --- form errors --------------------------------------------------------------------------
def test_form_errors_name_the_bracket_and_the_rule(client, people, market):
    client.force_login(people["analyst"])
    before = _snapshot()
    r = client.post(reverse("proposal-new"), change_post(**{"brackets-1-maintenance_margin_fraction": "0.03"}))
    assert r.status_code == 200
    page = r.content.decode()
    assert 'class="error row-error" data-change="0" data-table="brackets" data-row="2"' in page
    assert "Bracket 2: BTC-PERP bracket 2 maintenance_margin_fraction: 0.03 is not &lt; initial_margin_fraction" in page
    assert "mmf_below_imf" in page
    assert _snapshot() == before

    r = client.post(reverse("proposal-new"), change_post(liquidation_penalty="0.01"))
    page = r.content.decode()
    assert 'data-field="liquidation_penalty"' in page and "penalty_above_mmf1" in page
    assert _snapshot() == before

    # a blank row between filled rows is skipped: "bracket 3" is the fourth form row
    data = change_post(
        **{
            "brackets-TOTAL_FORMS": "5",
            "brackets-3-notional_floor": "2000000",
            "brackets-3-initial_margin_fraction": "0.04",
            "brackets-3-maintenance_margin_fraction": "0.02",
        }
    )
    r = client.post(reverse("proposal-new"), data)
    page = r.content.decode()
    assert 'data-table="brackets" data-row="4"' in page and "imf_non_decreasing" in page
    assert _snapshot() == before


def test_submit_lint_errors_are_shown(client, people, make_proposal):
    p = make_proposal(effective_at=later(hours=1))
    client.force_login(people["analyst"])
    page = client.get(reverse("proposal-detail", args=[p.pk])).content.decode()
    assert "effective_at_before_timelock" in page  # lint shown on the draft
    r = client.post(reverse("proposal-submit", args=[p.pk]), follow=True)
    page = r.content.decode()
    assert "effective_at_before_timelock" in page and "Refused" in page
    assert Proposal.objects.get(pk=p.pk).status == ProposalStatus.DRAFT


def test_edit_after_submission_returns_to_draft(client, people, make_proposal):
    p = submit_for_votes(make_proposal(), people["analyst"])
    gs.proposal_vote(proposal=p, by=people["m1"], decision="approve", comment="ok")
    client.force_login(people["analyst"])
    page = client.get(reverse("proposal-edit", args=[p.pk])).content.decode()
    assert "back to <strong>draft</strong>" in page and 'value="2.2 %"' in page
    r = client.post(reverse("proposal-edit", args=[p.pk]), change_post(title="Raise BTC IMF (v2)"), follow=True)
    assert "saved" in r.content.decode()
    p.refresh_from_db()
    assert p.status == ProposalStatus.DRAFT and p.title == "Raise BTC IMF (v2)" and not p.votes.exists()


def test_emergency_must_be_stricter_and_is_ratified_via_the_web(client, people, market):
    client.force_login(people["m1"])
    looser = stricter_post(**{"brackets-2-maintenance_margin_fraction": "0.009"}, rationale="x")
    r = client.post(reverse("emergency-new"), looser)
    assert r.status_code == 200 and "mmf_lower" in r.content.decode()
    assert not Proposal.objects.exists()
    r = client.post(reverse("emergency-new"), stricter_post(rationale="book is thin"), follow=True)
    e = Proposal.objects.get(kind=ProposalKind.EMERGENCY)
    assert e.status == ProposalStatus.ACTIVE and "must ratify" in r.content.decode()
    client.force_login(people["m2"])
    page = client.get(reverse("proposal-detail", args=[e.pk])).content.decode()
    assert "Ratify this emergency change" in page
    client.post(reverse("proposal-vote", args=[e.pk]), {"decision": "approve", "comment": "agree"})
    client.force_login(people["m3"])
    client.post(reverse("proposal-vote", args=[e.pk]), {"decision": "approve", "comment": "agree"})
    e.refresh_from_db()
    assert e.status == ProposalStatus.RATIFIED


def test_policy_form_errors_come_from_the_service(client, people):
    client.force_login(people["admin"])
    r = client.post(reverse("policy"), _policy_post(quorum=1, fast_track_quorum=2))
    assert r.status_code == 200
    assert Policy.objects.get(is_active=True).version == 1
    assert "refused" in r.content.decode().lower() or "error" in r.content.decode().lower()
    r = client.post(reverse("policy"), _policy_post(quorum=3), follow=True)
    assert "Policy version 2 is in force" in r.content.decode()
    page = client.get(reverse("policy")).content.decode()
    assert "v1" in page and "v2" in page


# --- audit --------------------------------------------------------------------------------
def test_audit_log_filters_and_paginates(client, people, make_proposal):
    for i in range(3):
        make_proposal(title=f"P{i}")
    client.force_login(people["viewer"])
    page = client.get(reverse("audit"), {"actor": "ana", "action": "governance.proposal"}).content.decode()
    table = page.split('id="audit-table"')[1].split("</table>")[0]
    assert table.count("<code>governance.proposal.create</code>") == 3
    assert "<code>parameters." not in table  # the drafts' version events are filtered out
    assert "3 events" in page


def test_audit_log_pages(client, people, make_proposal, monkeypatch):
    from riskgov.web import audit_views

    for i in range(3):
        make_proposal(title=f"P{i}")
    monkeypatch.setattr(audit_views, "AUDIT_PAGE_SIZE", 2)
    client.force_login(people["viewer"])
    n = AuditEvent.objects.filter(actor_name__iexact="ana").count()
    page = client.get(reverse("audit"), {"actor": "ana"}).content.decode()
    assert f"page 1 of {(n + 1) // 2}" in page and "actor=ana&amp;page=2" in page
    page = client.get(reverse("audit"), {"actor": "ana", "page": 2}).content.decode()
    assert "page 2 of" in page and page.split('id="audit-table"')[1].split("<tbody>")[1].count("<tr>") == 2


def test_audit_csv_export_contains_the_filtered_rows_only(client, people, make_proposal):
    a = make_proposal(title="Alpha")
    submit_for_votes(a, people["analyst"])
    gs.proposal_vote(proposal=a, by=people["m1"], decision="reject", comment="too much")
    client.force_login(people["viewer"])
    r = client.get(reverse("audit-export"), {"actor": "m1"})
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    assert "attachment" in r["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    expected = AuditEvent.objects.filter(actor_name__iexact="m1")
    assert len(rows) == expected.count() >= 1
    assert {row["actor_name"] for row in rows} == {"m1"}
    vote_row = next(row for row in rows if row["action"] == "governance.vote.cast")
    assert vote_row["comment"] == "too much" and vote_row["to_state"] == "reject"
    assert '"revision": 1' in vote_row["after"]  # before/after exported as JSON
    assert set(rows[0]) >= {"created_at", "actor_name", "action", "object_type", "before", "after", "request_id"}

    # several filters at once (action prefix + object id), and the full export
    r = client.get(reverse("audit-export"), {"action": "governance.proposal.submit", "object_id": str(a.pk)})
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert [row["action"] for row in rows] == ["governance.proposal.submit"]
    r = client.get(reverse("audit-export"))
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert len(rows) == AuditEvent.objects.count()
    # an invalid filter never exports everything
    r = client.get(reverse("audit-export"), {"object_type": "no.such.type"})
    assert r.status_code == 400


def test_audit_request_id_filter(client, people, make_proposal):
    client.force_login(people["analyst"])
    client.post(reverse("proposal-new"), change_post(title="Tagged"), HTTP_X_REQUEST_ID="req-web-42")
    event = AuditEvent.objects.get(action="governance.proposal.create")
    assert event.request_id == "req-web-42"
    r = client.get(reverse("audit-export"), {"request_id": "req-web-42"})
    rows = list(csv.DictReader(io.StringIO(b"".join(r.streaming_content).decode())))
    assert rows and {row["request_id"] for row in rows} == {"req-web-42"}
    assert len(rows) == AuditEvent.objects.filter(request_id="req-web-42").count()


def test_change_form_carries_the_liquidation_horizon(client, people, market):
    client.force_login(people["analyst"])
    page = client.get(reverse("proposal-new"), {"market": "BTC-PERP"}).content.decode()
    assert 'name="changes-0-liquidation_horizon_minutes"' in page and 'value="5"' in page
    r = client.post(reverse("proposal-new"), change_post(title="Slower close", liquidation_horizon_minutes="15"))
    assert r.status_code == 302, r.content.decode()[:2000]
    p = Proposal.objects.get(title="Slower close")
    assert str(p.changes.get().market_version.liquidation_horizon_minutes.normalize()) == "15"
    page = client.get(reverse("proposal-detail", args=[p.pk])).content.decode()
    assert "Liquidation horizon (min)" in page


# --- issue #16 item 8: the forms keep what was typed and edit every change ---------------
@pytest.fixture
def eth_market(market):
    from riskgov.parameters.models import VersionStatus
    from tests.factories import AssetFactory, MarketFactory, market_version

    eth = MarketFactory(symbol="ETH-PERP", base_asset=AssetFactory(symbol="ETH"))
    market_version(eth, status=VersionStatus.ACTIVE)
    return eth


def test_new_form_keeps_title_and_rationale_when_the_market_changes(client, people, eth_market):
    client.force_login(people["analyst"])
    data = change_post(title="My title", rationale="Because of X", asset="BTC", haircut="0.07")
    data.update({"changes-0-subject": "ETH-PERP", "action": "load:0"})  # what the page's script sends
    page = client.post(reverse("proposal-new"), data).content.decode()
    assert 'value="My title"' in page and "Because of X" in page and 'value="0.07"' in page
    assert '<option value="ETH-PERP" selected>' in page and 'name="changes-0-loaded" value="ETH-PERP"' in page
    assert "load.click()" in page  # the script: a switch loads at once (a button does without it)


def test_edit_form_edits_every_change_and_adds_and_removes(client, people, make_proposal, eth_market):
    p = make_proposal(
        changes=[
            {"market": "BTC-PERP", "brackets": BRACKETS},
            {"market": "ETH-PERP", "liquidation_penalty": "0.003"},
        ]
    )
    client.force_login(people["analyst"])
    edit = reverse("proposal-edit", args=[p.pk])
    page = client.get(edit).content.decode()
    assert 'name="changes-0-subject"' in page and 'name="changes-1-liquidation_penalty" value="0.3 %"' in page
    data = change_post(title="Both markets", asset="BTC", haircut="0.06")  # BTC-PERP + a haircut
    data["changes-0-DELETE"] = "on"  # … but the BTC-PERP change removed
    r = client.post(edit, data)
    assert r.status_code == 302, r.content.decode()[:2000]
    assert {c.subject for c in p.changes.all()} == {"BTC"}


# --- issue #16 item 13: reads write nothing; the audit log filters by names ---------------
def test_opening_the_policy_page_writes_no_audit_record(client, people):
    client.force_login(people["viewer"])
    before = AuditEvent.objects.count()
    assert client.get(reverse("policy")).status_code == 200
    assert client.get(reverse("policy")).status_code == 200
    assert AuditEvent.objects.count() == before
    assert not Policy.objects.exists()  # the default policy is shown, not recorded, by a read
    page = client.get(reverse("policy")).content.decode()
    since = page.split('id="policy-since">')[1].split("</p>")[0]
    assert "No policy stored yet" in since and "In force since" not in since  # never "since  UTC."


def test_signed_money_never_wraps_in_the_vote_page_tables():
    """Issue #16 item 5: "−" then "$1,055" on two lines in the Change column. One rule: number
    cells (class ``num``, every Change cell of the impact) never wrap."""
    import re

    from django.conf import settings

    css = (settings.BASE_DIR / "riskgov/web/static/riskgov/riskgov.css").read_text()
    rule = re.search(r"(?m)^\.num \{([^}]*)\}", css)
    assert rule and "white-space:nowrap" in rule.group(1).replace(" ", "")
    impact = (settings.BASE_DIR / "templates/governance/_impact.html").read_text()
    for row in re.findall(r"<td[^>]*>\{\{ (?:r|s)\.delta \}\}</td>", impact):
        assert 'class="num' in row, row
    assert len(re.findall(r"\{\{ (?:r|s)\.delta \}\}", impact)) >= 4


def test_audit_log_filters_by_names_not_ids(client, people, make_proposal):
    p = make_proposal(title="Named one")
    make_proposal(title="Other")
    client.force_login(people["viewer"])
    page = client.get(reverse("audit")).content.decode()
    assert 'name="object_id"' not in page.split('id="audit-filters"')[1].split("</form>")[0]
    assert '<option value="ana">ana</option>' in page  # actor chosen by name
    page = client.get(reverse("audit"), {"object": "named one", "action": "governance.proposal"}).content.decode()
    table = page.split('id="audit-table"')[1].split("</table>")[0]
    assert table.count("<code>governance.proposal.create</code>") == 1 and f"/proposals/{p.pk}/" in table
    assert 'class="table-scroll"' in page  # the wide table scrolls inside its box
    # the proposal page's link by id still works
    page = client.get(reverse("audit"), {"object_type": "governance.proposal", "object_id": p.pk}).content.decode()
    assert "1 event" in page


def test_audit_exports_neutralise_formula_cells(client, api, people, make_proposal):
    """Issue 13.7: a rationale '+1+2…' and a comment '@SUM(1+1)…' came out raw in both exports."""
    p = make_proposal(title="=cmd|' /C calc'!A0")
    submit_for_votes(p, people["analyst"])
    gs.proposal_vote(proposal=p, by=people["m1"], decision="reject", comment="@SUM(1+1)*cmd|' /C calc'!A0")
    client.force_login(people["viewer"])
    web = b"".join(client.get(reverse("audit-export")).streaming_content).decode()
    api.force_authenticate(people["viewer"])
    r = api.get("/api/v1/audit-events/export/")
    api_text = b"".join(r.streaming_content).decode()
    for text in (web, api_text):
        cells = [c for row in csv.reader(io.StringIO(text)) for c in row]
        assert "'@SUM(1+1)*cmd|' /C calc'!A0" in cells
        assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r")]
        assert not [c for c in cells if c[:1] == "-" and not c.lstrip("-").replace(".", "").isdigit()]


def test_the_admin_policy_form_refuses_a_weakening_change_next_to_the_field(client, people):
    """Issue 13.2 on the web: quorum 1 / timelock 0 by one admin is refused, the form says how."""
    client.force_login(people["admin"])
    r = client.post(
        reverse("policy"), _policy_post(quorum=1, fast_track_quorum=1, timelock_hours=0, fast_track_timelock_hours=0)
    )
    page = r.content.decode()
    assert r.status_code == 200 and "weakens the policy" in page and "policy proposal" in page
    assert Policy.objects.get(is_active=True).version == 1


def test_the_django_admin_policy_add_refuses_a_weakening_change(admin_client, people):
    gs.policy_current()
    data = _policy_post(quorum=1, fast_track_quorum=1)
    try:
        admin_client.post(reverse("admin:governance_policy_add"), data)
    except gs.LintFailed:
        pass  # the admin re-raises after its message; nothing was written either way
    assert Policy.objects.get(is_active=True).quorum == 2


def test_the_page_polls_the_impact_status_and_opens_the_vote_when_it_is_frozen(client, people, make_proposal):
    p = gs.proposal_submit(proposal=make_proposal(), by=people["analyst"])
    client.force_login(people["m1"])
    page = client.get(reverse("proposal-detail", args=[p.pk])).content.decode()
    assert 'id="vote-form"' not in page and "votes open when the impact analysis of this revision is recorded" in page
    assert 'data-done="0"' in page and "<script nonce=" in page  # polls until done
    fragment = client.get(reverse("proposal-impact-status", args=[p.pk])).content.decode()
    assert fragment.lstrip().startswith('<div id="impact-status"') and "<script" not in fragment
    assert 'data-state="queued"' in fragment

    gs.proposal_record_impact(proposal=p, impact={"note": "test"}, revision=p.revision)
    page = client.get(reverse("proposal-detail", args=[p.pk])).content.decode()
    assert 'id="vote-form"' in page and 'data-done="1"' in page and 'data-state="recorded"' in page
    assert "impact-status" in page and "fetch(" not in page  # done: no polling


def test_fraction_inputs_accept_a_percent_or_a_fraction(client, people, market):
    client.force_login(people["analyst"])
    r = client.post(
        reverse("proposal-new"),
        change_post(**{"brackets-1-initial_margin_fraction": "2.5 %", "liquidation_penalty": "0.2%"}),
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    p = Proposal.objects.get()
    version = p.changes.get().market_version
    imfs = [b.initial_margin_fraction for b in version.brackets.order_by("notional_floor")]
    assert imfs[1] == Decimal("0.025") and version.liquidation_penalty == Decimal("0.002")
    r = client.post(reverse("proposal-new"), change_post(**{"brackets-1-initial_margin_fraction": "2,5 %"}))
    assert r.status_code == 200 and "use a decimal point" in r.content.decode()
    assert Proposal.objects.count() == 1

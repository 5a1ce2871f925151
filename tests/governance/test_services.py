"""Governance services: roles, maker-checker, quorum, timelock, expiry, edits, lint, fast track,
activation, base conflicts, emergencies, audit trail, notifications."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import IntegrityError, InternalError, connection, transaction
from django.utils import timezone

from riskgov.core.exceptions import Conflict, DomainError, NotAllowed
from riskgov.core.models import AppendOnlyError, AuditEvent
from riskgov.governance import selectors
from riskgov.governance import services as gs
from riskgov.governance.models import Proposal, ProposalKind, Vote
from riskgov.parameters.models import AssetParameterVersion, MarketParameterVersion, VersionStatus
from tests.governance.conftest import BRACKETS, later
from tests.governance_fixtures import submit_for_votes

pytestmark = pytest.mark.django_db


def submit(p, people, now=None, by=None):
    """Submit and freeze a stub impact (votes wait for one; see ``submit_for_votes``)."""
    return submit_for_votes(p, by or people["analyst"], now=now)


def approve_all(p, people, *members):
    for m in members:
        gs.proposal_vote(proposal=p, by=people[m], decision="approve", comment=f"{m} ok")
    return Proposal.objects.get(pk=p.pk)


def active(symbol="BTC-PERP"):
    return MarketParameterVersion.objects.get(market__symbol=symbol, status=VersionStatus.ACTIVE)


def events(p, action=None):
    qs = AuditEvent.objects.filter(object_type="governance.proposal", object_id=str(p.pk))
    if action:
        qs = qs.filter(action=f"governance.proposal.{action}")
    return qs.order_by("id")


# --- roles --------------------------------------------------------------------------------
@pytest.mark.parametrize("who", ["viewer", "m1", "admin"])
def test_only_analysts_create(people, market, who):
    with pytest.raises(NotAllowed):
        gs.proposal_create(by=people[who], title="x", rationale="y", effective_at=later(days=3), changes=[])


def test_create_makes_draft_versions_with_their_base(make_proposal, people):
    p = make_proposal(co_authors=[people["coauthor"]])
    c = p.changes.get()
    assert (p.status, p.revision, c.market_version.status) == ("draft", 1, "draft")
    assert c.base_market_version == active() and c.market_version.number == 2
    assert list(p.co_authors.all()) == [people["coauthor"]]
    assert events(p, "create").count() == 1


def test_create_refuses_invalid_brackets_with_rule_and_place(make_proposal):
    bad = [dict(b) for b in BRACKETS]
    bad[2]["maintenance_margin_fraction"] = "0.0045"  # below bracket 2's 0.005
    with pytest.raises(gs.LintFailed) as exc:
        make_proposal(changes=[{"market": "BTC-PERP", "brackets": bad}])
    assert exc.value.extra["errors"][0]["rule"] == "mmf_non_decreasing"
    assert exc.value.extra["errors"][0]["where"] == "BTC-PERP bracket 3"
    assert Proposal.objects.count() == 0 and MarketParameterVersion.objects.count() == 1


def test_create_refuses_penalty_above_mmf1(make_proposal):
    with pytest.raises(gs.LintFailed) as exc:
        make_proposal(changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.005"}])
    assert exc.value.errors[0].rule == "penalty_above_mmf1"
    assert "is not <= brackets[1].maintenance_margin_fraction 0.004" in exc.value.message


# --- lint ---------------------------------------------------------------------------------
def test_lint_effective_at_no_change_and_quorum(make_proposal, people):
    p = make_proposal(changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.002"}], effective_at=later(hours=1))
    errs = gs.proposal_lint(p)
    assert {e.rule for e in errs} == {"no_change", "effective_at_before_timelock"}
    with pytest.raises(gs.LintFailed) as exc:
        submit(p, people)
    assert {e["rule"] for e in exc.value.extra["errors"]} == {"no_change", "effective_at_before_timelock"}
    assert Proposal.objects.get(pk=p.pk).status == "draft"


def test_lint_quorum_unreachable_when_authors_are_the_committee(make_proposal, people):
    gs.policy_update(by=people["admin"], quorum=4)
    p = make_proposal(by=people["both"])  # 4 committee members, one of them the proposer
    errs = gs.proposal_lint(p)
    assert [e.rule for e in errs] == ["quorum_unreachable"]
    assert errs[0].message == "only 3 committee member(s) may vote on this proposal (authors excluded), quorum is 4"


def test_lint_stale_base(make_proposal, people):
    p1 = make_proposal()
    p2 = make_proposal(changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.003"}])
    submit(p1, people)
    approve_all(p1, people, "m1", "m2")
    gs.proposals_activate_due(now=later(days=4))
    errs = gs.proposal_lint(p2)
    assert [e.rule for e in errs] == ["stale_base"] and "BTC-PERP" in errs[0].message


# --- submission, fast track ---------------------------------------------------------------
def test_submit_normal_sets_policy_expiry_and_enqueues_impact(
    make_proposal, people, django_capture_on_commit_callbacks
):
    p = make_proposal()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        p = submit(p, people)
    assert (p.status, p.kind) == ("submitted", "normal")  # changed minutes ago: not fast track
    assert p.policy.quorum == 2 and p.expires_at == p.submitted_at + timedelta(days=14)
    assert len(callbacks) == 2  # impact job + notification
    assert mail.outbox and "submitted for your vote" in mail.outbox[0].subject
    # one message per recipient, to the members who vote (never the proposer), with the link
    assert all(len(m.to) == 1 for m in mail.outbox)
    to = {m.to[0] for m in mail.outbox}
    assert to >= {"m1@example.org", "m2@example.org", "m3@example.org"}
    assert "ana@example.org" not in to and "vic@example.org" not in to
    assert all(f"http://testserver/proposals/{p.pk}/" in m.body for m in mail.outbox)
    e = events(p, "submit").get()
    assert (e.from_state, e.to_state, e.actor_name) == ("draft", "submitted", "ana")


def test_impact_task_without_health_hook_is_a_logged_noop(make_proposal, people, caplog, monkeypatch):
    from riskgov.governance.tasks import governance_impact
    from riskgov.health import services as health_services

    p = submit(make_proposal(), people)
    monkeypatch.delattr(health_services, "health_impact_run", raising=False)
    with caplog.at_level("WARNING"):
        assert governance_impact.apply(args=(p.pk, p.revision)).get() == "no_hook"
    assert "health_impact_run is not available" in caplog.text


def test_impact_task_freezes_a_dict_result_and_survives_refusals(make_proposal, people, monkeypatch):
    from riskgov.governance.tasks import governance_impact
    from riskgov.health import services as health_services

    p = submit(make_proposal(), people)
    seen = {}

    def fake(*, overrides, by, **kw):
        seen["versions"] = [v.pk for v in overrides]
        return {"newly_liquidatable": 2, "delta_mm_usd": "1234.5"}

    monkeypatch.setattr(health_services, "health_impact_run", fake, raising=False)
    assert governance_impact.apply(args=(p.pk, 99)).get() == "stale"  # an old revision is ignored
    assert governance_impact.apply(args=(p.pk, p.revision)).get() == "recorded"
    p = Proposal.objects.get(pk=p.pk)
    assert (p.impact["newly_liquidatable"], p.impact_revision) == (2, 1)
    assert seen["versions"] == [p.changes.get().market_version_id]

    def refuse(*, overrides, by, **kw):
        raise DomainError("no snapshot to evaluate: import one first")

    monkeypatch.setattr(health_services, "health_impact_run", refuse)
    assert governance_impact.apply(args=(p.pk, p.revision)).get() == "refused"
    p = Proposal.objects.get(pk=p.pk)  # the reason is frozen: approvers see why there is none
    assert p.impact["error"] == "impact not computed: no snapshot to evaluate: import one first"
    assert selectors.proposal_impact_status(p).state == "failed"


def test_impact_is_frozen_for_its_revision(make_proposal, people):
    p = submit(make_proposal(), people)
    p = gs.proposal_record_impact(proposal=p, impact={"newly_liquidatable": 3}, revision=1)
    assert (p.impact, p.impact_revision) == ({"newly_liquidatable": 3}, 1)
    with pytest.raises(Conflict):
        gs.proposal_record_impact(proposal=p, impact={}, revision=2)
    v = gs.proposal_vote(proposal=p, by=people["m1"], decision="approve", comment="saw impact r1")
    assert v.impact_revision == 1


def test_fast_track_within_bounds(make_proposal, people):
    p = make_proposal(effective_at=later(days=10, hours=3))
    p = submit(p, people, now=later(days=10))  # the field last changed 10 days before "now"
    assert p.kind == ProposalKind.FAST_TRACK
    p = approve_all(p, people, "m1")  # fast-track quorum 1
    assert p.status == "scheduled"
    assert p.effective_at == p.requested_effective_at  # requested already beyond the 2 h timelock


@pytest.mark.parametrize(
    "change,days,rule",
    [
        ({"market": "BTC-PERP", "liquidation_penalty": "0.0026"}, 10, "ft_relative_change"),  # +30 %
        ({"market": "BTC-PERP", "brackets": BRACKETS}, 3, "ft_changed_recently"),
        ({"asset": "BTC", "haircut": "0.07"}, 10, "ft_relative_change"),  # +40 %
    ],
)
def test_fast_track_outside_bounds_is_normal(make_proposal, people, change, days, rule):
    p = make_proposal(changes=[change], effective_at=later(days=days + 2))
    p = submit(p, people, now=later(days=days))
    assert p.kind == ProposalKind.NORMAL
    findings = events(p, "submit").get().after["fast_track_findings"]
    assert [f["rule"] for f in findings] == [rule]


def test_days_since_change_counts_from_the_last_change_of_that_field(make_proposal, people):
    # v2 changes only the penalty (activated at t0+4d); a bracket change at t0+10d is still
    # 10 days after its own last change, so it is fast-tracked; a penalty change is not.
    p = make_proposal(changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.0021"}], effective_at=later(days=4))
    submit(p, people)
    approve_all(p, people, "m1", "m2")
    assert gs.proposals_activate_due(now=later(days=4, minutes=1)) == [p.pk]
    q = make_proposal(effective_at=later(days=12))
    assert submit(q, people, now=later(days=10)).kind == "fast_track"
    r = make_proposal(changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.0022"}], effective_at=later(days=12))
    r = submit(r, people, now=later(days=10))
    assert r.kind == "normal"
    assert events(r, "submit").get().after["fast_track_findings"][0]["rule"] == "ft_changed_recently"


# --- votes, maker-checker -----------------------------------------------------------------
@pytest.fixture
def submitted(make_proposal, people):
    return submit(make_proposal(co_authors=[people["coauthor"]]), people)


@pytest.mark.parametrize("who", ["analyst", "coauthor", "viewer", "admin"])
def test_non_committee_and_authors_cannot_vote(submitted, people, who):
    with pytest.raises(NotAllowed):
        gs.proposal_vote(proposal=submitted, by=people[who], decision="approve", comment="me")


def test_author_who_is_also_committee_cannot_vote(make_proposal, people):
    p = submit(make_proposal(by=people["both"]), people, by=people["both"])
    with pytest.raises(NotAllowed, match="maker-checker"):
        gs.proposal_vote(proposal=p, by=people["both"], decision="approve", comment="mine")


def test_vote_needs_comment_and_valid_decision(submitted, people):
    with pytest.raises(DomainError, match="comment"):
        gs.proposal_vote(proposal=submitted, by=people["m1"], decision="approve", comment="  ")
    with pytest.raises(DomainError):
        gs.proposal_vote(proposal=submitted, by=people["m1"], decision="maybe", comment="hm")


def test_one_vote_per_member_changeable_before_quorum(submitted, people):
    gs.proposal_vote(proposal=submitted, by=people["m1"], decision="reject", comment="too much")
    gs.proposal_vote(proposal=submitted, by=people["m1"], decision="approve", comment="convinced")
    assert Vote.objects.filter(proposal=submitted).count() == 1
    assert Vote.objects.get().decision == "approve"
    change = AuditEvent.objects.get(action="governance.vote.change")
    assert (change.from_state, change.to_state, change.comment) == ("reject", "approve", "convinced")
    gs.proposal_vote(proposal=submitted, by=people["m2"], decision="approve", comment="ok")
    with pytest.raises(Conflict, match="votes are closed"):
        gs.proposal_vote(proposal=submitted, by=people["m1"], decision="reject", comment="changed my mind")
    with pytest.raises(Conflict):
        gs.proposal_vote(proposal=submitted, by=people["m3"], decision="reject", comment="late")


def test_quorum_approves_and_schedules_with_timelock(make_proposal, people, django_capture_on_commit_callbacks):
    p = submit(make_proposal(effective_at=later(hours=25)), people)
    gs.proposal_vote(proposal=p, by=people["m1"], decision="approve", comment="ok")
    assert Proposal.objects.get(pk=p.pk).status == "submitted"
    with django_capture_on_commit_callbacks(execute=True):
        gs.proposal_vote(proposal=p, by=people["m2"], decision="approve", comment="ok")
    p = Proposal.objects.get(pk=p.pk)
    assert p.status == "scheduled"
    assert p.effective_at == max(p.requested_effective_at, p.approved_at + timedelta(hours=24))
    assert p.changes.get().market_version.status == "approved"
    assert [(e.from_state, e.to_state) for e in events(p) if e.action.endswith(("approve", "schedule"))] == [
        ("submitted", "approved"),
        ("approved", "scheduled"),
    ]
    assert any("Quorum reached" in m.subject for m in mail.outbox)


def test_effective_at_never_before_approval_plus_timelock(make_proposal, people):
    p = submit(make_proposal(effective_at=later(hours=25)), people)
    p = approve_all(p, people, "m1", "m2")
    assert p.effective_at >= p.approved_at + timedelta(hours=24)
    # Requested 25 h from creation; approved now → max() keeps 25 h; with a longer timelock
    # at approval the timelock wins.
    gs.policy_update(by=people["admin"], timelock_hours=72)
    q = submit(make_proposal(effective_at=later(hours=73)), people)
    q = approve_all(q, people, "m1", "m2")
    assert q.effective_at >= q.approved_at + timedelta(hours=72)


def test_rejection_quorum_rejects_and_discards(submitted, people):
    gs.proposal_vote(proposal=submitted, by=people["m1"], decision="reject", comment="no")
    gs.proposal_vote(proposal=submitted, by=people["m2"], decision="reject", comment="no")
    p = Proposal.objects.get(pk=submitted.pk)
    assert p.status == "rejected"
    assert p.changes.get().market_version.status == "discarded"


# --- edit, withdraw, expiry ---------------------------------------------------------------
def test_edit_after_submission_returns_to_draft_and_drops_votes(submitted, people):
    gs.proposal_record_impact(proposal=submitted, impact={"x": 1}, revision=1)
    gs.proposal_vote(proposal=submitted, by=people["m1"], decision="approve", comment="ok")
    old_version = submitted.changes.get().market_version
    p = gs.proposal_update(
        proposal=submitted,
        by=people["coauthor"],
        changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.0021"}],
        comment="smaller change",
    )
    assert (p.status, p.revision, p.votes.count(), p.impact, p.kind) == ("draft", 2, 0, None, "normal")
    assert MarketParameterVersion.objects.get(pk=old_version.pk).status == "discarded"
    assert p.changes.get().market_version.liquidation_penalty == Decimal("0.0021")
    dropped = events(p, "votes_dropped").get()
    assert dropped.before["votes"][0]["voter"] == "m1"
    upd = events(p, "update").get()
    assert (upd.from_state, upd.to_state) == ("submitted", "draft")
    assert upd.before["revision"] == 1 and upd.after["revision"] == 2


def test_edit_of_a_scheduled_proposal_copies_frozen_versions(make_proposal, people):
    p = approve_all(submit(make_proposal(), people), people, "m1", "m2")
    approved = p.changes.get().market_version
    p = gs.proposal_update(proposal=p, by=people["analyst"], title="Raise BTC IMF (v2)")
    new = p.changes.get().market_version
    assert (p.status, new.status) == ("draft", "draft") and new.pk != approved.pk
    assert MarketParameterVersion.objects.get(pk=approved.pk).status == "discarded"
    assert [b.initial_margin_fraction for b in new.brackets.all()] == [
        b.initial_margin_fraction for b in approved.brackets.all()
    ]


def test_only_authors_edit_and_not_after_activation(make_proposal, people):
    p = make_proposal()
    with pytest.raises(NotAllowed):
        gs.proposal_update(proposal=p, by=people["coauthor"], title="hijack")  # not a co-author here
    p = approve_all(submit(p, people), people, "m1", "m2")
    gs.proposals_activate_due(now=later(days=4))
    with pytest.raises(Conflict):
        gs.proposal_update(proposal=p, by=people["analyst"], title="too late")


def test_withdraw(make_proposal, people):
    p = submit(make_proposal(co_authors=[people["coauthor"]]), people)
    with pytest.raises(NotAllowed):
        gs.proposal_withdraw(proposal=p, by=people["coauthor"])
    p = gs.proposal_withdraw(proposal=p, by=people["analyst"], comment="market calmed")
    assert p.status == "withdrawn" and p.changes.get().market_version.status == "discarded"
    assert events(p, "withdraw").get().comment == "market calmed"
    with pytest.raises(Conflict):
        gs.proposal_withdraw(proposal=p, by=people["analyst"])


def test_expiry(submitted, people):
    assert gs.proposals_expire_due(now=later(days=13)) == []
    assert gs.proposals_expire_due(now=later(days=15)) == [submitted.pk]
    assert gs.proposals_expire_due(now=later(days=16)) == []
    p = Proposal.objects.get(pk=submitted.pk)
    assert p.status == "expired" and p.changes.get().market_version.status == "discarded"
    with pytest.raises(Conflict):
        gs.proposal_vote(proposal=p, by=people["m1"], decision="approve", comment="late")


def test_a_proposal_past_expires_at_cannot_be_approved_before_the_sweep_runs(submitted, people):
    """Issue 13.3: the vote checks the deadline itself; the sweep has not run (beat down)."""
    gs.proposal_vote(proposal=submitted, by=people["m1"], decision="approve", comment="ok", now=later(days=1))
    with pytest.raises(Conflict, match="expired"):
        gs.proposal_vote(proposal=submitted, by=people["m2"], decision="approve", comment="late", now=later(days=15))
    p = Proposal.objects.get(pk=submitted.pk)
    assert p.status == "submitted" and p.approved_at is None  # left for the sweep to expire
    assert gs.proposals_expire_due(now=later(days=15)) == [p.pk]


def test_activation_refuses_a_proposal_approved_after_its_deadline(make_proposal, people):
    p = approve_all(submit(make_proposal(), people), people, "m1", "m2")
    Proposal.objects.filter(pk=p.pk).update(expires_at=p.approved_at - timedelta(seconds=1))  # a bad row
    assert gs.proposals_activate_due(now=p.effective_at) == []
    assert "approved after it expired" in Proposal.objects.get(pk=p.pk).activation_error


# --- activation ---------------------------------------------------------------------------
def test_activation_is_due_based_idempotent_and_supersedes(make_proposal, people, django_capture_on_commit_callbacks):
    p = approve_all(submit(make_proposal(), people), people, "m1", "m2")
    old = active()
    assert gs.proposals_activate_due(now=p.effective_at - timedelta(seconds=1)) == []
    with django_capture_on_commit_callbacks(execute=True):
        assert gs.proposals_activate_due(now=p.effective_at) == [p.pk]
    assert gs.proposals_activate_due(now=p.effective_at + timedelta(hours=1)) == []
    p = Proposal.objects.get(pk=p.pk)
    new = active()
    assert p.status == "active" and new.pk == p.changes.get().market_version_id
    assert MarketParameterVersion.objects.get(pk=old.pk).status == "superseded"
    assert MarketParameterVersion.objects.filter(status="active").count() == 1
    assert any("now active" in m.subject for m in mail.outbox)


def test_activation_never_before_approval_plus_timelock_even_if_effective_at_is_tampered(make_proposal, people):
    p = approve_all(submit(make_proposal(), people), people, "m1", "m2")
    Proposal.objects.filter(pk=p.pk).update(effective_at=p.approved_at)  # a bad row, e.g. hand-edited
    assert gs.proposals_activate_due(now=p.approved_at + timedelta(hours=1)) == []
    p = Proposal.objects.get(pk=p.pk)
    assert p.status == "scheduled" and "cannot be active before" in p.activation_error
    assert gs.proposals_activate_due(now=p.approved_at + timedelta(hours=24)) == [p.pk]


def test_activation_refused_when_base_is_no_longer_active(make_proposal, people, django_capture_on_commit_callbacks):
    p1 = approve_all(submit(make_proposal(), people), people, "m1", "m2")
    p2 = approve_all(
        submit(make_proposal(changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.003"}]), people),
        people,
        "m1",
        "m2",
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert gs.proposals_activate_due(now=later(days=4)) == [p1.pk]
    assert gs.proposals_activate_due(now=later(days=4, minutes=1)) == []  # refusal recorded once
    p2 = Proposal.objects.get(pk=p2.pk)
    assert p2.status == "scheduled" and "BTC-PERP" in p2.activation_error
    refused = events(p2, "activation_refused")
    assert refused.count() == 1 and refused.get().after["errors"][0]["rule"] == "stale_base"
    assert any("could not be activated" in m.subject for m in mail.outbox)
    assert active().pk == p1.changes.get().market_version_id


def test_asset_haircut_change_activates(make_proposal, people):
    p = approve_all(submit(make_proposal(changes=[{"asset": "BTC", "haircut": "0.1"}]), people), people, "m1", "m2")
    assert gs.proposals_activate_due(now=later(days=4)) == [p.pk]
    assert AssetParameterVersion.objects.get(asset__symbol="BTC", status="active").haircut == Decimal("0.1")


# --- emergency ----------------------------------------------------------------------------
STRICTER = [
    {"notional_floor": "0", "initial_margin_fraction": "0.02", "maintenance_margin_fraction": "0.008"},
    {"notional_floor": "300000", "initial_margin_fraction": "0.03", "maintenance_margin_fraction": "0.01"},
    {"notional_floor": "1000000", "initial_margin_fraction": "0.05", "maintenance_margin_fraction": "0.015"},
]


def test_emergency_only_committee(people, market):
    for who in ("analyst", "viewer", "admin"):
        with pytest.raises(NotAllowed):
            gs.emergency_change(by=people[who], rationale="x", changes=[{"market": "BTC-PERP", "brackets": STRICTER}])


def test_emergency_stricter_activates_at_once(people, market, django_capture_on_commit_callbacks):
    old = active()
    with django_capture_on_commit_callbacks(execute=True):
        p = gs.emergency_change(
            by=people["m1"], rationale="exchange hack", changes=[{"market": "BTC-PERP", "brackets": STRICTER}]
        )
    assert (p.status, p.kind) == ("active", "emergency")
    assert p.ratify_by == p.activated_at + timedelta(hours=48)
    assert active().pk == p.changes.get().market_version_id
    assert MarketParameterVersion.objects.get(pk=old.pk).status == "superseded"
    emergency = [m for m in mail.outbox if "EMERGENCY" in m.subject]
    assert emergency and all(len(m.to) == 1 for m in emergency)
    to = {m.to[0] for m in emergency}
    assert {"ana@example.org", "vic@example.org", "adam@example.org", "m2@example.org"} <= to
    assert "m1@example.org" not in to  # the author does not ratify their own change


def test_emergency_refuses_a_bracket_change_that_lowers_mm_somewhere(people, market):
    # Same rows as active v1, floors moved up: MM falls between 300k and 1M.
    shifted = [
        {"notional_floor": "0", "initial_margin_fraction": "0.01", "maintenance_margin_fraction": "0.004"},
        {"notional_floor": "500000", "initial_margin_fraction": "0.02", "maintenance_margin_fraction": "0.005"},
        {"notional_floor": "1000000", "initial_margin_fraction": "0.05", "maintenance_margin_fraction": "0.01"},
    ]
    with pytest.raises(gs.LintFailed) as exc:
        gs.emergency_change(by=people["m1"], rationale="x", changes=[{"market": "BTC-PERP", "brackets": shifted}])
    rules = {e.rule for e in exc.value.errors}
    assert "mm_lower" in rules and "imf_lower" in rules
    assert MarketParameterVersion.objects.count() == 1 and Proposal.objects.count() == 0


@pytest.mark.parametrize(
    "change,rule",
    [
        ({"market": "BTC-PERP", "liquidation_penalty": "0.001"}, "penalty_lower"),
        ({"asset": "BTC", "haircut": "0.01"}, "haircut_lower"),
        ({"market": "BTC-PERP", "max_position_notional_usd": "5000000"}, None),  # was unlimited: stricter
    ],
)
def test_emergency_other_fields(people, market, change, rule):
    if rule is None:
        assert gs.emergency_change(by=people["m1"], rationale="x", changes=[change]).status == "active"
    else:
        with pytest.raises(gs.LintFailed) as exc:
            gs.emergency_change(by=people["m1"], rationale="x", changes=[change])
        assert [e.rule for e in exc.value.errors] == [rule]


def test_emergency_ratified_before_window(people, market):
    p = gs.emergency_change(by=people["m1"], rationale="hack", changes=[{"market": "BTC-PERP", "brackets": STRICTER}])
    with pytest.raises(NotAllowed):
        gs.proposal_vote(proposal=p, by=people["m1"], decision="approve", comment="mine")
    gs.proposal_vote(proposal=p, by=people["m2"], decision="approve", comment="ok")
    gs.proposal_vote(proposal=p, by=people["m3"], decision="approve", comment="ok")
    p = Proposal.objects.get(pk=p.pk)
    assert p.status == "ratified"
    assert gs.emergencies_revert_due(now=later(days=3)) == []
    assert active().pk == p.changes.get().market_version_id


def test_emergency_reverted_after_window(people, market, django_capture_on_commit_callbacks):
    base = active()
    p = gs.emergency_change(by=people["m1"], rationale="hack", changes=[{"market": "BTC-PERP", "brackets": STRICTER}])
    gs.proposal_vote(proposal=p, by=people["m2"], decision="approve", comment="ok")  # 1 of 2
    assert gs.emergencies_revert_due(now=later(hours=47)) == []
    with pytest.raises(Conflict):
        gs.proposal_vote(proposal=p, by=people["m3"], decision="approve", comment="late", now=later(hours=49))
    with django_capture_on_commit_callbacks(execute=True):
        assert gs.emergencies_revert_due(now=later(hours=49)) == [p.pk]
    assert gs.emergencies_revert_due(now=later(hours=50)) == []
    p = Proposal.objects.get(pk=p.pk)
    restored = active()
    assert p.status == "reverted"
    assert restored.pk not in (base.pk, p.changes.get().market_version_id) and restored.number == 3
    assert [(b.initial_margin_fraction, b.maintenance_margin_fraction) for b in restored.brackets.all()] == [
        (b.initial_margin_fraction, b.maintenance_margin_fraction) for b in base.brackets.all()
    ]
    assert MarketParameterVersion.objects.filter(status="active").count() == 1
    assert any("REVERTED" in m.subject and m.to == ["vic@example.org"] for m in mail.outbox)


def test_emergency_rejected_by_quorum_reverts_at_once(people, market):
    p = gs.emergency_change(by=people["m1"], rationale="hack", changes=[{"asset": "BTC", "haircut": "0.2"}])
    gs.proposal_vote(proposal=p, by=people["m2"], decision="reject", comment="overreaction")
    gs.proposal_vote(proposal=p, by=people["m3"], decision="reject", comment="overreaction")
    assert Proposal.objects.get(pk=p.pk).status == "reverted"
    assert AssetParameterVersion.objects.get(asset__symbol="BTC", status="active").haircut == Decimal("0.05")


# --- policy -------------------------------------------------------------------------------
def test_policy_default_and_update(people):
    p1 = gs.policy_current()
    assert (p1.quorum, p1.timelock_hours, p1.expiry_days, p1.fast_track_quorum) == (2, 24, 14, 1)
    assert (p1.fast_track_timelock_hours, p1.fast_track_max_relative_change) == (2, Decimal("0.25"))
    assert (p1.fast_track_min_days_since_change, p1.emergency_ratification_hours) == (7, 48)
    with pytest.raises(NotAllowed):
        gs.policy_update(by=people["m1"], quorum=3)
    p2 = gs.policy_update(by=people["admin"], quorum=3, comment="bigger committee")
    assert (p2.version, p2.quorum, p2.is_active) == (2, 3, True)
    assert gs.policy_current() == p2
    e = AuditEvent.objects.get(action="governance.policy.update")
    assert (e.from_state, e.to_state, e.before["quorum"], e.after["quorum"]) == ("v1", "v2", "2", "3")
    with pytest.raises(DomainError):
        gs.policy_update(by=people["admin"], fast_track_quorum=5)  # above the quorum
    with pytest.raises(DomainError):
        gs.policy_update(by=people["admin"], bogus=1)
    assert gs.policy_current() == p2


def test_policy_in_force_at_submission_applies(make_proposal, people):
    p = submit(make_proposal(), people)
    gs.policy_update(by=people["admin"], quorum=3)
    p = approve_all(p, people, "m1", "m2")
    assert p.status == "scheduled"


# --- audit --------------------------------------------------------------------------------
def test_full_life_audit_trail(make_proposal, people):
    p = make_proposal()
    submit(p, people)
    approve_all(p, people, "m1", "m2")
    gs.proposals_activate_due(now=later(days=4))
    trail = [(e.action.split(".")[-1], e.from_state, e.to_state, e.actor_name) for e in events(p)]
    assert trail == [
        ("create", "", "draft", "ana"),
        ("submit", "draft", "submitted", "ana"),
        ("impact", "", "", ""),  # votes wait for the frozen impact
        ("cast", "", "approve", "m1"),
        ("cast", "", "approve", "m2"),
        ("approve", "submitted", "approved", "m2"),
        ("schedule", "approved", "scheduled", "m2"),
        ("activate", "scheduled", "active", ""),
    ]
    statuses = AuditEvent.objects.filter(
        action="parameters.market_version.status", id__gt=events(p).first().id
    ).order_by("id")  # after the fixtures' bootstrap (draft → approved → active)
    assert [(e.from_state, e.to_state) for e in statuses] == [
        ("draft", "approved"),
        ("active", "superseded"),
        ("approved", "active"),
    ]


def test_audit_rows_cannot_be_altered(make_proposal, people):
    p = submit(make_proposal(), people)
    e = events(p, "submit").get()
    e.comment = "rewritten"
    with pytest.raises(AppendOnlyError):
        e.save()
    with pytest.raises(AppendOnlyError):
        events(p).delete()
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE core_auditevent SET to_state = 'active' WHERE id = %s", [e.pk])
    assert AuditEvent.objects.get(pk=e.pk).to_state == "submitted"


def test_schedules_command_is_idempotent(db):
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    call_command("setup_schedules")
    call_command("setup_schedules")
    tasks = PeriodicTask.objects.filter(task__startswith="governance.")
    assert sorted(t.task for t in tasks) == [
        "governance.activate_due",
        "governance.expire_due",
        "governance.impact_sweep",
        "governance.revert_due",
    ]
    assert {(t.interval.every, t.interval.period) for t in tasks} == {(1, "minutes")}


def test_now_helper_is_utc():
    assert timezone.now().tzinfo is not None

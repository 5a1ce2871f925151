"""The policy as a governed subject kind ("policy"): proposed, voted, timelocked and activated by
the same code as market and asset parameters; emergencies may only tighten it; never fast-tracked."""

from decimal import Decimal

import pytest

from riskgov.core.models import AuditEvent
from riskgov.core.subjects import subject_kind
from riskgov.governance import services as gs
from riskgov.governance.models import Policy, Proposal
from riskgov.governance.policy import policy_errors, policy_stricter_violations
from riskgov.governance.selectors import change_diff, proposal_fast_track_findings
from riskgov.governance.subjects import POLICY
from tests.governance.conftest import later
from tests.governance_fixtures import submit_for_votes

pytestmark = pytest.mark.django_db

BASE = {
    "quorum": Decimal(2),
    "timelock_hours": Decimal(24),
    "expiry_days": Decimal(14),
    "fast_track_quorum": Decimal(1),
    "fast_track_timelock_hours": Decimal(2),
    "fast_track_max_relative_change": Decimal("0.25"),
    "fast_track_min_days_since_change": Decimal(7),
    "emergency_ratification_hours": Decimal(48),
}


def test_registered_from_governance():
    assert subject_kind("policy") is POLICY and POLICY.version_model is Policy and not POLICY.fast_track_allowed


@pytest.mark.parametrize(
    ("change", "field", "rule"),
    [
        ({"quorum": Decimal(0), "fast_track_quorum": Decimal(0)}, "quorum", "policy_minimum"),
        ({"quorum": Decimal("2.5")}, "quorum", "policy_integer"),
        ({"quorum": Decimal(40000)}, "quorum", "policy_maximum"),
        ({"fast_track_quorum": Decimal(3)}, "fast_track_quorum", "fast_track_quorum_above_quorum"),
        ({"fast_track_timelock_hours": Decimal(30)}, "fast_track_timelock_hours", "fast_track_timelock_above_timelock"),
        (
            {"fast_track_max_relative_change": Decimal("1.5")},
            "fast_track_max_relative_change",
            "fast_track_bound_range",
        ),
        ({"expiry_days": Decimal(0)}, "expiry_days", "policy_minimum"),
    ],
)
def test_policy_validator_names_field_and_rule(change, field, rule):
    errors = policy_errors({**BASE, **change})
    assert (errors[0].subject, errors[0].field, errors[0].rule) == ("policy", field, rule)
    assert policy_errors(BASE) == []


def test_weakening_is_named_per_field():
    weaker = {**BASE, "quorum": Decimal(1), "emergency_ratification_hours": Decimal(72)}
    assert [(e.field, e.rule) for e in policy_stricter_violations(BASE, weaker)] == [
        ("quorum", "policy_weaker"),
        ("emergency_ratification_hours", "policy_weaker"),
    ]
    stricter = {**BASE, "quorum": Decimal(3), "timelock_hours": Decimal(48), "expiry_days": Decimal(7)}
    assert policy_stricter_violations(BASE, stricter) == []


def test_policy_change_goes_through_the_normal_proposal_life(make_proposal, people):
    gs.policy_current()
    p = make_proposal(changes=[{"policy": "policy", "quorum": 3, "timelock_hours": 48}], effective_at=later(days=3))
    c = p.changes.get()
    assert (c.kind, c.subject, c.version.status, c.version.is_active) == ("policy", "policy", "draft", False)
    assert Policy.objects.get(is_active=True).version == 1  # nothing in force yet
    diff = {d.path: (d.before, d.after) for d in change_diff(c)}
    assert diff == {"quorum": ("2", "3"), "timelock_hours": ("24", "48")}
    findings = proposal_fast_track_findings(p, policy=gs.policy_current(), now=later(days=0))
    assert "ft_kind_excluded" in {f.rule for f in findings}
    p = submit_for_votes(p, people["analyst"])
    assert p.kind == "normal"
    for m in ("m1", "m2"):
        gs.proposal_vote(proposal=p, by=people[m], decision="approve", comment="ok")
    p = Proposal.objects.get(pk=p.pk)
    assert p.status == "scheduled"
    assert gs.proposals_activate_due(now=p.effective_at) == [p.pk]
    now = gs.policy_current()
    assert (now.pk, now.quorum, now.timelock_hours, now.status) == (c.version_id, 3, 48, "active")
    assert Policy.objects.get(version=1).status == "superseded"
    assert AuditEvent.objects.filter(action="governance.policy.status", to_state="active").count() == 1


def test_policy_proposal_is_stale_after_a_direct_update(make_proposal, people):
    gs.policy_current()
    p = make_proposal(changes=[{"policy": "policy", "expiry_days": 7}])
    gs.policy_update(by=people["admin"], quorum=3)
    assert "stale_base" in {e.rule for e in gs.proposal_lint(p)}


def test_invalid_policy_change_is_refused_with_structure(make_proposal):
    with pytest.raises(gs.LintFailed) as exc:
        make_proposal(changes=[{"policy": "policy", "fast_track_quorum": 5}])
    (e,) = exc.value.extra["errors"]
    assert (e["subject"], e["field"], e["rule"]) == ("policy", "fast_track_quorum", "fast_track_quorum_above_quorum")


def test_emergency_may_tighten_the_policy_never_loosen_it(people, market):
    gs.policy_current()
    with pytest.raises(gs.LintFailed) as exc:
        gs.emergency_change(
            by=people["m1"],
            rationale="x",
            changes=[{"policy": "policy", "timelock_hours": 1, "fast_track_timelock_hours": 1}],
        )
    assert {e["rule"] for e in exc.value.extra["errors"]} == {"policy_weaker"}
    assert gs.policy_current().version == 1
    e = gs.emergency_change(by=people["m1"], rationale="attack", changes=[{"policy": "policy", "quorum": 3}])
    assert gs.policy_current().quorum == 3 and e.status == "active"
    gs.emergencies_revert_due(now=e.ratify_by + (e.ratify_by - e.activated_at))
    restored = gs.policy_current()
    assert restored.quorum == 2 and restored.version == 3 and restored.status == "active"


def test_policy_update_asks_the_same_validator(people):
    gs.policy_current()
    with pytest.raises(gs.LintFailed) as exc:
        gs.policy_update(by=people["admin"], quorum=1, fast_track_quorum=2)
    assert exc.value.errors[0].field == "fast_track_quorum"
    assert Policy.objects.filter(is_active=True).get().version == 1


def test_policy_change_shows_on_the_proposal_page_and_in_the_api(client, api, make_proposal, people):
    from django.urls import reverse

    gs.policy_current()
    p = make_proposal(changes=[{"policy": "policy", "quorum": 3}])
    client.force_login(people["viewer"])
    page = client.get(reverse("proposal-detail", args=[p.pk])).content.decode()
    assert "quorum" in page and "policy" in page
    api.force_authenticate(people["viewer"])
    (change,) = api.get(f"/api/v1/proposals/{p.pk}/").json()["changes"]
    assert change["kind"] == "policy" and change["diff"] == [
        {"field": "quorum", "before": "2", "after": "3", "relative_change": "0.500000"}
    ]


# --- issue 13.2: one admin cannot remove the quorum and the timelock -------------------------
@pytest.mark.parametrize(
    "change",
    [
        {"quorum": 1, "fast_track_quorum": 1},
        {"timelock_hours": 0, "fast_track_timelock_hours": 0},
        {"fast_track_max_relative_change": Decimal("0.9")},
        {"emergency_ratification_hours": 500},
        {"expiry_days": 60},
    ],
)
def test_an_admin_cannot_weaken_the_policy_at_once(people, change):
    gs.policy_current()
    with pytest.raises(gs.LintFailed) as exc:
        gs.policy_update(by=people["admin"], **change)
    assert {e.rule for e in exc.value.errors} == {"policy_weaker"}
    assert "policy proposal" in exc.value.message
    assert Policy.objects.get(is_active=True).version == 1
    assert not AuditEvent.objects.filter(action="governance.policy.update").exists()


def test_an_admin_may_strengthen_at_once_audited(people):
    gs.policy_current()
    new = gs.policy_update(by=people["admin"], quorum=3, timelock_hours=48, comment="tighter")
    assert (new.quorum, new.timelock_hours, new.is_active) == (3, 48, True)
    e = AuditEvent.objects.get(action="governance.policy.update")
    assert (e.actor_name, e.before["quorum"], e.after["quorum"]) == ("adam", "2", "3")


def test_weakening_goes_through_a_proposal_with_the_current_quorum_and_timelock(make_proposal, people):
    """quorum 2 → 1 and timelock 24 → 0: two committee approvals, then 24 h before it applies."""
    from datetime import timedelta

    gs.policy_current()
    p = make_proposal(
        changes=[
            {
                "policy": "policy",
                "quorum": 1,
                "fast_track_quorum": 1,
                "timelock_hours": 0,
                "fast_track_timelock_hours": 0,
            }
        ]
    )
    p = submit_for_votes(p, people["analyst"])
    assert p.kind == "normal"  # a policy change is never fast-tracked
    gs.proposal_vote(proposal=p, by=people["m1"], decision="approve", comment="ok")
    assert Proposal.objects.get(pk=p.pk).status == "submitted"  # one approval is not enough
    gs.proposal_vote(proposal=p, by=people["m2"], decision="approve", comment="ok")
    p = Proposal.objects.get(pk=p.pk)
    assert p.status == "scheduled" and p.effective_at >= p.approved_at + timedelta(hours=24)
    assert gs.proposals_activate_due(now=p.approved_at + timedelta(hours=23)) == []
    assert gs.policy_current().quorum == 2
    assert gs.proposals_activate_due(now=p.effective_at) == [p.pk]
    assert (gs.policy_current().quorum, gs.policy_current().timelock_hours) == (1, 0)

"""The model layer refuses illegal state changes (django-fsm-2, protected field) and duplicate votes."""

import pytest
from django.db import IntegrityError
from django_fsm import TransitionNotAllowed

from riskgov.governance.models import Policy, ProposalKind, Vote

pytestmark = pytest.mark.django_db


def test_status_cannot_be_assigned(make_proposal):
    p = make_proposal()
    with pytest.raises(AttributeError, match="Direct status modification is not allowed"):
        p.status = "active"


@pytest.mark.parametrize("name", ["approve", "schedule", "activate", "reject", "expire", "ratify", "revert"])
def test_illegal_transitions_from_draft(make_proposal, name):
    p = make_proposal()
    with pytest.raises(TransitionNotAllowed):
        getattr(p, name)()
    assert p.status == "draft"


def test_emergency_only_transitions_refused_for_normal_proposals(make_proposal):
    p = make_proposal()
    with pytest.raises(TransitionNotAllowed):
        p.activate_emergency()
    p.kind = ProposalKind.EMERGENCY
    with pytest.raises(TransitionNotAllowed):
        p.submit()  # emergencies are never submitted for a vote first


def test_legal_path_and_no_skipping(make_proposal):
    p = make_proposal()
    p.submit()
    with pytest.raises(TransitionNotAllowed):
        p.activate()  # submitted → active skips approval and scheduling
    p.approve()
    p.schedule()
    p.activate()
    assert p.status == "active"
    with pytest.raises(TransitionNotAllowed):
        p.withdraw()


def test_one_vote_per_member_in_the_database(make_proposal, people):
    p = make_proposal()
    Vote.objects.create(
        proposal=p, voter=people["m1"], voter_name="m1", decision="approve", comment="ok", proposal_revision=1
    )
    with pytest.raises(IntegrityError):
        Vote.objects.create(
            proposal=p, voter=people["m1"], voter_name="m1", decision="reject", comment="no", proposal_revision=1
        )


def test_one_active_policy_in_the_database(db):
    Policy.objects.create(version=1)
    with pytest.raises(IntegrityError):
        Policy.objects.create(version=2)

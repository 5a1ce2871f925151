"""Votes: k-of-n approval, rejection and emergency ratification under the proposal lock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from riskgov.core.exceptions import Conflict, DomainError, NotAllowed
from riskgov.core.roles import COMMITTEE
from riskgov.core.services import audit_record
from riskgov.governance.models import (
    Proposal,
    ProposalKind,
    Vote,
    VoteDecision,
)
from riskgov.governance.selectors import (
    IMPACT_PENDING,
    proposal_authors,
    proposal_open_to_votes,
    proposal_quorum,
    proposal_timelock,
    proposal_votes_wait_for_impact,
)
from riskgov.governance.services._base import _full_clean, _lock, _on_commit, _require, _transition
from riskgov.governance.services.changes import _discard_changes, _set_versions
from riskgov.governance.services.emergency import _emergency_revert
from riskgov.governance.services.policies import policy_current
from riskgov.parameters.models import (
    VersionStatus,
)


@transaction.atomic
def proposal_vote(*, proposal: Proposal, by: Any, decision: str, comment: str, now: datetime | None = None) -> Vote:
    """A committee member approves or rejects (or ratifies an emergency change).

    Race-free: the proposal row is locked before the vote is written and the votes are
    counted inside that lock, so concurrent voters are serialized and exactly one of them
    sees the quorum met. Approvals ≥ quorum → approved and at once scheduled at
    ``max(requested, approved_at + timelock)`` (an emergency → ratified); rejections ≥
    quorum → rejected (an emergency → reverted at once).

    Raises:
        NotAllowed: not a committee member, or an author of the proposal.
        DomainError: empty comment or unknown decision.
        Conflict: votes are closed (quorum met, not submitted, ratification window over),
            or not yet open: a normal or fast-track proposal's impact for its current
            revision is not frozen (recorded, or failed with its reason); emergency
            ratification never waits (the change is already active).
    """
    now = now or timezone.now()
    if decision not in VoteDecision.values:
        raise DomainError(f"decision must be one of {VoteDecision.values}")
    if not (comment or "").strip():
        raise DomainError("a vote needs a comment")
    _require(by, COMMITTEE, action="voting")
    p = _lock(proposal)
    if by.pk in proposal_authors(p):
        raise NotAllowed("the proposer and co-authors cannot vote on their own proposal (maker-checker)")
    if not proposal_open_to_votes(p, now):
        if p.status == "submitted" and p.expires_at is not None and now >= p.expires_at:
            raise Conflict(f"proposal #{p.pk} expired at {p.expires_at:%Y-%m-%d %H:%M} UTC: votes are closed")
        raise Conflict(f"proposal #{p.pk} is {p.status}: votes are closed")
    if proposal_votes_wait_for_impact(p):
        raise Conflict(f"proposal #{p.pk}: {IMPACT_PENDING} (revision {p.revision} has none yet)")
    vote = _vote_record(p, by=by, decision=decision, comment=comment)
    _vote_outcome(p, by=by, now=now)
    return vote


def _vote_record(p: Proposal, *, by: Any, decision: str, comment: str) -> Vote:
    """Write (or change) ``by``'s vote on the locked proposal ``p``, audited."""
    vote = Vote.objects.filter(proposal=p, voter=by).first()
    if vote is None:
        vote = Vote(
            proposal=p,
            voter=by,
            voter_name=by.get_username(),
            decision=decision,
            comment=comment,
            impact_revision=p.impact_revision,
            proposal_revision=p.revision,
        )
        _full_clean(vote)
        vote.save()
        audit_record(
            actor=by,
            action="governance.vote.cast",
            obj=p,
            to_state=decision,
            comment=comment,
            after={"impact_revision": p.impact_revision, "revision": p.revision},
        )
    else:
        previous = vote.decision
        vote.decision, vote.comment = decision, comment
        vote.impact_revision, vote.proposal_revision = p.impact_revision, p.revision
        _full_clean(vote)
        vote.save()
        audit_record(
            actor=by,
            action="governance.vote.change",
            obj=p,
            from_state=previous,
            to_state=decision,
            comment=comment,
            after={"impact_revision": p.impact_revision, "revision": p.revision},
        )
    return vote


def _vote_outcome(p: Proposal, *, by: Any, now: datetime) -> None:
    """Count the votes of the locked proposal ``p`` and move it when a quorum is met."""
    policy = p.policy or policy_current()
    quorum = proposal_quorum(p, policy)
    approvals = p.votes.filter(decision=VoteDecision.APPROVE).count()
    rejections = p.votes.filter(decision=VoteDecision.REJECT).count()
    tally = {"approvals": approvals, "rejections": rejections, "quorum": quorum}
    if p.kind == ProposalKind.EMERGENCY:
        if approvals >= quorum:
            p.closed_at = now
            _transition(p, "ratify", by=by, after=tally, comment="ratified by the committee")
            _on_commit("ratified", p.pk)
        elif rejections >= quorum:
            _emergency_revert(p, by=by, now=now, reason="rejected by the committee")
    elif approvals >= quorum:
        p.approved_at = now
        _transition(p, "approve", by=by, after=tally, comment="quorum of approvals reached")
        _set_versions(p, VersionStatus.APPROVED, by=by, at=now, reason=f"proposal #{p.pk} approved")
        p.effective_at = max(p.requested_effective_at, now + proposal_timelock(p.kind, policy))
        _transition(p, "schedule", by=by, after={"effective_at": p.effective_at.isoformat()})
        _on_commit("approved", p.pk)
    elif rejections >= quorum:
        p.closed_at = now
        _transition(p, "reject", by=by, after=tally, comment="quorum of rejections reached")
        _discard_changes(p, by=by, reason=f"proposal #{p.pk} rejected")
        _on_commit("rejected", p.pk)

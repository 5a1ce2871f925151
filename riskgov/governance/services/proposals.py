"""Proposals: create, edit, lint, submit, impact, withdraw, expire."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from riskgov.core.exceptions import Conflict, DomainError, NotAllowed
from riskgov.core.roles import ANALYST
from riskgov.governance.models import (
    Proposal,
    ProposalKind,
    ProposalStatus,
)
from riskgov.governance.policy import LintError
from riskgov.governance.selectors import (
    proposal_authors,
    proposal_changes,
    proposal_editable,
    proposal_fast_track_findings,
)
from riskgov.governance.selectors import proposal_lint as _proposal_lint
from riskgov.governance.services._base import (
    LintFailed,
    _audit,
    _dump,
    _full_clean,
    _lock,
    _on_commit,
    _require,
    _transition,
)
from riskgov.governance.services.changes import _change_specs, _create_changes, _discard_changes
from riskgov.governance.services.policies import policy_current

log = logging.getLogger(__name__)


# --- proposals ----------------------------------------------------------------------------
@transaction.atomic
def proposal_create(
    *,
    by: Any,
    title: str,
    rationale: str,
    effective_at: datetime,
    changes: list[dict[str, Any]],
    co_authors: Iterable[Any] = (),
) -> Proposal:
    """An analyst drafts a proposal; each change becomes a draft parameter version.

    Raises:
        NotAllowed: ``by`` is not an analyst.
        LintFailed: a change is malformed or breaks a bracket/penalty rule (nothing written).
    """
    _require(by, ANALYST, action="creating a proposal")
    proposal = Proposal(
        title=title,
        rationale=rationale,
        proposer=by,
        proposer_name=by.get_username(),
        requested_effective_at=effective_at,
    )
    _full_clean(proposal)
    proposal.save()
    proposal.co_authors.set([u for u in co_authors if u.pk != by.pk])
    _create_changes(proposal, changes, by=by)
    _audit(proposal, by=by, action="create", to=proposal.status, after=_dump(proposal), comment=rationale)
    return proposal


@transaction.atomic
def proposal_update(
    *,
    proposal: Proposal,
    by: Any,
    title: str | None = None,
    rationale: str | None = None,
    effective_at: datetime | None = None,
    changes: list[dict[str, Any]] | None = None,
    co_authors: Iterable[Any] | None = None,
    comment: str = "",
) -> Proposal:
    """Edit a proposal (its proposer or a co-author, analyst role).

    Any edit bumps ``revision``. Editing a submitted, approved or scheduled proposal sends
    it back to draft, drops all its votes and its frozen impact (all audited).

    Raises:
        NotAllowed: ``by`` is not an author, or not an analyst.
        Conflict: the proposal is no longer editable (active, closed, emergency).
    """
    _require(by, ANALYST, action="editing a proposal")
    p = _lock(proposal)
    if by.pk not in proposal_authors(p):
        raise NotAllowed("only the proposer or a co-author may edit a proposal")
    if not proposal_editable(p):
        raise Conflict(f"proposal #{p.pk} is {p.status} and can no longer be edited")
    before = _dump(p)
    from_state = p.status
    if from_state != ProposalStatus.DRAFT:
        dropped = [
            {"voter": v.voter_name, "decision": v.decision, "comment": v.comment}
            for v in p.votes.order_by("created_at")
        ]
        p.votes.all().delete()
        _audit(p, by=by, action="votes_dropped", before={"votes": dropped}, comment="edited after submission")
        p.return_to_draft()
        p.kind = ProposalKind.NORMAL
        p.policy = None
        p.submitted_at = p.expires_at = p.approved_at = p.effective_at = None
        p.impact = None
        p.impact_revision = None
        p.activation_error = ""
        if changes is None and from_state in (ProposalStatus.APPROVED, ProposalStatus.SCHEDULED):
            changes = _change_specs(p)  # approved versions are frozen: copy them into new drafts
    if title is not None:
        p.title = title
    if rationale is not None:
        p.rationale = rationale
    if effective_at is not None:
        p.requested_effective_at = effective_at
    if co_authors is not None:
        p.co_authors.set([u for u in co_authors if u.pk != p.proposer_id])
    if changes is not None:
        _discard_changes(p, by=by, reason=f"proposal #{p.pk} edited")
        p.changes.all().delete()
        _create_changes(p, changes, by=by)
    p.revision += 1
    _full_clean(p)
    p.save()
    _audit(p, by=by, action="update", frm=from_state, to=p.status, before=before, after=_dump(p), comment=comment)
    return p


def proposal_lint(proposal: Proposal, *, now: datetime | None = None) -> list[LintError]:
    """Lint against the current policy (read-only; see ``selectors.proposal_lint``)."""
    return _proposal_lint(proposal, policy=policy_current(), now=now)


@transaction.atomic
def proposal_submit(*, proposal: Proposal, by: Any, now: datetime | None = None) -> Proposal:
    """Submit a draft for votes: lint must pass; fast track or normal is decided by the
    policy bounds; the expiry is set; the impact job and the notification leave on commit.
    The impact job never runs inside the caller's request (``riskgov.core.background``);
    votes open once its result is frozen (``proposal_vote``).

    Raises:
        NotAllowed: ``by`` is not an author (analyst role).
        LintFailed: with every lint error.
        TransitionNotAllowed: the proposal is not a draft.
    """
    _require(by, ANALYST, action="submitting a proposal")
    now = now or timezone.now()
    p = _lock(proposal)
    if by.pk not in proposal_authors(p):
        raise NotAllowed("only the proposer or a co-author may submit a proposal")
    if p.status != ProposalStatus.DRAFT:
        raise Conflict(f"proposal #{p.pk} is {p.status}, only a draft can be submitted")
    policy = policy_current()
    errors = _proposal_lint(p, policy=policy, now=now)
    if errors:
        raise LintFailed(errors)
    findings = proposal_fast_track_findings(p, policy=policy, now=now)
    p.kind = ProposalKind.NORMAL if findings else ProposalKind.FAST_TRACK
    p.policy = policy
    p.submitted_at = now
    p.expires_at = now + timedelta(days=policy.expiry_days)
    _transition(
        p,
        "submit",
        by=by,
        after={
            "kind": p.kind,
            "policy": policy.version,
            "expires_at": p.expires_at.isoformat(),
            "revision": p.revision,
            "fast_track_findings": [f.as_dict() for f in findings],
        },
    )
    pk, revision = p.pk, p.revision

    def enqueue() -> None:
        from riskgov.core.background import dispatch
        from riskgov.governance.tasks import governance_impact

        dispatch(governance_impact, pk, revision)  # off the request thread when eager (a served site)

    transaction.on_commit(enqueue)
    _on_commit("submitted", pk)
    return p


@transaction.atomic
def proposal_record_impact(*, proposal: Proposal, impact: dict[str, Any], revision: int) -> Proposal:
    """Freeze impact results (computed for ``revision``) onto the proposal.

    Raises:
        Conflict: the proposal was edited since (``revision`` is stale) or is not open.
    """
    p = _lock(proposal)
    if revision != p.revision:
        raise Conflict(f"impact for revision {revision} but proposal #{p.pk} is at revision {p.revision}")
    open_ = p.status == ProposalStatus.SUBMITTED or (
        p.kind == ProposalKind.EMERGENCY and p.status == ProposalStatus.ACTIVE
    )
    if not open_:
        raise Conflict(f"proposal #{p.pk} is {p.status}; impact can no longer change")
    p.impact = impact
    p.impact_revision = revision
    p.save(update_fields=["impact", "impact_revision", "updated_at"])
    _audit(p, by=None, action="impact", after={"revision": revision}, comment="impact results frozen")
    return p


def proposal_impact_compute(*, proposal_id: int, revision: int) -> str:
    """Run the impact analysis (the ``governance.impact`` task body).

    Calls ``riskgov.health.services.health_impact_run(overrides=versions, by=None)`` when
    the health app provides it; a dict result is frozen at once with
    ``proposal_record_impact``, anything else (e.g. a queued run) is expected to call
    ``proposal_record_impact`` itself when done: for a queued ``HealthRun`` the
    ``governance.impact_collect`` task (``governance.impact``) does it once the run is
    published; the run is named on the proposal by an ``impact_started`` audit record (its
    progress shows on the proposal page). When no impact can be computed (no snapshot, no
    health function) the reason is frozen as the impact (``{"error": …}``), so votes open
    and approvers see why. Returns what happened (for logs and tests).
    """
    p = Proposal.objects.filter(pk=proposal_id).first()
    if p is None or p.revision != revision or p.status not in (ProposalStatus.SUBMITTED, ProposalStatus.ACTIVE):
        log.info("governance.impact: proposal %s revision %s is no longer current, skipped", proposal_id, revision)
        return "stale"
    try:
        from riskgov.health import services as health_services
    except ImportError:
        health_services = None  # type: ignore[assignment]
    run = getattr(health_services, "health_impact_run", None)
    if run is None:
        log.warning(
            "governance.impact: riskgov.health.services.health_impact_run is not available; "
            "impact of proposal %s (revision %s) not computed",
            proposal_id,
            revision,
        )
        _record_quietly(p, {"format": "riskgov.impact/1", "error": "impact analysis is not available"}, revision)
        return "no_hook"
    overrides = [v for c in proposal_changes(p) for v in c.subject_kind.engine_overrides([c.version])]
    try:
        # one transaction: the run starts (on commit) only once the proposal names it, so its
        # progress shows on the proposal page (selectors.proposal_impact_status)
        with transaction.atomic():
            result = run(overrides=overrides, by=None, label=f"impact of proposal #{proposal_id} rev {revision}")
            if not isinstance(result, dict):
                _audit(p, by=None, action="impact_started", after={"revision": revision, "run": result.pk})
    except DomainError as exc:  # e.g. no snapshot yet: nothing to evaluate, not a task failure
        log.warning("governance.impact: proposal %s impact not computed: %s", proposal_id, exc.message)
        # the reason is frozen as the impact, so approvers see why there is none (votes open)
        _record_quietly(p, {"format": "riskgov.impact/1", "error": f"impact not computed: {exc.message}"}, revision)
        return "refused"
    if isinstance(result, dict):
        try:
            proposal_record_impact(proposal=p, impact=result, revision=revision)
        except Conflict as exc:
            log.info("governance.impact: %s", exc.message)
            return "stale"
        return "recorded"
    log.info("governance.impact: proposal %s impact run started (%r)", proposal_id, result)
    from riskgov.governance.tasks import governance_impact_collect

    transaction.on_commit(lambda: governance_impact_collect.delay(proposal_id, revision, result.pk))
    return "started"


def _record_quietly(p: Proposal, impact: dict[str, Any], revision: int) -> None:
    """Freeze ``impact`` unless the proposal moved on meanwhile (then nothing is written)."""
    try:
        proposal_record_impact(proposal=p, impact=impact, revision=revision)
    except Conflict as exc:
        log.info("governance.impact: %s", exc.message)


@transaction.atomic
def proposal_withdraw(*, proposal: Proposal, by: Any, comment: str = "") -> Proposal:
    """The proposer withdraws a proposal before it is active.

    Raises:
        NotAllowed: ``by`` is not the proposer.
        Conflict: already active or closed.
    """
    p = _lock(proposal)
    if by.pk != p.proposer_id:
        raise NotAllowed("only the proposer may withdraw a proposal")
    if not proposal_editable(p):
        raise Conflict(f"proposal #{p.pk} is {p.status} and cannot be withdrawn")
    p.closed_at = timezone.now()
    _transition(p, "withdraw", by=by, comment=comment)
    _discard_changes(p, by=by, reason=f"proposal #{p.pk} withdrawn")
    return p


def proposals_expire_due(*, now: datetime | None = None) -> list[int]:
    """Expire submitted proposals whose expiry has passed (beat task). Returns their ids."""
    now = now or timezone.now()
    done = []
    ids = list(
        Proposal.objects.filter(status=ProposalStatus.SUBMITTED, expires_at__lte=now).values_list("pk", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            p = (
                Proposal.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=ProposalStatus.SUBMITTED, expires_at__lte=now)
                .first()
            )
            if p is None:
                continue
            p.closed_at = now
            _transition(p, "expire", by=None, comment=f"not approved by {p.expires_at:%Y-%m-%d %H:%M} UTC")
            _discard_changes(p, by=None, reason=f"proposal #{p.pk} expired")
            _on_commit("expired", p.pk)
            done.append(pk)
    return done

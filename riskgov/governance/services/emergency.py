"""Emergency changes: stricter-only, active at once, reverted unless ratified in time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from riskgov.core.exceptions import DomainError
from riskgov.core.roles import COMMITTEE
from riskgov.governance.models import (
    Proposal,
    ProposalKind,
    ProposalStatus,
)
from riskgov.governance.policy import LintError
from riskgov.governance.selectors import (
    change_base_errors,
    proposal_changes,
)
from riskgov.governance.services._base import LintFailed, _audit, _dump, _full_clean, _on_commit, _require, _transition
from riskgov.governance.services.activation import _lock_subjects, _swap
from riskgov.governance.services.changes import _create_changes
from riskgov.governance.services.policies import policy_current
from riskgov.parameters.models import VersionStatus


# --- emergencies --------------------------------------------------------------------------
@transaction.atomic
def emergency_change(
    *,
    by: Any,
    rationale: str,
    changes: list[dict[str, Any]],
    title: str = "Emergency change",
    now: datetime | None = None,
) -> Proposal:
    """A committee member activates a stricter-only change at once; the normal quorum must
    ratify it (``proposal_vote``) before ``ratify_by`` or it is reverted.

    Raises:
        NotAllowed: not a committee member.
        LintFailed: a change is invalid or not stricter everywhere (every finding listed).
    """
    _require(by, COMMITTEE, action="an emergency change")
    if not (rationale or "").strip():
        raise DomainError("an emergency change needs a rationale")
    now = now or timezone.now()
    policy = policy_current()
    p = Proposal(
        title=title,
        rationale=rationale,
        proposer=by,
        proposer_name=by.get_username(),
        requested_effective_at=now,
        kind=ProposalKind.EMERGENCY,
        policy=policy,
    )
    _full_clean(p)
    p.save()
    created = _create_changes(p, changes, by=by)
    _lock_subjects(created)
    errors: list[LintError] = []
    for c in proposal_changes(p):
        errors += change_base_errors(c)
        base = c.base_version
        if base is None:
            errors.append(LintError(c.subject, "no_active_version", f"{c.subject}: nothing active to tighten"))
        else:
            errors += c.subject_kind.stricter_violations(c.subject, base, c.version)
    if errors:
        raise LintFailed(errors)
    _audit(p, by=by, action="create", to=ProposalStatus.DRAFT, after=_dump(p), comment=rationale)
    for c in proposal_changes(p):
        _swap(c, now=now, by=by, reason=f"emergency proposal #{p.pk}")
    p.submitted_at = p.approved_at = p.activated_at = p.effective_at = now
    p.ratify_by = now + timedelta(hours=policy.emergency_ratification_hours)
    _transition(p, "activate_emergency", by=by, comment=rationale, after={"ratify_by": p.ratify_by.isoformat()})
    _on_commit("emergency", p.pk)
    return p


def _emergency_revert(p: Proposal, *, by: Any, now: datetime, reason: str) -> None:
    """Restore the base values as new active versions (where the emergency version is
    still active), mark the proposal reverted, notify everyone."""
    restored, skipped = [], []
    changes = proposal_changes(p)
    _lock_subjects(changes)
    for c in changes:
        kind = c.subject_kind
        v = kind.version_model.objects.get(pk=c.version_id)
        if v.status != VersionStatus.ACTIVE:
            skipped.append(c.subject)  # replaced since by another change: leave it alone
            continue
        base = c.base_version
        why = f"revert of emergency proposal #{p.pk}: {reason}"
        subject = kind.find_subject(c.subject)
        new = kind.create_version(subject=subject, payload=kind.payload_of(base), by=by, reason=why)
        kind.set_status(v, status=VersionStatus.SUPERSEDED, by=by, at=now, reason=why)
        new = kind.set_status(new, status=VersionStatus.APPROVED, by=by, at=now, reason=why)
        new = kind.set_status(new, status=VersionStatus.ACTIVE, by=by, at=now, reason=why)
        restored.append(
            {"subject": c.subject, "version_id": new.pk, "copied_from": base.pk, "values": kind.as_audit(new)}
        )
    p.closed_at = now
    _transition(p, "revert", by=by, comment=reason, after={"restored": restored, "skipped": skipped})
    _on_commit("reverted", p.pk, reason=reason)


def emergencies_revert_due(*, now: datetime | None = None) -> list[int]:
    """Revert every emergency change not ratified by ``ratify_by`` (beat task). Idempotent."""
    now = now or timezone.now()
    done = []
    ids = list(
        Proposal.objects.filter(
            kind=ProposalKind.EMERGENCY, status=ProposalStatus.ACTIVE, ratify_by__lt=now
        ).values_list("pk", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            p = (
                Proposal.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, kind=ProposalKind.EMERGENCY, status=ProposalStatus.ACTIVE, ratify_by__lt=now)
                .first()
            )
            if p is None:
                continue
            _emergency_revert(p, by=None, now=now, reason=f"not ratified by {p.ratify_by:%Y-%m-%d %H:%M} UTC")
            done.append(pk)
    return done

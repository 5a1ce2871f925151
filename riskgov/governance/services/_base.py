"""Shared helpers of the governance services: locking, audit, transitions, lint errors."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from riskgov.core.exceptions import DomainError, NotAllowed
from riskgov.core.roles import has_role
from riskgov.core.services import audit_record
from riskgov.governance import notifications
from riskgov.governance.models import (
    Proposal,
)
from riskgov.governance.policy import LintError

log = logging.getLogger(__name__)

POLICY_FIELDS = (
    "quorum",
    "timelock_hours",
    "expiry_days",
    "fast_track_quorum",
    "fast_track_timelock_hours",
    "fast_track_max_relative_change",
    "fast_track_min_days_since_change",
    "emergency_ratification_hours",
)


class LintFailed(DomainError):
    """A proposal (or change) fails lint; ``extra["errors"]`` lists ``{where, rule, message}``."""

    def __init__(self, errors: Sequence[LintError]):
        first = errors[0]
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{first.message}{more}", extra={"errors": [e.as_dict() for e in errors]})
        self.errors = list(errors)


# --- helpers ------------------------------------------------------------------------------
def _full_clean(obj: Any) -> None:
    # clean_fields() re-assigns every field; a protected FSM field refuses that, and the
    # state is the transitions' business anyway.
    protected = [f.name for f in obj._meta.concrete_fields if getattr(f, "protected", False)]
    try:
        obj.full_clean(exclude=protected)
    except ValidationError as exc:
        raise DomainError(
            f"invalid {obj._meta.verbose_name}: {exc.messages}", extra={"fields": exc.message_dict}
        ) from exc


def _require(user: Any, *roles: str, action: str) -> None:
    if not has_role(user, *roles):
        raise NotAllowed(f"{action} needs the role {' or '.join(roles)}")


def _lock(proposal: Proposal | int) -> Proposal:
    pk = proposal if isinstance(proposal, int) else proposal.pk
    return Proposal.objects.select_for_update().get(pk=pk)


def _dump(proposal: Proposal) -> dict[str, Any]:
    return {
        "title": proposal.title,
        "rationale": proposal.rationale,
        "kind": proposal.kind,
        "revision": proposal.revision,
        "requested_effective_at": proposal.requested_effective_at.isoformat(),
        "effective_at": proposal.effective_at.isoformat() if proposal.effective_at else None,
        "co_authors": sorted(proposal.co_authors.values_list("username", flat=True)),
        "changes": [
            {
                "subject": c.subject,
                "version_id": c.version_id,
                "base_version_id": c.base_version_id,
            }
            for c in proposal.changes.all()
        ],
    }


def _audit(proposal: Proposal, *, by: Any, action: str, frm: str = "", to: str = "", **kw: Any) -> None:
    audit_record(actor=by, action=f"governance.proposal.{action}", obj=proposal, from_state=frm, to_state=to, **kw)


def _transition(proposal: Proposal, name: str, *, by: Any, comment: str = "", **kw: Any) -> None:
    """Run one fsm transition (refused by the model if illegal) and audit from → to."""
    before = proposal.status
    getattr(proposal, name)()
    proposal.save()
    _audit(proposal, by=by, action=name, frm=before, to=proposal.status, comment=comment, **kw)


def _on_commit(event: str, proposal_id: int, **extra: Any) -> None:
    transaction.on_commit(lambda: notifications.notify(event, proposal_id=proposal_id, **extra))

"""Timelocked activation of scheduled proposals (beat task), idempotent and race-free."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from riskgov.core.exceptions import Conflict
from riskgov.core.subjects import subject_kind
from riskgov.governance.models import (
    Proposal,
    ProposalChange,
    ProposalStatus,
)
from riskgov.governance.selectors import (
    change_base_errors,
    proposal_changes,
    proposal_timelock,
)
from riskgov.governance.services._base import _audit, _on_commit, _transition
from riskgov.governance.services.policies import policy_current
from riskgov.parameters.models import VersionStatus


# --- activation ---------------------------------------------------------------------------
def _lock_subjects(changes: Sequence[ProposalChange]) -> None:
    """Lock the subjects touched (per kind, in id order) so that activations and version
    creation on the same subject are serialized."""
    by_kind: dict[str, list[Any]] = {}
    for c in changes:
        by_kind.setdefault(c.kind, []).append(c.version)
    for kind in sorted(by_kind):
        subject_kind(kind).lock_subjects(by_kind[kind])


def _swap(change: ProposalChange, *, now: datetime, by: Any, reason: str) -> None:
    """Supersede the base (active) version and activate the change's version."""
    kind = change.subject_kind
    model = kind.version_model
    if change.base_version_id is not None:
        base = model.objects.get(pk=change.base_version_id)
        kind.set_status(base, status=VersionStatus.SUPERSEDED, by=by, at=now, reason=reason)
    v = model.objects.get(pk=change.version_id)
    if v.status == VersionStatus.DRAFT:
        v = kind.set_status(v, status=VersionStatus.APPROVED, by=by, at=now, reason=reason)
    kind.set_status(v, status=VersionStatus.ACTIVE, by=by, at=now, reason=reason)


def _activate_locked(p: Proposal, *, now: datetime) -> None:
    """Activate a locked, scheduled proposal or raise ``Conflict`` (nothing changed)."""
    policy = p.policy or policy_current()
    earliest = p.approved_at + proposal_timelock(p.kind, policy)  # type: ignore[operator]
    if p.expires_at is not None and p.approved_at is not None and p.approved_at > p.expires_at:
        # approved after its deadline (the vote check refuses it; this guards any other path)
        raise Conflict(f"proposal #{p.pk} was approved after it expired at {p.expires_at:%Y-%m-%d %H:%M} UTC")
    if now < earliest or now < p.effective_at:  # type: ignore[operator]
        raise Conflict(f"proposal #{p.pk} cannot be active before {max(earliest, p.effective_at):%Y-%m-%d %H:%M} UTC")  # type: ignore[type-var]
    changes = proposal_changes(p)
    _lock_subjects(changes)
    errors = [e for c in changes for e in change_base_errors(c)]
    if errors:
        raise Conflict("; ".join(e.message for e in errors), extra={"errors": [e.as_dict() for e in errors]})
    for c in changes:
        _swap(c, now=now, by=None, reason=f"proposal #{p.pk} activated")
    p.activated_at = now
    p.activation_error = ""
    _transition(p, "activate", by=None, comment=f"effective_at {p.effective_at:%Y-%m-%d %H:%M} UTC reached")  # type: ignore[str-format]


def proposals_activate_due(*, now: datetime | None = None) -> list[int]:
    """Activate every scheduled proposal whose ``effective_at`` has come (beat task).

    Idempotent and safe with several workers: each proposal is re-read under
    ``select_for_update(skip_locked=True)`` and only a still-scheduled, due one is touched;
    superseding the old versions and activating the new ones happen in one transaction, so
    exactly one version per market is active at any instant. A proposal whose base version
    is no longer active stays scheduled; the refusal is audited and notified once.
    Returns the ids activated.
    """
    now = now or timezone.now()
    done = []
    ids = list(
        Proposal.objects.filter(status=ProposalStatus.SCHEDULED, effective_at__lte=now)
        .order_by("effective_at", "pk")
        .values_list("pk", flat=True)
    )
    for pk in ids:
        with transaction.atomic():
            p = (
                Proposal.objects.select_for_update(skip_locked=True)
                .filter(pk=pk, status=ProposalStatus.SCHEDULED, effective_at__lte=now)
                .first()
            )
            if p is None:
                continue
            try:
                with transaction.atomic():
                    _activate_locked(p, now=now)
            except Conflict as exc:  # the savepoint rolled back; the proposal stays scheduled
                if p.activation_error != exc.message:
                    Proposal.objects.filter(pk=p.pk).update(activation_error=exc.message)
                    _audit(
                        p,
                        by=None,
                        action="activation_refused",
                        frm=p.status,
                        to=p.status,
                        comment=exc.message,
                        after=exc.extra or None,
                    )
                    _on_commit("activation_refused", p.pk, reason=exc.message)
                continue
            _on_commit("activated", p.pk)
            done.append(pk)
    return done

"""Governance e-mail notifications (Django's email backend; console by default).

Called from ``transaction.on_commit`` only (never inside the transaction of the change),
with ids, so the message describes committed state. Failures are logged, never raised:
a mail server outage must not undo a committed governance step.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage

from riskgov.core.roles import ADMIN, ALL_ROLES, ANALYST, COMMITTEE

log = logging.getLogger(__name__)

# Which roles hear about what (authors of the proposal are always added).
RECIPIENT_ROLES: dict[str, tuple[str, ...]] = {
    "submitted": (COMMITTEE,),
    "approved": (COMMITTEE, ADMIN),
    "rejected": (COMMITTEE,),
    "expired": (COMMITTEE,),
    "activated": (ANALYST, COMMITTEE, ADMIN),
    "activation_refused": (COMMITTEE, ADMIN),
    "emergency": ALL_ROLES,
    "ratified": (ANALYST, COMMITTEE, ADMIN),
    "reverted": ALL_ROLES,
}
SUBJECTS = {
    "submitted": "Proposal #{id} submitted for your vote: {title}",
    "approved": "Quorum reached: proposal #{id} scheduled for {effective_at}",
    "rejected": "Proposal #{id} rejected: {title}",
    "expired": "Proposal #{id} expired: {title}",
    "activated": "Proposal #{id} is now active: {title}",
    "activation_refused": "Proposal #{id} could not be activated",
    "emergency": "EMERGENCY change #{id} is active: {title}",
    "ratified": "Emergency change #{id} ratified",
    "reverted": "Emergency change #{id} REVERTED",
}


def recipients(event: str, proposal: Any) -> list[str]:
    """E-mail addresses of active users in the event's roles plus the proposal's authors."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    by_role = users.filter(groups__name__in=RECIPIENT_ROLES.get(event, ())).values_list("email", flat=True)
    authors = users.filter(pk__in=[proposal.proposer_id, *proposal.co_authors.values_list("pk", flat=True)])
    return sorted(set(by_role) | set(authors.values_list("email", flat=True)))


def notify(event: str, *, proposal_id: int, **extra: Any) -> int:
    """Send the e-mail for ``event`` about a proposal; returns the number of messages sent."""
    from riskgov.governance.models import Proposal

    try:
        p = Proposal.objects.get(pk=proposal_id)
        to = recipients(event, p)
        if not to:
            return 0
        ctx = {"id": p.pk, "title": p.title, "effective_at": p.effective_at}
        body = [
            f"Proposal #{p.pk}: {p.title}",
            f"Kind: {p.kind}   Status: {p.status}   Revision: {p.revision}",
            f"Proposer: {p.proposer_name}",
        ]
        if p.effective_at:
            body.append(f"Effective at: {p.effective_at:%Y-%m-%d %H:%M} UTC")
        if p.ratify_by and p.status == "active":
            body.append(f"Must be ratified by: {p.ratify_by:%Y-%m-%d %H:%M} UTC")
        if extra.get("reason"):
            body.append(f"Reason: {extra['reason']}")
        body += ["", p.rationale]
        msg = EmailMessage(
            subject=f"[riskgov] {SUBJECTS.get(event, event).format(**ctx)}",
            body="\n".join(body),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=to,
        )
        return msg.send()
    except Exception:  # noqa: BLE001 — logged; a mail failure must not surface after commit
        log.exception("governance notification %s for proposal %s failed", event, proposal_id)
        return 0

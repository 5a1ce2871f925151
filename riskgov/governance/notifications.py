"""Governance e-mail notifications (Django's email backend; console by default).

Called from ``transaction.on_commit`` only (never inside the transaction of the change),
with ids, so the message describes committed state. Failures are logged, never raised:
a mail server outage must not undo a committed governance step.

One message per recipient (no one sees the others' addresses), sent only to those who must
act or whose proposal it is: a vote request goes to the committee members who may vote
(authors excluded), an outcome to the authors, and so on (``RECIPIENT_ROLES`` /
``AUTHORS_HEAR``). Every message carries the absolute link to the proposal page, built
from ``settings.SITE_URL``.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.urls import reverse

from riskgov.core.roles import ADMIN, ALL_ROLES, ANALYST, COMMITTEE

log = logging.getLogger(__name__)

# Which roles must act on (or hear about) what. Authors of the proposal are added only for
# the events in AUTHORS_HEAR: they never receive their own vote / ratification request.
RECIPIENT_ROLES: dict[str, tuple[str, ...]] = {
    "submitted": (COMMITTEE,),  # vote (authors may not vote: excluded)
    "approved": (ADMIN,),  # watch the scheduled activation
    "rejected": (),
    "expired": (),
    "activated": (ANALYST, COMMITTEE, ADMIN),
    "activation_refused": (ADMIN,),
    "emergency": ALL_ROLES,  # the committee members other than the author ratify
    "ratified": (ANALYST, COMMITTEE, ADMIN),
    "reverted": ALL_ROLES,
}
AUTHORS_HEAR = frozenset({"approved", "rejected", "expired", "activated", "activation_refused", "ratified", "reverted"})
ACTIONS = {
    "submitted": "Your vote is requested: open the proposal to approve or reject it.",
    "emergency": "Committee members: this emergency change must be ratified or reverted.",
    "activation_refused": "Action needed: the change could not be activated; revise or withdraw it.",
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
    """E-mail addresses of those who must act on ``event`` (active users in its roles, the
    proposal's authors excluded) plus the authors for the outcomes in ``AUTHORS_HEAR``."""
    users = get_user_model().objects.filter(is_active=True).exclude(email="")
    author_ids = [proposal.proposer_id, *proposal.co_authors.values_list("pk", flat=True)]
    by_role = (
        users.filter(groups__name__in=RECIPIENT_ROLES.get(event, ()))
        .exclude(pk__in=author_ids)
        .values_list("email", flat=True)
    )
    emails = set(by_role)
    if event in AUTHORS_HEAR:
        emails |= set(users.filter(pk__in=author_ids).values_list("email", flat=True))
    return sorted(emails)


def proposal_url(proposal_id: int) -> str:
    """Absolute link to the proposal page (``settings.SITE_URL`` + the page's path)."""
    return settings.SITE_URL.rstrip("/") + reverse("proposal-detail", args=[proposal_id])


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
        url = proposal_url(p.pk)
        head = [ACTIONS[event], ""] if event in ACTIONS else []
        body = [*head, *body, f"Proposal page: {url}", "", p.rationale]
        subject = f"[riskgov] {SUBJECTS.get(event, event).format(**ctx)}"
        messages = [
            EmailMessage(subject=subject, body="\n".join(body), from_email=settings.DEFAULT_FROM_EMAIL, to=[addr])
            for addr in to
        ]
        return get_connection().send_messages(messages) or 0
    except Exception:  # noqa: BLE001 — logged; a mail failure must not surface after commit
        log.exception("governance notification %s for proposal %s failed", event, proposal_id)
        return 0

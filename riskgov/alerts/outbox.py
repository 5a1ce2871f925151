"""The alert outbox: notification rows queued with a firing's change, e-mailed after commit.

A notification is created in the evaluation's transaction (``firing_notify``, which also
writes a firing and its clearing to the audit trail) and sent after commit by the
``alerts.notify`` task with the claim-then-send protocol of report deliveries
(``alert_notification_send``): a retried task never sends one twice, a ``sending`` or
``sent`` row is never sent again. Stuck rows are re-enqueued by ``riskgov.alerts.sweep``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from riskgov.alerts.models import CLEARED_CONDITION, AlertFiring, AlertNotification, NotificationEvent
from riskgov.core.services import audit_record
from riskgov.reports import selectors
from riskgov.reports.models import DeliveryStatus

#: the audit trail's object type of a firing, as written when alerts lived in the reports
#: app (``Meta.label_lower`` is now ``alerts.alertfiring``): audit rows stay comparable
FIRING_OBJECT_TYPE = "reports.alertfiring"


def notification_enqueue(notification_id: int) -> None:
    """Enqueue ``alerts.notify`` for one notification (a broker error propagates)."""
    from riskgov.alerts.tasks import alerts_notify_task

    alerts_notify_task.delay(notification_id)


def firing_notify(firing: AlertFiring, event: str, now: datetime, out: list[int]) -> None:
    """Queue a notification (sent after commit; a failed enqueue is logged and left
    ``pending`` for ``alert_notifications_requeue``); a firing and its clearing are also
    written to the audit trail."""
    n = AlertNotification.objects.create(firing=firing, event=event, created_at=now)
    out.append(n.pk)
    # robust: a broker error is logged (the row stays pending); a lambda, as Django logs its __qualname__
    transaction.on_commit(lambda nid=n.pk: notification_enqueue(nid), robust=True)
    if event != NotificationEvent.RENOTIFY:
        after = {
            "rule": firing.rule.name,
            "subject": firing.subject,
            "value": None if firing.value is None else str(firing.value),
            "threshold": None if firing.threshold is None else str(firing.threshold),
            "run": firing.run_id,
        }
        if event == NotificationEvent.CLEARED:
            after |= {k: firing.detail.get(k) for k in ("cleared_value", "cleared_reason")}
        audit_record(
            actor=None,
            action=f"alerts.{event}",
            obj=firing,
            object_type=FIRING_OBJECT_TYPE,
            to_state=event,
            after=after,
            comment=firing.detail.get("cleared_message", firing.message)
            if event == NotificationEvent.CLEARED
            else firing.message,
        )


def _claim_notification(notification_id: int) -> AlertNotification | None:
    with transaction.atomic():
        n = (
            AlertNotification.objects.select_for_update()
            .select_related("firing__rule")
            .filter(pk=notification_id)
            .first()
        )
        if n is None or n.status not in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
            return None
        n.status = DeliveryStatus.SENDING
        n.attempts += 1
        n.save(update_fields=["status", "attempts"])
        return n


def _fmt(value: Any) -> str:
    return "none/∞" if value is None else str(Decimal(str(value)).normalize())


def alert_message(n: AlertNotification, to: list[str]) -> EmailMessage:
    """The e-mail of one notification. A ``cleared`` e-mail shows what was observed when the
    episode closed (and why: condition false, subject gone, rule disabled or changed); the
    last value while firing is shown as such."""
    f, rule = n.firing, n.firing.rule
    what = {"fired": "ALERT", "renotify": "STILL FIRING", "cleared": "cleared"}[n.event]
    subject = f"[riskgov] {what}: {rule.name}{f' [{f.subject}]' if f.subject else ''}"
    body = [f"Rule: {rule.name} ({rule.get_kind_display()})", f"State: {what}"]
    if n.event == NotificationEvent.CLEARED and "cleared_message" in f.detail:
        reason = f.detail.get("cleared_reason", CLEARED_CONDITION)
        body.append(f"Observed: {f.detail['cleared_message']}")
        if reason == CLEARED_CONDITION:
            body.append(f"Value: {_fmt(f.detail.get('cleared_value'))}   Threshold: {_fmt(f.threshold)}")
        else:
            body.append(f"Why: {reason}")
        body.append(f"While firing: {f.message} (last value {_fmt(f.value)})")
    else:
        body += [f"Observed: {f.message}", f"Value: {_fmt(f.value)}   Threshold: {_fmt(f.threshold)}"]
    body.append(f"Fired at: {f.fired_at:%Y-%m-%d %H:%M} UTC")
    if f.cleared_at:
        body.append(f"Cleared at: {f.cleared_at:%Y-%m-%d %H:%M} UTC")
    if f.run_id:
        body.append(f"Health run: #{f.run_id}")
    return EmailMessage(subject=subject, body="\n".join(body), from_email=settings.DEFAULT_FROM_EMAIL, to=to)


def alert_notification_send(*, notification_id: int) -> int:
    """Send one notification to the active members of its rule's roles (one per e-mail
    address, case-insensitive), at most once.

    Returns the number of recipients (0 when already sent or being sent).

    Raises:
        Exception: the mail backend's error (the row is marked ``failed`` so a retry resends).
    """
    n = _claim_notification(notification_id)
    if n is None:
        return 0
    to = [u.email for u in selectors.role_recipients(n.firing.rule.roles)]
    try:
        if to:
            alert_message(n, to).send()
    except Exception as exc:
        AlertNotification.objects.filter(pk=n.pk).update(
            status=DeliveryStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    AlertNotification.objects.filter(pk=n.pk).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), recipients=to, error=""
    )
    return len(to)

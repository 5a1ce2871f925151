"""The alert outbox: one digest per rule per evaluation, queued with the firings' changes,
e-mailed after commit (issue #12).

While a rule is evaluated its firing events (fired / renotify / cleared) are collected
(``firing_event``, which also writes a firing and its clearing to the audit trail); at the
end of the rule, ``digest_notify`` creates **one** ``AlertNotification`` (the digest) with
one ``AlertNotificationItem`` per event — so twenty markets flagged at once are one e-mail
per recipient listing all twenty, never twenty e-mails. The digest is sent after commit by
the ``alerts.notify`` task with the claim-then-send protocol of report deliveries
(``alert_notification_send``): a retried task never sends it twice, a ``sending`` or
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

from riskgov.alerts.models import (
    CLEARED_CONDITION,
    AlertFiring,
    AlertNotification,
    AlertNotificationItem,
    AlertRule,
    NotificationEvent,
)
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


#: the order of a digest's items: new firings first, then still firing, then cleared
EVENT_ORDER = {NotificationEvent.FIRED: 0, NotificationEvent.RENOTIFY: 1, NotificationEvent.CLEARED: 2}
#: an e-mail's word for an event
EVENT_WORD = {
    NotificationEvent.FIRED: "ALERT",
    NotificationEvent.RENOTIFY: "STILL FIRING",
    NotificationEvent.CLEARED: "cleared",
}


def firing_event(firing: AlertFiring, event: str, events: list[tuple[AlertFiring, str]]) -> None:
    """Collect a firing's event for its rule's digest (``digest_notify``); a firing and its
    clearing are written to the audit trail now, one row each."""
    events.append((firing, event))
    if event == NotificationEvent.RENOTIFY:
        return
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


def digest_notify(
    rule: AlertRule, events: list[tuple[AlertFiring, str]], now: datetime, out: list[int]
) -> AlertNotification | None:
    """Queue one digest of a rule's events in this evaluation (none when there are none):
    sent after commit; a failed enqueue is logged and left ``pending`` for
    ``alert_notifications_requeue``."""
    if not events:
        return None
    n = AlertNotification.objects.create(rule=rule, created_at=now)
    AlertNotificationItem.objects.bulk_create(
        AlertNotificationItem(notification=n, firing=f, event=event) for f, event in events
    )
    out.append(n.pk)
    # robust: a broker error is logged (the row stays pending); a lambda, as Django logs its __qualname__
    transaction.on_commit(lambda nid=n.pk: notification_enqueue(nid), robust=True)
    return n


def _claim_notification(notification_id: int) -> AlertNotification | None:
    with transaction.atomic():
        n = AlertNotification.objects.select_for_update().select_related("rule").filter(pk=notification_id).first()
        if n is None or n.status not in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
            return None
        n.status = DeliveryStatus.SENDING
        n.attempts += 1
        n.save(update_fields=["status", "attempts"])
        return n


def _fmt(value: Any) -> str:
    return "none/∞" if value is None else str(Decimal(str(value)).normalize())


def _item_lines(f: AlertFiring, event: str) -> list[str]:
    """What an e-mail says of one firing. A ``cleared`` item shows what was observed when the
    episode closed (and why: condition false, subject gone, rule disabled or changed); the
    last value while firing is shown as such."""
    lines = []
    if event == NotificationEvent.CLEARED and "cleared_message" in f.detail:
        reason = f.detail.get("cleared_reason", CLEARED_CONDITION)
        lines.append(f"Observed: {f.detail['cleared_message']}")
        if reason == CLEARED_CONDITION:
            lines.append(f"Value: {_fmt(f.detail.get('cleared_value'))}   Threshold: {_fmt(f.threshold)}")
        else:
            lines.append(f"Why: {reason}")
        lines.append(f"While firing: {f.message} (last value {_fmt(f.value)})")
    else:
        lines += [f"Observed: {f.message}", f"Value: {_fmt(f.value)}   Threshold: {_fmt(f.threshold)}"]
    lines.append(f"Fired at: {f.fired_at:%Y-%m-%d %H:%M} UTC")
    if f.cleared_at:
        lines.append(f"Cleared at: {f.cleared_at:%Y-%m-%d %H:%M} UTC")
    if f.run_id:
        lines.append(f"Health run: #{f.run_id}")
    return lines


def digest_items(n: AlertNotification) -> list[AlertNotificationItem]:
    """A digest's items in the order of the e-mail: fired, still firing, cleared; by subject."""
    items = list(n.items.select_related("firing"))
    return sorted(items, key=lambda i: (EVENT_ORDER.get(i.event, 9), i.firing.subject, i.firing_id))


def alert_message(n: AlertNotification, to: list[str]) -> EmailMessage:
    """The e-mail of one digest. One item: the firing's e-mail (subject names it). Several:
    the counts in the subject, then one section per subject (fired, still firing, cleared)
    with its value, threshold and message. Open firings of the rule not in the digest
    (notified before, no renotify due) are listed at the end, so the e-mail shows the whole
    current state of the rule."""
    rule = n.rule
    items = digest_items(n)
    events = [i.event for i in items]
    what = EVENT_WORD[min(events, key=lambda e: EVENT_ORDER.get(e, 9))] if events else "no change"
    body = [f"Rule: {rule.name} ({rule.get_kind_display()})"]
    if len(items) == 1:
        f = items[0].firing
        subject = f"[riskgov] {EVENT_WORD[items[0].event]}: {rule.name}{f' [{f.subject}]' if f.subject else ''}"
        body.append(f"State: {EVENT_WORD[items[0].event]}")
        body += _item_lines(f, items[0].event)
    else:
        counts = ", ".join(
            f"{events.count(e)} {label}"
            for e, label in (
                (NotificationEvent.FIRED, "fired"),
                (NotificationEvent.RENOTIFY, "still firing"),
                (NotificationEvent.CLEARED, "cleared"),
            )
            if events.count(e)
        )
        subject = f"[riskgov] {what}: {rule.name} — {counts}"
        body.append(f"Digest: {counts}")
        for i in items:
            body += ["", f"--- {i.firing.subject or 'venue'}: {EVENT_WORD[i.event]}"]
            body += _item_lines(i.firing, i.event)
    others = (
        AlertFiring.objects.filter(rule=rule, cleared_at__isnull=True)
        .exclude(pk__in=[i.firing_id for i in items])
        .order_by("subject", "id")
    )
    others = list(others)
    if others:
        body += ["", f"Also still firing ({len(others)}, notified before):"]
        body += [
            f"- {f.subject or 'venue'}: {f.message} (value {_fmt(f.value)}, threshold {_fmt(f.threshold)})"
            for f in others
        ]
    return EmailMessage(subject=subject, body="\n".join(body), from_email=settings.DEFAULT_FROM_EMAIL, to=to)


def alert_notification_send(*, notification_id: int) -> int:
    """Send one digest to the active members of its rule's roles (one per e-mail
    address, case-insensitive), at most once.

    Returns the number of recipients (0 when already sent or being sent).

    Raises:
        Exception: the mail backend's error (the row is marked ``failed`` so a retry resends).
    """
    n = _claim_notification(notification_id)
    if n is None:
        return 0
    to = [u.email for u in selectors.role_recipients(n.rule.roles)]
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

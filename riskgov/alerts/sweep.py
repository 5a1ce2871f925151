"""The outbox sweep: re-enqueue alert notifications whose sending never happened or failed.

Run by the scheduled ``alerts.evaluate`` (no run id) before the evaluation, so that a
failing evaluation does not hold the outbox back.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.utils import timezone

from riskgov.alerts import selectors
from riskgov.alerts.outbox import notification_enqueue

log = logging.getLogger(__name__)


#: a pending/failed notification is re-enqueued by the sweep once it is this old …
NOTIFY_RETRY_AFTER = timedelta(minutes=5)
#: … and at most this old (an older alert e-mail is no longer news; it stays in the admin)
NOTIFY_RETRY_WITHIN = timedelta(days=2)


def alert_notifications_requeue(*, now: datetime | None = None) -> list[int]:
    """Enqueue ``alerts.notify`` again for notifications still ``pending`` (their enqueue
    failed, or the broker lost them) or ``failed`` (the task's retries ran out), created
    between ``NOTIFY_RETRY_WITHIN`` and ``NOTIFY_RETRY_AFTER`` ago. The claim makes a double
    enqueue harmless: a ``sending`` or ``sent`` row is never sent again. A broker error is
    logged (the next sweep tries again). Returns the notification ids enqueued."""
    now = now or timezone.now()
    ids = list(
        selectors.pending_notifications()
        .filter(created_at__lte=now - NOTIFY_RETRY_AFTER, created_at__gte=now - NOTIFY_RETRY_WITHIN)
        .values_list("pk", flat=True)
    )
    done = []
    for nid in ids:
        try:
            notification_enqueue(nid)
        except Exception:  # noqa: BLE001 — a broker outage: the next sweep retries
            log.exception("could not enqueue alert notification %s", nid)
            continue
        done.append(nid)
    return done

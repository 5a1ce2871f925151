"""Celery interface of the alerts (STYLE rule 9): thin tasks, ids in, services inside.

The task names are those the alerts had in the reports app (``alerts.evaluate`` in the beat
entries of ``riskgov.core.schedules``, ``alerts.notify``), so deployed schedules and queued
messages keep working.

* ``alerts.evaluate`` — beat (every 15 min) and after every published run (signal). The run
  id is only a trigger: the latest published run is evaluated (an older run is skipped).
  Idempotent (state-based: a second evaluation of the same state changes nothing). The
  scheduled call (no run id) also re-enqueues notifications and report deliveries whose
  sending never happened or failed for good (``sweep.alert_notifications_requeue``,
  ``reports.services.report_deliveries_requeue``).
* ``alerts.notify`` — one notification, claimed before sending, retried on failure.
"""

from __future__ import annotations

from celery import shared_task

from riskgov.reports.tasks import RETRY  # the same retry policy as the report tasks


@shared_task(name="alerts.evaluate", acks_late=True, soft_time_limit=300, time_limit=330, **RETRY)
def alerts_evaluate_task(run_id: int | None = None) -> dict[str, list[int]]:
    """Evaluate the alert rules on the latest published run; ``run_id`` (a publication) is a
    trigger only — an evaluation triggered by a run older than the latest is skipped. The
    scheduled call (no ``run_id``) then re-enqueues stuck notifications and failed deliveries."""
    from riskgov.alerts.firing import alerts_evaluate
    from riskgov.alerts.sweep import alert_notifications_requeue
    from riskgov.reports.services import report_deliveries_requeue

    requeued = {}
    if run_id is None:  # first, so that a failing evaluation does not hold the outbox back
        requeued = {
            "requeued_notifications": alert_notifications_requeue(),
            "requeued_reports": report_deliveries_requeue(),
        }
    return {**alerts_evaluate(run_id=run_id), **requeued}


@shared_task(name="alerts.notify", acks_late=True, soft_time_limit=120, time_limit=150, **RETRY)
def alerts_notify_task(notification_id: int) -> int:
    """Send one alert notification (at most once)."""
    from riskgov.alerts.outbox import alert_notification_send

    return alert_notification_send(notification_id=notification_id)

"""Celery interface of reports and alerts (STYLE rule 9): thin tasks, ids in, services inside.

* ``reports.build_and_deliver`` — beat (daily, ``core.schedules``; its ``roles`` kwarg is
  editable in the admin) and "send now": builds a report keyed by the task id (a retry
  reuses the report it built) and delivers it once per person. Idempotent → ``acks_late``,
  retried on any error with backoff.
* ``alerts.evaluate`` — beat (every 15 min) and after every published run (signal).
  Idempotent (state-based: a second evaluation of the same state changes nothing).
* ``alerts.notify`` — one notification, claimed before sending, retried on failure.
"""

from __future__ import annotations

from celery import shared_task

import riskgov.config.celery  # noqa: E402,F401  isort: skip  (bind to the project's app)

RETRY = {"autoretry_for": (Exception,), "retry_backoff": 30, "retry_backoff_max": 600, "max_retries": 5}


@shared_task(name="reports.build_and_deliver", bind=True, acks_late=True, soft_time_limit=600, time_limit=660, **RETRY)
def report_build_and_deliver(
    self, kind: str = "scheduled", roles: list[str] | None = None, by_id: int | None = None
) -> dict[str, int]:
    """Build a report from the latest published run and e-mail it to ``roles``."""
    from django.contrib.auth import get_user_model

    from riskgov.reports.services import report_build, report_deliver

    by = get_user_model().objects.filter(pk=by_id).first() if by_id else None
    report = report_build(kind=kind, by=by, key=f"task:{self.request.id}")
    counts = report_deliver(report=report, roles=roles)
    return {"report": report.pk, **counts}


@shared_task(name="reports.deliver", acks_late=True, soft_time_limit=600, time_limit=660, **RETRY)
def report_deliver_task(report_id: int, roles: list[str] | None = None) -> dict[str, int]:
    """(Re)deliver an existing report to ``roles``; people who already got it are skipped."""
    from riskgov.reports.models import Report
    from riskgov.reports.services import report_deliver

    return report_deliver(report=Report.objects.get(pk=report_id), roles=roles)


@shared_task(name="alerts.evaluate", acks_late=True, soft_time_limit=300, time_limit=330, **RETRY)
def alerts_evaluate_task(run_id: int | None = None) -> dict[str, list[int]]:
    """Evaluate the alert rules on ``run_id`` (default: the latest published run)."""
    from riskgov.health.models import HealthRun
    from riskgov.reports.alerts import alerts_evaluate

    run = HealthRun.objects.filter(pk=run_id).first() if run_id else None
    return alerts_evaluate(run=run)


@shared_task(name="alerts.notify", acks_late=True, soft_time_limit=120, time_limit=150, **RETRY)
def alerts_notify_task(notification_id: int) -> int:
    """Send one alert notification (at most once)."""
    from riskgov.reports.alerts import alert_notification_send

    return alert_notification_send(notification_id=notification_id)

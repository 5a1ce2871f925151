"""Celery interface of reports (STYLE rule 9): thin tasks, ids in, services inside.

* ``reports.build_and_deliver`` — beat (daily, ``core.schedules``; the entry's kwargs may
  name ``roles``, editable in the admin — unknown names are dropped with a warning, and
  without valid roles the report goes to ``RISKGOV_REPORT_ROLES``) and "send now": builds a
  report keyed by the task id (a retry reuses the report it built) and delivers it once per
  person. Idempotent → ``acks_late``, retried on any error with backoff.
* ``reports.retry_failed`` — re-sends one report's ``failed`` deliveries (enqueued by the
  sweep of ``alerts.evaluate``, ``riskgov.alerts.tasks``).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

log = logging.getLogger(__name__)
RETRY = {"autoretry_for": (Exception,), "retry_backoff": 30, "retry_backoff_max": 600, "max_retries": 5}


@shared_task(name="reports.build_and_deliver", bind=True, acks_late=True, soft_time_limit=600, time_limit=660, **RETRY)
def report_build_and_deliver(
    self, kind: str = "scheduled", roles: Any = None, by_id: int | None = None
) -> dict[str, int]:
    """Build a report from the latest published run and e-mail it to ``roles`` (default
    ``RISKGOV_REPORT_ROLES``; unknown role names are dropped, see the module docstring)."""
    from django.contrib.auth import get_user_model

    from riskgov.reports.services import report_build, report_deliver, report_roles_lenient

    by = get_user_model().objects.filter(pk=by_id).first() if by_id else None
    report = report_build(kind=kind, by=by, key=f"task:{self.request.id}")
    counts = report_deliver(report=report, roles=report_roles_lenient(roles))
    return {"report": report.pk, **counts}


@shared_task(name="reports.deliver", acks_late=True, soft_time_limit=600, time_limit=660, **RETRY)
def report_deliver_task(report_id: int, roles: list[str] | None = None) -> dict[str, int]:
    """(Re)deliver an existing report to ``roles``; people who already got it are skipped."""
    from riskgov.reports.models import Report
    from riskgov.reports.services import report_deliver

    return report_deliver(report=Report.objects.get(pk=report_id), roles=roles)


@shared_task(name="reports.retry_failed", acks_late=True, soft_time_limit=600, time_limit=660, **RETRY)
def report_retry_failed_task(report_id: int) -> dict[str, int]:
    """Re-send the failed deliveries of one report (never a sent or sending one)."""
    from riskgov.reports.models import Report
    from riskgov.reports.services import report_deliveries_retry

    report = Report.objects.filter(pk=report_id).first()
    if report is None:
        return {"sent": 0, "skipped": 0, "failed": 0}
    return report_deliveries_retry(report=report)

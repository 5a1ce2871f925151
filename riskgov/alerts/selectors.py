"""Read queries of the alerts app: rules, firings (open and past) and unsent notifications.

The evaluators read the run, governance and prices through ``riskgov.reports.selectors``
(the same stored results the report shows); the queries here are the alerts' own tables.
"""

from __future__ import annotations

from django.db.models import QuerySet

from riskgov.alerts.models import AlertFiring, AlertNotification, AlertRule


def alert_rules() -> QuerySet[AlertRule]:
    """Every rule, with its market."""
    return AlertRule.objects.select_related("market").order_by("kind", "name")


def active_firings() -> QuerySet[AlertFiring]:
    """Open firings, newest first."""
    return AlertFiring.objects.filter(cleared_at__isnull=True).select_related("rule").order_by("-fired_at", "-id")


def firings_history() -> QuerySet[AlertFiring]:
    """Every firing (open and cleared), newest first."""
    return AlertFiring.objects.select_related("rule").order_by("-fired_at", "-id")


def pending_notifications() -> QuerySet[AlertNotification]:
    """Notifications not yet sent (pending or failed), oldest first."""
    return AlertNotification.objects.filter(status__in=["pending", "failed"]).order_by("created_at", "id")

"""Admin: reports and deliveries are read-only (their state changes only through services;
alert rules are edited in the alerts app's admin, ``riskgov.alerts.admin``). The report and alert schedules are
django-celery-beat "Periodic tasks" (``manage.py setup_schedules``); by default the daily
report goes to ``RISKGOV_REPORT_ROLES``; other roles may be set in that task's ``kwargs``
(``{"kind": "scheduled", "roles": ["committee", "admin"]}``; unknown names are dropped with
a warning in the worker log).
"""

from django.contrib import admin

from riskgov.core.admin import ReadOnlyAdmin as CoreReadOnlyAdmin
from riskgov.reports.models import Report, ReportDelivery


class ReadOnlyAdmin(CoreReadOnlyAdmin):
    """A model whose rows change only through services: listed and viewed, never added, edited
    or deleted."""


@admin.register(Report)
class ReportAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "status", "run", "created_by_name")
    list_filter = ("status", "kind")
    exclude = ("figures",)


@admin.register(ReportDelivery)
class ReportDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("report", "email", "status", "attempts", "claimed_at", "sent_at")
    list_filter = ("status",)
    search_fields = ("email",)

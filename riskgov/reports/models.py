"""Health reports and their e-mail deliveries (issue #7; alert rules and firings: ``riskgov.alerts``).

Storage decision: a report's HTML and PDF are **files** (``FileField``) under
``MEDIA_ROOT/reports/<yyyy>/<mm>/`` (``var/media/`` by default), named after the report id,
and the row keeps the run it was built from, so the archive is "report row + its two
files". Files rather than DB blobs: PDFs with charts are hundreds of kB each, and a daily
archive would bloat every database backup and query of the table; the files are served
through the role-checked views only (never as public media).

Money and thresholds that people set are ``Decimal`` (``NUMERIC``, ``THRESHOLD`` digits,
shared with the alerts app, as is ``DeliveryStatus``). Workflow state (delivery status)
changes only inside ``services`` (STYLE rule 7).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

THRESHOLD = {"max_digits": 28, "decimal_places": 12}


def _report_path(instance: Report, filename: str) -> str:
    created = instance.created_at
    return f"reports/{created:%Y}/{created:%m}/{filename}"


class ReportKind(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    MANUAL = "manual", "Sent now"


class ReportStatus(models.TextChoices):
    COMPLETE = "complete", "Complete"
    INCOMPLETE = "incomplete", "Incomplete"


class Report(models.Model):
    """One health report: built from a published run (never recomputed), archived as HTML + PDF.

    ``status`` is ``incomplete`` when the report could not be built from a fresh run with
    fresh prices; ``reasons`` says why, in words shown at the top of the report. ``run`` is
    ``NULL`` only when no run was ever published. ``figures`` is the JSON the templates
    render (overview, changes since ``previous``, riskiest markets and accounts, stress and
    coverage tables, governance, model health); ``key`` makes a retried build task return
    the report it already built (the Celery task id).
    """

    run = models.ForeignKey("health.HealthRun", null=True, blank=True, on_delete=models.PROTECT, related_name="reports")
    previous = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=16, choices=ReportKind.choices, default=ReportKind.SCHEDULED)
    status = models.CharField(max_length=16, choices=ReportStatus.choices, db_index=True)
    reasons = models.JSONField(default=list, blank=True, help_text="why the report is incomplete")
    figures = models.JSONField(default=dict, blank=True)
    html = models.FileField(upload_to=_report_path, max_length=255, blank=True)
    pdf = models.FileField(upload_to=_report_path, max_length=255, blank=True)
    key = models.CharField(max_length=100, null=True, blank=True, unique=True, help_text="idempotency key")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=[s.value for s in ReportStatus]), name="report_status_valid"),
        ]

    def __str__(self) -> str:
        return f"report {self.pk} ({self.status}, run {self.run_id or '—'})"

    @property
    def is_complete(self) -> bool:
        return self.status == ReportStatus.COMPLETE

    @property
    def kind_label(self) -> str:
        """How the report was built: "Scheduled" or "On demand" (``manual`` was labelled
        "Sent now", which read as sent even when nobody was e-mailed)."""
        return "On demand" if self.kind == ReportKind.MANUAL else self.get_kind_display()

    @property
    def sent_count(self) -> int:
        """How many people the report was actually e-mailed to (deliveries marked sent)."""
        return self.deliveries.filter(status=DeliveryStatus.SENT).count()


class DeliveryStatus(models.TextChoices):
    """``sending`` is claimed (committed) before the message leaves; a retry never resends it."""

    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed (will be retried)"


class ReportDelivery(models.Model):
    """One report e-mailed to one person; unique per (report, user) — the idempotency key.

    The delivery service claims the row (``sending``, committed) before sending and marks it
    ``sent`` after; an error marks it ``failed`` so the task's retry (and, once those ran
    out, the sweep of the scheduled ``alerts.evaluate``, for reports up to 2 days old) sends
    it again. One row per e-mail address: a second account with the same address is skipped. A row
    left ``sending`` (worker killed while sending) is never resent automatically: at most
    once per person; the admin shows it.
    """

    report = models.ForeignKey(Report, on_delete=models.CASCADE, related_name="deliveries")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    email = models.EmailField()
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.SENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    claimed_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["report", "email"]
        verbose_name_plural = "report deliveries"
        constraints = [models.UniqueConstraint(fields=["report", "user"], name="report_delivery_once")]

    def __str__(self) -> str:
        return f"report {self.report_id} → {self.email} ({self.status})"

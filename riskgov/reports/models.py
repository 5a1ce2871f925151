"""Health reports, their e-mail deliveries, alert rules and alert firings (issue #7).

Storage decision: a report's HTML and PDF are **files** (``FileField``) under
``MEDIA_ROOT/reports/<yyyy>/<mm>/`` (``var/media/`` by default), named after the report id,
and the row keeps the run it was built from, so the archive is "report row + its two
files". Files rather than DB blobs: PDFs with charts are hundreds of kB each, and a daily
archive would bloat every database backup and query of the table; the files are served
through the role-checked views only (never as public media).

Money and thresholds that people set are ``Decimal`` (``NUMERIC``); observed values of a
firing are ``Decimal`` too (converted from the run's float64 results at 12 places).
Workflow state (delivery status, firing/clearing) changes only inside ``services`` and
``alerts`` (STYLE rule 7).
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from riskgov.core.roles import ALL_ROLES

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


class AlertKind(models.TextChoices):
    """What a rule watches; the unit of its threshold is in the label (RISK_MODEL § cited)."""

    COVERAGE_AT_ES = "coverage_at_es_below", "Coverage at ES below threshold (ratio fund / ES > 0, 1 = 100 %, §10)"
    LIQUIDATABLE_ACCOUNTS = (
        "liquidatable_accounts_above",
        "Liquidatable share of accounts above (fraction in (0, 1], e.g. 0.05 = 5 %, §5)",
    )
    LIQUIDATABLE_OI = (
        "liquidatable_oi_above",
        "Liquidatable share of open interest above (fraction in (0, 1], e.g. 0.10 = 10 %, §5)",
    )
    BANKRUPT_ACCOUNT = "bankrupt_account_above", "A bankrupt account's shortfall above (USD, §5)"
    MMF_BELOW_RECOMMENDATION = (
        "mmf_below_recommendation",
        "Market MMF below its recommendation (relative tolerance, §12)",
    )
    BACKTEST_FAILS = "backtest_fails", "Market MMF fails its Kupiec backtest (§12; threshold unused)"
    PRICES_STALE = "prices_stale", "Prices older than (hours)"
    RUN_FAILED = "run_failed", "Latest health run failed (threshold unused)"
    RUN_OVERDUE = "run_overdue", "No published health run for (hours)"
    EMERGENCY_RATIFICATION = "emergency_ratification_due", "Emergency change's ratification deadline within (hours)"


#: kinds evaluated per market (one firing per market); the rest are venue-wide
PER_MARKET_KINDS = (AlertKind.MMF_BELOW_RECOMMENDATION, AlertKind.BACKTEST_FAILS)
#: kinds whose threshold is a fraction in (0, 1] (0.05 = 5 %), never a percentage
FRACTION_KINDS = (AlertKind.LIQUIDATABLE_ACCOUNTS, AlertKind.LIQUIDATABLE_OI)


def _default_roles() -> list[str]:
    return ["committee", "admin"]


class AlertRule(models.Model):
    """An alert rule, edited in the admin: kind, threshold (``Decimal``), who hears of it.

    ``renotify_minutes``: while a firing persists it is e-mailed again every this many
    minutes (0 = only once). ``market`` restricts a per-market rule to one market.

    ``threshold`` is in the unit of the kind (``AlertKind`` labels): the liquidatable shares
    are **fractions** in (0, 1] (0.05 = 5 %, not 5), coverage at ES is a ratio > 0 (fund / ES),
    the others are USD, hours or a relative tolerance ≥ 0. ``clean`` (the admin) checks it.
    Disabling a rule, or changing its kind or market, closes its open firings at the next
    evaluation (``alerts`` module docstring).
    """

    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=40, choices=AlertKind.choices)
    threshold = models.DecimalField(
        **THRESHOLD,
        default=0,
        help_text="in the unit of the kind: liquidatable shares are fractions in (0, 1] (0.05 = 5 %)",
    )
    market = models.ForeignKey(
        "markets.Market",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        help_text="per-market rules only; empty = every market",
    )
    enabled = models.BooleanField(default=True)
    renotify_minutes = models.PositiveIntegerField(default=24 * 60, help_text="0 = never re-notify")
    roles = models.JSONField(default=_default_roles, help_text=f"roles e-mailed, among {', '.join(ALL_ROLES)}")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.roles, list) or not set(self.roles) <= set(ALL_ROLES):
            raise ValidationError({"roles": f"a list of roles among {', '.join(ALL_ROLES)}"})
        if self.market_id and self.kind not in PER_MARKET_KINDS:
            raise ValidationError({"market": "only per-market rules (MMF recommendation, backtest) take a market"})
        if self.threshold is None:
            return
        if self.kind in FRACTION_KINDS and not (0 < self.threshold <= 1):
            raise ValidationError(
                {"threshold": "a fraction of accounts / open interest in (0, 1]: 0.05 means 5 % (not 5)"}
            )
        if self.kind == AlertKind.COVERAGE_AT_ES and self.threshold <= 0:
            raise ValidationError({"threshold": "a coverage ratio (fund / ES) > 0: 1 means the fund covers ES once"})
        if self.threshold < 0:
            raise ValidationError({"threshold": "must be ≥ 0"})


class AlertFiring(models.Model):
    """One episode of a rule's condition holding for one subject (the venue, a market, a proposal).

    Opened when the condition starts (``fired_at``), updated while it persists (latest
    ``value``, ``threshold`` crossed, ``run``), closed once when it clears (``cleared_at``;
    ``detail["cleared_value"]`` / ``detail["cleared_message"]`` say what was observed then,
    ``value`` keeps the last value while firing). At most one open firing per (rule,
    subject), by a partial unique constraint. ``rule_kind`` / ``rule_market`` are the rule's
    kind and market when the episode opened: if the rule is edited to watch something else,
    the episode is closed (``alerts``).
    """

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="firings")
    subject = models.CharField(max_length=60, blank=True, help_text="'' = venue; market symbol; 'proposal #id'")
    rule_kind = models.CharField(max_length=40, blank=True, help_text="the rule's kind when the episode opened")
    rule_market = models.ForeignKey(
        "markets.Market",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="the rule's market when the episode opened",
    )
    run = models.ForeignKey("health.HealthRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    value = models.DecimalField(**THRESHOLD, null=True, blank=True, help_text="observed; NULL = none/infinity")
    threshold = models.DecimalField(**THRESHOLD, help_text="the line crossed")
    message = models.CharField(max_length=300)
    detail = models.JSONField(default=dict, blank=True)
    fired_at = models.DateTimeField(db_index=True)
    last_seen_at = models.DateTimeField()
    last_notified_at = models.DateTimeField(null=True, blank=True)
    cleared_at = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        ordering = ["-fired_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject"], condition=Q(cleared_at__isnull=True), name="alert_one_open_firing"
            ),
        ]

    def __str__(self) -> str:
        state = "cleared" if self.cleared_at else "active"
        return f"{self.rule.name}{f' [{self.subject}]' if self.subject else ''} ({state})"

    @property
    def is_active(self) -> bool:
        return self.cleared_at is None


class NotificationEvent(models.TextChoices):
    FIRED = "fired", "Fired"
    RENOTIFY = "renotify", "Still firing"
    CLEARED = "cleared", "Cleared"


class AlertNotification(models.Model):
    """One e-mail about a firing (fired, still firing, cleared), created in the evaluation's
    transaction and sent after commit by ``alerts.notify`` — claimed first, so a retried
    task never sends it twice (same protocol as ``ReportDelivery``)."""

    firing = models.ForeignKey(AlertFiring, on_delete=models.CASCADE, related_name="notifications")
    event = models.CharField(max_length=16, choices=NotificationEvent.choices)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    recipients = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.event} {self.firing}"

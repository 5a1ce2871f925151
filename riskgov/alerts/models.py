"""Alert rules, their firings (episodes) and the notifications about them (issue #7).

Moved from the reports app: the tables keep their names (``reports_alertrule``,
``reports_alertfiring``, ``reports_alertnotification``, ``Meta.db_table``), so a database
migrated by the reports app keeps its rows (``alerts.0001_initial`` only takes the models
over in Django's state). Thresholds people set and observed values of a firing are
``Decimal`` (``NUMERIC``; observed values converted from the run's float64 results at 12
places). Workflow state (firing/clearing, notification status) changes only inside
``riskgov.alerts.firing`` and ``riskgov.alerts.outbox`` (STYLE rule 7).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from riskgov.core.roles import ALL_ROLES
from riskgov.reports.models import THRESHOLD, DeliveryStatus


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
    evaluation (``riskgov.alerts.firing`` docstring).
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
        db_table = "reports_alertrule"  # the table of the reports app, kept (module docstring)
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
    the episode is closed (``riskgov.alerts.firing``).
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
        db_table = "reports_alertfiring"
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
    """One e-mail — a **digest** — about the firing events of one rule in one evaluation
    (issue #12): every subject that fired, is still firing (renotify due) or cleared, one
    ``AlertNotificationItem`` each. Created in the evaluation's transaction and sent after
    commit by ``alerts.notify`` — claimed first, so a retried task never sends it twice
    (same protocol as ``ReportDelivery``). A venue-wide rule's digest has one item."""

    rule = models.ForeignKey(AlertRule, on_delete=models.CASCADE, related_name="notifications")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    recipients = models.JSONField(default=list, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "reports_alertnotification"
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.rule} ({self.created_at:%Y-%m-%d %H:%M})"


class AlertNotificationItem(models.Model):
    """One line of a digest: a firing and what happened to it in that evaluation."""

    notification = models.ForeignKey(AlertNotification, on_delete=models.CASCADE, related_name="items")
    firing = models.ForeignKey(AlertFiring, on_delete=models.CASCADE, related_name="notification_items")
    event = models.CharField(max_length=16, choices=NotificationEvent.choices)

    class Meta:
        ordering = ["notification", "id"]
        constraints = [
            models.UniqueConstraint(fields=["notification", "firing"], name="alert_digest_one_item_per_firing"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.firing}"


#: why an episode was closed (``AlertFiring.detail["cleared_reason"]``)
CLEARED_CONDITION, CLEARED_GONE, CLEARED_DISABLED, CLEARED_CHANGED = (
    "condition",
    "gone",
    "rule disabled",
    "rule changed",
)

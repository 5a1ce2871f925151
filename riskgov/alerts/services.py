"""Write actions of the alerts app (STYLE rule 4): the public entry points and the default rules.

``alerts_evaluate`` (``firing``), ``alert_notification_send`` (``outbox``) and
``alert_notifications_requeue`` (``sweep``) are re-exported here, next to
``alert_rules_ensure_defaults`` (``manage.py setup_alert_rules``).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import transaction

from riskgov.alerts.firing import alerts_evaluate
from riskgov.alerts.models import AlertKind, AlertRule
from riskgov.alerts.outbox import alert_notification_send
from riskgov.alerts.sweep import NOTIFY_RETRY_AFTER, NOTIFY_RETRY_WITHIN, alert_notifications_requeue
from riskgov.engine.model_flags import DEFAULT_MMF_TOLERANCE
from riskgov.health.selectors import STALE_AFTER_HOURS

__all__ = (
    "DEFAULT_RULES",
    "NOTIFY_RETRY_AFTER",
    "NOTIFY_RETRY_WITHIN",
    "alert_notification_send",
    "alert_notifications_requeue",
    "alert_rules_ensure_defaults",
    "alerts_evaluate",
)

DEFAULT_RULES = (
    ("Coverage at ES below 1", AlertKind.COVERAGE_AT_ES, "1"),
    ("Over 5 % of accounts liquidatable", AlertKind.LIQUIDATABLE_ACCOUNTS, "0.05"),
    ("Over 10 % of open interest liquidatable", AlertKind.LIQUIDATABLE_OI, "0.10"),
    ("Bankrupt account over 100,000 USD", AlertKind.BANKRUPT_ACCOUNT, "100000"),
    ("MMF below recommendation", AlertKind.MMF_BELOW_RECOMMENDATION, f"{DEFAULT_MMF_TOLERANCE:g}"),
    ("MMF fails backtest", AlertKind.BACKTEST_FAILS, "0"),
    (f"Prices older than {STALE_AFTER_HOURS:g} h", AlertKind.PRICES_STALE, f"{STALE_AFTER_HOURS:g}"),
    ("Health run failed", AlertKind.RUN_FAILED, "0"),
    ("Health run overdue (3 h)", AlertKind.RUN_OVERDUE, "3"),
    ("Emergency ratification within 12 h", AlertKind.EMERGENCY_RATIFICATION, "12"),
)


@transaction.atomic
def alert_rules_ensure_defaults() -> list[tuple[AlertRule, bool]]:
    """Create the default rules that are missing, by name (idempotent; edited rules are kept)."""
    out = []
    for name, kind, threshold in DEFAULT_RULES:
        rule, created = AlertRule.objects.get_or_create(
            name=name, defaults={"kind": kind, "threshold": Decimal(threshold)}
        )
        out.append((rule, created))
    return out

"""Read queries of the alerts app: rules, firings (open and past) and unsent notifications.

The evaluators read the run, governance and prices through ``riskgov.reports.selectors``
(the same stored results the report shows); the queries here are the alerts' own tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet

from riskgov.alerts.models import AlertFiring, AlertKind, AlertNotification, AlertRule


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


@dataclass(frozen=True)
class FigureThreshold:
    """A venue-wide alert threshold for one Overview figure: the rule's name, its kind and
    threshold (the kind's unit, ``AlertKind``), and which side of it is bad."""

    rule: str
    kind: str
    threshold: Decimal
    bad_when: str  # "below" or "above"

    def breached(self, value: float | None) -> bool | None:
        """True when ``value`` is on the bad side; ``None`` when there is nothing to judge
        (a missing value; coverage ``None`` = infinity is never below a threshold)."""
        if value is None:
            return False if self.bad_when == "below" else None
        t = float(self.threshold)
        return value < t if self.bad_when == "below" else value > t


#: the Overview figures judged against the alert rules: kind → side that is bad
_FIGURE_KINDS = {
    AlertKind.COVERAGE_AT_ES: "below",
    AlertKind.LIQUIDATABLE_ACCOUNTS: "above",
    AlertKind.LIQUIDATABLE_OI: "above",
    AlertKind.BANKRUPT_ACCOUNT: "above",
}


def figure_thresholds() -> dict[str, FigureThreshold]:
    """The strictest enabled venue-wide rule of each kind the Overview colours, by kind
    (coverage: the highest threshold; the "above" kinds: the lowest). Empty without rules."""
    out: dict[str, FigureThreshold] = {}
    rules = AlertRule.objects.filter(enabled=True, market__isnull=True, kind__in=list(_FIGURE_KINDS))
    for rule in rules.order_by("kind", "name"):
        side = _FIGURE_KINDS[rule.kind]
        seen = out.get(rule.kind)
        stricter = seen is None or (
            rule.threshold > seen.threshold if side == "below" else rule.threshold < seen.threshold
        )
        if stricter:
            out[rule.kind] = FigureThreshold(rule.name, rule.kind, rule.threshold, side)
    return out

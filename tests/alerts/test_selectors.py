"""Read queries of the alerts app: rules in kind/name order, open firings and the history
newest first, unsent notifications (pending or failed) oldest first."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from riskgov.alerts import selectors
from riskgov.alerts.models import AlertFiring, AlertKind, AlertNotification, AlertRule
from riskgov.reports.models import DeliveryStatus

pytestmark = pytest.mark.django_db


def _firing(rule, *, hours_ago, cleared=False, subject=""):
    at = timezone.now() - dt.timedelta(hours=hours_ago)
    return AlertFiring.objects.create(
        rule=rule,
        subject=subject,
        threshold=Decimal(1),
        message="m",
        fired_at=at,
        last_seen_at=at,
        cleared_at=at + dt.timedelta(minutes=5) if cleared else None,
    )


def test_alert_rules_in_kind_then_name_order():
    AlertRule.objects.create(name="b", kind=AlertKind.RUN_FAILED)
    AlertRule.objects.create(name="a", kind=AlertKind.RUN_FAILED)
    AlertRule.objects.create(name="z", kind=AlertKind.COVERAGE_AT_ES, threshold=1)
    assert [r.name for r in selectors.alert_rules()] == ["z", "a", "b"]


def test_active_firings_and_history_newest_first():
    rule = AlertRule.objects.create(name="r", kind=AlertKind.RUN_FAILED)
    old = _firing(rule, hours_ago=5, cleared=True)
    open_ = _firing(rule, hours_ago=1)
    older_open = _firing(rule, hours_ago=3, subject="BTCUSDT")
    assert list(selectors.active_firings()) == [open_, older_open]
    assert list(selectors.firings_history()) == [open_, older_open, old]


def test_pending_notifications_are_the_unsent_ones_oldest_first():
    rule = AlertRule.objects.create(name="r", kind=AlertKind.RUN_FAILED)
    f = _firing(rule, hours_ago=1)
    now = timezone.now()
    rows = {
        status: AlertNotification.objects.create(rule=f.rule, status=status, created_at=now - dt.timedelta(minutes=i))
        for i, status in enumerate(DeliveryStatus.values)
    }
    pending = list(selectors.pending_notifications())
    assert pending == [rows[DeliveryStatus.FAILED], rows[DeliveryStatus.PENDING]]

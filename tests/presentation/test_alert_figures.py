"""Alert values and thresholds in the unit of their kind (issue #16 item 10, the alerts page)."""

from decimal import Decimal

import pytest

from riskgov.alerts.models import AlertKind
from riskgov.presentation.alerts import alert_figure
from tests.raw_numbers import raw_numbers


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [
        (AlertKind.COVERAGE_AT_ES, 0.0782, "7.8 %"),
        (AlertKind.LIQUIDATABLE_ACCOUNTS, Decimal("0.05"), "5.00 %"),
        (AlertKind.LIQUIDATABLE_OI, 0.123456, "12.35 %"),
        (AlertKind.BANKRUPT_ACCOUNT, 58156.36117874223, "$58,156"),
        (AlertKind.MMF_BELOW_RECOMMENDATION, 0.004, "0.400 %"),
        (AlertKind.BACKTEST_FAILS, 20.705266377951, "20.705"),
        (AlertKind.PRICES_STALE, 32.30581395219, "32.3 h"),
        (AlertKind.RUN_OVERDUE, Decimal("26"), "26.0 h"),
        (AlertKind.RUN_FAILED, 1.0, "failed"),
        (AlertKind.RUN_FAILED, 0.0, "not failed"),
        (AlertKind.COVERAGE_AT_ES, None, "—"),
    ],
)
def test_a_firing_value_is_shown_in_the_unit_of_its_kind(kind, value, shown):
    assert alert_figure(value, kind) == shown
    assert raw_numbers(shown) == []


def test_a_rule_threshold_is_shown_in_the_unit_of_its_kind():
    assert alert_figure(Decimal("0.25"), AlertKind.MMF_BELOW_RECOMMENDATION, rule_threshold=True) == "25.00 %"
    assert alert_figure(Decimal("0"), AlertKind.BACKTEST_FAILS, rule_threshold=True) == "—"  # unused
    assert alert_figure(Decimal("1.000000"), AlertKind.COVERAGE_AT_ES, rule_threshold=True) == "100.0 %"

"""Alerts name the portfolio-margin accounts among the liquidatable ones (RISK_MODEL §14)."""

import pytest

from riskgov.alerts.models import AlertFiring, AlertKind
from tests.alerts.test_alerts import committee, rule  # noqa: F401 — the committee fixture
from tests.health.test_portfolio_accounts import pm_venue, run_eager  # noqa: F401 — the PM venue fixture

pytestmark = pytest.mark.django_db


def test_liquidatable_alert_counts_pm_accounts(committee, pm_venue, django_capture_on_commit_callbacks):  # noqa: F811
    r = rule(AlertKind.LIQUIDATABLE_ACCOUNTS, "0.0")
    run = run_eager(pm_venue, django_capture_on_commit_callbacks, scenario_spec="uniform")
    f = AlertFiring.objects.get(rule=r)
    assert f.run_id == run.pk
    assert "; 1 of 3 portfolio-margin accounts" in f.message

"""The report's portfolio-margin section (RISK_MODEL §14): PM accounts, per underlying."""

import pytest

from riskgov.health.selectors import run_portfolio_margin
from riskgov.presentation.formats import money
from riskgov.reports.services import report_build
from tests.health.test_portfolio_accounts import pm_venue, run_eager  # noqa: F401 — the PM venue fixture

pytestmark = pytest.mark.django_db


def test_report_has_a_pm_section(pm_venue, django_capture_on_commit_callbacks):  # noqa: F811
    run = run_eager(pm_venue, django_capture_on_commit_callbacks, scenario_spec="uniform")
    report = report_build()
    assert report.run_id == run.pk
    pm = report.figures["portfolio_margin"]
    assert (pm["accounts"], pm["options"], pm["liquidatable"]) == (3, 4, 1)
    btc = next(u for u in pm["underlyings"] if u["underlying"] == "BTC")
    stored = run_portfolio_margin(run)["underlyings"]["BTC"]
    assert btc["maintenance_margin_usd"] == stored["maintenance_margin_usd"]
    assert btc["worst_loss_usd"] == pytest.approx(max(stored["loss_usd"]), abs=0.01)
    assert btc["riskiest_account"] == "pm-short"
    html = report.html.read().decode()
    assert "Portfolio-margin accounts" in html and 'id="pm-underlyings"' in html
    assert money(stored["maintenance_margin_usd"]) in html and "cascade" in html


def test_report_without_pm_accounts_has_no_pm_section(published_run):
    report = report_build()
    assert report.figures["portfolio_margin"] is None
    assert "Portfolio-margin accounts" not in report.html.read().decode()

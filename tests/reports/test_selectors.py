"""Report selectors return frozen read models (stored in ``Report.figures`` as JSON); the
MMF flag of the report's model-health table and the alert agree; the staleness limit of a
report is the one declared in ``health.selectors``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone

from riskgov.alerts.firing import alerts_evaluate
from riskgov.alerts.models import AlertFiring, AlertKind, AlertRule
from riskgov.engine.model_flags import DEFAULT_MMF_TOLERANCE
from riskgov.health.selectors import freshness_limits, run_model_health
from riskgov.presentation.fields import OVERVIEW_KEYS
from riskgov.reports import selectors
from riskgov.reports.read_models import MarketRisk, RunOverview
from tests.reports.conftest import make_run

pytestmark = pytest.mark.django_db

MARKETS = {
    "BTC-PERP": {
        "long_notional_usd": 600.0,
        "short_notional_usd": 400.0,
        "maintenance_margin_usd": 50.0,
        "liquidatable_notional_usd": 250.0,
        "positions": 4,
    },
    "ETH-PERP": {
        "long_notional_usd": 100.0,
        "short_notional_usd": 0.0,
        "maintenance_margin_usd": 5.0,
        "liquidatable_notional_usd": 0.0,
        "positions": 1,
    },
}


def test_run_overview_is_typed_with_its_shares():
    run = make_run(liquidatable_accounts=5, distributions={"markets": MARKETS}, tail={"worst_scenario": "crash"})
    ov = selectors.run_overview(run)
    assert isinstance(ov, RunOverview)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ov.accounts = 0  # type: ignore[misc]
    assert ov.open_interest_usd == 1100.0 and ov.liquidatable_oi_usd == 250.0
    assert ov.liquidatable_oi_share == pytest.approx(250.0 / 1100.0)
    assert ov.liquidatable_accounts_share == pytest.approx(0.05)
    assert ov.worst_scenario == "crash" and ov.tail_scenarios == run.tail_scenarios
    assert set(OVERVIEW_KEYS) <= set(ov.as_dict())


def test_riskiest_markets_are_typed_and_ordered():
    run = make_run(distributions={"markets": MARKETS})
    rows = selectors.riskiest_markets(run)
    assert all(isinstance(m, MarketRisk) for m in rows)
    assert [m.market for m in rows] == ["BTC-PERP", "ETH-PERP"]  # liquidatable OI first
    assert rows[0].liquidatable_oi_share == pytest.approx(0.25) and rows[1].liquidatable_oi_share == 0.0


def test_report_figures_are_json_documents():
    rec = {
        "market": "BTC-PERP",
        "current_mmf": 0.004,
        "h1": {"horizon_days": 1, "mmf_rec": 0.006, "imf_rec": 0.012, "backtest": {}},
    }
    run = make_run(distributions={"markets": MARKETS}, recommendations=[rec])
    figures = selectors.report_figures(run=run, previous=None, now=timezone.now())
    json.dumps(figures, allow_nan=False)
    assert figures["overview"]["liquidatable_oi_usd"] == 250.0
    assert figures["markets"][0]["market"] == "BTC-PERP"
    (mh,) = figures["model_health"]
    assert mh["below_recommendation"] is True and mh["horizons"][0]["below_recommendation"] is True
    assert mh["horizons"][0]["backtest"] == "—"


def test_report_gaps_use_the_declared_run_age_limit():
    limit = freshness_limits().run_hours
    fresh = make_run(age_hours=limit - 1)
    assert not [r for r in selectors.report_gaps(run=fresh, now=timezone.now()) if "no fresh" in r]
    old = make_run(age_hours=limit + 1)
    (reason,) = [r for r in selectors.report_gaps(run=old, now=timezone.now()) if "no fresh" in r]
    assert f"limit {limit:g} h" in reason


def test_mmf_flag_of_the_report_and_of_the_alert_agree(django_capture_on_commit_callbacks):
    """One rule (engine.model_flags): the selector's market flag and the default alert rule
    (§12 tolerance 0.25) flag the same markets, including one below its 3-day recommendation
    only (a first-edition run: the alert still reads h1/h3)."""

    def rec(market, current, h1, h3):
        return {
            "market": market,
            "current_mmf": current,
            "h1": {"horizon_days": 1, "mmf_rec": h1, "imf_rec": 2 * h1},
            "h3": {"horizon_days": 3, "mmf_rec": h3, "imf_rec": 2 * h3},
        }

    recs = [
        rec("A-PERP", 0.0035, 0.003, 0.005),  # 0.0035 < 0.75 · 0.005
        rec("B-PERP", 0.01, 0.008, 0.009),
        rec("C-PERP", 0.002, 0.003, 0.003),
        rec("D-PERP", 0.004, 0.003, 0.005),  # below 0.005 but within the tolerance
    ]
    run = make_run(recommendations=recs)
    assert DEFAULT_MMF_TOLERANCE == 0.25
    AlertRule.objects.create(
        name="mmf", kind=AlertKind.MMF_BELOW_RECOMMENDATION, threshold=Decimal(str(DEFAULT_MMF_TOLERANCE))
    )
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate(run=run, now=timezone.now() + dt.timedelta(seconds=1))
    fired = set(AlertFiring.objects.values_list("subject", flat=True))
    flagged = {m.market for m in run_model_health(run) if m.below_recommendation}
    assert fired == flagged == {"A-PERP", "C-PERP"}  # D-PERP within the tolerance


def test_stress_tables_and_riskiest_accounts_of_a_real_run(published_run):
    from riskgov.health.models import AccountResult, ScenarioResult
    from riskgov.reports.read_models import AccountRisk, ScenarioSummary, StressTables

    tables = selectors.stress_tables(published_run)
    assert isinstance(tables, StressTables) and all(isinstance(s, ScenarioSummary) for s in tables.standard)
    stored = ScenarioResult.objects.filter(run=published_run)
    assert tables.historical_count == stored.filter(kind="historical", in_tail=True).count()
    windows = stored.filter(family="gap", kind="historical", name__startswith="hist ")
    assert len(tables.standard) == stored.filter(family="gap").count() - windows.count()
    # §10: the gap tail is the 1-day windows; the 3-day windows are apart, outside every tail
    assert tables.historical_count == windows.filter(step_minutes=1440).count()
    assert tables.other_windows_count == windows.filter(step_minutes=4320).count() > 0
    assert not any(s.kind == "historical" and s.name.startswith("hist ") for s in tables.standard)
    worst = [s.shortfall_usd for s in tables.historical_worst]
    assert worst == sorted(worst, reverse=True)
    accounts = selectors.riskiest_accounts(published_run)
    assert all(isinstance(a, AccountRisk) for a in accounts)
    top = AccountResult.objects.filter(run=published_run).order_by("-margin_ratio").first()
    assert accounts[0].margin_ratio is None or accounts[0].margin_ratio >= (top.margin_ratio or 0)
    json.dumps(tables.as_dict(), allow_nan=False)

"""The health report's model-validation section reads the stored liquidation backtest."""

import pytest

from riskgov.parameters.document import load_document
from riskgov.reports.selectors import liquidation_backtest_summary
from riskgov.reports.services import report_build
from riskgov.snapshots.history.services import backtest_run
from tests.conftest import DATA

HISTORY = DATA / "history" / "hyperliquid_2023"

pytestmark = pytest.mark.django_db


def test_report_section_shows_the_latest_backtest(people):
    assert liquidation_backtest_summary() is None
    doc, _, row = backtest_run(
        directory=HISTORY, document=load_document(HISTORY / "parameters_2023-03.json"), factors=(1.0,)
    )
    summary = liquidation_backtest_summary()
    assert summary["id"] == row.pk and summary["totals"] == doc["totals"]
    assert len(summary["worst_misses"]) == 3
    report = report_build()
    assert report.figures["liquidation_backtest"]["totals"]["events"] == 17
    html = report.html.read().decode()
    assert 'id="liquidation-backtest"' in html and f"Backtest #{row.pk}" in html
    assert summary["worst_misses"][0]["user"] in html

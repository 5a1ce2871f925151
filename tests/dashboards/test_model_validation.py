"""The model validation page reads the stored liquidation backtest."""

import pytest

from riskgov.core.roles import VIEWER
from riskgov.parameters.document import load_document
from riskgov.snapshots.history.services import backtest_run
from tests.conftest import DATA
from tests.dashboards.conftest import find, text

HISTORY = DATA / "history" / "hyperliquid_2023"


@pytest.fixture
def stored(db):
    document = load_document(HISTORY / "parameters_2023-03.json")
    return backtest_run(directory=HISTORY, document=document, factors=(0.5, 1.0, 2.0))


def test_page_without_a_backtest_says_so(render, users):
    assert "No liquidation backtest stored yet" in text(render("/model-validation", users[VIEWER]))


def test_page_shows_the_stored_backtest(render, users, stored):
    doc, details, row = stored
    page = render("/model-validation", users[VIEWER])
    assert text(find(page, "val-recall")).count(f"{doc['totals']['recall'] * 100:.2f} %") == 1
    timeline = find(page, "val-timeline").figure
    assert sum(len(t.x) for t in timeline.data) == 17
    flagged = next(t for t in timeline.data if t.name == "flagged by the model")
    assert len(flagged.x) == doc["totals"]["detected"]
    paths = find(page, "val-paths").figure
    assert len(paths.data) == 17 and all(t.x[-1] == 0 for t in paths.data)
    sens = find(page, "val-sensitivity-table").data
    assert [r["mmf_factor"] for r in sens] == [0.5, 1.0, 2.0]
    misses = find(page, "val-misses").data
    assert len(misses) == 10 and all(m["explanation"] for m in misses)
    assert f"#{row.pk}" in text(find(page, "backtest-header"))

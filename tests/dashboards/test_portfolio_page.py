"""The portfolio-margin page (/dash/portfolio?underlying=…) shows the run's stored PM book."""

from __future__ import annotations

import pytest

from riskgov.core.roles import VIEWER
from riskgov.health.selectors import run_portfolio_margin
from riskgov.presentation.formats import count, money
from tests.dashboards.conftest import find, text
from tests.health.test_portfolio_accounts import pm_venue, run_eager  # noqa: F401 — the PM venue fixture

pytestmark = pytest.mark.django_db


def test_portfolio_page_per_underlying(render, users, pm_venue, django_capture_on_commit_callbacks):  # noqa: F811
    run = run_eager(pm_venue, django_capture_on_commit_callbacks, scenario_spec="uniform")
    pm = run_portfolio_margin(run)
    assert set(pm["underlyings"]) == {"BTC", "ETH"}

    page = render("/portfolio", users[VIEWER], underlying="BTC")
    btc = pm["underlyings"]["BTC"]
    assert find(page, "pm-accounts").children == count(3)
    assert find(page, "pm-units").children == count(2)  # the covered call and the short puts
    assert find(page, "pm-mm").children == money(btc["maintenance_margin_usd"])
    assert find(page, "pm-vega").children == money(btc["vega_usd"])
    heat = find(page, "portfolio-heatmap").figure
    assert heat.data[0].type == "heatmap" and len(heat.data[0].y) == 2
    assert heat.data[0].y[0].startswith("pm-short")  # liquidatable: the riskiest first
    assert len(heat.data[0].x) == 27 + 8  # the §14 default grid and the extended table
    worst = find(page, "portfolio-worst-table").data
    assert worst[0]["loss"] == money(max(btc["loss_usd"]))
    # §8 closes, the cascade and the ADL attribution are covered now; the ADL ranking is not
    assert "cascade" in text(find(page, "portfolio-covered")) and "slippage" in text(find(page, "portfolio-covered"))
    assert "cascade" not in text(find(page, "portfolio-not-covered"))
    assert "ADL counterparties" in text(find(page, "portfolio-not-covered"))
    links = find(page, "portfolio-underlyings")
    assert "ETH" in text(links)

    eth = render("/portfolio", users[VIEWER], underlying="ETH")
    assert find(eth, "pm-units").children == count(1)
    assert find(eth, "pm-delta").children != find(page, "pm-delta").children


def test_portfolio_page_without_pm_accounts(render, users, health_run):
    assert "No account in portfolio margin mode" in text(find(render("/portfolio", users[VIEWER]), "portfolio-none"))

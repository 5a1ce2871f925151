"""The simulator result for people: heat-map cells, rows and the active-vs-proposal comparison."""

from riskgov.engine.margin_simulation import simulate_margin
from riskgov.engine.portfolio_margin import PMParams
from riskgov.presentation import margin as pres
from tests.engine.test_margin_simulation import request


def test_loss_grid_has_every_scenario_once_and_marks_the_worst():
    (u,) = simulate_margin(request())["underlyings"]
    g = pres.loss_grid(u)
    cells = [c for _, _, row in g.rows for c in row if c is not None]
    assert len(cells) == 35 and sum(c.worst for c in cells) == 1
    worst = next(c for c in cells if c.worst)
    assert worst.loss == u["worst_loss_usd"] and worst.text.startswith("$")
    assert [label for label, _, _ in g.rows][0] == "-66.0 %"
    ext = [r for r in g.rows if r[2][0] is None]
    assert len(ext) == 8 and all(w for _, w, _ in ext)
    assert g.largest == max(abs(s["loss_usd"]) for s in u["scenarios"])
    fig = pres.loss_grid_figure(u)
    assert fig.data[0].type == "heatmap" and len(fig.data[0].y) == len(g.rows)


def test_rows_and_comparison_are_formatted():
    a = simulate_margin(request())
    p = simulate_margin(request(), active_pm={"BTC": PMParams(price_range=0.3, buckets=6)})
    rows = dict(pres.account_rows(a))
    assert rows["Equity"].startswith("$") and rows["Liquidatable"] in ("yes", "no")
    comp = pres.comparison_rows(a, p)
    assert comp[0][0] == "Account IM" and comp[0][3].startswith(("+$", "−$"))
    assert any(r[0] == "BTC worst loss" for r in comp)

"""Every figure with a money axis ticks it as money (issue #16 item 10): ``$250,000``, never
the SI suffixes Plotly picks by itself (``250k``, ``−0.95M``); a price axis ``$95,000``;
the report's SVG fallback labels its axis with ``formats.money`` / ``formats.fraction``."""

import inspect
from types import SimpleNamespace

import pytest

from riskgov.engine.margin_simulation import simulate_margin
from riskgov.presentation import margin as margin_pres
from riskgov.presentation.figures import brackets, health, portfolio, report, validation
from riskgov.presentation.figures.style import PRICE_TICKS, USD_TICKS, money_axes, money_ticks
from tests.engine.test_margin_simulation import request
from tests.raw_numbers import raw_numbers

TABLE = {"floors": [0, 300000], "imf": [0.01, 0.02], "mmf": [0.005, 0.01], "maintenance_amounts": [0, 1500]}
GRID = {"move": [-0.1, 0.1], "vol": ["down", "up"], "weight": [1, 1]}
RUN_ROW = {"published_at": "2026-01-01T00:00:00Z", "id": 1, "equity_usd": 4.7e5, "var_usd": 1e5}
FIGURE_SAMPLES = {
    "bracket_curves_figure": lambda: brackets.bracket_curves_figure(
        [SimpleNamespace(label="ours", **TABLE)], market="M"
    ),
    "maintenance_margin_figure": lambda: brackets.maintenance_margin_figure(
        [SimpleNamespace(label="ours", **TABLE)], market="M", points=10
    ),
    "history_figure": lambda: health.history_figure([RUN_ROW], [("equity_usd", "equity")], title="t", y="USD"),
    "margin_ratio_figure": lambda: health.margin_ratio_figure(
        {"edges": [0, 0.5, 1.0], "counts": [3, 1], "infinite": 0}
    ),
    "liquidation_map_figure": lambda: health.liquidation_map_figure(
        "BTC-PERP", {"mark_price": 95_000.0, "long": [1e5, 2e5], "short": [3e5, 0.0]}, low=-50, step=50
    ),
    "scenario_bars_figure": lambda: health.scenario_bars_figure(
        [{"name": "s", "shortfall_usd": 1e6, "insurance_fund_after_usd": 0.0}], 5e5
    ),
    "shock_curve_figure": lambda: health.shock_curve_figure(
        [{"shock": -0.1, "shortfall_usd": 1e6, "liquidatable_accounts": 3, "adl_usd": 0.0}]
    ),
    "tail_figure": lambda: health.tail_figure([1e5, 2e5], var=1e5, es=2e5, insurance_fund=5e4, alpha=0.99),
    "cascade_figure": lambda: health.cascade_figure(
        {"scenario": "s", "rounds": [{"round": 1, "liquidated_accounts": 3, "shortfall_usd": 1e6}]}
    ),
    "adl_figure": lambda: health.adl_figure(
        {"scenario": "s", "by_market": [{"market": "BTC-PERP", "adl_longs_usd": 2.5e5, "adl_shorts_usd": 0.0}]}
    ),
    "recommendation_figure": lambda: health.recommendation_figure(
        [{"market": "M", "current_mmf": 0.005, "mmf_rec_h1": 0.006, "mmf_rec_h3": 0.008}]
    ),
    "kupiec_figure": lambda: health.kupiec_figure([{"market": "M", "kupiec_h1": 1.0}], critical=3.84),
    "horizon_recommendation_figure": lambda: health.horizon_recommendation_figure(
        [{"market": "M", "current_mmf": 0.005, "mmf_rec": 0.006}]
    ),
    "horizon_kupiec_figure": lambda: health.horizon_kupiec_figure([{"market": "M", "lr": 1.0}], critical=3.84),
    "impact_scenarios_figure": lambda: health.impact_scenarios_figure(
        [{"name": "s", "current_shortfall_usd": 1e6, "proposed_shortfall_usd": 9e5}]
    ),
    "path_replay_figure": lambda: health.path_replay_figure(
        {
            "steps": 2,
            "markets": ["BTC-PERP"],
            "market_price_rel": [[1.0], [0.9]],
            "shortfall_by_step_usd": [0.0, 2.5e5],
            "mm_coverage": [2.0, 0.8],
        }
    ),
    "frontier_figure": lambda: health.frontier_figure(
        {
            "market": "M",
            "points": [{"mm_usd": 1e6, "es_usd": 2e6, "multiplier": 1}],
            "current": {"mm_usd": 1e6, "es_usd": 2e6},
        }
    ),
    "riskiest_heatmap_figure": lambda: portfolio.riskiest_heatmap_figure(
        {"grid": GRID, "riskiest": [{"account_id": "a", "margin_ratio": 0.5, "loss_usd": [1e5, -2e5]}]}, "BTC"
    ),
    "worst_scenarios_figure": lambda: portfolio.worst_scenarios_figure(
        [{"scenario": "s", "loss_usd": 1e5, "loss": "$100,000"}], "BTC"
    ),
    "plotly_figure": lambda: report.plotly_figure(
        report.stress_series({"stress": {"standard": [{"name": "s", "shortfall_usd": 4.7e5}]}, "overview": {}})
    ),
    "events_timeline_figure": lambda: validation.events_timeline_figure([]),
    "ratio_paths_figure": lambda: validation.ratio_paths_figure([]),
    "sensitivity_figure": lambda: validation.sensitivity_figure([]),
    "loss_grid_figure": lambda: margin_pres.loss_grid_figure(simulate_margin(request())["underlyings"][0]),
}


def _money_axes(fig):
    """(title, tickformat) of every axis and colour bar of ``fig`` whose title is in USD."""
    axes = [*fig.select_xaxes(), *fig.select_yaxes()]
    axes += [t.colorbar for t in fig.data if "colorbar" in t]
    return [(a.title.text, a.tickformat) for a in axes if "USD" in str(a.title.text or "")]


def test_every_figure_function_has_a_sample_here():
    modules = (brackets, health, portfolio, report, validation, margin_pres)
    names = {n for m in modules for n, f in inspect.getmembers(m, inspect.isfunction) if n.endswith("_figure")}
    assert names - set(FIGURE_SAMPLES) == set(), "add the new figure to FIGURE_SAMPLES"


@pytest.mark.parametrize("name", sorted(FIGURE_SAMPLES))
def test_every_money_axis_uses_the_money_tick_format(name):
    fig = FIGURE_SAMPLES[name]()
    for title, ticks in _money_axes(fig):
        want = PRICE_TICKS if "price (" in title else USD_TICKS
        assert ticks == want, (name, title, ticks)


@pytest.mark.parametrize(
    ("name", "axis"),
    [
        ("adl_figure", "yaxis"),
        ("liquidation_map_figure", "yaxis"),
        ("path_replay_figure", "yaxis2"),
        ("frontier_figure", "xaxis"),
        ("frontier_figure", "yaxis"),
        ("impact_scenarios_figure", "yaxis"),
        ("history_figure", "yaxis"),
        ("scenario_bars_figure", "yaxis"),
        ("maintenance_margin_figure", "yaxis"),
        ("worst_scenarios_figure", "yaxis"),
        ("plotly_figure", "yaxis"),
    ],
)
def test_the_money_axes_the_review_found_tick_as_money(name, axis):
    assert FIGURE_SAMPLES[name]().layout[axis].tickformat == USD_TICKS


def test_price_axis_and_mark_label_read_as_prices():
    fig = FIGURE_SAMPLES["liquidation_map_figure"]()
    assert fig.layout.xaxis.tickformat == PRICE_TICKS
    assert [a.text for a in fig.layout.annotations] == ["mark $95,000"]  # not "mark 9.5e+04"


def test_money_ticks_by_title():
    assert money_ticks("ADL amount (USD)") == USD_TICKS and money_ticks("USD") == USD_TICKS
    assert money_ticks("price (USD)") == PRICE_TICKS and money_ticks("accounts") is None
    fig = money_axes(health.go.Figure().update_layout(yaxis_title="loss (USD)", xaxis_title="scenario"))
    assert fig.layout.yaxis.tickformat == USD_TICKS and fig.layout.xaxis.tickformat is None


def test_report_fraction_chart_is_in_percent():
    series = report.model_series(
        {
            "model_health": [
                {"market": "M", "edition": 2, "current_mmf": 0.01737, "mmf_rec": 0.02, "horizon_minutes": 60}
            ]
        }
    )
    fig = report.plotly_figure(series)
    assert list(fig.data[0].y) == pytest.approx([1.737]) and fig.layout.yaxis.ticksuffix == " %"


def test_report_svg_fallback_labels_axes_with_the_presentation_formats():
    usd = report.stress_series({"stress": {"standard": [{"name": "s", "shortfall_usd": 472_200.0}]}, "overview": {}})
    svg = report.svg_bars(usd)
    assert ">$472,200</text>" in svg and ">$0</text>" in svg and "e+0" not in svg
    frac = report.model_series(
        {
            "model_health": [
                {"market": "M", "edition": 2, "current_mmf": 0.01737, "mmf_rec": 0.0125, "horizon_minutes": 60}
            ]
        }
    )
    svg = report.svg_bars(frac)
    assert ">1.737 %</text>" in svg and ">0.000 %</text>" in svg and ">0.01737<" not in svg
    texts = [t.split(">", 1)[1] for t in svg.split("</text>")[:-1]]
    assert all(raw_numbers(t) == [] for t in texts), texts

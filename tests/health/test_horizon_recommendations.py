"""§12 at the liquidation horizon in a health run (RISK_MODEL §12, FORMATS.md riskgov.health/2).

Each market's asset's finest real series is used (hourly bars where stored, daily closes as
the 1-day proxy), with the market's own horizon, brackets, depth and max notional; markets
whose asset has no series are "no history" with nothing invented. The stored figures are the
engine's on the same returns.
"""

from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from riskgov.engine.horizon import HorizonBrackets, backtest_at_horizon, recommend_at_horizon
from riskgov.health.export import recommendation_rows
from riskgov.health.selectors import market_health
from riskgov.health.services._summaries import recommendations
from riskgov.markets.models import Asset, DailyClose, PriceBar
from riskgov.parameters.adapters import engine_parameters
from riskgov.parameters.services import parameters_import_document
from tests.factories import parameter_document

pytestmark = pytest.mark.django_db

HOURS = 400 * 24
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
#: FORMATS.md riskgov.health/2 keys per market and bracket, and of the backtest
BRACKET_KEYS = {"mmf_rec", "imf_rec", "q_recent", "q_long", "horizon_minutes", "resolution"}
BACKTEST_KEYS = {"n", "exceedances", "expected", "lr", "flagged"}


def hourly_closes(seed=5, sigma=0.006):
    rng = np.random.default_rng(seed)
    r = rng.standard_t(4, HOURS) * sigma
    return 40000.0 * np.cumprod(1 + r)


def add_hourly(asset: Asset, closes: np.ndarray, *, hole: int | None = None) -> None:
    PriceBar.objects.bulk_create(
        PriceBar(
            asset=asset,
            source="binance",
            resolution="1h",
            timestamp=START + dt.timedelta(hours=i),
            date=(START + dt.timedelta(hours=i)).date(),
            close=Decimal(f"{c:.6f}"),
        )
        for i, c in enumerate(closes)
        if i != hole
    )


def setup_markets():
    """BTC-PERP (hourly bars, a hole), ETH-PERP (daily closes only, horizon 15 min),
    SOL-PERP (no prices at all)."""
    doc = parameter_document()
    doc["markets"][0]["max_position_notional_usd"] = "5000000"
    for sym, h in (("ETH", "15"), ("SOL", None)):
        doc["assets"].append({"symbol": sym, "haircut": "0.1"})
        m = copy.deepcopy(doc["markets"][0])
        m.update(symbol=f"{sym}-PERP", base_asset=sym, depth_usd_per_1pct="2000000")
        if h:
            m["liquidation_horizon_minutes"] = h
        doc["markets"].append(m)
    parameters_import_document(document=doc)
    assets = {a.symbol: a for a in Asset.objects.all()}
    btc = hourly_closes()
    add_hourly(assets["BTC"], btc, hole=100)
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(400)]
    eth = 2000 * np.cumprod(1 + np.random.default_rng(9).normal(0, 0.04, len(days)))
    DailyClose.objects.bulk_create(
        DailyClose(asset=assets["ETH"], source="yahoo", date=d, close=Decimal(f"{p:.6f}"))
        for d, p in zip(days, eth, strict=True)
    )
    return btc, eth


def test_recommendations_at_each_markets_horizon_from_its_finest_series():
    btc, eth = setup_markets()
    ep = engine_parameters()
    assert ep.horizons == {"BTC-PERP": 5.0, "ETH-PERP": 15.0, "SOL-PERP": 5.0}
    recs = {r["market"]: r for r in recommendations(ep.params, horizons=ep.horizons)}

    b = recs["BTC-PERP"]
    assert (b["edition"], b["resolution"], b["resolution_minutes"], b["source"]) == (2, "1h", 60, "binance")
    assert b["horizon_minutes"] == 5.0 and b["beta"] == 0.99 and b["lambda"] == 2.0
    for row in b["brackets"]:
        assert BRACKET_KEYS <= set(row)
        assert (row["horizon_minutes"], row["resolution"]) == (5.0, "1h")
    assert BACKTEST_KEYS <= set(b["backtest"])
    # the engine on the same returns (a return across the hole is dropped, never stretched)
    r = btc[1:] / btc[:-1] - 1
    keep = np.ones(r.size, dtype=bool)
    keep[[99, 100]] = False  # bars 99→100 and 100→101 span the missing bar 100
    times = np.array(
        [np.datetime64(START.replace(tzinfo=None), "m") + np.timedelta64(60 * (i + 2), "m") for i in range(r.size)]
    )
    brackets = HorizonBrackets(floors=(0.0, 300000.0), depth_usd=50_000_000.0, max_position_notional=5_000_000.0)
    rec = recommend_at_horizon(r[keep], resolution_minutes=60, brackets=brackets, times=times[keep])
    bt = backtest_at_horizon(r[keep], mmf_active=0.004, recommendation=rec, times=times[keep], label="BTC-PERP")
    assert [row["mmf_rec"] for row in b["brackets"]] == pytest.approx(rec.mmf.tolist(), rel=1e-12)
    assert [row["imf_rec"] for row in b["brackets"]] == pytest.approx(rec.imf.tolist(), rel=1e-12)
    assert b["q_recent"] == pytest.approx(rec.q_recent) and b["q_long"] == pytest.approx(rec.q_long)
    # last bracket: the max position notional (5M), at least the depth D_m (50M)
    assert b["brackets"][1]["upper_notional_usd"] == 50_000_000.0
    assert (b["backtest"]["n"], b["backtest"]["exceedances"]) == (bt.n, bt.exceedances)
    assert b["backtest"]["expected"] == pytest.approx(bt.expected) and b["verdict"] == bt.verdict
    assert b["lookbacks"]["n_recent"] == rec.n_recent == bt.n
    assert "at a 5 min liquidation horizon, from 1 h returns" in b["verdict"]

    e = recs["ETH-PERP"]  # daily closes only: the 1-day proxy, at its own 15-minute horizon
    assert (e["resolution"], e["resolution_minutes"], e["source"], e["horizon_minutes"]) == ("1d", 1440, "yahoo", 15.0)
    assert e["scale"] == pytest.approx((15 / 1440) ** 0.5)
    assert e["backtest"]["n"] == 365  # 400 daily closes, the last 365 days of returns

    s = recs["SOL-PERP"]  # nothing invented
    assert s["note"].startswith("no history") and "brackets" not in s and "backtest" not in s
    m = market_health(s)
    assert not m.flagged and not m.has_recommendation and m.edition == 2

    rows = recommendation_rows(list(recs.values()))
    assert [(r["market"], r["bracket"]) for r in rows] == [
        ("BTC-PERP", 1),
        ("BTC-PERP", 2),
        ("ETH-PERP", 1),
        ("ETH-PERP", 2),
        ("SOL-PERP", None),
    ]
    assert rows[0]["n"] == bt.n and rows[1]["flagged"] == bt.flagged and rows[4]["note"].startswith("no history")


def test_the_flag_is_the_section_12_rule():
    """A venue MMF far below the recommendation is flagged (too low); the backtest flags only
    with more exceedances than expected (a generous MMF rejecting with too few does not)."""
    setup_markets()
    ep = engine_parameters()
    by = {r["market"]: r for r in recommendations(ep.params, horizons=ep.horizons)}
    b = by["BTC-PERP"]
    mmf_rec = b["brackets"][0]["mmf_rec"]
    health = market_health(b)
    assert health.below_recommendation == (0.004 < 0.75 * mmf_rec)
    assert health.backtest_fails == (
        b["backtest"]["reject"] and b["backtest"]["exceedances"] > b["backtest"]["expected"]
    )
    assert health.flagged == b["flagged"]
    # the same recommendation with a generous MMF: rejects with too few exceedances, not flagged
    generous = {
        **b,
        "current_mmf": 0.5,
        "backtest": {
            **b["backtest"],
            "reject": True,
            "too_many": False,
            "exceedances": 0,
            "too_low": False,
            "flagged": False,
        },
    }
    g = market_health(generous)
    assert not g.backtest_fails and not g.below_recommendation and not g.flagged


def test_old_first_edition_runs_still_read():
    old = {
        "market": "BTC-PERP",
        "current_mmf": 0.004,
        "current_imf": 0.01,
        "lookback": {"first": "2023-01-01", "last": "2025-12-31", "days": 1094},
        "h1": {
            "horizon_days": 1,
            "mmf_rec": 0.10682,
            "imf_rec": 0.2,
            "backtest": {
                "mmf": 0.004,
                "exceedances": 870,
                "n": 1094,
                "expected_rate": 0.005,
                "kupiec_lr": 8112.0,
                "critical": 3.841,
                "reject": True,
            },
        },
        "h3": {"horizon_days": 3, "mmf_rec": 0.2, "imf_rec": 0.4},
    }
    m = market_health(old)
    assert m.edition == 1 and [h.horizon_days for h in m.horizons] == [1, 3]
    assert m.backtest_fails and m.below_recommendation and m.horizons[0].backtest == "fail"
    assert m.label.startswith("first-edition 1-/3-day recommendation")
    assert m.as_dict()["label"] == m.label and m.as_dict()["flagged"] is True
    (row,) = recommendation_rows([old])
    assert row["market"] == "BTC-PERP" and row["mmf_rec"] is None and "first-edition" in row["note"]

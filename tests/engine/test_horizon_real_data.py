"""§12 at a 5-minute horizon on the shipped real data (data/ only, no database).

The figures bench/horizon_check.py reports, pinned loosely: BTC-PERP's bracket-1
recommendation from the hourly Binance series is within a factor of 3 of Binance's 0.40 %,
and √(h/Δ) scaling of the hourly quantile matches the measured 5-minute quantile of the crash
windows to within a factor of 1.5.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from riskgov.engine.horizon import HorizonBrackets, backtest_at_horizon, recommend_at_horizon
from riskgov.markets.price_files import iter_price_bars
from riskgov.parameters.venues import hyperliquid_depth_by_base, parse_binance

DATA = Path(__file__).resolve().parents[2] / "data"
INTRADAY = DATA / "prices" / "intraday"


def series(path: Path, minutes: int) -> tuple[np.ndarray, np.ndarray]:
    bars = list(iter_price_bars(path))
    at = np.array([b.timestamp.replace(tzinfo=None) for b in bars], dtype="datetime64[m]") + np.timedelta64(
        minutes, "m"
    )
    close = np.array([float(b.close_str) for b in bars])
    step = (at[1:] - at[:-1]).astype(np.int64) == minutes
    return at[1:][step], (close[1:] / close[:-1] - 1.0)[step]


@pytest.fixture(scope="module")
def btc_perp():
    depth = hyperliquid_depth_by_base(DATA / "margin" / "hyperliquid_perp_meta_snapshot.csv")
    doc, _ = parse_binance(
        DATA / "margin" / "binance_usdm_leverage_tiers.json", symbols=["BTC-PERP"], depth_by_base=depth
    )
    return doc["markets"][0]


def test_shipped_intraday_files_parse_with_their_row_counts():
    counts = {p.name: sum(1 for _ in iter_price_bars(p)) for p in INTRADAY.glob("*.csv.gz")}
    assert len(counts) == 32
    assert counts["binance_BTCUSDT_1h_2017-08_2026-02.csv.gz"] == 74590  # as SOURCES.md lists
    assert counts["binance_ETHUSDT_1h_2017-08_2026-02.csv.gz"] == 67613
    assert all(n == 2880 for name, n in counts.items() if "_5m_" in name)


def test_btc_perp_bracket_1_within_a_factor_of_3_of_the_venue(btc_perp):
    t, r = series(INTRADAY / "binance_BTCUSDT_1h_2017-08_2026-02.csv.gz", 60)
    brackets = HorizonBrackets(
        floors=tuple(float(b["notional_floor"]) for b in btc_perp["brackets"]),
        depth_usd=float(btc_perp["depth_usd_per_1pct"]),
        max_position_notional=float(btc_perp["max_position_notional_usd"]),
    )
    venue = float(btc_perp["brackets"][0]["maintenance_margin_fraction"])
    assert venue == 0.004
    rec = recommend_at_horizon(r, times=t, resolution_minutes=60, brackets=brackets)
    assert rec.n_recent == 8760 and rec.long_days > 8 * 365
    assert venue / 3 <= rec.mmf[0] <= 3 * venue
    assert (np.diff(rec.mmf) >= 0).all() and rec.mmf[-1] <= 0.5 and rec.imf[-1] <= 1.0
    bt = backtest_at_horizon(r, times=t, mmf_active=venue, recommendation=rec, label="BTC-PERP")
    assert bt.n == 8760 and "BTC-PERP" in bt.verdict


@pytest.mark.parametrize("window", ["2024-08-01_2024-08-10", "2025-10-06_2025-10-15"])
def test_square_root_of_time_against_measured_5_minute_quantiles(window):
    t5, r5 = series(INTRADAY / f"binance_BTCUSDT_5m_{window}.csv.gz", 5)
    bars = list(iter_price_bars(INTRADAY / f"binance_BTCUSDT_5m_{window}.csv.gz"))
    close = np.array([float(b.close_str) for b in bars])
    hourly = close[11::12]  # the close of each hour's last 5-minute bar
    r1 = hourly[1:] / hourly[:-1] - 1.0
    measured = np.quantile(np.abs(r5), 0.99)
    scaled = np.quantile(np.abs(r1), 0.99) * math.sqrt(5 / 60)
    assert 1 / 1.5 < measured / scaled < 1.5

"""§12 at the liquidation horizon on the shipped real data (no database, no Django setup).

    python bench/horizon_check.py [--horizon 5] [--beta 0.99] [--assets BTC,ETH,...] [--json OUT]

For each demo asset with a shipped hourly series (``data/prices/intraday/``) and a Binance
USDⓈ-M market in the shipped bracket table (``data/margin/binance_usdm_leverage_tiers.json``,
depth from the Hyperliquid snapshot as the demo does):

1. the recommendation at an ``h``-minute horizon from the hourly returns
   (``engine.horizon.recommend_at_horizon``: Q_recent 365 d, Q_long ≤ 10 y, the floor, the
   bracket-1 MMF/IMF with slippage) and the backtest of the venue's active MMF_1
   (``backtest_at_horizon``), against Binance's own bracket-1 MMF;
2. the square-root-of-time check in every shipped 5-minute crash window: the measured
   β-quantile of |5-minute returns| against the hourly β-quantile of the same window scaled
   by √(5/60) (the hourly closes are the window's own, every 12th 5-minute close, so both
   come from one series), and against the recommendation's ``Q`` (what the model would have
   charged going into the crash). Ratios measured/scaled are reported at β and at 0.95 (the
   0.99 quantile of a 10-day window's 240 hours rests on about 2 observations).

Returns are simple returns between consecutive bars exactly Δ apart (a return across a hole
is dropped), as ``markets.selectors.return_series``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from riskgov.engine.horizon import HorizonBrackets, backtest_at_horizon, recommend_at_horizon  # noqa: E402
from riskgov.markets.price_files import iter_price_bars  # noqa: E402
from riskgov.parameters.venues import hyperliquid_depth_by_base, parse_binance  # noqa: E402

INTRADAY = REPO / "data" / "prices" / "intraday"
MARGIN = REPO / "data" / "margin"


def load(path: Path) -> tuple[np.ndarray, np.ndarray, int]:
    """(end instants datetime64[m], closes float64, resolution minutes) of one file."""
    bars = list(iter_price_bars(path))
    minutes = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}[bars[0].resolution]
    opened = np.array([b.timestamp.replace(tzinfo=None) for b in bars], dtype="datetime64[m]")
    return opened + np.timedelta64(minutes, "m"), np.array([float(b.close_str) for b in bars]), minutes


def returns(at: np.ndarray, close: np.ndarray, minutes: int) -> tuple[np.ndarray, np.ndarray]:
    step = (at[1:] - at[:-1]).astype(np.int64) == minutes
    return at[1:][step], (close[1:] / close[:-1] - 1.0)[step]


def q_abs(r: np.ndarray, beta: float) -> float:
    return float(np.quantile(np.abs(r), beta, method="linear")) if r.size else math.nan


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--horizon", type=float, default=5.0, help="liquidation horizon h, minutes")
    ap.add_argument("--beta", type=float, default=0.99)
    ap.add_argument("--assets", default="", help="comma-separated (default: every shipped hourly series)")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures as JSON")
    a = ap.parse_args(argv)

    hourly = {p.name.split("_")[1].removesuffix("USDT"): p for p in sorted(INTRADAY.glob("binance_*_1h_*.csv.gz"))}
    wanted = [s.strip().upper() for s in a.assets.split(",") if s.strip()] or sorted(hourly)
    depth = hyperliquid_depth_by_base(MARGIN / "hyperliquid_perp_meta_snapshot.csv")
    doc, _ = parse_binance(
        MARGIN / "binance_usdm_leverage_tiers.json", symbols=[f"{s}-PERP" for s in wanted], depth_by_base=depth
    )
    markets = {m["base_asset"]: m for m in doc["markets"]}
    out: dict[str, dict] = {}

    print(f"§12 at a {a.horizon:g}-minute horizon, β = {a.beta:g}, from the shipped hourly Binance spot series")
    print(
        f"{'market':<10} {'Δ':>3} {'n_365':>6} {'years':>5} {'Q_rec':>8} {'Q_long':>8} {'slip_1':>8} "
        f"{'MMF_rec1':>8} {'venue':>7} {'rec/ven':>7} {'x':>4} {'exp':>6} {'LR':>8} flag"
    )
    for asset in wanted:
        if asset not in hourly or asset not in markets:
            print(f"{asset}: no shipped hourly series or no Binance market, skipped")
            continue
        m = markets[asset]
        at, close, minutes = load(hourly[asset])
        t, r = returns(at, close, minutes)
        floors = tuple(float(b["notional_floor"]) for b in m["brackets"])
        cap = m.get("max_position_notional_usd")
        brackets = HorizonBrackets(
            floors=floors, depth_usd=float(m["depth_usd_per_1pct"]), max_position_notional=float(cap) if cap else None
        )
        venue_mmf1 = float(m["brackets"][0]["maintenance_margin_fraction"])
        rec = recommend_at_horizon(
            r, times=t, resolution_minutes=minutes, brackets=brackets, horizon_minutes=a.horizon, beta=a.beta
        )
        bt = backtest_at_horizon(r, times=t, mmf_active=venue_mmf1, recommendation=rec, label=m["symbol"])
        ratio = float(rec.mmf[0]) / venue_mmf1
        print(
            f"{m['symbol']:<10} {minutes // 60:>2}h {rec.n_recent:>6} {rec.long_days / 365.25:>5.1f} "
            f"{100 * rec.q_recent:>7.3f}% {100 * rec.q_long:>7.3f}% {100 * rec.slippage[0]:>7.4f}% "
            f"{100 * rec.mmf[0]:>7.3f}% {100 * venue_mmf1:>6.2f}% {ratio:>7.2f} {bt.exceedances:>4} "
            f"{bt.expected:>6.1f} {bt.lr:>8.2f} {'FLAG' if bt.flagged else '-'}"
        )
        out[asset] = {
            "market": m["symbol"],
            "resolution_minutes": minutes,
            "scale": rec.scale,
            "q_recent": rec.q_recent,
            "q_long": rec.q_long,
            "q": rec.q,
            "long_days": rec.long_days,
            "slippage_1": float(rec.slippage[0]),
            "mmf_rec": [float(x) for x in rec.mmf],
            "imf_rec": [float(x) for x in rec.imf],
            "venue_mmf_1": venue_mmf1,
            "rec_over_venue": ratio,
            "backtest": {
                "n": bt.n,
                "exceedances": bt.exceedances,
                "expected": bt.expected,
                "lr": bt.lr,
                "reject": bt.reject,
                "flagged": bt.flagged,
                "verdict": bt.verdict,
            },
            "windows": [],
        }

    print("\nsquare-root-of-time check in the 5-minute crash windows (h = 5 min, hourly Δ = 60 → √(5/60))")
    print(f"{'window':<44} {'β':>5} {'Q5m meas':>9} {'Q1h·√':>8} {'ratio':>6} {'Q rec':>7} {'meas/Q':>7}")
    scale = math.sqrt(5 / 60)
    for path in sorted(INTRADAY.glob("binance_*_5m_*.csv.gz")):
        asset = path.name.split("_")[1].removesuffix("USDT")
        at, close, minutes = load(path)
        _, r5 = returns(at, close, minutes)
        on_hour = (at.astype("datetime64[m]").astype(np.int64) % 60) == 0
        t1, r1 = returns(at[on_hour], close[on_hour], 60)
        for beta in dict.fromkeys((a.beta, 0.95)):
            measured, scaled = q_abs(r5, beta), q_abs(r1, beta) * scale
            q_model = out.get(asset, {}).get("q") if beta == a.beta else None
            print(
                f"{path.name.removesuffix('.csv.gz'):<44} {beta:>5.2f} {100 * measured:>8.3f}% {100 * scaled:>7.3f}% "
                f"{measured / scaled:>6.2f} "
                + (f"{100 * q_model:>6.3f}% {measured / q_model:>7.2f}" if q_model else f"{'':>7} {'':>7}")
            )
            if asset in out:
                out[asset]["windows"].append(
                    {
                        "file": path.name,
                        "beta": beta,
                        "n_5m": int(r5.size),
                        "n_1h": int(r1.size),
                        "q_5m_measured": measured,
                        "q_1h_scaled": scaled,
                        "ratio_measured_over_scaled": measured / scaled,
                        "ratio_measured_over_model_q": (measured / q_model) if q_model else None,
                    }
                )
    if "BTC" in out:
        b = out["BTC"]
        print(
            f"\nBTC-PERP bracket 1: recommended MMF {100 * b['mmf_rec'][0]:.3f} % vs the venue's "
            f"{100 * b['venue_mmf_1']:.2f} % (ratio {b['rec_over_venue']:.2f}; target within a factor of 3)"
        )
        print(b["backtest"]["verdict"])
    if a.json:
        a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

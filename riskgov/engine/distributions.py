"""Dashboard aggregates precomputed at run time, per chunk, so that pages never read accounts.

A 1,000,000-account run stores 1M account rows and 3M position rows; the Accounts and
Overview pages must not pull them. Each chunk therefore also stores fixed-bin histograms
and per-market sums in its partial, which add up across chunks (fixed bins, sums only), and
``health_run_finalize`` stores their sum on ``HealthRun.distributions``:

* ``margin_ratio``: accounts per margin-ratio bin (RISK_MODEL §5: ``MM/E``, ``∞`` when
  ``E ≤ 0 < MM``). Bins ``[e_i, e_{i+1})``; the last finite bin is open above, and a
  separate count holds ``∞``. Accounts with ``MM = 0`` (ratio 0) are counted in
  ``no_margin`` as well as in the first bin.
* ``liquidation_map``: per market and side, the notional (USD at the mark price) of
  positions whose liquidation price (§7, others held constant) lies at each distance from
  the mark, in 1 % bins from −50 % to +50 %; longs liquidate below the mark, shorts above.
  Positions liquidatable already (§5 cross, §6 isolated) are not drawn at a price: they are
  summed in ``now_long`` / ``now_short``. Positions without a liquidation price, or beyond
  ±50 %, are summed in ``outside_long`` / ``outside_short``.
* ``markets``: per market, long and short notional, IM and MM (§3), and the notional held
  of liquidatable positions (§5 cross, §6 isolated) — the "riskiest markets" ranking.

Pure numpy: arrays in, JSON-ready dicts out; float64 sums (RISK_MODEL §1 tolerance).
(Moved from ``riskgov.health.distributions``: it holds no Django and belongs to the engine.)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

#: margin-ratio bin edges (fractions, not percent); the last bin is [5, ∞) finite ratios
MARGIN_RATIO_EDGES: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 2.0, 5.0)
#: liquidation-map bins: distance of the liquidation price from the mark, percent
MAP_LOW_PCT, MAP_HIGH_PCT, MAP_STEP_PCT = -50, 50, 1
MAP_BINS = (MAP_HIGH_PCT - MAP_LOW_PCT) // MAP_STEP_PCT
_MARKET_KEYS = (
    "long_notional_usd",
    "short_notional_usd",
    "initial_margin_usd",
    "maintenance_margin_usd",
    "liquidatable_notional_usd",
    "positions",
)


def _margin_ratio_hist(margin_ratio: np.ndarray) -> dict[str, Any]:
    """Accounts per margin-ratio bin, ``∞`` and ``MM = 0`` counts (see the module docstring)."""
    ratio = np.asarray(margin_ratio, dtype=np.float64)
    finite = np.isfinite(ratio)
    edges = np.asarray(MARGIN_RATIO_EDGES)
    bins = np.clip(np.searchsorted(edges, ratio[finite], side="right") - 1, 0, len(edges) - 1)
    return {
        "edges": list(MARGIN_RATIO_EDGES),
        "counts": np.bincount(bins, minlength=len(edges)).astype(int).tolist(),
        "infinite": int((~finite).sum()),
        "no_margin": int((ratio[finite] == 0).sum()),
    }


def _liquidation_cells(
    *,
    n_markets: int,
    pm: np.ndarray,
    long: np.ndarray,
    liq_pos: np.ndarray,
    notional: np.ndarray,
    liquidation_price: np.ndarray,
    mark_price: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """USD notional per (market, side, 1 % bin), outside the bins, and liquidatable now.

    Returns:
        ``grid`` ``(M, 2, MAP_BINS)``, ``outside`` ``(M, 2)``, ``now`` ``(M, 2)`` float64 USD;
        side 0 = long, 1 = short.
    """
    m = n_markets
    mark = np.asarray(mark_price, dtype=np.float64)[pm] if pm.size else np.zeros(0)
    liq = np.asarray(liquidation_price, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        dist_pct = (liq / mark - 1.0) * 100.0
    side_all = np.where(long, 0, 1)
    inside = np.isfinite(dist_pct) & (dist_pct >= MAP_LOW_PCT) & (dist_pct < MAP_HIGH_PCT) & ~liq_pos
    b = np.floor((dist_pct[inside] - MAP_LOW_PCT) / MAP_STEP_PCT).astype(np.int64)
    side = np.where(long[inside], 0, 1)
    flat = (pm[inside] * 2 + side) * MAP_BINS + b
    grid = np.bincount(flat, weights=notional[inside], minlength=m * 2 * MAP_BINS).reshape(m, 2, MAP_BINS)
    rest = ~inside & ~liq_pos
    outside = np.bincount(pm[rest] * 2 + side_all[rest], weights=notional[rest], minlength=m * 2).reshape(m, 2)
    now = np.bincount(pm[liq_pos] * 2 + side_all[liq_pos], weights=notional[liq_pos], minlength=m * 2).reshape(m, 2)
    return grid, outside, now


def _market_sums(
    *,
    n_markets: int,
    pm: np.ndarray,
    long: np.ndarray,
    liq_pos: np.ndarray,
    notional: np.ndarray,
    initial_margin: np.ndarray,
    maintenance_margin: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per market ``(M,)`` float64: long/short notional, IM, MM, liquidatable notional (USD), positions."""
    m = n_markets
    return {
        "long_notional_usd": np.bincount(pm, weights=np.where(long, notional, 0.0), minlength=m),
        "short_notional_usd": np.bincount(pm, weights=np.where(long, 0.0, notional), minlength=m),
        "initial_margin_usd": np.bincount(pm, weights=np.asarray(initial_margin, dtype=np.float64), minlength=m),
        "maintenance_margin_usd": np.bincount(
            pm, weights=np.asarray(maintenance_margin, dtype=np.float64), minlength=m
        ),
        "liquidatable_notional_usd": np.bincount(pm, weights=np.where(liq_pos, notional, 0.0), minlength=m),
        "positions": np.bincount(pm, minlength=m).astype(np.float64),
    }


def chunk_distributions(
    *,
    margin_ratio: np.ndarray,
    position_liquidatable: np.ndarray,
    position_market: np.ndarray,
    size: np.ndarray,
    notional: np.ndarray,
    initial_margin: np.ndarray,
    maintenance_margin: np.ndarray,
    liquidation_price: np.ndarray,
    mark_price: np.ndarray,
    market_symbols: Sequence[str],
) -> dict[str, Any]:
    """Histograms and per-market sums of one chunk (RISK_MODEL §3, §5–§7).

    Args:
        margin_ratio: ``(n,)`` float64 ``MM/E`` per account (``inf`` allowed).
        position_liquidatable: ``(p,)`` bool, the position is liquidatable now (its cross
            account, or itself when isolated: ``health.position_liquidatable``).
        position_market: ``(p,)`` int64 market index.
        size: ``(p,)`` float64 signed size (base units); > 0 long.
        notional, initial_margin, maintenance_margin: ``(p,)`` float64 USD.
        liquidation_price: ``(p,)`` float64 USD (``nan``/``inf`` = none).
        mark_price: ``(m,)`` float64 USD per market.
        market_symbols: ``m`` symbols.

    Returns:
        ``{"margin_ratio": …, "liquidation_map": …, "markets": …}`` (see module docstring),
        JSON-ready; markets without positions are left out.
    """
    m = len(market_symbols)
    pm = np.asarray(position_market, dtype=np.int64)
    long = np.asarray(size) > 0
    liq_pos = np.asarray(position_liquidatable, dtype=bool)
    notional = np.asarray(notional, dtype=np.float64)
    grid, outside, now = _liquidation_cells(
        n_markets=m,
        pm=pm,
        long=long,
        liq_pos=liq_pos,
        notional=notional,
        liquidation_price=liquidation_price,
        mark_price=mark_price,
    )
    per = _market_sums(
        n_markets=m,
        pm=pm,
        long=long,
        liq_pos=liq_pos,
        notional=notional,
        initial_margin=initial_margin,
        maintenance_margin=maintenance_margin,
    )
    held = [(i, sym) for i, sym in enumerate(market_symbols) if per["positions"][i] > 0]
    return {
        "margin_ratio": _margin_ratio_hist(margin_ratio),
        "liquidation_map": {
            "low_pct": MAP_LOW_PCT,
            "high_pct": MAP_HIGH_PCT,
            "step_pct": MAP_STEP_PCT,
            "markets": {
                sym: {
                    "mark_price": float(mark_price[i]),
                    "long": grid[i, 0].tolist(),
                    "short": grid[i, 1].tolist(),
                    "outside_long": float(outside[i, 0]),
                    "outside_short": float(outside[i, 1]),
                    "now_long": float(now[i, 0]),
                    "now_short": float(now[i, 1]),
                }
                for i, sym in held
            },
        },
        "markets": {sym: {k: float(per[k][i]) for k in _MARKET_KEYS} for i, sym in held},
    }


def combine_distributions(parts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Sum chunk distributions (fixed bins, so the sum is the venue's distribution).

    Args:
        parts: ``chunk_distributions`` results in account order (empty or ``None`` ones,
            from chunks stored before distributions existed, are skipped).

    Returns:
        The same JSON layout over the whole venue (markets sorted by symbol), ``{}`` when
        no part has distributions. Counts add exactly, USD sums in the order given (§1).

    Raises:
        ValueError: chunks were binned differently.
    """
    parts = [p for p in parts if p]
    if not parts:
        return {}
    first = parts[0]
    edges = first["margin_ratio"]["edges"]
    counts = np.zeros(len(edges), dtype=np.int64)
    infinite = no_margin = 0
    lm: dict[str, dict[str, Any]] = {}
    markets: dict[str, dict[str, float]] = {}
    for p in parts:
        mr = p["margin_ratio"]
        if mr["edges"] != edges:
            raise ValueError("chunk distributions use different margin-ratio bins")
        counts += np.asarray(mr["counts"], dtype=np.int64)
        infinite += mr["infinite"]
        no_margin += mr["no_margin"]
        for sym, d in p["liquidation_map"]["markets"].items():
            acc = lm.setdefault(
                sym,
                {
                    "mark_price": d["mark_price"],
                    "long": np.zeros(MAP_BINS),
                    "short": np.zeros(MAP_BINS),
                    "outside_long": 0.0,
                    "outside_short": 0.0,
                    "now_long": 0.0,
                    "now_short": 0.0,
                },
            )
            acc["long"] = acc["long"] + np.asarray(d["long"])
            acc["short"] = acc["short"] + np.asarray(d["short"])
            for k in ("outside_long", "outside_short", "now_long", "now_short"):
                acc[k] += d.get(k, 0.0)
        for sym, d in p["markets"].items():
            acc_m = markets.setdefault(sym, dict.fromkeys(_MARKET_KEYS, 0.0))
            for k in _MARKET_KEYS:
                acc_m[k] += d[k]
    for d in lm.values():
        d["long"] = d["long"].tolist()
        d["short"] = d["short"].tolist()
    return {
        "margin_ratio": {"edges": edges, "counts": counts.tolist(), "infinite": infinite, "no_margin": no_margin},
        "liquidation_map": {
            **{k: first["liquidation_map"][k] for k in ("low_pct", "high_pct", "step_pct")},
            "markets": dict(sorted(lm.items())),
        },
        "markets": dict(sorted(markets.items())),
    }

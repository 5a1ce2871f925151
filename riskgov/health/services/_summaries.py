"""JSON summaries a published run stores next to its totals: the §11 cascade and §8 ADL
attribution of the worst scenario, and the §12 recommendations per market.

The engine computes them (``cascade.run_cascade``, ``adl.adl_attribution``,
``horizon.recommend_at_horizon`` / ``backtest_at_horizon``); these functions only lay their
results out as the stored JSON (FORMATS.md ``riskgov.health/2`` ``recommendations``), ``inf``
and NaN stored ``null`` through ``_store.null_inf``.

The §12 recommendation is at each market's liquidation horizon (edition 2). Runs stored
before it hold the first edition (``h1``/``h3``: 1- and 3-day windows of daily closes); they
are kept as stored, never rewritten, and read as such (``health.selectors.market_health``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from riskgov.engine.adl import adl_attribution
from riskgov.engine.cascade import run_cascade
from riskgov.engine.horizon import LONG_DAYS, RECENT_DAYS, HorizonBrackets, backtest_at_horizon, recommend_at_horizon
from riskgov.engine.model_flags import DEFAULT_MMF_TOLERANCE
from riskgov.engine.types import EngineInputError
from riskgov.engine.units import build_unit_book
from riskgov.health.services._base import RECOMMEND_BETA, RECOMMEND_LAMBDA
from riskgov.health.services._store import null_inf
from riskgov.markets.selectors import ReturnSeries, finest_return_series, price_matrix
from riskgov.parameters.models import DEFAULT_LIQUIDATION_HORIZON_MINUTES as DEFAULT_HORIZON_MINUTES

#: Edition of the stored §12 JSON: 2 = at the liquidation horizon (this module); runs stored
#: before it (1- and 3-day windows of daily closes, keys ``h1``/``h3``) have no ``edition``.
RECOMMENDATION_EDITION = 2


def _daily_proxy(symbols: Sequence[str]) -> dict[str, ReturnSeries]:
    """1-day returns from the daily closes (``DailyClose``) of assets with no price bars: the
    proxy series of §12 (resolution 1 d), returns only between closes exactly one day apart."""
    if not symbols:
        return {}
    pm = price_matrix(symbols=list(symbols))
    out: dict[str, ReturnSeries] = {}
    for j, sym in enumerate(pm.symbols):
        col = pm.closes[:, j]
        ok = np.isfinite(col)
        days, close = pm.dates[ok], col[ok]
        if close.size < 2:
            continue
        step = (days[1:] - days[:-1]).astype(np.int64) == 1
        # a daily close stands at the end of its UTC day: the return ends at the next midnight
        end = (days[1:] + np.timedelta64(1, "D")).astype("datetime64[m]")
        out[sym] = ReturnSeries(
            symbol=sym,
            source=pm.sources[j],
            resolution="1d",
            resolution_minutes=1440,
            times=end[step],
            returns=(close[1:] / close[:-1] - 1.0)[step],
        )
    return out


def _iso_minute(t: np.datetime64) -> str:
    return str(np.datetime64(t, "m")) + "Z"


def _market_recommendation(*, params: Any, m: int, series: ReturnSeries, horizon: float, tol: float) -> dict[str, Any]:
    """The §12 entry of market ``m`` from one asset's return series (module docstring)."""
    mk = params.markets
    symbol = mk.symbols[m]
    k = int(mk.n_brackets[m])
    floors = tuple(float(f) for f in mk.floors[m, :k])
    cap = float(mk.max_position_notional[m])
    brackets = HorizonBrackets(
        floors=floors,
        depth_usd=float(mk.depth_usd_per_1pct[m]),
        max_position_notional=cap if math.isfinite(cap) else None,
    )
    kw = {"times": series.times}
    rec = recommend_at_horizon(
        series.returns,
        resolution_minutes=series.resolution_minutes,
        brackets=brackets,
        horizon_minutes=horizon,
        beta=RECOMMEND_BETA,
        lam=RECOMMEND_LAMBDA,
        **kw,
    )
    bt = backtest_at_horizon(
        series.returns, mmf_active=float(mk.mmf[m, 0]), recommendation=rec, tol=tol, label=symbol, **kw
    )
    common = {
        "horizon_minutes": rec.horizon_minutes,
        "resolution": series.resolution,
        "q_recent": null_inf(rec.q_recent),
        "q_long": null_inf(rec.q_long),
    }
    rows = [
        {
            "bracket": i + 1,
            "notional_floor": floors[i],
            "upper_notional_usd": float(rec.upper_notional[i]),
            "slippage": float(rec.slippage[i]),
            "current_mmf": float(mk.mmf[m, i]),
            "current_imf": float(mk.imf[m, i]),
            "mmf_rec": float(rec.mmf[i]),
            "imf_rec": float(rec.imf[i]),
            "capped": bool(rec.capped[i]),
            **common,
        }
        for i in range(k)
    ]
    return {
        "resolution_minutes": series.resolution_minutes,
        "source": series.source,
        "beta": rec.beta,
        "lambda": rec.lam,
        "scale": rec.scale,
        "scaling": rec.scaling,
        **common,
        "q": rec.q,
        "floor_binds": rec.floor_binds,
        "lookbacks": {
            "recent_days": RECENT_DAYS,
            "n_recent": rec.n_recent,
            "long_days_max": LONG_DAYS,
            "long_days": round(rec.long_days, 1),
            "n_long": rec.n_long,
            "first": _iso_minute(series.times.min()),
            "last": _iso_minute(series.times.max()),
        },
        "brackets": rows,
        "backtest": {
            "mmf": bt.mmf_active,
            "mmf_rec": bt.mmf_recommended,
            "threshold": bt.threshold,
            "n": bt.n,
            "exceedances": bt.exceedances,
            "expected": bt.expected,
            "lr": null_inf(bt.lr),
            "critical": bt.critical,
            "reject": bt.reject,
            "too_many": bt.too_many,
            "too_low": bt.too_low,
            "tol": bt.tol,
            "flagged": bt.flagged,
        },
        "flagged": bt.flagged,
        "verdict": bt.verdict,
    }


def recommendations(
    params: Any, *, horizons: Mapping[str, float] | None = None, tol: float = DEFAULT_MMF_TOLERANCE
) -> list[dict[str, Any]]:
    """§12 at each market's liquidation horizon, and the backtest of its MMF_1, per market.

    Each market's base asset's finest real series (``markets.selectors.finest_return_series``:
    price bars at their own resolution, the finest covering at least a year), else its daily
    closes as a 1-day proxy; a market whose asset has neither is stored with ``note`` "no
    history" and nothing else (nothing invented). The engine computes everything
    (``engine.horizon.recommend_at_horizon`` / ``backtest_at_horizon``); this lays it out.

    Args:
        params: the run's engine ``ParameterSet`` (brackets, depth, max position notional).
        horizons: ``{market symbol: h_m minutes}`` (the versions' liquidation horizons,
            ``EngineParameters.horizons``); a market absent here gets the §12 default 5.
        tol: the §12 tolerance of the MMF_1-below-recommendation flag (0.25).

    Returns:
        One JSON dict per market (``edition`` 2): ``market, asset, edition, current_mmf,
        current_imf, horizon_minutes, resolution, resolution_minutes, source, beta, lambda,
        scale, scaling, q_recent, q_long, q, floor_binds, lookbacks, brackets`` (per bracket
        ``mmf_rec, imf_rec, q_recent, q_long, horizon_minutes, resolution`` and the bracket's
        upper notional, slippage, current MMF/IMF, ``capped``), ``backtest`` (``n,
        exceedances, expected, lr, critical, reject, too_many, too_low, tol, flagged``, of
        MMF_1), ``flagged`` and ``verdict`` (the sentence); or ``note`` instead of the
        figures when there is no history or the engine refused it.
    """
    mk = params.markets
    horizons = dict(horizons or {})
    assets = [params.assets.symbols[i] for i in mk.base_asset]
    wanted = sorted(set(assets))
    series = finest_return_series(symbols=wanted)
    series.update(_daily_proxy([a for a in wanted if a not in series]))
    out: list[dict[str, Any]] = []
    for m, symbol in enumerate(mk.symbols):
        horizon = float(horizons.get(symbol, DEFAULT_HORIZON_MINUTES))
        entry: dict[str, Any] = {
            "market": symbol,
            "asset": assets[m],
            "edition": RECOMMENDATION_EDITION,
            "current_mmf": float(mk.mmf[m, 0]),
            "current_imf": float(mk.imf[m, 0]),
            "horizon_minutes": horizon,
        }
        s = series.get(assets[m])
        if s is None or s.returns.size == 0:
            entry["note"] = "no history: the base asset has no price series"
        else:
            try:
                entry.update(_market_recommendation(params=params, m=m, series=s, horizon=horizon, tol=tol))
            except EngineInputError as exc:
                entry["note"] = str(exc)
        out.append(entry)
    return out


def _cascade_summary(result: Any, symbols: Sequence[str], scenario: str) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "rounds": [
            {
                "round": i + 1,
                "liquidated_units": int(result.liquidated_units[i]),
                "liquidated_accounts": int(result.liquidated_accounts[i]),
                "shortfall_usd": float(result.shortfall[i]),
                "penalties_usd": float(result.penalties[i]),
                "market_prices": dict(zip(symbols, map(float, result.market_prices[i + 1]), strict=True)),
            }
            for i in range(result.n_rounds)
        ],
        "start_prices": dict(zip(symbols, map(float, result.market_prices[0]), strict=True)),
        "n_rounds": int(result.n_rounds),
        "converged": bool(result.converged),
        "liquidated_accounts": int(result.total_liquidated_accounts),
        "collateral_shortfall_usd": float(result.collateral_shortfall),
        "shortfall_usd": float(result.total_shortfall),
        "penalties_usd": float(result.total_penalties),
        "insurance_fund_after_usd": float(result.insurance_fund_after),
        "adl_usd": float(result.adl_amount),
    }


def _adl_summary(att: Any, symbols: Sequence[str], scenario: str) -> dict[str, Any]:
    rows = [
        {
            "market": symbols[m],
            "shortfall_longs_usd": float(att.shortfall_by_market[m, 0]),
            "shortfall_shorts_usd": float(att.shortfall_by_market[m, 1]),
            "adl_longs_usd": float(att.adl_by_market[m, 0]),
            "adl_shorts_usd": float(att.adl_by_market[m, 1]),
        }
        for m in np.flatnonzero(att.shortfall_by_market.sum(axis=1) > 0)
    ]
    return {
        "scenario": scenario,
        "shortfall_usd": float(att.shortfall),
        "penalties_usd": float(att.penalties),
        "adl_usd": float(att.adl_amount),
        "unattributed_usd": float(att.unattributed),
        "by_market": rows,
    }


def worst_scenario_detail(
    *, params: Any, state: Any, scenarios: Any, worst: int, pm: Any = None, book: Any = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The §11 cascade and §8 ADL attribution of scenario ``worst`` on the whole venue.

    Args:
        params: the run's engine ``ParameterSet``.
        state: the whole venue's ``VenueState``.
        scenarios: the run's ``ScenarioSet``.
        worst: index of the worst scenario (largest ``S``).
        pm: the venue's ``engine.pm_venue.PMVenue`` (``state`` its bracket side) or ``None``:
            the portfolio-margin accounts take part in the cascade and the attribution.
        book: ``engine.units.build_unit_book(params, state)`` to share (built when ``None``).

    Returns:
        ``(cascade, adl)`` JSON dicts.
    """
    symbols, name = params.markets.symbols, scenarios.names[worst]
    if book is None:
        book = build_unit_book(params, state)
    cascade = _cascade_summary(run_cascade(params, state, scenarios, scenario=worst, pm=pm, book=book), symbols, name)
    adl = _adl_summary(adl_attribution(params, state, scenarios.shocks[worst], pm=pm, book=book), symbols, name)
    return cascade, adl

"""JSON summaries a published run stores next to its totals: the §11 cascade and §8 ADL
attribution of the worst scenario, and the §12 recommendations per market.

The engine computes them (``cascade.run_cascade``, ``adl.adl_attribution``,
``recommend.recommend_margin`` / ``backtest_mmf``); these functions only lay their results
out as the stored JSON (FORMATS.md), ``inf`` stored ``null`` through ``_store.null_inf``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from riskgov.engine.adl import adl_attribution
from riskgov.engine.cascade import run_cascade
from riskgov.engine.recommend import backtest_mmf, recommend_margin
from riskgov.engine.types import EngineInputError
from riskgov.health.services._base import (
    RECOMMEND_BETA,
    RECOMMEND_HORIZONS,
    RECOMMEND_LAMBDA,
    RECOMMEND_LOOKBACK_DAYS,
)
from riskgov.health.services._store import null_inf
from riskgov.markets.selectors import price_matrix


def recommendations(params: Any) -> list[dict[str, Any]]:
    """§12 recommendation and Kupiec backtest of the current first-bracket MMF, per market.

    Args:
        params: the run's engine ``ParameterSet``; closes of the base assets over the last
            ``RECOMMEND_LOOKBACK_DAYS`` come from ``markets.selectors.price_matrix``.

    Returns:
        One JSON dict per market: current MMF/IMF (fractions), the lookback, and per horizon
        ``h1``/``h3`` the recommended MMF/IMF (fractions, ``null`` when unbounded) with the
        backtest, or a ``note`` when the engine refused the history.
    """
    mk = params.markets
    assets = [params.assets.symbols[i] for i in mk.base_asset]
    pm = price_matrix(symbols=sorted(set(assets)))
    out: list[dict[str, Any]] = []
    if pm.closes.size:
        cutoff = pm.dates[-1] - np.timedelta64(RECOMMEND_LOOKBACK_DAYS, "D")
        keep = pm.dates > cutoff
        dates, closes = pm.dates[keep], pm.closes[keep]
    for m, symbol in enumerate(mk.symbols):
        entry: dict[str, Any] = {
            "market": symbol,
            "asset": assets[m],
            "current_mmf": float(mk.mmf[m, 0]),
            "current_imf": float(mk.imf[m, 0]),
        }
        if assets[m] not in pm.symbols:
            entry["note"] = "no price history for the base asset"
            out.append(entry)
            continue
        col = closes[:, pm.symbols.index(assets[m])]
        entry["lookback"] = {"first": str(dates[0]), "last": str(dates[-1]), "days": int(np.isfinite(col).sum())}
        for h in RECOMMEND_HORIZONS:
            try:
                rec = recommend_margin(col, horizon_days=h, beta=RECOMMEND_BETA, lam=RECOMMEND_LAMBDA)
                bt = backtest_mmf(col, float(mk.mmf[m, 0]), horizon_days=h, beta=RECOMMEND_BETA)
            except EngineInputError as exc:
                entry[f"h{h}"] = {"note": str(exc)}
                continue
            entry[f"h{h}"] = {
                "horizon_days": h,
                "beta": RECOMMEND_BETA,
                "lambda": RECOMMEND_LAMBDA,
                "mmf_rec": null_inf(rec.mmf),
                "imf_rec": null_inf(rec.imf),
                "n_windows": int(rec.n_windows),
                "feasible": bool(rec.feasible),
                "backtest": {
                    "mmf": float(mk.mmf[m, 0]),
                    "exceedances": int(bt.exceedances),
                    "n": int(bt.n),
                    "expected_rate": float(bt.expected_rate),
                    "observed_rate": null_inf(bt.observed_rate),
                    "kupiec_lr": null_inf(bt.kupiec_lr),
                    "critical": float(bt.critical),
                    "reject": bool(bt.reject),
                },
            }
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
    *, params: Any, state: Any, scenarios: Any, worst: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The §11 cascade and §8 ADL attribution of scenario ``worst`` on the whole venue.

    Args:
        params: the run's engine ``ParameterSet``.
        state: the whole venue's ``VenueState``.
        scenarios: the run's ``ScenarioSet``.
        worst: index of the worst scenario (largest ``S``).

    Returns:
        ``(cascade, adl)`` JSON dicts.
    """
    symbols, name = params.markets.symbols, scenarios.names[worst]
    cascade = _cascade_summary(run_cascade(params, state, scenarios, scenario=worst), symbols, name)
    adl = _adl_summary(adl_attribution(params, state, scenarios.shocks[worst]), symbols, name)
    return cascade, adl

"""The storage boundary of a health run: engine results ↔ stored JSON and rows.

The engine (``riskgov.engine.combine``) computes everything a run reports; this module only
maps its dataclasses to what is stored, and back:

* ``partial_to_json`` / ``partial_from_json``: a chunk's ``ChunkPartial`` ↔ the
  ``RunChunk.partial`` JSON (lists of numbers; the chunk's ``first_account`` is its column);
* ``scenario_rows``: the ``ScenarioResult`` rows of a ``RunResult``;
* ``apply_run_result``: the totals and ``tail`` JSON of a ``HealthRun``;
* ``account_frame`` / ``position_frame``: a chunk's ``AccountResult`` / ``PositionResult``
  rows as frames for COPY.

**Infinity.** The engine says ``inf`` when there is nothing to cover (coverage ``IF/S`` with
``S = 0``, ``IF/ES`` with ``ES = 0``, …) and for unbounded estimates. PostgreSQL float
columns, JSON and the API formats (FORMATS.md) use ``NULL`` / ``null`` for it instead;
``null_inf`` (scalars) and ``nan_inf`` (row arrays; NaN is written NULL) are the one place
that conversion is made, applied here (and to the §12 recommendation JSON) when results are
stored — nowhere else recomputes a ratio.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from riskgov.engine.combine import ChunkPartial
from riskgov.engine.run import RunResult
from riskgov.health.models import HealthRun, ScenarioResult

_COUNT_KEYS = {
    "accounts": "n_accounts",
    "positions": "n_positions",
    "liquidatable": "liquidatable_accounts",
    "bankrupt": "bankrupt_accounts",
    "limit_breaches": "limit_breaches",
}
_MONEY_KEYS = {
    "equity": "equity",
    "initial_margin": "initial_margin",
    "maintenance_margin": "maintenance_margin",
    "shortfall": "shortfall",
}
#: per-scenario arrays: JSON key → (attribute, dtype)
_ARRAY_KEYS = {
    "s_liquidated": ("scenario_liquidated", np.int64),
    "s_bankrupt": ("scenario_bankrupt", np.int64),
    "s_shortfall": ("scenario_shortfall", np.float64),
    "s_penalties": ("scenario_penalties", np.float64),
    "s_top2": ("top2_shortfall", np.float64),
    "s_top2_account": ("top2_account", np.int64),
}


def outcome_fields(o: Any, i: int) -> dict[str, Any]:
    """The stored columns of scenario ``i`` of an ``engine.run.ScenarioOutcomes`` (§8, §9):
    counts, USD sums and the coverage (``inf`` → ``NULL`` by :func:`null_inf`)."""
    return {
        "liquidatable_accounts": int(o.n_liquidated[i]),
        "bankrupt_accounts": int(o.n_bankrupt[i]),
        "shortfall_usd": float(o.shortfall[i]),
        "penalties_usd": float(o.penalties[i]),
        "insurance_fund_after_usd": float(o.insurance_fund_after[i]),
        "adl_usd": float(o.adl_amount[i]),
        "coverage_ratio": null_inf(o.coverage[i]),
        "top2_shortfall_usd": float(o.top2_sum[i]),
    }


def null_inf(x: float) -> float | None:
    """``None`` for ±inf/NaN, else ``float(x)``: the stored form of an engine ratio or estimate.

    ``NULL`` means ∞ for ratios ("nothing to cover") and "none" for prices and estimates.
    """
    return float(x) if math.isfinite(x) else None


def nan_inf(x: np.ndarray) -> np.ndarray:
    """``x`` with ±inf replaced by NaN, which the row writers store as ``NULL`` (see ``null_inf``)."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(np.isfinite(x), x, np.nan)


def partial_to_json(partial: ChunkPartial) -> dict[str, Any]:
    """The ``RunChunk.partial`` JSON of a chunk (``first_account`` is stored on the chunk row)."""
    out: dict[str, Any] = {key: int(getattr(partial, attr)) for key, attr in _COUNT_KEYS.items()}
    out.update({key: float(getattr(partial, attr)) for key, attr in _MONEY_KEYS.items()})
    out.update({key: getattr(partial, attr).tolist() for key, (attr, _) in _ARRAY_KEYS.items()})
    return out


def partial_from_json(data: dict[str, Any], *, first_account: int) -> ChunkPartial:
    """The ``ChunkPartial`` of a stored ``RunChunk.partial`` (extra keys such as ``dist`` ignored).

    Raises:
        KeyError: a key is missing (a partial written by another format).
    """
    fields: dict[str, Any] = {attr: int(data[key]) for key, attr in _COUNT_KEYS.items()}
    fields.update({attr: float(data[key]) for key, attr in _MONEY_KEYS.items()})
    for key, (attr, dtype) in _ARRAY_KEYS.items():
        fields[attr] = np.asarray(data[key], dtype=dtype)
    for attr in ("top2_shortfall", "top2_account"):
        fields[attr] = fields[attr].reshape(fields[attr].size // 2, 2)
    return ChunkPartial(first_account=int(first_account), **fields)


def uniform_shocks(shocks: np.ndarray, n: int) -> np.ndarray:
    """The uniform shock of each scenario row: its largest move (stablecoins are held, so not
    column 0). ``shocks`` ``(S, A)`` fractions → ``(S,)`` fractions."""
    arr = np.asarray(shocks, dtype=np.float64)
    if not arr.size:
        return np.zeros(n)
    flat = arr.reshape(n, -1)
    pick = np.argmax(np.abs(flat), axis=1)
    return flat[np.arange(n), pick]


def scenario_rows(*, run_id: int, scenarios: Any, in_tail: np.ndarray, result: RunResult) -> list[ScenarioResult]:
    """The ``ScenarioResult`` rows of a run (unsaved), one per scenario in order.

    Args:
        run_id: the run.
        scenarios: the run's ``ScenarioSet`` (names, kinds, dates, shocks).
        in_tail: ``(S,)`` bool tail family.
        result: ``run_result`` of the run; coverage ``inf`` is stored ``NULL``.
    """
    o = result.scenarios
    shock = uniform_shocks(scenarios.shocks, scenarios.n)
    return [
        ScenarioResult(
            run_id=run_id,
            idx=i,
            name=scenarios.names[i][:120],
            kind=scenarios.kinds[i],
            start_date=scenarios.start_date[i],
            end_date=scenarios.end_date[i],
            in_tail=bool(in_tail[i]),
            **outcome_fields(o, i),
            shock=float(shock[i]) if scenarios.kinds[i] == "uniform" else None,
            family="gap",
            steps=1,
            step_minutes=gap_minutes(scenarios.start_date[i], scenarios.end_date[i]),
            interpolated_share=0.0,
            worst_step=1 if o.shortfall[i] > 0 else 0,
        )
        for i in range(scenarios.n)
    ]


def gap_minutes(start: str, end: str) -> int:
    """The horizon of a gap scenario in minutes: its window's days (1 day when undated)."""
    try:
        days = (dt.date.fromisoformat(end[:10]) - dt.date.fromisoformat(start[:10])).days
    except (TypeError, ValueError):
        days = 1
    return 1440 * max(1, days)


def apply_run_result(run: HealthRun, result: RunResult, *, population: str, scenario_names: Sequence[str]) -> None:
    """Set a run's totals and ``tail`` JSON from its ``RunResult`` (not saved).

    Args:
        run: the locked run.
        result: ``run_result`` of the run; ratios ``inf`` are stored ``NULL``.
        population: the scenario set's tail population label.
        scenario_names: the run's scenario names (for the worst scenario).
    """
    t, tail = result.totals, result.tail
    run.n_accounts = t.n_accounts
    run.n_positions = t.n_positions
    run.equity_usd = t.equity
    run.initial_margin_usd = t.initial_margin
    run.maintenance_margin_usd = t.maintenance_margin
    run.liquidatable_accounts = t.liquidatable_accounts
    run.bankrupt_accounts = t.bankrupt_accounts
    run.shortfall_usd = t.shortfall
    run.insurance_fund_usd = result.insurance_fund
    run.coverage_ratio = null_inf(result.coverage_ratio)
    run.tail_scenarios = tail.n_scenarios
    run.var_usd = tail.var
    run.es_usd = tail.es
    run.cover2_usd = tail.cover2
    run.coverage_at_es = null_inf(tail.coverage_at_es)
    run.tail = {
        "alpha": tail.alpha,
        "k": tail.k,
        "population": population,
        "cover2_coverage": null_inf(tail.cover2_coverage),
        "limit_breaches": t.limit_breaches,
        "worst_scenario": scenario_names[result.worst_scenario] if result.worst_scenario >= 0 else None,
    }


def account_frame(
    *,
    run_id: int,
    first_account: int,
    account_ids: Any,
    health: Any,
    stress: Any = None,
    scenario_names: Sequence[str] = (),
) -> pd.DataFrame:
    """A chunk's ``AccountResult`` rows (columns = column names) from ``evaluate_health``.

    Args:
        run_id: the run.
        first_account: venue index of the chunk's first account.
        account_ids: ``(A,)`` the snapshot's account ids of the chunk.
        health: ``HealthResult`` of the chunk; margin ratio ``inf`` is stored ``NULL``.
        stress: ``engine.account_stress.AccountStress`` of the chunk (USD; ``None``: nothing
            computed); not computed is stored ``NULL``, never 0.
        scenario_names: the run's scenario names (``stress.scenario`` indexes them).
    """
    am = health.accounts
    n = int(am.equity.shape[0])
    if stress is None:
        stress_usd = np.full(n, np.nan)
        stress_idx = np.full(n, np.nan)
    else:
        stress_usd = np.where(stress.computed, stress.shortfall, np.nan)
        stress_idx = np.where(stress.computed & (stress.scenario >= 0), stress.scenario, np.nan)
    names = np.asarray([str(x)[:120] for x in scenario_names] + [""], dtype=object)
    name_of = names[np.where(np.isnan(stress_idx), len(names) - 1, np.nan_to_num(stress_idx)).astype(np.int64)]
    return pd.DataFrame(
        {
            "run_id": run_id,
            "account_idx": np.arange(first_account, first_account + n, dtype=np.int64),
            "account_id": np.asarray(account_ids, dtype=object),
            "equity_usd": am.equity,
            "initial_margin_usd": am.initial_margin,
            "maintenance_margin_usd": am.maintenance_margin,
            "margin_ratio": nan_inf(am.margin_ratio),
            "liquidatable": am.liquidatable,
            "bankrupt": am.bankrupt,
            "shortfall_usd": am.shortfall,
            "notional_usd": am.notional,
            "stress_shortfall_usd": stress_usd,
            "stress_scenario_idx": stress_idx,
            "stress_scenario": name_of,
        }
    )


def position_frame(
    *,
    run_id: int,
    first_account: int,
    position_ids: Any,
    portfolio: Any,
    health: Any,
    liquidatable: np.ndarray,
    market_pk: np.ndarray,
) -> pd.DataFrame:
    """A chunk's ``PositionResult`` rows (columns = column names) from ``evaluate_health``.

    Args:
        run_id: the run.
        first_account: venue index of the chunk's first account.
        position_ids: ``(P,)`` the snapshot's position ids.
        portfolio: the chunk's ``Portfolio`` (local account indices).
        health: ``HealthResult`` of the chunk (with prices); prices ``inf``/none stored ``NULL``.
        liquidatable: ``(P,)`` bool, ``engine.health.position_liquidatable``.
        market_pk: ``(M,)`` int64 ``Market`` primary key per engine market index.
    """
    pf, pm = portfolio, health.positions
    return pd.DataFrame(
        {
            "run_id": run_id,
            "position_id": np.asarray(position_ids, dtype=np.int64),
            "account_idx": pf.position_account + first_account,
            "market_id": market_pk[pf.position_market] if pf.n_positions else np.zeros(0, dtype=np.int64),
            "size": pf.size,
            "notional_usd": pm.notional,
            "initial_margin_usd": pm.initial_margin,
            "maintenance_margin_usd": pm.maintenance_margin,
            "liquidatable": liquidatable,
            "liquidation_price": nan_inf(health.liquidation_price),
            "bankruptcy_price": nan_inf(health.bankruptcy_price),
        }
    )

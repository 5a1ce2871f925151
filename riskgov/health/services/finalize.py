"""Combining the chunks, computing tail/cascade/ADL/recommendations, and publishing atomically."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
from django.db import transaction
from django.utils import timezone

from riskgov.core.exceptions import DomainError
from riskgov.core.services import audit_record
from riskgov.engine import tail as engine_tail
from riskgov.engine.adl import adl_attribution
from riskgov.engine.cascade import run_cascade
from riskgov.engine.recommend import backtest_mmf, recommend_margin
from riskgov.engine.types import EngineInputError
from riskgov.health.distributions import combine_distributions
from riskgov.health.models import (
    HealthRun,
    RunChunk,
    RunStatus,
    ScenarioResult,
)
from riskgov.health.scenarios import scenarios_from_store
from riskgov.health.services._base import (
    RECOMMEND_BETA,
    RECOMMEND_HORIZONS,
    RECOMMEND_LAMBDA,
    RECOMMEND_LOOKBACK_DAYS,
    _lock,
    _null_inf,
    _run_parameters,
    _snapshot_state,
)
from riskgov.health.signals import run_published
from riskgov.markets.selectors import price_matrix

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- finalize


def _merge_top2(values: np.ndarray, accounts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Merge per-chunk top-2 account shortfalls into the venue's top-2 per scenario (exact).

    Args:
        values: ``(C, S, 2)`` float64 USD (0 = none), accounts: ``(C, S, 2)`` int64 (-1 = none).

    Returns:
        ``(S, 2)`` values (descending) and accounts; ties go to the smaller account index,
        as ``stress.run_scenarios`` does.
    """
    c, s, _ = values.shape
    v = values.transpose(1, 0, 2).reshape(s, 2 * c)
    a = accounts.transpose(1, 0, 2).reshape(s, 2 * c)
    big = np.iinfo(np.int64).max
    key_acc = np.where(a >= 0, a, big)
    order = np.lexsort((key_acc, -v), axis=-1) if s else np.zeros((0, 2 * c), dtype=np.int64)
    top_v = np.take_along_axis(v, order, axis=1)[:, :2]
    top_a = np.take_along_axis(a, order, axis=1)[:, :2]
    none = top_v <= 0
    return np.where(none, 0.0, top_v), np.where(none, -1, top_a)


def _combine(chunks: Sequence[RunChunk]) -> dict[str, Any]:
    """Combine chunk partials (ordered by first account): sums and the exact top-2 merge."""
    ps = [c.partial for c in chunks]
    out: dict[str, Any] = {}
    for key in ("accounts", "positions", "liquidatable", "bankrupt", "limit_breaches"):
        out[key] = int(sum(p[key] for p in ps))
    for key in ("equity", "initial_margin", "maintenance_margin", "shortfall"):
        total = 0.0
        for p in ps:
            total += p[key]
        out[key] = total
    for key in ("s_liquidated", "s_bankrupt"):
        out[key] = np.sum([np.asarray(p[key], dtype=np.int64) for p in ps], axis=0)
    for key in ("s_shortfall", "s_penalties"):
        acc = np.zeros(len(ps[0][key]))
        for p in ps:
            acc = acc + np.asarray(p[key], dtype=np.float64)
        out[key] = acc
    values = np.array([np.asarray(p["s_top2"], dtype=np.float64).reshape(-1, 2) for p in ps])
    accounts = np.array([np.asarray(p["s_top2_account"], dtype=np.int64).reshape(-1, 2) for p in ps])
    out["s_top2"], out["s_top2_account"] = _merge_top2(values, accounts)
    return out


def _recommendations(params: Any) -> list[dict[str, Any]]:
    """§12 recommendation and Kupiec backtest of the current first-bracket MMF, per market."""
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
                "mmf_rec": _null_inf(rec.mmf),
                "imf_rec": _null_inf(rec.imf),
                "n_windows": int(rec.n_windows),
                "feasible": bool(rec.feasible),
                "backtest": {
                    "mmf": float(mk.mmf[m, 0]),
                    "exceedances": int(bt.exceedances),
                    "n": int(bt.n),
                    "expected_rate": float(bt.expected_rate),
                    "observed_rate": _null_inf(bt.observed_rate),
                    "kupiec_lr": _null_inf(bt.kupiec_lr),
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


def health_run_finalize(*, run_id: int) -> HealthRun:
    """Combine the chunks, compute tail/cascade/ADL/recommendations, and publish (idempotent).

    Publication — totals, scenario rows, ``status = succeeded`` and ``published_at`` — is
    one transaction; before it commits no reader sees the run.

    Raises:
        DomainError: a chunk is missing.
    """
    run = HealthRun.objects.select_related("snapshot").get(pk=run_id)
    if run.published_at is not None or run.status != RunStatus.RUNNING:
        return run
    t0 = time.perf_counter()
    chunks = list(RunChunk.objects.filter(run=run).order_by("first_account"))
    if any(c.status != RunChunk.Status.DONE for c in chunks) or len(chunks) != run.chunks_total:
        raise DomainError(f"run {run_id}: not every chunk is done")
    ep = _run_parameters(run)
    scenarios, in_tail = scenarios_from_store(run.scenario_set)
    fund = float(run.snapshot.insurance_fund_usd)
    if chunks:
        c = _combine(chunks)
    else:  # a snapshot without accounts
        zeros = np.zeros(scenarios.n)
        c = {k: 0 for k in ("accounts", "positions", "liquidatable", "bankrupt", "limit_breaches")}
        c.update({k: 0.0 for k in ("equity", "initial_margin", "maintenance_margin", "shortfall")})
        c.update(s_liquidated=zeros.astype(np.int64), s_bankrupt=zeros.astype(np.int64), s_shortfall=zeros)
        c.update(s_penalties=zeros, s_top2=np.zeros((scenarios.n, 2)), s_top2_account=np.full((scenarios.n, 2), -1))
    s, pen = c["s_shortfall"], c["s_penalties"]
    fund_after = np.maximum(0.0, fund + pen - s)
    adl = np.maximum(0.0, s - fund - pen)
    top2_sum = c["s_top2"].sum(axis=1)
    tail_s = s[in_tail] if in_tail.any() else s
    alpha = float(run.tail_alpha or 0.99)
    if tail_s.size:
        var, es, k = engine_tail.var_es(tail_s, alpha)
        cover2 = engine_tail.cover2(top2_sum)
    else:
        var = es = cover2 = 0.0
        k = 0
    t1 = time.perf_counter()

    worst = int(np.argmax(s)) if s.size else -1
    cascade: dict[str, Any] = {}
    adl_info: dict[str, Any] = {}
    if worst >= 0 and c["accounts"]:
        full = _snapshot_state(snapshot=run.snapshot, params=ep.params).state
        t_load = time.perf_counter()
        cascade = _cascade_summary(
            run_cascade(ep.params, full, scenarios, scenario=worst), ep.params.markets.symbols, scenarios.names[worst]
        )
        adl_info = _adl_summary(
            adl_attribution(ep.params, full, scenarios.shocks[worst]), ep.params.markets.symbols, scenarios.names[worst]
        )
        del full
    else:
        t_load = time.perf_counter()
    t2 = time.perf_counter()
    recommendations = _recommendations(ep.params)
    t3 = time.perf_counter()

    # the uniform shock of a row: its largest move (stablecoins are held, so not column 0)
    shocks = np.asarray(scenarios.shocks, dtype=np.float64).reshape(scenarios.n, -1)
    pick = np.argmax(np.abs(shocks), axis=1) if shocks.size else np.zeros(scenarios.n, dtype=np.int64)
    uniform_shock = shocks[np.arange(scenarios.n), pick] if shocks.size else np.zeros(scenarios.n)
    rows = [
        ScenarioResult(
            run_id=run_id,
            idx=i,
            name=scenarios.names[i][:120],
            kind=scenarios.kinds[i],
            start_date=scenarios.start_date[i],
            end_date=scenarios.end_date[i],
            in_tail=bool(in_tail[i]),
            liquidatable_accounts=int(c["s_liquidated"][i]),
            bankrupt_accounts=int(c["s_bankrupt"][i]),
            shortfall_usd=float(s[i]),
            penalties_usd=float(pen[i]),
            insurance_fund_after_usd=float(fund_after[i]),
            adl_usd=float(adl[i]),
            coverage_ratio=_null_inf(fund / s[i]) if s[i] > 0 else None,
            top2_shortfall_usd=float(top2_sum[i]),
            shock=float(uniform_shock[i]) if scenarios.kinds[i] == "uniform" else None,
        )
        for i in range(scenarios.n)
    ]
    chunk_phase: dict[str, float] = {}
    for ch in chunks:
        for key, sec in (ch.seconds or {}).items():
            chunk_phase[f"chunks_{key}"] = chunk_phase.get(f"chunks_{key}", 0.0) + float(sec)
    with transaction.atomic():
        run = _lock(run_id)
        if run.published_at is not None or run.status != RunStatus.RUNNING:
            return run
        ScenarioResult.objects.filter(run=run).delete()
        ScenarioResult.objects.bulk_create(rows, batch_size=2000)
        now = timezone.now()
        run.n_accounts = c["accounts"]
        run.n_positions = c["positions"]
        run.equity_usd = c["equity"]
        run.initial_margin_usd = c["initial_margin"]
        run.maintenance_margin_usd = c["maintenance_margin"]
        run.liquidatable_accounts = c["liquidatable"]
        run.bankrupt_accounts = c["bankrupt"]
        run.shortfall_usd = c["shortfall"]
        run.insurance_fund_usd = fund
        run.coverage_ratio = fund / c["shortfall"] if c["shortfall"] > 0 else None
        run.tail_scenarios = int(tail_s.size)
        run.var_usd = var
        run.es_usd = es
        run.cover2_usd = cover2
        run.coverage_at_es = fund / es if es > 0 else None
        run.tail = {
            "alpha": alpha,
            "k": k,
            "population": run.scenario_set.meta.get("tail_population", ""),
            "cover2_coverage": fund / cover2 if cover2 > 0 else None,
            "limit_breaches": c["limit_breaches"],
            "worst_scenario": scenarios.names[worst] if worst >= 0 else None,
        }
        run.cascade = cascade
        run.adl = adl_info
        run.recommendations = recommendations
        run.distributions = combine_distributions([ch.partial.get("dist") for ch in chunks])
        run.timings = {
            **chunk_phase,
            "finalize_combine": t1 - t0,
            "finalize_load_full": t_load - t1,
            "finalize_cascade_adl": t2 - t_load,
            "finalize_recommend": t3 - t2,
            "finalize_publish": time.perf_counter() - t3,
            "wall": (now - run.started_at).total_seconds() if run.started_at else None,
        }
        run.status = RunStatus.SUCCEEDED
        run.progress = 100
        run.finished_at = now
        run.published_at = now
        run.save()
        audit_record(
            actor=None,
            action="health.run.publish",
            obj=run,
            from_state=RunStatus.RUNNING,
            to_state=RunStatus.SUCCEEDED,
            after={"accounts": run.n_accounts, "shortfall_usd": run.shortfall_usd, "es_usd": es, "var_usd": var},
        )
        run_id_, kind_ = run.pk, run.kind
        transaction.on_commit(lambda: run_published.send_robust(sender=HealthRun, run_id=run_id_, kind=kind_))
    return run

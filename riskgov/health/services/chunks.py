"""Computing one account range of a run and storing its rows and partial aggregates (idempotent)."""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import pandas as pd
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from riskgov.core.exceptions import DomainError
from riskgov.core.pgcopy import copy_binary
from riskgov.engine.account_stress import account_stress, with_pm_accounts
from riskgov.engine.combine import chunk_partial, family_partial
from riskgov.engine.distributions import chunk_distributions
from riskgov.engine.health import evaluate_health, position_liquidatable
from riskgov.engine.path_stress import run_path_stress
from riskgov.engine.pm_venue import (
    NOT_COVERED,
    merge_health,
    merge_path_stress,
    merge_stress,
    pm_gap_stress,
    pm_path_stress,
    underlying_books,
)
from riskgov.engine.portfolio_margin import VOL_NAMES, portfolio_margin
from riskgov.engine.stress import run_scenarios
from riskgov.engine.units import build_unit_book
from riskgov.health.models import (
    AccountResult,
    HealthRun,
    PositionResult,
    RunChunk,
    RunStatus,
)
from riskgov.health.scenarios import families_from_store, scenarios_from_store
from riskgov.health.services import results_file, run_state
from riskgov.health.services._base import (
    CHUNK_PROGRESS,
    _lock,
    _run_parameters,
    _run_pm_params,
    _split_pm,
)
from riskgov.health.services._store import account_frame, null_inf, partial_to_json, position_frame
from riskgov.health.services.lifecycle import beating, worker_name
from riskgov.markets.models import Market
from riskgov.snapshots.adapters import snapshot_venue_state

log = logging.getLogger(__name__)
#: riskiest PM accounts kept per underlying and chunk (the portfolio page shows the venue's top)
PM_TOP = 10

# --------------------------------------------------------------------------- chunks


def _copy_frame(model: type, frame: pd.DataFrame) -> None:
    """Bulk-insert a frame whose columns are the model's column names (binary COPY on PostgreSQL;
    NaN → NULL)."""
    if frame.empty:
        return
    table = model._meta.db_table
    if connection.vendor == "postgresql":  # binary COPY: exact floats, no text round trip
        with connection.cursor() as cur:
            copy_binary(cur, table, {c: frame[c].to_numpy() for c in frame.columns}, len(frame))
        return
    fields = {f.column: f.attname for f in model._meta.concrete_fields}
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    model.objects.bulk_create([model(**{fields[k]: v for k, v in r.items()}) for r in records], batch_size=5000)


def health_chunk_compute(*, run_id: int, first_account: int, last_account: int) -> bool:
    """Compute one account range ``[first_account, last_account)`` and store it (idempotent).

    The chunk is marked started (``attempts``, ``started_at``, ``worker``) and beats
    ``heartbeat_at`` while it computes (``lifecycle.beating``). The engine work runs outside any transaction; the write (delete the range's rows, COPY
    the new ones, store the partial, count progress) is one transaction under the run's
    row lock, so running the same chunk twice leaves exactly one copy of its rows.

    Returns:
        ``True`` when stored, ``False`` when skipped (the run is no longer running).

    Raises:
        DomainError: unknown chunk, parameters changed, snapshot symbols unknown.
        EngineInputError: the engine refused the inputs.
    """
    run = HealthRun.objects.select_related("snapshot").get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        log.info("health run %s is %s: chunk %s skipped", run_id, run.status, first_account)
        return False
    if not _chunk_begin(run_id=run_id, first_account=first_account, last_account=last_account):
        raise DomainError(f"run {run_id} has no chunk [{first_account}, {last_account})")
    with beating(RunChunk, RunChunk.objects.only("pk").get(run_id=run_id, first_account=first_account).pk):
        return _compute(run=run, first_account=first_account, last_account=last_account)


def _chunk_begin(*, run_id: int, first_account: int, last_account: int) -> bool:
    """Record that this worker started the chunk (attempts, ``started_at``, first heartbeat);
    a pending chunk becomes running (a done one, redelivered, stays done until rewritten).
    ``False`` when the run has no such chunk."""
    now = timezone.now()
    mine = RunChunk.objects.filter(run_id=run_id, first_account=first_account, last_account=last_account)
    n = mine.update(attempts=F("attempts") + 1, started_at=now, heartbeat_at=now, worker=worker_name())
    mine.filter(status=RunChunk.Status.PENDING).update(status=RunChunk.Status.RUNNING)
    return n > 0


def _compute(*, run: HealthRun, first_account: int, last_account: int) -> bool:
    """The engine work of a chunk, then ``_store_chunk``."""
    run_id = run.pk
    t0 = time.perf_counter()
    ep = _run_parameters(run)
    scenarios, _ = scenarios_from_store(run.scenario_set)
    raw = snapshot_venue_state(
        snapshot=run.snapshot, params=ep.params, first_account=first_account, last_account=last_account
    )
    t_state = time.perf_counter()
    run_state.write_chunk_state(run_id=run_id, first_account=first_account, snap=raw, snapshot=run.snapshot)
    t_state = time.perf_counter() - t_state
    snap = _split_pm(raw, snapshot=run.snapshot, params=ep.params, pm_params=_run_pm_params(run))
    del raw
    state = snap.state
    t1 = time.perf_counter()
    health = evaluate_health(ep.params, state, with_prices=True)
    pm_part: dict[str, Any] | None = None
    if snap.pm is not None:  # portfolio-mode accounts (§14): margined by the engine's PM
        pm = portfolio_margin(market=snap.pm.market, book=snap.pm.book)
        health = merge_health(health, pm, snap.pm)
        pm_part = _pm_partial(snap.pm, pm, snap.account_ids, first_account=first_account)
    t2 = time.perf_counter()
    stress = run_scenarios(ep.params, state, scenarios)
    per_account = account_stress(stress)  # each account's largest shortfall over the gap scenarios
    if snap.pm is not None and scenarios.n:
        pm_stress = pm_gap_stress(
            params=ep.params, venue=snap.pm, asset_prices=state.asset_prices, shocks=scenarios.shocks
        )
        stress = merge_stress(stress, pm_stress)
        per_account = with_pm_accounts(per_account, pm_stress, snap.pm.pm_accounts)
    t3 = time.perf_counter()
    partial = partial_to_json(chunk_partial(health.totals, stress, first_account=first_account))
    if pm_part is not None:
        partial["pm"] = pm_part
    families = families_from_store(run.scenario_set)
    if families:
        partial["families"] = _family_partials(ep.params, state, families, first_account=first_account, pm=snap.pm)
    t3p = time.perf_counter()
    liquidatable = position_liquidatable(health, state)
    partial["dist"] = _distributions(ep.params, state, health, liquidatable)
    symbols = ep.params.markets.symbols
    market_ids = dict(Market.objects.filter(symbol__in=symbols).values_list("symbol", "pk"))
    accounts = account_frame(
        run_id=run_id,
        first_account=first_account,
        account_ids=snap.account_ids,
        health=health,
        stress=per_account,
        scenario_names=scenarios.names,
    )
    positions = position_frame(
        run_id=run_id,
        first_account=first_account,
        position_ids=snap.position_ids,
        portfolio=state.portfolio,
        health=health,
        liquidatable=liquidatable,
        market_pk=np.array([market_ids[s] for s in symbols], dtype=np.int64),
    )
    t_files = time.perf_counter()
    accounts, positions = results_file.write_chunk(  # every row to the files; the queried few stay in PG
        run_id=run_id,
        first_account=first_account,
        accounts=accounts,
        positions=positions,
        market_symbols={pk: s for s, pk in market_ids.items()},
    )
    seconds = {
        "load": t1 - t0 - t_state,
        "state": t_state,
        "base": t2 - t1,
        "stress": t3 - t2,
        "paths": t3p - t3,
        "files": time.perf_counter() - t_files,
    }
    stored = _store_chunk(
        run_id=run_id,
        first_account=first_account,
        last_account=last_account,
        accounts=accounts,
        positions=positions,
        partial=partial,
        seconds=seconds,
        t_write=time.perf_counter(),
    )
    if not stored:
        _drop_refused_files(run_id=run_id, first_account=first_account)
    return stored


def _drop_refused_files(*, run_id: int, first_account: int) -> None:
    """The store refused the chunk (its run is no longer running): delete the files it just
    wrote — its venue copy always (finalize is done or will not run), its result files unless
    the run was published (a redelivered chunk of a published run rewrote its own files with
    the same rows: they are the run's)."""
    status = HealthRun.objects.filter(pk=run_id).values_list("status", flat=True).first()
    if status != RunStatus.SUCCEEDED:
        results_file.delete_chunk_files(run_id, first_account)
    else:
        default_storage.delete(run_state.state_name(run_id, first_account))


def _pm_partial(venue: Any, pm: Any, account_ids: Any, *, first_account: int) -> dict[str, Any]:
    """What the run keeps of its PM accounts (§14): counts, what is not covered yet, and per
    underlying the venue's Greeks, scenario losses and the riskiest accounts' loss grids
    (``engine.pm_venue.underlying_books``; the portfolio page and the report read them)."""
    books = {}
    for b in underlying_books(venue.market, pm, top=PM_TOP):
        riskiest = []
        for row in b.riskiest.tolist():
            a = int(pm.unit_account[row])
            riskiest.append(
                {
                    "account_idx": int(venue.pm_accounts[a]) + first_account,
                    "account_id": str(account_ids[venue.pm_accounts[a]]),
                    "margin_ratio": null_inf(float(pm.margin_ratio[a])),
                    "equity_usd": float(pm.equity[a]),
                    "maintenance_margin_usd": float(pm.maintenance_margin_account[a]),
                    "worst_loss_usd": float(pm.worst_loss[row]),
                    "worst_scenario": int(pm.worst_scenario[row]),
                    "loss_usd": [float(x) for x in pm.scenario_loss[row, : b.grid.n]],
                }
            )
        books[b.symbol] = {
            "units": b.units,
            "delta": b.delta,
            "gamma": b.gamma,
            "vega_usd": b.vega,
            "theta_usd": b.theta,
            "option_value_usd": b.option_value,
            "maintenance_margin_usd": b.maintenance_margin,
            "grid": {
                "move": b.grid.move.tolist(),
                "vol": [VOL_NAMES[int(v)] for v in b.grid.vol],
                "weight": b.grid.weight.tolist(),
            },
            "loss_usd": b.loss.tolist(),
            "riskiest": riskiest,
        }
    return {
        "accounts": int(venue.pm_accounts.size),
        "options": int(venue.book.option_size.size),
        "liquidatable": int(np.count_nonzero(pm.liquidatable)),
        "not_covered": list(NOT_COVERED),
        "underlyings": books,
    }


def _family_partials(params: Any, state: Any, families: Any, *, first_account: int, pm: Any = None) -> dict[str, Any]:
    """Per path family the chunk's per-scenario partial (``engine.combine.family_partial``) and
    its ``(S, T)`` shortfall by step, from ``engine.path_stress`` (exact pruning, one unit
    book for every family), with the PM accounts' path outcomes added (``pm_venue``)."""
    book = build_unit_book(params, state)
    out: dict[str, Any] = {}
    for fam in families:
        res = run_path_stress(params, state, fam, book=book)
        if pm is not None and fam.n:
            res = merge_path_stress(
                res, pm_path_stress(params=params, venue=pm, asset_prices=state.asset_prices, paths=fam.shocks)
            )
        data = partial_to_json(family_partial(res, first_account=first_account))
        data["by_step"] = res.shortfall_by_step.tolist()
        out[fam.family] = data
    return out


def _distributions(params: Any, state: Any, health: Any, liquidatable: np.ndarray) -> dict[str, Any]:
    """The chunk's dashboard histograms and per-market sums (``engine.distributions``)."""
    pf, pm = state.portfolio, health.positions
    return chunk_distributions(
        margin_ratio=health.accounts.margin_ratio,
        position_liquidatable=liquidatable,
        position_market=pf.position_market,
        size=pf.size,
        notional=pm.notional,
        initial_margin=pm.initial_margin,
        maintenance_margin=pm.maintenance_margin,
        liquidation_price=health.liquidation_price,
        mark_price=state.asset_prices[params.markets.base_asset],
        market_symbols=params.markets.symbols,
    )


def _store_chunk(
    *,
    run_id: int,
    first_account: int,
    last_account: int,
    accounts: pd.DataFrame,
    positions: pd.DataFrame,
    partial: dict[str, Any],
    seconds: dict[str, float],
    t_write: float,
) -> bool:
    """Replace the range's rows, store the partial and count progress, in one transaction
    under the run's row lock (``False`` when the run is no longer running)."""
    with transaction.atomic():
        run = _lock(run_id)
        if run.status != RunStatus.RUNNING:
            return False
        AccountResult.objects.filter(run=run, account_idx__gte=first_account, account_idx__lt=last_account).delete()
        PositionResult.objects.filter(run=run, account_idx__gte=first_account, account_idx__lt=last_account).delete()
        _copy_frame(AccountResult, accounts)
        _copy_frame(PositionResult, positions)
        t4 = time.perf_counter()
        chunk = RunChunk.objects.select_for_update().get(run=run, first_account=first_account)
        chunk.status = RunChunk.Status.DONE
        chunk.partial = partial
        chunk.seconds = {**seconds, "write": t4 - t_write}
        chunk.computed_at = timezone.now()
        chunk.save()
        run.chunks_done = RunChunk.objects.filter(run=run, status=RunChunk.Status.DONE).count()
        run.progress = min(CHUNK_PROGRESS, CHUNK_PROGRESS * run.chunks_done // max(run.chunks_total, 1))
        run.save(update_fields=["chunks_done", "progress"])
    return True

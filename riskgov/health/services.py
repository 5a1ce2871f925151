"""Health-run write actions (STYLE rules 4, 5, 7, 9): create, start, compute a chunk, finalize
and publish, fail; plus the scheduled and impact entry points and the beat schedule.

The task graph (``tasks.py``) only calls these. A run goes ``pending → running →
succeeded | failed``; only these functions change its status, under a row lock.

Chunks (RISK_MODEL §5–§10, DESIGN "Scale"): the accounts ``[0, n)`` of the snapshot are cut
into ranges of ``chunk_accounts``. Each chunk evaluates the base pass (``evaluate_health``)
and the stress run (``run_scenarios``) over its accounts — with the open interest of the
**whole** snapshot for §3 scaling — stores its account/position rows (delete-then-insert of
its own range in one transaction, so a redelivered chunk cannot duplicate rows) and its
partial aggregates. ``health_run_finalize`` combines them: counts exactly, float sums in
chunk order (so chunked totals equal single-pass totals to 1e-9 relative, §1), the two
largest account shortfalls per scenario merged exactly (Cover-2). It then derives fund
after, ADL amount, coverage, VaR/ES (§10), runs the §11 cascade and §8 ADL attribution of
the worst scenario and the §12 recommendations on the whole venue, and publishes
atomically.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import logging
import math
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from riskgov.core.exceptions import Conflict, DomainError, NotAllowed
from riskgov.core.roles import ADMIN, ANALYST, has_role
from riskgov.core.services import audit_record
from riskgov.engine import tail as engine_tail
from riskgov.engine.adl import adl_attribution
from riskgov.engine.cascade import run_cascade
from riskgov.engine.health import evaluate_health
from riskgov.engine.recommend import backtest_mmf, recommend_margin
from riskgov.engine.stress import run_scenarios
from riskgov.engine.types import EngineInputError
from riskgov.health.distributions import chunk_distributions, combine_distributions
from riskgov.health.models import (
    AccountResult,
    HealthRun,
    PositionResult,
    RunChunk,
    RunKind,
    RunScenarioSet,
    RunStatus,
    ScenarioResult,
)
from riskgov.health.scenarios import build_scenarios, parse_spec, scenarios_from_store
from riskgov.health.signals import run_published
from riskgov.markets.models import Market
from riskgov.markets.selectors import price_matrix
from riskgov.parameters.adapters import EngineParameters, engine_parameters
from riskgov.parameters.models import AssetParameterVersion, MarketParameterVersion

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ACCOUNTS = 250_000
#: share of the progress bar taken by the chunks; finalize takes the rest
CHUNK_PROGRESS = 95
RECOMMEND_HORIZONS = (1, 3)
RECOMMEND_BETA = 0.995
RECOMMEND_LAMBDA = 2.0
#: §12 lookback window in calendar days (the most recent closes)
RECOMMEND_LOOKBACK_DAYS = 3 * 365


# --------------------------------------------------------------------------- helpers


@functools.cache
def code_version() -> str:
    """``git describe`` (or the package version) plus a hash of the engine's source files."""
    root = Path(__file__).resolve().parent.parent.parent
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    if not described:
        from importlib.metadata import PackageNotFoundError, version

        try:
            described = version("riskgov")
        except PackageNotFoundError:
            described = "unknown"
    h = hashlib.sha256()
    for path in sorted((root / "riskgov" / "engine").glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return f"{described} engine:{h.hexdigest()[:12]}"


def _null_inf(x: float) -> float | None:
    """``None`` for ±inf/NaN (stored NULL = infinity for ratios, "none" for prices)."""
    return float(x) if math.isfinite(x) else None


def _chunk_accounts_default() -> int:
    return int(getattr(settings, "RISKGOV_HEALTH_CHUNK_ACCOUNTS", DEFAULT_CHUNK_ACCOUNTS))


def _override_refs(overrides: Iterable[MarketParameterVersion | AssetParameterVersion]) -> list[dict[str, Any]]:
    out = []
    for o in overrides:
        kind = "market" if isinstance(o, MarketParameterVersion) else "asset"
        out.append({"kind": kind, "id": o.pk})
    return out


def _parameters_label(ep: EngineParameters, overrides: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """(name, version) for ``riskgov.health/1``: source import names, and a short hash of
    the version ids (``pv-…``), marked ``+drafts`` for an impact run."""
    names = sorted(
        set(
            MarketParameterVersion.objects.filter(pk__in=ep.market_versions.values())
            .exclude(source_import=None)
            .values_list("source_import__name", flat=True)
        )
    )
    name = " + ".join(names) if names else "active parameters"
    if overrides:
        name += " + proposed drafts"
    digest = hashlib.sha256(json.dumps([ep.market_versions, ep.asset_versions], sort_keys=True).encode()).hexdigest()[
        :12
    ]
    return name[:300], f"pv-{digest}"


def _run_parameters(run: HealthRun) -> EngineParameters:
    """The engine parameters a run was created with (its recorded version ids).

    Raises:
        Conflict: the set can no longer be rebuilt identically (a market was activated or
            retired since the run was created).
    """
    mv = MarketParameterVersion.objects.filter(pk__in=list(run.market_versions.values()))
    av = AssetParameterVersion.objects.filter(pk__in=list(run.asset_versions.values()))
    ep = engine_parameters(overrides=[*mv, *av])
    if ep.market_versions != run.market_versions or ep.asset_versions != run.asset_versions:
        raise Conflict("the parameter set changed while the run was in progress; start a new run")
    return ep


def _snapshot_state(*, snapshot: Any, params: Any, first_account: int = 0, last_account: int | None = None) -> Any:
    """The snapshot adapter's ``SnapshotState`` for an account range (imported lazily)."""
    from riskgov.snapshots.adapters import snapshot_venue_state

    return snapshot_venue_state(
        snapshot=snapshot, params=params, first_account=first_account, last_account=last_account
    )


def _lock(run_id: int) -> HealthRun:
    return HealthRun.objects.select_for_update().get(pk=run_id)


# --------------------------------------------------------------------------- create / start


@transaction.atomic
def health_run_create(
    *,
    snapshot: Any,
    kind: str = RunKind.MANUAL,
    by: Any = None,
    overrides: Iterable[MarketParameterVersion | AssetParameterVersion] = (),
    scenario_spec: str | dict[str, Any] | None = None,
    label: str = "",
    chunk_accounts: int | None = None,
    enqueue: bool = True,
) -> HealthRun:
    """Create a pending run and enqueue ``health.run`` when the transaction commits.

    The parameter set (active versions overlaid with ``overrides``) and the scenario set
    (``scenarios.build_scenarios``) are resolved and frozen now, so a bad spec or an
    unusable parameter set fails here, and every chunk uses the same inputs.

    Args:
        snapshot: the ``Snapshot`` to evaluate.
        kind: ``scheduled``, ``manual`` or ``impact``.
        by: the user asking (``None`` = system: command, schedule); a user must be an
            analyst or admin.
        overrides: draft versions to overlay (impact runs).
        scenario_spec: see ``scenarios.parse_spec`` (default: the standard set).
        label: free text shown in lists.
        chunk_accounts: accounts per chunk (default ``settings.RISKGOV_HEALTH_CHUNK_ACCOUNTS``).
        enqueue: ``False`` leaves the run pending (tests, or a caller that dispatches itself).

    Raises:
        NotAllowed: ``by`` is neither analyst nor admin.
        DomainError: no active parameters, bad spec, bad chunk size.
    """
    if by is not None and not has_role(by, ANALYST, ADMIN):
        raise NotAllowed("only analysts and admins start health runs")
    if kind not in RunKind.values:
        raise DomainError(f"unknown run kind {kind!r}")
    size = int(chunk_accounts or _chunk_accounts_default())
    if size < 1:
        raise DomainError("chunk size must be at least 1 account")
    overrides = list(overrides)
    ep = engine_parameters(overrides=overrides)
    spec = parse_spec(scenario_spec)
    used = set(snapshot.prices.values_list("asset__symbol", flat=True))
    built = build_scenarios(params=ep.params, spec=spec, used_assets=used)
    refs = _override_refs(overrides)
    name, version = _parameters_label(ep, refs)
    input_hash = hashlib.sha256(
        json.dumps(
            {
                "snapshot": snapshot.sha256,
                "markets": ep.market_versions,
                "assets": ep.asset_versions,
                "spec": spec,
                "scenarios": built.sha256,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()
    run = HealthRun(
        snapshot=snapshot,
        kind=kind,
        label=label[:200],
        chunk_accounts=size,
        created_by=by if getattr(by, "is_authenticated", False) else None,
        created_by_name=by.get_username() if getattr(by, "is_authenticated", False) else "",
        market_versions=ep.market_versions,
        asset_versions=ep.asset_versions,
        overrides=refs,
        parameters_name=name,
        parameters_version=version,
        code_version=code_version()[:120],
        input_hash=input_hash,
        scenario_spec=spec,
        tail_alpha=float(spec.get("alpha", 0.99)),
    )
    run.full_clean()
    run.save()
    sc = built.scenarios
    RunScenarioSet.objects.create(
        run=run,
        asset_symbols=list(sc.asset_symbols),
        names=list(sc.names),
        kinds=list(sc.kinds),
        start_dates=list(sc.start_date),
        end_dates=list(sc.end_date),
        in_tail=list(built.in_tail),
        shocks=sc.shocks.ravel().tolist(),
        sha256=built.sha256,
        meta=built.meta,
    )
    audit_record(
        actor=by,
        action="health.run.create",
        obj=run,
        to_state=RunStatus.PENDING,
        after={
            "snapshot": snapshot.pk,
            "kind": kind,
            "scenarios": sc.n,
            "overrides": refs,
            "input_hash": input_hash,
            "chunk_accounts": size,
        },
    )
    if enqueue:
        from riskgov.health.tasks import health_run

        health_run.delay_on_commit(run.pk)
    return run


@transaction.atomic
def health_run_start(*, run_id: int) -> list[tuple[int, int]] | None:
    """Move a pending run to running and plan its chunks.

    Returns:
        The ``[first, last)`` account ranges to compute (empty for a snapshot without
        accounts); ``None`` when the run is not pending (already started, finished or
        failed: a duplicate start does nothing).
    """
    run = _lock(run_id)
    if run.status != RunStatus.PENDING:
        return None
    n = int(run.snapshot.n_accounts)
    size = int(run.chunk_accounts)
    ranges = [(a, min(a + size, n)) for a in range(0, n, size)]
    RunChunk.objects.bulk_create([RunChunk(run=run, first_account=a, last_account=b) for a, b in ranges])
    run.status = RunStatus.RUNNING
    run.started_at = timezone.now()
    run.chunks_total = len(ranges)
    run.chunks_done = 0
    run.progress = 0
    run.save(update_fields=["status", "started_at", "chunks_total", "chunks_done", "progress"])
    audit_record(
        actor=None, action="health.run.start", obj=run, from_state=RunStatus.PENDING, to_state=RunStatus.RUNNING
    )
    return ranges


# --------------------------------------------------------------------------- chunks


def _copy_frame(model: type, frame: pd.DataFrame) -> None:
    """Bulk-insert a frame whose columns are the model's column names (COPY on PostgreSQL)."""
    if frame.empty:
        return
    table = model._meta.db_table
    if connection.vendor == "postgresql":
        buf = io.StringIO()
        frame.to_csv(buf, index=False, header=False, na_rep="\\N", float_format="%.17g")
        cols = ", ".join(connection.ops.quote_name(c) for c in frame.columns)
        with connection.cursor() as cur:
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
                copy.write(buf.getvalue())
        return
    fields = {f.column: f.attname for f in model._meta.concrete_fields}
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    model.objects.bulk_create([model(**{fields[k]: v for k, v in r.items()}) for r in records], batch_size=5000)


def _chunk_partial(health: Any, stress: Any, first_account: int) -> dict[str, Any]:
    """Partial aggregates of one chunk that combine exactly (see module docstring)."""
    t = health.totals
    top2_acc = np.where(stress.top2_account >= 0, stress.top2_account + first_account, -1)
    return {
        "accounts": int(t.n_accounts),
        "positions": int(t.n_positions),
        "equity": float(t.equity),
        "initial_margin": float(t.initial_margin),
        "maintenance_margin": float(t.maintenance_margin),
        "liquidatable": int(t.liquidatable_accounts),
        "bankrupt": int(t.bankrupt_accounts),
        "shortfall": float(t.shortfall),
        "limit_breaches": int(t.limit_breaches),
        "s_liquidated": stress.n_liquidated.tolist(),
        "s_bankrupt": stress.n_bankrupt.tolist(),
        "s_shortfall": stress.shortfall.tolist(),
        "s_penalties": stress.penalties.tolist(),
        "s_top2": stress.top2_shortfall.tolist(),
        "s_top2_account": top2_acc.tolist(),
    }


def health_chunk_compute(*, run_id: int, first_account: int, last_account: int) -> bool:
    """Compute one account range ``[first_account, last_account)`` and store it (idempotent).

    The engine work runs outside any transaction; the write (delete the range's rows, COPY
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
    if not RunChunk.objects.filter(run=run, first_account=first_account, last_account=last_account).exists():
        raise DomainError(f"run {run_id} has no chunk [{first_account}, {last_account})")
    t0 = time.perf_counter()
    ep = _run_parameters(run)
    scenarios, _ = scenarios_from_store(run.scenario_set)
    snap = _snapshot_state(
        snapshot=run.snapshot, params=ep.params, first_account=first_account, last_account=last_account
    )
    state = snap.state
    t1 = time.perf_counter()
    health = evaluate_health(ep.params, state, with_prices=True)
    t2 = time.perf_counter()
    stress = run_scenarios(ep.params, state, scenarios)
    t3 = time.perf_counter()
    partial = _chunk_partial(health, stress, first_account)

    am, pm, pf = health.accounts, health.positions, state.portfolio
    partial["dist"] = chunk_distributions(
        margin_ratio=am.margin_ratio,
        account_liquidatable=am.liquidatable,
        position_account=pf.position_account,
        position_market=pf.position_market,
        size=pf.size,
        notional=pm.notional,
        initial_margin=pm.initial_margin,
        maintenance_margin=pm.maintenance_margin,
        liquidation_price=health.liquidation_price,
        mark_price=state.asset_prices[ep.params.markets.base_asset],
        market_symbols=ep.params.markets.symbols,
    )
    n = pf.n_accounts
    accounts = pd.DataFrame(
        {
            "run_id": run_id,
            "account_idx": np.arange(first_account, first_account + n, dtype=np.int64),
            "account_id": np.asarray(snap.account_ids, dtype=object),
            "equity_usd": am.equity,
            "initial_margin_usd": am.initial_margin,
            "maintenance_margin_usd": am.maintenance_margin,
            "margin_ratio": np.where(np.isfinite(am.margin_ratio), am.margin_ratio, np.nan),
            "liquidatable": am.liquidatable,
            "bankrupt": am.bankrupt,
            "shortfall_usd": am.shortfall,
        }
    )
    symbols = ep.params.markets.symbols
    market_ids = dict(Market.objects.filter(symbol__in=symbols).values_list("symbol", "pk"))
    market_pk = np.array([market_ids[s] for s in symbols], dtype=np.int64)
    liq, bk = health.liquidation_price, health.bankruptcy_price
    positions = pd.DataFrame(
        {
            "run_id": run_id,
            "position_id": np.asarray(snap.position_ids, dtype=np.int64),
            "account_idx": pf.position_account + first_account,
            "market_id": market_pk[pf.position_market] if pf.n_positions else np.zeros(0, dtype=np.int64),
            "size": pf.size,
            "notional_usd": pm.notional,
            "initial_margin_usd": pm.initial_margin,
            "maintenance_margin_usd": pm.maintenance_margin,
            "liquidation_price": np.where(np.isfinite(liq), liq, np.nan),
            "bankruptcy_price": np.where(np.isfinite(bk), bk, np.nan),
        }
    )
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
        chunk.seconds = {"load": t1 - t0, "base": t2 - t1, "stress": t3 - t2, "write": t4 - t3}
        chunk.computed_at = timezone.now()
        chunk.attempts += 1
        chunk.save()
        run.chunks_done = RunChunk.objects.filter(run=run, status=RunChunk.Status.DONE).count()
        run.progress = min(CHUNK_PROGRESS, CHUNK_PROGRESS * run.chunks_done // max(run.chunks_total, 1))
        run.save(update_fields=["chunks_done", "progress"])
    return True


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
        entry: dict[str, Any] = {"market": symbol, "asset": assets[m], "current_mmf": float(mk.mmf[m, 0])}
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


# --------------------------------------------------------------------------- failure


@transaction.atomic
def health_run_fail(*, run_id: int, error: str) -> HealthRun | None:
    """Mark a run failed with its error and remove its partial rows (idempotent).

    A published run is never failed afterwards (a late error of a redelivered task is
    ignored). Returns the run, or ``None`` when it does not exist.
    """
    run = HealthRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        return run
    before = run.status
    AccountResult.objects.filter(run=run).delete()
    PositionResult.objects.filter(run=run).delete()
    ScenarioResult.objects.filter(run=run).delete()
    RunChunk.objects.filter(run=run).update(partial={}, status=RunChunk.Status.PENDING)
    run.status = RunStatus.FAILED
    run.error = (error or "unknown error")[:5000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    audit_record(
        actor=None, action="health.run.fail", obj=run, from_state=before, to_state=RunStatus.FAILED, comment=run.error
    )
    return run


# --------------------------------------------------------------------------- entry points


def health_run_scheduled() -> HealthRun | None:
    """The scheduled run (beat): a run on the latest snapshot, or ``None`` when there is none."""
    from riskgov.snapshots.selectors import latest_snapshot

    snapshot = latest_snapshot()
    if snapshot is None:
        log.info("scheduled health run: no snapshot yet")
        return None
    return health_run_create(snapshot=snapshot, kind=RunKind.SCHEDULED, label="scheduled")


def health_impact_run(
    *,
    overrides: Iterable[MarketParameterVersion | AssetParameterVersion],
    by: Any = None,
    label: str = "",
    scenario_spec: str | dict[str, Any] | None = None,
) -> HealthRun:
    """Governance hook: a run on the latest snapshot with draft versions overlaid (§13).

    Compare it with the latest published run by ``selectors.run_comparison``.

    Raises:
        DomainError: no snapshot, no overrides.
    """
    from riskgov.snapshots.selectors import latest_snapshot

    overrides = list(overrides)
    if not overrides:
        raise DomainError("an impact run needs at least one draft version")
    snapshot = latest_snapshot()
    if snapshot is None:
        raise DomainError("no snapshot to evaluate: import one first")
    return health_run_create(
        snapshot=snapshot, kind=RunKind.IMPACT, by=by, overrides=overrides, label=label, scenario_spec=scenario_spec
    )

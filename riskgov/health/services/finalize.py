"""Finalizing a run: load the chunk partials, let the engine combine them and derive the
run's results, store them and publish atomically. The venue-wide figures (cascade, ADL,
replay) read the whole venue once, joined from the chunks' copies (``run_state``; the
snapshot from PostgreSQL when a copy is unusable), never the result rows.

Every figure comes from the engine: ``engine.combine`` (combined totals, per-scenario fund
after / ADL / coverage, VaR/ES, Cover-2 and coverage at ES, §8–§10), ``engine.cascade`` and
``engine.adl`` (worst scenario, §11, §8), ``engine.horizon`` (§12) and
``engine.distributions`` (dashboard histograms). This module loads, calls, stores (through
``_store``, the one place ``inf`` becomes ``NULL``) and publishes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from riskgov.core.exceptions import DomainError
from riskgov.core.services import audit_record
from riskgov.engine.combine import combine_partials
from riskgov.engine.distributions import combine_distributions
from riskgov.engine.run import DEFAULT_ALPHA, RunResult, family_result, run_result
from riskgov.engine.units import build_unit_book, prices_of
from riskgov.health.models import HealthRun, RunChunk, RunStatus, ScenarioResult
from riskgov.health.scenarios import families_from_store, scenarios_from_store
from riskgov.health.services import run_state
from riskgov.health.services._base import _lock, _run_parameters, _run_pm_params, _snapshot_state, _split_pm
from riskgov.health.services._store import apply_run_result, partial_from_json, scenario_rows
from riskgov.health.services._summaries import recommendations, worst_scenario_detail
from riskgov.health.services.chunks import PM_TOP
from riskgov.health.services.families import (
    HEADLINE_FAMILY,
    combine_families,
    family_rows,
    family_tails,
    replay_json,
    tail_json,
)
from riskgov.health.services.lifecycle import beating
from riskgov.health.signals import run_published

log = logging.getLogger(__name__)


def _done_chunks(run: HealthRun) -> list[RunChunk]:
    """The run's chunks by first account.

    Raises:
        DomainError: a chunk is missing or not done.
    """
    chunks = list(RunChunk.objects.filter(run=run).order_by("first_account"))
    if any(c.status != RunChunk.Status.DONE for c in chunks) or len(chunks) != run.chunks_total:
        raise DomainError(f"run {run.pk}: not every chunk is done")
    return chunks


def _chunk_seconds(chunks: Sequence[RunChunk]) -> dict[str, float]:
    """Seconds per chunk phase summed over the chunks (``chunks_<phase>``)."""
    out: dict[str, float] = {}
    for ch in chunks:
        for key, sec in (ch.seconds or {}).items():
            out[f"chunks_{key}"] = out.get(f"chunks_{key}", 0.0) + float(sec)
    return out


def _publish(
    *,
    run_id: int,
    result: RunResult,
    rows: list[ScenarioResult],
    fields: dict[str, Any],
    scenario_names: Sequence[str],
    timings: dict[str, Any],
    t_publish: float,
    headline: dict[str, Any] | None = None,
    pm: dict[str, Any] | None = None,
) -> HealthRun:
    """Store the results and publish the run in one transaction (no reader sees it before).

    ``fields``: the JSON columns (``cascade``, ``adl``, ``recommendations``,
    ``distributions``); ``timings`` gets ``finalize_publish`` and ``wall``.
    """
    with transaction.atomic():
        run = _lock(run_id)
        if run.published_at is not None or run.status != RunStatus.RUNNING:
            return run
        ScenarioResult.objects.filter(run=run).delete()
        ScenarioResult.objects.bulk_create(rows, batch_size=2000)
        now = timezone.now()
        apply_run_result(
            run, result, population=run.scenario_set.meta.get("tail_population", ""), scenario_names=scenario_names
        )
        for name, value in fields.items():
            setattr(run, name, value)
        if headline is not None:  # §10: the headline family is the 1-day historical paths
            _apply_headline(run, headline)
        if pm is not None:  # §14: PM accounts, and what the run does not cover for them yet
            run.tail = {**run.tail, "portfolio_margin": pm}
        run.timings = {
            **timings,
            "finalize_publish": time.perf_counter() - t_publish,
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
            after={
                "accounts": run.n_accounts,
                "shortfall_usd": run.shortfall_usd,
                "es_usd": run.es_usd,
                "var_usd": run.var_usd,
            },
        )
        run_id_, kind_ = run.pk, run.kind
        transaction.on_commit(lambda: run_published.send_robust(sender=HealthRun, run_id=run_id_, kind=kind_))
    return run


def _apply_headline(run: HealthRun, t: dict[str, Any]) -> None:
    """The run's tail columns and ``tail`` JSON from the headline family's tail (§10)."""
    run.tail_scenarios = t["scenarios"]
    run.var_usd = t["var_usd"]
    run.es_usd = t["es_usd"]
    run.cover2_usd = t["cover2_usd"]
    run.coverage_at_es = t["coverage_at_es"]
    run.tail = {
        **run.tail,
        "k": t["k"],
        "population": t["label"],
        "family": t["family"],
        "cover2_coverage": t["cover2_coverage"],
        "worst_scenario": t["worst_scenario"],
    }


def health_run_finalize(*, run_id: int) -> HealthRun:
    """Combine the chunks, compute tail/cascade/ADL/recommendations, and publish (idempotent).

    Publication — totals, scenario rows, ``status = succeeded`` and ``published_at`` — is
    one transaction; before it commits no reader sees the run. A run already published or
    no longer running is returned unchanged. Finalize beats the run's ``heartbeat_at`` while
    it works (``lifecycle.beating``).

    Raises:
        DomainError: a chunk is missing.
        Conflict: the run's parameter set can no longer be rebuilt.
        EngineInputError: the engine refused the combined inputs.
    """
    run = HealthRun.objects.select_related("snapshot").get(pk=run_id)
    if run.published_at is not None or run.status != RunStatus.RUNNING:
        return run
    HealthRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())  # started: the sweep waits for it
    with beating(HealthRun, run_id):
        return _finalize(run)


def _release_free_memory() -> None:
    """Hand the memory a worker freed since its last task back to the system (glibc's
    ``malloc_trim``; a no-op elsewhere), so that finalize's whole-venue arrays add to what the
    process holds, not to the heap its chunks left behind (issue #15: peak RSS per worker)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _finalize(run: HealthRun) -> HealthRun:
    run_id = run.pk
    _release_free_memory()
    t0 = time.perf_counter()
    chunks = _done_chunks(run)
    ep = _run_parameters(run)
    scenarios, in_tail = scenarios_from_store(run.scenario_set)
    partials = [partial_from_json(c.partial, first_account=c.first_account) for c in chunks]
    combined = combine_partials(partials, n_scenarios=scenarios.n)
    result = run_result(
        combined,
        insurance_fund=float(run.snapshot.insurance_fund_usd),
        in_tail=in_tail,
        alpha=float(run.tail_alpha or DEFAULT_ALPHA),
    )
    # per-family tails (§10), never pooled; the headline is the 1-day historical paths
    families = families_from_store(run.scenario_set)
    alpha = float(run.tail_alpha or DEFAULT_ALPHA)
    outcomes = combine_families(chunks, families, insurance_fund=float(run.snapshot.insurance_fund_usd), alpha=alpha)
    for ch in chunks:  # combined: the per-step lists (S·T floats a family and chunk) are not read again
        ch.partial.pop("families", None)
    t1 = time.perf_counter()
    cascade: dict[str, Any] = {}
    adl: dict[str, Any] = {}
    replay: dict[str, Any] = {}
    t_load = t1
    headline = outcomes.get(HEADLINE_FAMILY)
    if (result.worst_scenario >= 0 or headline is not None) and result.totals.n_accounts:
        full_snap = _whole_venue(run, ep.params)
        venue, pm = full_snap.state, full_snap.pm
        del full_snap  # (its position ids: not needed here)
        t_load = time.perf_counter()
        book = build_unit_book(ep.params, venue)  # one margin-unit book for the cascade, ADL and replay
        full = prices_of(venue)  # the book holds the venue: its arrays once, not twice
        del venue
        _release_free_memory()
        if result.worst_scenario >= 0:
            cascade, adl = worst_scenario_detail(
                params=ep.params,
                state=full,
                scenarios=scenarios,
                worst=result.worst_scenario,
                pm=pm,
                book=book,
            )
        if headline is not None:
            replay = replay_json(params=ep.params, state=full, outcome=headline, pm=pm, book=book)
        del full, pm, book
    t2 = time.perf_counter()
    recs = recommendations(ep.params, horizons=ep.horizons)
    t3 = time.perf_counter()
    rows = scenario_rows(run_id=run_id, scenarios=scenarios, in_tail=in_tail, result=result)
    rows += family_rows(run_id=run_id, first_idx=len(rows), outcomes=outcomes)
    tails = _gap_tail(
        combined,
        scenarios,
        in_tail,
        insurance_fund=float(run.snapshot.insurance_fund_usd),
        alpha=alpha,
        meta=run.scenario_set.meta or {},
    ) + family_tails(outcomes)
    fields = {
        "tails": tails,
        "replay": replay,
        "cascade": cascade,
        "adl": adl,
        "recommendations": recs,
        "distributions": combine_distributions([ch.partial.get("dist") for ch in chunks]),
    }
    timings = {
        **_chunk_seconds(chunks),
        "finalize_combine": t1 - t0,
        "finalize_load_full": t_load - t1,
        "finalize_cascade_adl": t2 - t_load,
        "finalize_recommend": t3 - t2,
    }
    published = _publish(
        run_id=run_id,
        result=result,
        rows=rows,
        fields=fields,
        scenario_names=scenarios.names,
        timings=timings,
        t_publish=t3,
        headline=_headline(tails),
        pm=_pm_summary(chunks),
    )
    if published.status == RunStatus.SUCCEEDED:
        try:
            run_state.delete_run_state(run_id)  # the venue copies served their one read
        except OSError as exc:  # the run is published all the same; the sweep removes them
            log.warning("health run %s: venue copies not deleted (%s)", run_id, exc)
    return published


def _whole_venue(run: HealthRun, params: Any) -> Any:
    """The run's whole venue, PM accounts split off: joined from the chunks' copies
    (``run_state``), else read from the snapshot without account ids."""
    raw = run_state.read_run_state(run)
    if raw is None:
        log.info("health run %s: a chunk's venue copy is missing; reading the snapshot", run.pk)
        return _snapshot_state(snapshot=run.snapshot, params=params, pm_params=_run_pm_params(run), with_ids=False)
    return _split_pm(raw, snapshot=run.snapshot, params=params, pm_params=_run_pm_params(run))


def _headline(tails: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The headline family's tail (§10): the 1-day historical paths, else the gap family's."""
    by = {t["family"]: t for t in tails}
    return by.get(HEADLINE_FAMILY) or by.get("gap")


def _pm_summary(chunks: Sequence[RunChunk]) -> dict[str, Any] | None:
    """The run's portfolio-margin note (RISK_MODEL §14): PM accounts, options, liquidatable,
    and what the run does not cover yet for them; ``None`` without PM accounts."""
    parts = [c.partial["pm"] for c in chunks if c.partial.get("pm")]
    if not parts:
        return None
    books: dict[str, Any] = {}
    sums = ("units", "delta", "gamma", "vega_usd", "theta_usd", "option_value_usd", "maintenance_margin_usd")
    for p in parts:  # chunks in account order: the same sums whatever order they ran in
        for sym, b in p.get("underlyings", {}).items():
            acc = books.setdefault(sym, {**{k: 0 for k in sums}, "grid": b["grid"], "loss_usd": None, "riskiest": []})
            for k in sums:
                acc[k] += b[k]
            acc["loss_usd"] = (
                b["loss_usd"]
                if acc["loss_usd"] is None
                else [x + y for x, y in zip(acc["loss_usd"], b["loss_usd"], strict=True)]
            )
            acc["riskiest"] += b["riskiest"]
    for b in books.values():  # the venue's riskiest: highest margin ratio (None = infinite) first
        b["riskiest"].sort(key=lambda r: (r["margin_ratio"] is not None, -(r["margin_ratio"] or 0.0), r["account_idx"]))
        del b["riskiest"][PM_TOP:]
    return {
        "accounts": sum(p["accounts"] for p in parts),
        "options": sum(p["options"] for p in parts),
        "liquidatable": sum(p["liquidatable"] for p in parts),
        "covered": [
            "base pass (equity, IM, MM, liquidatable)",
            "gap scenarios and path families (trend, 1-day and 3-day paths) with their VaR/ES",
            "§8 liquidation slippage and penalty on every leg (options on their delta equivalent)",
            "the §11 cascade and the §8 ADL attribution of the worst scenario",
        ],
        "not_covered": parts[0]["not_covered"],
        "underlyings": dict(sorted(books.items())),
    }


def _gap_tail(
    combined: Any, scenarios: Any, in_tail: Any, *, insurance_fund: float, alpha: float, meta: dict[str, Any]
) -> list[dict[str, Any]]:
    """The ``gap`` family's tail (§10, one horizon, never pooled): ``engine.run.family_result``
    over the gap tail population only — the 1-day historical gap windows
    (``meta["tail_horizon_days"]``); 3-day windows and stress points enter no tail. A run
    without historical windows takes every gap scenario, labelled so."""
    if not scenarios.n:
        return []
    fam, idx = family_result(combined, insurance_fund=insurance_fund, members=in_tail, alpha=alpha)
    days = meta.get("tail_horizon_days")
    w = fam.worst_scenario
    return [
        tail_json(
            family="gap",
            kind="gap",
            steps=1,
            step_minutes=1440 * int(days or 1),
            result=fam,
            shortfall=fam.scenarios.shortfall,
            interpolated_share=0.0,
            worst_scenario=scenarios.names[int(idx[w])] if w >= 0 else None,
            label=f"{days}-day gaps" if days else "gaps (no historical window)",
        )
    ]

"""Path families of a run at finalize: combine per family, tails per family, rows, replay.

Every figure comes from the engine: ``engine.combine`` (per-family partials combined
exactly, in account order), ``engine.run.run_result`` (per-scenario fund after, ADL,
coverage; VaR/ES, Cover-2 over the family's scenarios — RISK_MODEL §10, never pooled) and
``engine.path_cascade.path_replay`` (the worst 1-day path step by step, §9). This module
loads, calls and maps to stored JSON/rows (``inf`` → ``null`` through ``_store.null_inf``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from riskgov.engine.combine import combine_partials, combine_step_arrays
from riskgov.engine.path_cascade import path_replay
from riskgov.engine.paths import PathSet
from riskgov.engine.pm_venue import pm_path_stress, replay_with_pm
from riskgov.engine.run import RunResult, run_result
from riskgov.engine.tail import shortfall_distribution
from riskgov.health.models import RunChunk, ScenarioResult
from riskgov.health.services._store import null_inf, outcome_fields, partial_from_json
from riskgov.presentation.families import FAMILY_LABELS, HEADLINE_FAMILY
from riskgov.presentation.families import family_label as _label

# how a figure names its family (§10: "VaR 99 %, 1-day paths"): presentation.families


@dataclass(frozen=True)
class FamilyOutcome:
    """One family's combined result: ``run_result`` over its scenarios and shortfall by step."""

    paths: PathSet
    result: RunResult
    by_step: np.ndarray
    worst_step: np.ndarray


def family_label(family: str, steps: int = 1, step_hours: float = 1.0) -> str:
    """The family's label with its horizon (``presentation.families.FAMILY_LABELS``, else
    ``"<T·Δ> <family>"``), e.g. ``"1-day paths"``."""
    if family in FAMILY_LABELS:
        return FAMILY_LABELS[family]
    return _label(family, horizon_minutes=steps * step_hours * 60.0)


def combine_families(
    chunks: Sequence[RunChunk], families: Sequence[PathSet], *, insurance_fund: float, alpha: float
) -> dict[str, FamilyOutcome]:
    """Each family's chunk partials combined (exact) and its ``run_result`` (tail over the family).

    Raises:
        KeyError: a chunk lacks a family's partial (written by an older code version).
    """
    out: dict[str, FamilyOutcome] = {}
    for fam in families:
        datas = [c.partial["families"][fam.family] for c in chunks]
        parts = [partial_from_json(d, first_account=c.first_account) for d, c in zip(datas, chunks, strict=True)]
        comb = combine_partials(parts, n_scenarios=fam.n)
        rr = run_result(comb, insurance_fund=insurance_fund, in_tail=None, alpha=alpha)
        if chunks:
            by_step = combine_step_arrays(
                [c.first_account for c in chunks],
                [np.asarray(d["by_step"], dtype=np.float64).reshape(fam.n, fam.n_steps) for d in datas],
            )
        else:
            by_step = np.zeros((fam.n, fam.n_steps))
        s = rr.scenarios.shortfall
        worst = np.where(s > 0, np.argmax(by_step, axis=1) + 1, 0) if fam.n else np.zeros(0, dtype=np.int64)
        out[fam.family] = FamilyOutcome(paths=fam, result=rr, by_step=by_step, worst_step=worst)
    return out


def tail_json(
    *,
    family: str,
    kind: str,
    steps: int,
    step_minutes: int,
    result: RunResult,
    shortfall: np.ndarray,
    interpolated_share: float,
    worst_scenario: str | None,
    label: str | None = None,
) -> dict[str, Any]:
    """The stored tail of one family (its FORMATS.md ``tails`` keys first, then extras:
    ``label`` names the family with its horizon, ``horizon_minutes`` = ``T·Δ``).

    ``result`` is the family's own ``run_result`` (its scenarios only, §10 never pooled);
    ``shortfall`` ``(n,)`` USD its scenarios' shortfalls.
    """
    t = result.tail
    s = np.asarray(shortfall, dtype=np.float64)
    return {
        "family": family,
        "alpha": t.alpha,
        "scenarios": t.n_scenarios,
        "var_usd": t.var,
        "es_usd": t.es,
        "cover2_usd": t.cover2,
        "coverage_at_es": null_inf(t.coverage_at_es),
        "label": label or family_label(family, steps, step_minutes / 60.0),
        "horizon_minutes": steps * step_minutes,
        "kind": kind,
        "steps": steps,
        "step_minutes": step_minutes,
        "k": t.k,
        "mean_shortfall_usd": float(s.mean()) if s.size else 0.0,
        "worst_shortfall_usd": float(s.max()) if s.size else 0.0,
        "worst_scenario": worst_scenario,
        "cover2_coverage": null_inf(t.cover2_coverage),
        "mean_adl_usd": float(np.mean(result.scenarios.adl_amount)) if s.size else 0.0,
        "mean_bankrupt": float(np.mean(result.scenarios.n_bankrupt)) if s.size else 0.0,
        "mean_interpolated_share": float(interpolated_share),
        "distribution": shortfall_distribution(s),
    }


def family_tails(outcomes: dict[str, FamilyOutcome]) -> list[dict[str, Any]]:
    """The ``tails`` JSON of the path families (``tail_json`` each)."""
    out = []
    for name, fo in outcomes.items():
        p = fo.paths
        w = fo.result.worst_scenario
        out.append(
            tail_json(
                family=name,
                kind=p.kind,
                steps=p.n_steps,
                step_minutes=int(round(p.step_hours * 60)),
                result=fo.result,
                shortfall=fo.result.scenarios.shortfall,
                interpolated_share=float(p.interpolated_share.mean()) if p.n else 0.0,
                worst_scenario=p.names[w] if w >= 0 else None,
            )
        )
    return out


def family_rows(*, run_id: int, first_idx: int, outcomes: dict[str, FamilyOutcome]) -> list[ScenarioResult]:
    """The ``ScenarioResult`` rows of the path families, indices from ``first_idx`` on."""
    rows: list[ScenarioResult] = []
    idx = first_idx
    for name, fo in outcomes.items():
        p, o = fo.paths, fo.result.scenarios
        kind = "trend" if p.kind == "trend" else "path"
        minutes = int(round(p.step_hours * 60))
        for i in range(p.n):
            start = p.start[i][:10]
            rows.append(
                ScenarioResult(
                    run_id=run_id,
                    idx=idx,
                    name=p.names[i][:120],
                    kind=kind,
                    start_date=start,
                    end_date="",
                    in_tail=name == HEADLINE_FAMILY,
                    **outcome_fields(o, i),
                    shock=None,
                    family=name,
                    steps=p.n_steps,
                    step_minutes=minutes,
                    interpolated_share=float(p.interpolated_share[i]),
                    worst_step=int(fo.worst_step[i]),
                )
            )
            idx += 1
    return rows


def replay_json(*, params: Any, state: Any, outcome: FamilyOutcome, pm: Any = None, book: Any = None) -> dict[str, Any]:
    """The replay chart of the family's worst path (``path_replay``, no cascade): per step the
    market prices relative to base, the open book's MM coverage and the shortfall.

    ``pm``: the ``engine.pm_venue.PMVenue`` of the venue's portfolio-margin accounts; their
    shortfall and first liquidations by step (``pm_path_stress``) are added, so the replay's
    shortfall is the family's for that path (MM coverage stays the bracket side's). ``book``:
    the venue's ``engine.units.build_unit_book`` to share (built when ``None``)."""
    p = outcome.paths
    w = outcome.result.worst_scenario
    if w < 0:
        return {}
    rep = path_replay(params, state, p, scenario=w, book=book)
    by_step, liq_by_step, total, worst_step = (
        rep.shortfall_by_step,
        rep.liquidated_by_step,
        rep.shortfall,
        rep.worst_step,
    )
    if pm is not None:
        extra = pm_path_stress(params=params, venue=pm, asset_prices=state.asset_prices, paths=p.shocks[w : w + 1])
        by_step, liq_by_step, total, worst_step = replay_with_pm(by_step, liq_by_step, extra)
    base = np.asarray(state.asset_prices, dtype=np.float64)[params.markets.base_asset]
    rel = rep.market_prices / np.where(base > 0, base, 1.0)
    return {
        "family": p.family,
        "label": family_label(p.family, p.n_steps, p.step_hours),
        "scenario": p.names[w],
        "start": p.start[w],
        "steps": p.n_steps,
        "step_minutes": int(round(p.step_hours * 60)),
        "interpolated_share": float(p.interpolated_share[w]),
        "markets": list(params.markets.symbols),
        "market_price_rel": rel.round(8).tolist(),
        "mm_coverage": [null_inf(x) for x in rep.mm_coverage],
        "shortfall_by_step_usd": by_step.tolist(),
        "liquidated_by_step": liq_by_step.tolist(),
        "shortfall_usd": float(total),
        "worst_step": int(worst_step),
    }

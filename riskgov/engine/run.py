"""A run's reported figures from its combined chunk partials (RISK_MODEL §5, §8–§10).

From ``combine.combine_partials`` of every chunk (``run_result``), per scenario: fund after
``max(0, IF + penalties − S)`` and ADL amount ``max(0, S − IF − penalties)`` (``fund``),
coverage ``IF/S`` with ``inf`` when ``S = 0`` (``tail.coverage_ratios``); over the tail
family: VaR/ES (``tail.var_es``), Cover-2 (``tail.cover2``) and the coverages at ES and at
Cover-2 (``tail.coverage``); the base-pass coverage ``IF/S`` and the worst scenario.

Ratios are ``inf`` when there is nothing to cover, as everywhere in the engine; turning
``inf`` into a stored ``NULL``/JSON ``null`` is the storage layer's job, not this module's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from riskgov.engine import tail
from riskgov.engine.combine import ChunkPartial
from riskgov.engine.fund import adl_amount, insurance_fund_after
from riskgov.engine.types import F64, I64, Bool, EngineInputError

__all__ = [
    "DEFAULT_ALPHA",
    "RunResult",
    "ScenarioOutcomes",
    "TailSummary",
    "family_result",
    "run_result",
    "scenario_outcomes",
    "tail_summary",
]

#: default VaR/ES level (§10)
DEFAULT_ALPHA = 0.99


@dataclass(frozen=True)
class ScenarioOutcomes:
    """Per-scenario results of a run (RISK_MODEL §8, §9), ``(S,)`` arrays in scenario order.

    Attributes:
        n_liquidated, n_bankrupt: int64 account counts.
        shortfall: float64 USD protocol shortfall ``S``.
        penalties: float64 USD penalties paid to the fund.
        insurance_fund_after: float64 USD ``max(0, IF + penalties − S)``.
        adl_amount: float64 USD ``max(0, S − IF − penalties)``.
        coverage: float64 ``IF/S`` (``inf`` when ``S = 0``).
        top2_shortfall: ``(S, 2)`` float64 USD the two largest account shortfalls.
        top2_account: ``(S, 2)`` int64 their venue account indices (-1 when none).
        top2_sum: float64 USD sum of the two largest account shortfalls (Cover-2 input, §10).
    """

    n_liquidated: I64
    n_bankrupt: I64
    shortfall: F64
    penalties: F64
    insurance_fund_after: F64
    adl_amount: F64
    coverage: F64
    top2_shortfall: F64
    top2_account: I64
    top2_sum: F64


@dataclass(frozen=True)
class TailSummary:
    """Tail of protocol shortfall over the tail family (RISK_MODEL §10).

    Attributes:
        alpha: level α in ``(0, 1)``.
        k: ``⌈(1 − α)·n⌉`` (0 when the run has no scenarios).
        n_scenarios: ``n``, scenarios in the tail family (all scenarios when none is marked).
        var: USD VaR_α, the ``k``-th largest ``S`` (0 without scenarios).
        es: USD ES_α, the mean of the ``k`` largest ``S`` (0 without scenarios).
        cover2: USD the largest, over scenarios, sum of the two largest account shortfalls
            (0 without scenarios).
        coverage_at_es: ``IF/ES`` (``inf`` when ``ES = 0``).
        cover2_coverage: ``IF/Cover-2`` (``inf`` when ``Cover-2 = 0``).
    """

    alpha: float
    k: int
    n_scenarios: int
    var: float
    es: float
    cover2: float
    coverage_at_es: float
    cover2_coverage: float


@dataclass(frozen=True)
class RunResult:
    """Everything a run reports from its combined partials (RISK_MODEL §5, §8–§10).

    Attributes:
        totals: the combined ``ChunkPartial`` (venue-wide base-pass sums and counts).
        insurance_fund: USD fund ``IF`` the run covers against.
        coverage_ratio: base-pass ``IF/S`` (``inf`` when ``S = 0``).
        scenarios: per-scenario outcomes.
        tail: VaR/ES/Cover-2 and their coverages.
        worst_scenario: index of the scenario with the largest ``S`` (first on ties; -1
            when there are no scenarios).
    """

    totals: ChunkPartial
    insurance_fund: float
    coverage_ratio: float
    scenarios: ScenarioOutcomes
    tail: TailSummary
    worst_scenario: int


def scenario_outcomes(totals: ChunkPartial, insurance_fund: float) -> ScenarioOutcomes:
    """Per-scenario fund after, ADL amount and coverage of combined totals (RISK_MODEL §8, §9).

    Args:
        totals: a (combined) partial with ``(S,)`` shortfall and penalties in USD.
        insurance_fund: USD fund ``IF`` before the scenarios.

    Returns:
        ``ScenarioOutcomes`` (``(S,)`` arrays; coverage ``inf`` where ``S = 0``).
    """
    s, pen = totals.scenario_shortfall, totals.scenario_penalties
    fund = float(insurance_fund)
    return ScenarioOutcomes(
        n_liquidated=totals.scenario_liquidated,
        n_bankrupt=totals.scenario_bankrupt,
        shortfall=s,
        penalties=pen,
        insurance_fund_after=insurance_fund_after(fund, pen, s),
        adl_amount=adl_amount(fund, pen, s),
        coverage=tail.coverage_ratios(fund, s),
        top2_shortfall=totals.top2_shortfall,
        top2_account=totals.top2_account,
        top2_sum=totals.top2_shortfall.sum(axis=1),
    )


def tail_summary(
    outcomes: ScenarioOutcomes, *, insurance_fund: float, in_tail: Bool | None = None, alpha: float = DEFAULT_ALPHA
) -> TailSummary:
    """VaR/ES over the tail family, Cover-2 and their coverages (RISK_MODEL §10).

    Args:
        outcomes: per-scenario outcomes of the run.
        insurance_fund: USD fund ``IF``.
        in_tail: ``(S,)`` bool, the scenarios of the tail family; when ``None`` or none is
            marked, every scenario.
        alpha: level in ``(0, 1)``.

    Returns:
        ``TailSummary``; VaR, ES and Cover-2 are 0 (and ``k = 0``) without scenarios. Cover-2
        is taken over every scenario of the run, as the published runs always have.

    Raises:
        EngineInputError: ``alpha`` outside ``(0, 1)``; ``in_tail`` of the wrong shape;
            non-finite shortfalls or fund.
    """
    s = outcomes.shortfall
    if in_tail is None:
        mask = np.zeros(s.shape, dtype=bool)
    else:
        mask = np.asarray(in_tail, dtype=bool)
        if mask.shape != s.shape:
            raise EngineInputError(f"in_tail has shape {mask.shape}, expected {s.shape}")
    tail_s = s[mask] if mask.any() else s
    fund = float(insurance_fund)
    if tail_s.size:
        var, es, k = tail.var_es(tail_s, alpha)
        cover2 = tail.cover2(outcomes.top2_sum)
    else:
        var = es = cover2 = 0.0
        k = 0
    return TailSummary(
        alpha=float(alpha),
        k=int(k),
        n_scenarios=int(tail_s.size),
        var=var,
        es=es,
        cover2=cover2,
        coverage_at_es=tail.coverage(fund, es),
        cover2_coverage=tail.coverage(fund, cover2),
    )


def run_result(
    totals: ChunkPartial, *, insurance_fund: float, in_tail: Bool | None = None, alpha: float = DEFAULT_ALPHA
) -> RunResult:
    """A run's reported figures from its combined partials (RISK_MODEL §5, §8–§10).

    Args:
        totals: ``combine_partials`` of every chunk of the run.
        insurance_fund: USD fund ``IF`` of the snapshot.
        in_tail: ``(S,)`` bool tail family (see ``tail_summary``).
        alpha: VaR/ES level in ``(0, 1)``.

    Returns:
        ``RunResult``: base coverage ``IF/S`` (``inf`` when ``S = 0``), per-scenario
        outcomes, tail summary and the worst scenario.

    Raises:
        EngineInputError: see ``tail_summary``; a negative base shortfall.
    """
    fund = float(insurance_fund)
    outcomes = scenario_outcomes(totals, fund)
    s = outcomes.shortfall
    return RunResult(
        totals=totals,
        insurance_fund=fund,
        coverage_ratio=tail.coverage(fund, totals.shortfall),
        scenarios=outcomes,
        tail=tail_summary(outcomes, insurance_fund=fund, in_tail=in_tail, alpha=alpha),
        worst_scenario=int(np.argmax(s)) if s.size else -1,
    )


def family_result(
    totals: ChunkPartial, *, insurance_fund: float, members: Bool, alpha: float = DEFAULT_ALPHA
) -> tuple[RunResult, np.ndarray]:
    """``run_result`` over the scenarios of **one family** only (RISK_MODEL §10: never pooled).

    The family's tail — VaR/ES over its ``n`` shortfalls, Cover-2 the largest over *its*
    scenarios of the two largest account shortfalls, the coverages — and its per-scenario
    outcomes, as if the run held only those scenarios (e.g. the 1-day historical gap windows
    among the gap scenarios; a 3-day window of the same run never enters it).

    Args:
        totals: ``combine_partials`` of every chunk of the run (``S`` scenarios).
        insurance_fund: USD fund ``IF`` of the snapshot.
        members: ``(S,)`` bool, the scenarios of the family; none marked = every scenario.
        alpha: VaR/ES level in ``(0, 1)``.

    Returns:
        ``(result, index)``: the family's ``RunResult`` (``worst_scenario`` indexes the
        family) and ``index`` ``(n,)`` int64, the run's scenario index of each member.

    Raises:
        EngineInputError: ``members`` of the wrong shape; see ``run_result``.
    """
    mask = np.asarray(members, dtype=bool)
    if mask.shape != (totals.n_scenarios,):
        raise EngineInputError(f"members has shape {mask.shape}, expected ({totals.n_scenarios},)")
    idx = np.flatnonzero(mask) if mask.any() else np.arange(totals.n_scenarios)
    sub = replace(
        totals,
        scenario_liquidated=totals.scenario_liquidated[idx],
        scenario_bankrupt=totals.scenario_bankrupt[idx],
        scenario_shortfall=totals.scenario_shortfall[idx],
        scenario_penalties=totals.scenario_penalties[idx],
        top2_shortfall=totals.top2_shortfall[idx],
        top2_account=totals.top2_account[idx],
    )
    return run_result(sub, insurance_fund=insurance_fund, in_tail=None, alpha=alpha), idx.astype(np.int64)

"""Each account's stress shortfall over a run's gap scenarios (RISK_MODEL §8, §9, §14).

An account's **stress shortfall** is the largest, over the run's gap scenarios, of its
shortfall in that scenario — the sum of its margin units' ``max(0, −E_after)`` after the §8
closes (cross side plus each isolated position; a portfolio-margin account is one unit,
§14) — with the scenario that gives it. It ranks the accounts that would cost the insurance
fund the most on a bad day; the per-scenario totals (``S = Σ shortfall``) are the sums of the
same account shortfalls, so in every scenario ``S ≥`` any one account's shortfall there.

The bracket side is folded batch by batch inside ``stress.run_scenarios`` (``O(A)`` memory);
``with_pm_accounts`` puts the PM accounts' figures in, from the ``(S, A_pm)`` equity and MM
that ``pm_venue.pm_gap_stress`` already holds (its own §8 outcome, ``PMStress.account_shortfall``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskgov.engine.pm_venue import PMStress
from riskgov.engine.stress import StressResult
from riskgov.engine.types import F64, I64, Bool, EngineInputError

__all__ = ["AccountStress", "account_stress", "with_pm_accounts"]


@dataclass(frozen=True)
class AccountStress:
    """Per-account stress shortfall of a run or chunk (``A`` accounts, chunk-local order).

    Attributes:
        shortfall: ``(A,)`` float64 USD the largest account shortfall over the scenarios (0
            when no scenario leaves one; meaningless where ``computed`` is false).
        scenario: ``(A,)`` int64 index of that scenario in the run's scenario set (lowest on
            ties; -1 when the shortfall is 0 or not computed).
        computed: ``(A,)`` bool, false where the figure is not computed (a run without gap
            scenarios): stored as ``NULL``, never shown as 0.
    """

    shortfall: F64
    scenario: I64
    computed: Bool


def account_stress(stress: StressResult) -> AccountStress:
    """The per-account stress shortfall of a ``run_scenarios`` result (bracket units, §8, §9).

    Args:
        stress: a ``stress.run_scenarios`` (or ``run_scenarios_dense``) result.

    Returns:
        ``AccountStress``; nothing is computed when the run has no scenarios.

    Raises:
        EngineInputError: the result carries no per-account figures.
    """
    if stress.account_stress_shortfall is None or stress.account_stress_scenario is None:
        raise EngineInputError("the stress result carries no per-account stress shortfall")
    short = np.asarray(stress.account_stress_shortfall, dtype=np.float64)
    scen = np.asarray(stress.account_stress_scenario, dtype=np.int64)
    computed = np.full(short.shape, len(stress.names) > 0, dtype=bool)
    return AccountStress(shortfall=short.copy(), scenario=scen.copy(), computed=computed)


def with_pm_accounts(acc: AccountStress, pm: PMStress, pm_accounts: I64) -> AccountStress:
    """``acc`` with the portfolio-margin accounts' stress shortfall (§9, §14).

    A PM account's shortfall in a scenario is ``PMStress.account_shortfall`` (the §8 outcome
    of ``pm_venue.pm_gap_stress``, slippage included); its stress shortfall is the largest of
    these over the scenarios (lowest scenario on ties).

    Args:
        acc: the bracket side's figures (PM accounts are empty there: 0).
        pm: ``pm_gap_stress`` of the same scenarios; ``equity``/``maintenance_margin``
            ``(S, A_pm)`` USD.
        pm_accounts: ``(A_pm,)`` int64 the PM accounts' indices in ``acc``.

    Raises:
        EngineInputError: shapes disagree.
    """
    idx = np.asarray(pm_accounts, dtype=np.int64)
    eq, mm = np.asarray(pm.equity), np.asarray(pm.maintenance_margin)
    if eq.ndim != 2 or eq.shape != mm.shape or eq.shape[1] != idx.size:
        raise EngineInputError(f"PM equity {eq.shape} / MM {mm.shape} do not match {idx.size} PM accounts")
    if not idx.size:
        return acc
    short = acc.shortfall.copy()
    scen = acc.scenario.copy()
    computed = acc.computed.copy()
    if eq.shape[0]:
        s = pm.account_shortfall()
        worst = np.argmax(s, axis=0)
        best = s[worst, np.arange(idx.size)]
        short[idx] = best
        scen[idx] = np.where(best > 0, worst, -1)
        computed[idx] = True
    return AccountStress(shortfall=short, scenario=scen, computed=computed)

"""Tails of protocol shortfall per scenario family, labelled with their horizon (RISK_MODEL §10).

A family is one ``PathSet`` (1-day historical paths, 3-day historical paths, 1-day
historical gaps, trends …) run through ``path_stress.run_path_stress``; its tail is never
pooled with another family's. The formulas are those of ``tail`` (``k = ⌈(1 − α)·n⌉``
computed exactly from α's decimal value, ES = mean of the ``k`` largest, VaR = the
``k``-th largest, Cover-2, coverage ``IF/x`` with ``inf`` for ``x = 0``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskgov.engine import tail
from riskgov.engine.path_stress import PathStressResult

__all__ = ["FamilyTail", "family_tail"]


@dataclass(frozen=True)
class FamilyTail:
    """VaR/ES, Cover-2 and coverage of one family's shortfalls (RISK_MODEL §10).

    Attributes:
        family: the family label (e.g. ``"hist_1d"``).
        kind: ``gap``, ``trend`` or ``historical``.
        horizon_hours: ``T·Δ`` of the family's scenarios, hours.
        n_steps: ``T``.
        alpha: confidence level.
        n: scenarios; k: ``⌈(1 − α)·n⌉``.
        var, es: USD VaR_α and ES_α of protocol shortfall.
        mean_shortfall, worst_shortfall: USD mean and largest ``S``.
        worst_scenario: name of the scenario with the largest ``S`` (first on ties).
        cover2: USD the largest sum of the two largest account shortfalls.
        insurance_fund: USD.
        coverage_at_es: ``IF / ES_α`` (``inf`` when ES = 0).
        cover2_coverage: ``IF / Cover-2`` (``inf`` when Cover-2 = 0).
        mean_adl: USD mean ADL amount.
        mean_interpolated_share: mean share of interpolated prices over the scenarios.
    """

    family: str
    kind: str
    horizon_hours: float
    n_steps: int
    alpha: float
    n: int
    k: int
    var: float
    es: float
    mean_shortfall: float
    worst_shortfall: float
    worst_scenario: str
    cover2: float
    insurance_fund: float
    coverage_at_es: float
    cover2_coverage: float
    mean_adl: float
    mean_interpolated_share: float

    @property
    def label(self) -> str:
        """How a figure names its family, e.g. ``"VaR 99 %, 1-day paths"`` uses ``"1-day paths"``."""
        h = self.horizon_hours
        span = f"{h / 24:g}-day" if h >= 24 and h % 24 == 0 else f"{h:g}-hour"
        what = {"gap": "gaps", "trend": "trends", "historical": "paths"}.get(self.kind, "scenarios")
        return f"{span} {what}"


def family_tail(result: PathStressResult, alpha: float = 0.99) -> FamilyTail:
    """Tail figures of one family's path stress result (RISK_MODEL §10).

    Args:
        result: ``run_path_stress`` over one family (one ``PathSet``).
        alpha: confidence level in ``(0, 1)`` (default 0.99).

    Returns:
        ``FamilyTail``.

    Raises:
        EngineInputError: no scenarios, non-finite shortfalls, or ``α`` outside ``(0, 1)``.
    """
    var, es, k = tail.var_es(result.shortfall, alpha)
    c2 = tail.cover2(result.top2_shortfall.sum(axis=1))
    fund = float(result.insurance_fund)
    return FamilyTail(
        family=result.family,
        kind=result.kind,
        horizon_hours=result.horizon_hours,
        n_steps=result.n_steps,
        alpha=float(alpha),
        n=int(result.shortfall.size),
        k=k,
        var=var,
        es=es,
        mean_shortfall=float(result.shortfall.mean()),
        worst_shortfall=float(result.shortfall.max()),
        worst_scenario=result.names[result.worst_scenario],
        cover2=c2,
        insurance_fund=fund,
        coverage_at_es=tail.coverage(fund, es),
        cover2_coverage=tail.coverage(fund, c2),
        mean_adl=float(np.mean(result.adl_amount)),
        mean_interpolated_share=float(np.mean(result.interpolated_share)),
    )

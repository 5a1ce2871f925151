"""VaR, expected shortfall, Cover-2 and coverage of protocol shortfall (RISK_MODEL §10).

``k = ⌈(1 − α)·n⌉`` is computed exactly from the *decimal* value of ``α`` (``repr``, the
shortest string that round-trips, e.g. ``0.99``) with ``fractions.Fraction``, so
``(1 − 0.99)·100`` is exactly 1 and gives ``k = 1`` — float arithmetic would give
``1.0000000000000009`` and ``k = 2``.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import numpy.typing as npt

from riskgov.engine.types import EngineInputError

__all__ = [
    "DISTRIBUTION_LEVELS",
    "cover2",
    "coverage",
    "coverage_ratios",
    "shortfall_distribution",
    "tail_count",
    "top2_sum",
    "var_es",
]


def tail_count(n: int, alpha: float) -> int:
    """``k = ⌈(1 − α)·n⌉`` computed exactly from α's decimal value (RISK_MODEL §10).

    Raises:
        EngineInputError: ``n < 1`` or ``α`` not in ``(0, 1)``.
    """
    if int(n) != n or n < 1:
        raise EngineInputError(f"VaR/ES need at least one scenario (got n={n})")
    a = float(alpha)
    if not (math.isfinite(a) and 0 < a < 1):
        raise EngineInputError(f"alpha {alpha!r} must be in (0, 1)")
    k = math.ceil((1 - Fraction(repr(a))) * int(n))
    return min(max(k, 1), int(n))


def _as_shortfalls(values: npt.ArrayLike, name: str) -> np.ndarray:
    s = np.asarray(values, dtype=np.float64)
    if s.ndim != 1:
        raise EngineInputError(f"{name} must be 1-D (got shape {s.shape})")
    if s.size and not np.isfinite(s).all():
        raise EngineInputError(f"{name} contains NaN or infinite values")
    return s


def var_es(shortfalls: npt.ArrayLike, alpha: float = 0.99) -> tuple[float, float, int]:
    """VaR and expected shortfall of protocol shortfall over scenarios (RISK_MODEL §10).

    Args:
        shortfalls: ``(n,)`` float64 USD shortfall ``S`` per scenario (``≥ 0`` in practice;
            any finite value is accepted).
        alpha: confidence level in ``(0, 1)``, default 0.99.

    Returns:
        ``(var, es, k)``: ``k = ⌈(1 − α)·n⌉``; ``es`` the mean of the ``k`` largest ``S``
        (USD); ``var`` the ``k``-th largest (USD). ``var ≤ es`` always.

    Raises:
        EngineInputError: ``n = 0``, non-finite values, or ``α`` outside ``(0, 1)``.
    """
    s = _as_shortfalls(shortfalls, "shortfalls")
    k = tail_count(s.size, alpha)
    top = np.sort(s)[::-1][:k]
    return float(top[-1]), float(top.mean()), k


def top2_sum(account_shortfalls: npt.ArrayLike) -> float:
    """Sum of the two largest account shortfalls of one scenario (RISK_MODEL §10, Cover-2).

    Args:
        account_shortfalls: ``(A,)`` float64 USD; fewer than two accounts sum what is there.

    Returns:
        USD (0 for an empty array).
    """
    s = _as_shortfalls(account_shortfalls, "account_shortfalls")
    if s.size <= 2:
        return float(s.sum())
    return float(np.partition(s, s.size - 2)[-2:].sum())


def cover2(per_scenario_top2_sum: npt.ArrayLike) -> float:
    """Cover-2: the largest, over scenarios, of the sum of the two largest account shortfalls.

    Args:
        per_scenario_top2_sum: ``(n,)`` float64 USD, ``top2_sum`` of every scenario.

    Returns:
        USD.

    Raises:
        EngineInputError: no scenarios or non-finite values.
    """
    s = _as_shortfalls(per_scenario_top2_sum, "per_scenario_top2_sum")
    if s.size == 0:
        raise EngineInputError("Cover-2 needs at least one scenario")
    return float(s.max())


def coverage(fund: float, amount: float) -> float:
    """Coverage ratio ``fund / amount`` (RISK_MODEL §9, §10): ``IF/S``, ``IF/ES``, ``IF/Cover-2``.

    Returns:
        ``inf`` when ``amount = 0`` (nothing to cover).

    Raises:
        EngineInputError: ``amount < 0`` or either value not finite.
    """
    if not (math.isfinite(fund) and math.isfinite(amount)):
        raise EngineInputError(f"coverage needs finite values (got {fund!r}, {amount!r})")
    if amount < 0:
        raise EngineInputError(f"amount to cover {amount!r} is negative")
    return float("inf") if amount == 0 else float(fund) / float(amount)


def coverage_ratios(fund: float, amounts: npt.ArrayLike) -> np.ndarray:
    """Coverage ``fund / amount`` of many amounts at once (RISK_MODEL §9): ``IF/S`` per scenario.

    Args:
        fund: USD insurance fund.
        amounts: ``(n,)`` float64 USD amounts to cover (shortfall ``S`` per scenario).

    Returns:
        ``(n,)`` float64; ``inf`` where ``amount ≤ 0`` (nothing to cover), like ``coverage``.
    """
    s = np.asarray(amounts, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(s > 0, fund / np.where(s > 0, s, 1.0), np.inf)


#: the levels of a family's shortfall distribution summary (``shortfall_distribution``)
DISTRIBUTION_LEVELS = (0.5, 0.9, 0.95)


def shortfall_distribution(shortfalls: npt.ArrayLike, levels: tuple[float, ...] = DISTRIBUTION_LEVELS) -> dict:
    """Summary of one family's shortfall distribution (RISK_MODEL §10), USD.

    Args:
        shortfalls: ``(n,)`` USD protocol shortfall ``S`` of the family's scenarios.
        levels: levels ``q`` in ``(0, 1)``; each quantile is the same order statistic as
            VaR: the ``⌈(1 − q)·n⌉``-th largest ``S`` (``var_es``).

    Returns:
        ``{"n", "with_shortfall" (scenarios with S > 0), "share_with_shortfall" (fraction),
        "mean_usd", "median_usd", "quantiles": {"p50", "p90", …: USD}, "max_usd"}``; zeros
        (and empty quantiles) when ``n = 0``.

    Raises:
        EngineInputError: not 1-D, NaN/inf, or a level outside ``(0, 1)``.
    """
    s = _as_shortfalls(shortfalls, "shortfalls")
    n = int(s.size)
    pos = int(np.count_nonzero(s > 0))
    q = {f"p{round(lv * 100, 6):g}": var_es(s, lv)[0] for lv in levels} if n else {}
    return {
        "n": n,
        "with_shortfall": pos,
        "share_with_shortfall": pos / n if n else 0.0,
        "mean_usd": float(s.mean()) if n else 0.0,
        "median_usd": float(np.median(s)) if n else 0.0,
        "quantiles": q,
        "max_usd": float(s.max()) if n else 0.0,
    }

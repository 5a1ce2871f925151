"""Insurance fund after a scenario and the ADL amount (RISK_MODEL §8, §9).

The two formulas every scenario result reports, written once and shared by the stress run
(``stress``), the cascade (``cascade``), the ADL attribution (``adl``) and the combination
of a chunked run (``combine``):

* fund after ``IF_after = max(0, IF + penalties − S)``;
* ADL amount ``ADL = max(0, S − IF − penalties)``.

Coverage ``IF/S`` (``inf`` when ``S = 0``) lives with the other coverage ratios in ``tail``.
Both functions take scalars or arrays (broadcast) and evaluate left to right as written, so
the scalar and the vectorized callers get bit-identical numbers.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["adl_amount", "insurance_fund_after"]


def insurance_fund_after(fund: float, penalties: npt.ArrayLike, shortfall: npt.ArrayLike) -> np.ndarray:
    """Insurance fund after the scenario (RISK_MODEL §8, §9): ``max(0, IF + penalties − S)``.

    Args:
        fund: USD insurance fund ``IF`` before the scenario.
        penalties: USD liquidation penalties paid to the fund, scalar or ``(S,)`` float64.
        shortfall: USD protocol shortfall ``S``, same shape as ``penalties``.

    Returns:
        USD, a float64 array (0-d for scalar inputs; wrap it in ``float`` for a scalar).
    """
    return np.maximum(0.0, fund + np.asarray(penalties, dtype=np.float64) - np.asarray(shortfall, dtype=np.float64))


def adl_amount(fund: float, penalties: npt.ArrayLike, shortfall: npt.ArrayLike) -> np.ndarray:
    """ADL amount: the shortfall the fund cannot cover (RISK_MODEL §8, §9): ``max(0, S − IF − penalties)``.

    Args:
        fund: USD insurance fund ``IF`` before the scenario.
        penalties: USD liquidation penalties paid to the fund, scalar or ``(S,)`` float64.
        shortfall: USD protocol shortfall ``S``, same shape as ``penalties``.

    Returns:
        USD, a float64 array (0-d for scalar inputs; wrap it in ``float`` for a scalar).
    """
    return np.maximum(0.0, np.asarray(shortfall, dtype=np.float64) - fund - np.asarray(penalties, dtype=np.float64))

"""VaR, ES, Cover-2 and coverage (RISK_MODEL §10)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from riskgov.engine.tail import cover2, coverage, tail_count, top2_sum, var_es
from riskgov.engine.types import EngineInputError


@pytest.mark.parametrize(
    ("n", "alpha", "k"),
    [
        (100, 0.99, 1),  # (1 − 0.99)·100 = 1 exactly (float gives 1.0000000000000009)
        (250, 0.99, 3),  # 2.5 → 3
        (1000, 0.975, 25),  # float gives 25.000000000000021
        (1000, 0.99, 10),
        (10, 0.5, 5),
        (1, 0.99, 1),
        (7, 0.01, 7),  # 6.93 → 7
    ],
)
def test_tail_count_exact(n: int, alpha: float, k: int) -> None:
    assert tail_count(n, alpha) == k


def test_var_es_worked_example() -> None:
    # n = 250, α = 0.99 → k = 3; the three largest are 90, 80, 70:
    # VaR = 70 (3rd largest), ES = (90 + 80 + 70)/3 = 80.
    s = np.zeros(250)
    s[[3, 100, 200]] = [80.0, 70.0, 90.0]
    s[5] = 60.0
    var, es, k = var_es(s, 0.99)
    assert (var, es, k) == (70.0, 80.0, 3)
    # n = 100, α = 0.99 → k = 1: VaR = ES = the maximum
    assert var_es(np.arange(100.0), 0.99) == (99.0, 99.0, 1)


@pytest.mark.parametrize("alpha", [0.0, 1.0, -0.1, 1.5, float("nan")])
def test_var_es_rejects_bad_alpha(alpha: float) -> None:
    with pytest.raises(EngineInputError):
        var_es([1.0, 2.0], alpha)


def test_var_es_rejects_empty_and_nan() -> None:
    with pytest.raises(EngineInputError):
        var_es([], 0.99)
    with pytest.raises(EngineInputError):
        var_es([1.0, float("nan")], 0.99)


def test_cover2_and_coverage() -> None:
    assert top2_sum([5.0, 1.0, 7.0, 3.0]) == 12.0
    assert top2_sum([4.0]) == 4.0
    assert top2_sum([]) == 0.0
    assert cover2([12.0, 30.0, 0.0]) == 30.0
    with pytest.raises(EngineInputError):
        cover2([])
    assert coverage(100.0, 0.0) == math.inf
    assert coverage(100.0, 40.0) == 2.5
    with pytest.raises(EngineInputError):
        coverage(100.0, -1.0)


def test_shortfall_distribution_uses_the_var_order_statistic() -> None:
    """S = 0, 10, …, 90 (n = 10): median 45, p90 = the ⌈0.1·10⌉ = 1st largest = 90, p50 = the
    5th largest = 50, 9 of 10 with shortfall; empty input gives zeros."""
    from riskgov.engine.tail import shortfall_distribution

    d = shortfall_distribution(np.arange(10) * 10.0, levels=(0.5, 0.9))
    assert (d["n"], d["with_shortfall"], d["share_with_shortfall"]) == (10, 9, 0.9)
    assert (d["mean_usd"], d["median_usd"], d["max_usd"]) == (45.0, 45.0, 90.0)
    assert d["quantiles"] == {"p50": 50.0, "p90": 90.0}
    assert shortfall_distribution([])["quantiles"] == {} and shortfall_distribution([])["n"] == 0
    with pytest.raises(EngineInputError):
        shortfall_distribution([1.0, float("nan")])

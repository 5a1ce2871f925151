"""Volatility-based recommendation and Kupiec backtest (RISK_MODEL §12)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2

from riskgov.engine.recommend import (
    KUPIEC_CRITICAL,
    backtest_mmf,
    horizon_returns,
    kupiec_lr,
    recommend_margin,
)
from riskgov.engine.types import EngineInputError, PriceError


def test_horizon_returns_overlapping() -> None:
    closes = np.array([100.0, 110.0, 99.0, 120.0])
    # h = 2: 99/100 − 1 = −0.01, 120/110 − 1 = 0.0909…
    np.testing.assert_allclose(horizon_returns(closes, 2), [-0.01, 120 / 110 - 1])
    assert horizon_returns(closes, 1).shape == (3,)
    with pytest.raises(EngineInputError):
        horizon_returns(closes, 4)
    with pytest.raises(PriceError):
        horizon_returns([1.0, -2.0, 3.0], 1)


def test_recommend_uses_linear_quantile_of_abs_returns() -> None:
    # closes such that the 1-day |r| are 0.01, 0.02, …, 0.10 (alternating sign)
    r = np.arange(1, 11) / 100 * np.where(np.arange(10) % 2, -1, 1)
    closes = 100 * np.concatenate([[1.0], np.cumprod(1 + r)])
    rec = recommend_margin(closes, horizon_days=1, beta=0.9, lam=2.0)
    # linear quantile at 0.9 of 0.01..0.10: position 0.9·9 = 8.1 → 0.09 + 0.1·0.01 = 0.091
    assert rec.mmf == pytest.approx(0.091)
    assert rec.imf == pytest.approx(0.182)
    assert rec.n_windows == 10
    assert rec.feasible


def test_recommend_matrix_drops_nan_windows() -> None:
    rng = np.random.default_rng(0)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.03, (400, 2)), axis=0))
    closes[50, 1] = np.nan  # a missing day removes windows t = 49 and t = 50 (h = 1)
    rec = recommend_margin(closes, horizon_days=1)
    np.testing.assert_array_equal(rec.n_windows, [399, 397])
    r1 = np.abs(closes[1:, 1] / closes[:-1, 1] - 1)
    assert rec.mmf[1] == pytest.approx(np.quantile(r1[~np.isnan(r1)], 0.995))
    single = recommend_margin(closes[:, 0], horizon_days=1)
    assert single.mmf == pytest.approx(rec.mmf[0])
    empty = recommend_margin(np.column_stack([closes[:, 0], np.full(400, np.nan)]), horizon_days=5)
    assert math.isnan(empty.mmf[1]) and empty.n_windows[1] == 0


def test_kupiec_formula_and_edge_cases() -> None:
    assert round(KUPIEC_CRITICAL, 3) == 3.841
    assert KUPIEC_CRITICAL == chi2.ppf(0.95, 1)
    n, x, p = 250, 5, 0.01
    # LR = −2[(n−x) ln(1−p) + x ln p] + 2[(n−x) ln(1 − x/n) + x ln(x/n)]
    want = -2 * ((n - x) * math.log(1 - p) + x * math.log(p)) + 2 * (
        (n - x) * math.log(1 - x / n) + x * math.log(x / n)
    )
    assert kupiec_lr(x, n, p) == pytest.approx(want, rel=1e-12)
    # x = 0: LR = −2 n ln(1 − p); x = n: LR = −2 n ln p (0·ln 0 = 0)
    assert kupiec_lr(0, n, p) == pytest.approx(-2 * n * math.log(1 - p), rel=1e-12)
    assert kupiec_lr(n, n, p) == pytest.approx(-2 * n * math.log(p), rel=1e-12)
    # x/n = p exactly: LR = 0
    assert kupiec_lr(5, 500, 0.01) == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(kupiec_lr(0, 0, p))


def test_backtest_counts_strict_exceedances_and_rejects() -> None:
    # 1-day |r| = 0.01..0.10; MMF 0.05 → exceedances are 0.06..0.10 (0.05 itself is not > )
    r = np.arange(1, 11) / 100
    closes = 100 * np.concatenate([[1.0], np.cumprod(1 + r)])
    bt = backtest_mmf(closes, 0.05 + 1e-12, horizon_days=1, beta=0.99)
    assert (bt.exceedances, bt.n) == (5, 10)
    assert bt.expected_rate == pytest.approx(0.01)
    assert bt.observed_rate == 0.5
    assert bt.reject  # 5/10 against 1 %: LR far above 3.841
    ok = backtest_mmf(closes, 0.2, horizon_days=1, beta=0.99)
    assert ok.exceedances == 0
    assert ok.kupiec_lr == pytest.approx(-2 * 10 * math.log(0.99))
    assert not ok.reject


def test_backtest_matrix() -> None:
    rng = np.random.default_rng(1)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, (1000, 3)), axis=0))
    rec = recommend_margin(closes, horizon_days=3, beta=0.99)
    bt = backtest_mmf(closes, rec.mmf, horizon_days=3, beta=0.99)
    assert bt.n.tolist() == [997] * 3
    # in sample, the recommended MMF is exceeded by about 1 − β of the windows
    assert (bt.exceedances <= 11).all() and (bt.exceedances >= 9).all()
    assert not bt.reject.any()
    with pytest.raises(EngineInputError):
        backtest_mmf(closes, [0.1, 0.2], horizon_days=3)

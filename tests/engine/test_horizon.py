"""§12 recommendation at the liquidation horizon and its backtest (riskgov.engine.horizon)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from riskgov.engine.horizon import (
    HorizonBrackets,
    backtest_at_horizon,
    horizon_quantile,
    recommend_at_horizon,
    slippage,
    upper_notionals,
)
from riskgov.engine.recommend import KUPIEC_CRITICAL
from riskgov.engine.types import EngineInputError

ONE = HorizonBrackets(floors=(0.0,), depth_usd=1e6)


def test_hand_example():
    # |r| = 1..5 %, β = 0.5 → median 3 %; Δ = h = 5 min → scale 1.
    r = [0.01, -0.02, 0.03, -0.04, 0.05]
    b = HorizonBrackets(floors=(0.0, 1e6), depth_usd=1e6)
    rec = recommend_at_horizon(r, resolution_minutes=5, horizon_minutes=5, beta=0.5, brackets=b)
    assert rec.scale == 1.0 and rec.q_recent == pytest.approx(0.03) and rec.q == pytest.approx(0.03)
    np.testing.assert_allclose(rec.upper_notional, [1e6, 2e6])  # F_2, then 2·F_K
    np.testing.assert_allclose(rec.slippage, [0.01, 0.02])
    np.testing.assert_allclose(rec.mmf, [0.04, 0.05])
    np.testing.assert_allclose(rec.imf, [0.08, 0.10])
    assert rec.n_recent == rec.n_long == 5 and not rec.capped.any()


def test_upper_notional_rules():
    # the last bracket's N⁺ is at least D_m, so its slippage is at least 1 %
    assert upper_notionals(HorizonBrackets(floors=(0.0,), depth_usd=3e5)).tolist() == [3e5]
    assert upper_notionals(HorizonBrackets(floors=(0.0,), depth_usd=3e5, max_position_notional=1e5)).tolist() == [3e5]
    b = HorizonBrackets(floors=(0.0, 1e5, 5e5), depth_usd=1e5, max_position_notional=2e6)
    assert upper_notionals(b).tolist() == [1e5, 5e5, 2e6]
    assert upper_notionals(HorizonBrackets(floors=(0.0, 1e5, 5e5), depth_usd=1e5)).tolist() == [1e5, 5e5, 1e6]
    assert slippage([0, 5e5, 1e9], 1e6).tolist() == [0.0, 0.005, 1.0]
    with pytest.raises(EngineInputError, match="floors"):
        HorizonBrackets(floors=(1.0, 2.0), depth_usd=1.0)
    with pytest.raises(EngineInputError, match="depth"):
        HorizonBrackets(floors=(0.0,), depth_usd=0.0)


@pytest.mark.parametrize("kind", ["laplace", "normal"])
def test_known_quantiles_and_square_root_scaling(kind):
    rng = np.random.default_rng(12)
    n, scale, beta = 200_000, 0.004, 0.99
    if kind == "laplace":  # |X| ~ Exponential(b): Q_β = −b·ln(1 − β)
        r, exact = rng.laplace(0.0, scale, n), -scale * math.log(1 - beta)
    else:  # |X| ~ half-normal: Q_β = σ·Φ⁻¹((1 + β)/2)
        r, exact = rng.normal(0.0, scale, n), scale * norm.ppf((1 + beta) / 2)
    q = horizon_quantile(r, beta=beta, horizon_minutes=5, resolution_minutes=60)
    # relative s.e. of the 0.99 quantile with n = 200,000 is about 0.5 %; 3 % is > 5 s.e.
    assert q == pytest.approx(exact * math.sqrt(5 / 60), rel=0.03)
    rec = recommend_at_horizon(r, resolution_minutes=60, brackets=ONE, long_days=1e9, recent_days=1e9)
    assert rec.q == pytest.approx(q) and rec.scale == pytest.approx(math.sqrt(5 / 60))
    assert "√(5/60)" in rec.scaling and "1 h" in rec.scaling


def test_floor_takes_the_larger_lookback():
    calm, wild = np.full(8760, 0.001), np.full(8760, 0.01)
    hours = np.datetime64("2020-01-01T01:00") + np.arange(2 * 8760) * np.timedelta64(60, "m")
    # wild first, calm last year: Q_long (0.99 quantile of both years) > Q_recent
    rec = recommend_at_horizon(np.r_[wild, calm], times=hours, resolution_minutes=60, brackets=ONE, horizon_minutes=60)
    assert rec.n_recent == 8760 and rec.n_long == 2 * 8760
    assert rec.q_recent == pytest.approx(0.001) and rec.q_long == pytest.approx(0.01)
    assert rec.q == rec.q_long and rec.floor_binds
    # calm first, wild last year: the recent one wins
    rec = recommend_at_horizon(np.r_[calm, wild], times=hours, resolution_minutes=60, brackets=ONE, horizon_minutes=60)
    assert rec.q == rec.q_recent == pytest.approx(0.01) and not rec.floor_binds
    # the long lookback stops at 10 years
    rec = recommend_at_horizon(np.r_[wild, calm], times=hours, resolution_minutes=60, brackets=ONE, long_days=365)
    assert rec.n_long == 8760 and rec.q_long == pytest.approx(rec.q_recent)


def test_monotonic_brackets_and_caps():
    b = HorizonBrackets(floors=(0.0, 1e5, 1e6, 1e7), depth_usd=2e6, max_position_notional=5e7)
    rec = recommend_at_horizon(np.full(100, 0.01), resolution_minutes=5, brackets=b, lam=2.0)
    assert (np.diff(rec.mmf) >= 0).all() and (np.diff(rec.imf) >= 0).all()
    # last bracket: 0.01 + min(1, 0.01·5e7/2e6 = 0.25) → 0.26; IMF 0.52
    assert rec.mmf[-1] == pytest.approx(0.26) and rec.imf[-1] == pytest.approx(0.52)
    big = recommend_at_horizon(np.full(100, 0.4), resolution_minutes=5, brackets=b, lam=3.0)
    assert big.mmf.max() <= 0.5 and big.imf.max() <= 1.0
    assert big.imf[0] == 1.0 and big.capped.all()  # 3·(0.4 + 0.0005) > 1
    assert big.mmf[-1] == 0.5 and (np.diff(big.mmf) >= 0).all()
    tight = recommend_at_horizon(np.full(100, 0.01), resolution_minutes=5, brackets=b, mmf_cap=0.05, imf_cap=0.08)
    assert tight.mmf.max() == 0.05 and tight.imf.max() == 0.08


def hand_lr(x: int, n: int, p: float) -> float:
    rate = x / n
    null = (n - x) * math.log(1 - p) + (x * math.log(p) if x else 0.0)
    alt = (n - x) * math.log(1 - rate) + (x * math.log(rate) if x else 0.0)
    return -2 * null + 2 * alt


def test_backtest_counts_on_a_hand_series():
    # Δ = 60, h = 15 → √(Δ/h) = 2; slip(N⁺_1 = 1e5) = 0.01·1e5/5e5 = 0.002.
    b = HorizonBrackets(floors=(0.0, 1e5), depth_usd=5e5)
    r = np.array([0.01, 0.021, -0.03, 0.02, -0.019])
    rec = recommend_at_horizon(r, resolution_minutes=60, horizon_minutes=15, brackets=b)
    bt = backtest_at_horizon(r, mmf_active=0.012, recommendation=rec, label="X-PERP")
    assert bt.threshold == pytest.approx(0.02)  # (0.012 − 0.002)·2
    assert (bt.n, bt.exceedances) == (5, 2)  # 0.021 and 0.03; 0.02 is not strictly above
    assert bt.expected == pytest.approx(0.05)
    assert bt.lr == pytest.approx(hand_lr(2, 5, 0.01), rel=1e-12)
    assert bt.reject and bt.too_many and bt.flagged and bt.critical == KUPIEC_CRITICAL
    assert "X-PERP" in bt.verdict and "2 of 5" in bt.verdict and "Flagged." in bt.verdict
    assert "15 min" in bt.verdict and "1 h returns" in bt.verdict


def test_backtest_lr_against_hand_values_and_flags():
    n = 1000
    b = HorizonBrackets(floors=(0.0, 1.0), depth_usd=1e12)  # bracket 1: no slippage to speak of
    r = np.r_[np.full(990, 0.001), np.full(10, 0.05)]
    rec = recommend_at_horizon(r, resolution_minutes=5, brackets=b)
    # 10 of 1000 at p = 0.01: exactly as expected, LR 0
    ok = backtest_at_horizon(r, mmf_active=0.01, recommendation=rec)
    assert ok.exceedances == 10 and ok.lr == pytest.approx(0.0, abs=1e-9) and not ok.reject
    # a generous margin: no exceedance → LR = −2n·ln(1−p) > 3.841 but x < expected: not flagged
    high = backtest_at_horizon(r, mmf_active=0.06, recommendation=rec)
    assert high.exceedances == 0 and high.lr == pytest.approx(-2 * n * math.log(0.99))
    assert high.reject and not high.too_many and not high.flagged and "conservative" in high.verdict
    # a margin far below the recommendation is flagged by the tolerance alone
    low = backtest_at_horizon(r, mmf_active=0.5 * float(rec.mmf[0]), recommendation=rec)
    assert low.too_low and low.flagged
    fine = backtest_at_horizon(r, mmf_active=0.8 * float(rec.mmf[0]), recommendation=rec)
    assert not fine.too_low


def test_backtest_uses_only_the_last_year():
    hours = np.datetime64("2020-01-01T01:00") + np.arange(2 * 8760) * np.timedelta64(60, "m")
    r = np.r_[np.full(8760, 0.05), np.full(8760, 0.001)]
    deep = HorizonBrackets(floors=(0.0, 1.0), depth_usd=1e12)
    rec = recommend_at_horizon(r, times=hours, resolution_minutes=60, brackets=deep, horizon_minutes=60)
    bt = backtest_at_horizon(r, times=hours, mmf_active=0.01, recommendation=rec)
    assert bt.n == 8760 and bt.exceedances == 0


def test_bad_inputs():
    with pytest.raises(EngineInputError, match="beta"):
        recommend_at_horizon([0.01], resolution_minutes=60, brackets=ONE, beta=1.0)
    with pytest.raises(EngineInputError, match="no return"):
        recommend_at_horizon([np.nan], resolution_minutes=60, brackets=ONE)
    with pytest.raises(EngineInputError, match="finite"):
        recommend_at_horizon([np.inf], resolution_minutes=60, brackets=ONE)


@settings(max_examples=150, deadline=None)
@given(
    gaps=st.lists(st.floats(1e3, 1e8), min_size=0, max_size=8),
    depth=st.floats(1e4, 1e9),
    cap_factor=st.one_of(st.none(), st.floats(1.01, 10.0)),
    vol=st.floats(1e-4, 0.3),
    lam=st.floats(1.01, 5.0),
    seed=st.integers(0, 2**16),
)
def test_property_brackets_monotone_capped_and_above_q(gaps, depth, cap_factor, vol, lam, seed):
    floors = tuple(np.cumsum([0.0, *gaps]))
    cap = floors[-1] * cap_factor if cap_factor and floors[-1] > 0 else None
    b = HorizonBrackets(floors=floors, depth_usd=depth, max_position_notional=cap)
    r = np.random.default_rng(seed).laplace(0.0, vol, 500).clip(-0.99, None)
    rec = recommend_at_horizon(r, resolution_minutes=60, brackets=b, lam=lam)
    assert (np.diff(rec.mmf) >= 0).all() and (np.diff(rec.imf) >= 0).all()
    assert (rec.mmf <= 0.5).all() and (rec.imf <= 1.0).all() and (rec.imf >= rec.mmf).all()
    assert (rec.mmf >= np.minimum(rec.q + rec.slippage, 0.5) - 1e-15).all()
    assert rec.q == max(rec.q_recent, rec.q_long)
    # more margin never gives more exceedances
    lo = backtest_at_horizon(r, mmf_active=float(rec.mmf[0]) * 0.5, recommendation=rec)
    hi = backtest_at_horizon(r, mmf_active=float(rec.mmf[0]), recommendation=rec)
    assert hi.exceedances <= lo.exceedances and hi.n == lo.n == 500

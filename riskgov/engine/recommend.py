"""Volatility-based MMF/IMF recommendation and its Kupiec backtest (RISK_MODEL §12).

Inputs are daily closes, either one series ``(T,)`` or a matrix ``(T, M)`` (one column per
market, one row per calendar day shared by all columns) with NaN for a missing day.

Windows: ``r_t = P_{t+h}/P_t − 1`` for ``t = 0 .. T−h−1`` (overlapping, one per start
day). A window is *dropped* for a market when either end is NaN; closes are never
forward-filled or re-aligned, so a gap of ``g`` missing days removes up to ``2g`` windows
of that market and none of the others. ``n_windows`` counts the windows kept.

Quantile: ``MMF_rec`` is the β-quantile of ``|r_h|`` with numpy's default ``"linear"``
method (Hyndman–Fan type 7, the same as pandas' ``quantile``). ``IMF_rec = λ·MMF_rec``;
the recommendation is reported as computed, with ``feasible`` saying whether it makes a
valid one-bracket table (``0 < MMF < IMF ≤ 1``, §2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy.special import xlogy
from scipy.stats import chi2

from riskgov.engine.types import EngineInputError, PriceError

__all__ = [
    "KUPIEC_CRITICAL",
    "Backtest",
    "Recommendation",
    "backtest_mmf",
    "horizon_returns",
    "kupiec_lr",
    "recommend_margin",
]

#: χ²₁ 95 % critical value for Kupiec's test, 3.8414588…
KUPIEC_CRITICAL: float = float(chi2.ppf(0.95, 1))
assert round(KUPIEC_CRITICAL, 3) == 3.841


@dataclass(frozen=True)
class Recommendation:
    """Recommended margin fractions (RISK_MODEL §12).

    Scalars for a ``(T,)`` input, ``(M,)`` arrays for a ``(T, M)`` input.

    Attributes:
        mmf: β-quantile of ``|r_h|`` (NaN for a market without any window).
        imf: ``λ·mmf``.
        n_windows: int number of ``h``-day windows used.
        feasible: bool, ``0 < mmf < imf ≤ 1``.
        horizon_days: ``h``.
        beta: confidence ``β``.
        lam: multiplier ``λ``.
    """

    mmf: float | np.ndarray
    imf: float | np.ndarray
    n_windows: int | np.ndarray
    feasible: bool | np.ndarray
    horizon_days: int
    beta: float
    lam: float


@dataclass(frozen=True)
class Backtest:
    """Kupiec proportion-of-failures backtest of an MMF (RISK_MODEL §12).

    Scalars for a ``(T,)`` input, ``(M,)`` arrays for a ``(T, M)`` input.

    Attributes:
        exceedances: int ``x``, windows with ``|r_h| > MMF`` (strict).
        n: int number of windows.
        expected_rate: ``1 − β``.
        observed_rate: ``x/n`` (NaN when ``n = 0``).
        kupiec_lr: likelihood ratio ``LR_POF`` (NaN when ``n = 0``).
        critical: χ²₁ 95 % value (3.8414…).
        reject: bool, ``LR > critical`` (False when ``n = 0``).
        horizon_days: ``h``.
        beta: ``β``.
    """

    exceedances: int | np.ndarray
    n: int | np.ndarray
    expected_rate: float
    observed_rate: float | np.ndarray
    kupiec_lr: float | np.ndarray
    critical: float
    reject: bool | np.ndarray
    horizon_days: int
    beta: float


def _check_h_beta(horizon_days: int, beta: float) -> None:
    if int(horizon_days) != horizon_days or horizon_days < 1:
        raise EngineInputError(f"horizon_days {horizon_days!r} must be an integer >= 1")
    if not 0 < float(beta) < 1:
        raise EngineInputError(f"beta {beta!r} must be in (0, 1)")


def horizon_returns(closes: npt.ArrayLike, h: int) -> np.ndarray:
    """Overlapping ``h``-day simple returns ``r_t = P_{t+h}/P_t − 1`` (RISK_MODEL §9, §12).

    Args:
        closes: ``(T,)`` or ``(T, M)`` float64 USD daily closes, NaN for a missing day.
        h: horizon in days, ``1 ≤ h < T``.

    Returns:
        ``(T−h,)`` or ``(T−h, M)`` float64; NaN where either end is missing.

    Raises:
        EngineInputError: bad shape, ``h`` or too few rows.
        PriceError: a close is infinite or ``≤ 0``.
    """
    p = np.asarray(closes, dtype=np.float64)
    if p.ndim not in (1, 2):
        raise EngineInputError(f"closes must be (T,) or (T, M) (got shape {p.shape})")
    if int(h) != h or h < 1:
        raise EngineInputError(f"horizon {h!r} must be an integer >= 1")
    h = int(h)
    if p.shape[0] <= h:
        raise EngineInputError(f"{p.shape[0]} closes give no {h}-day window")
    bad = ~np.isnan(p) & ~(np.isfinite(p) & (p > 0))
    if bad.any():
        where = np.argwhere(bad)[0]
        raise PriceError(f"close at row {tuple(int(i) for i in where)} is {p[tuple(where)]!r}")
    return p[h:] / p[:-h] - 1.0


def _unwrap(value: np.ndarray, one_d: bool, kind: type) -> object:
    return kind(value[0]) if one_d else value


def recommend_margin(
    closes: npt.ArrayLike, *, horizon_days: int, beta: float = 0.995, lam: float = 2.0
) -> Recommendation:
    """``MMF_rec`` = β-quantile of ``|r_h|``, ``IMF_rec = λ·MMF_rec`` (RISK_MODEL §12).

    Args:
        closes: ``(T,)`` or ``(T, M)`` daily closes over the lookback window (the caller
            slices the lookback), NaN for a missing day.
        horizon_days: liquidation horizon ``h`` in days.
        beta: confidence ``β`` in ``(0, 1)``.
        lam: ``λ > 0``.

    Returns:
        ``Recommendation`` (scalars for 1-D input, ``(M,)`` arrays for 2-D).

    Raises:
        EngineInputError, PriceError: see ``horizon_returns``; ``β`` or ``λ`` out of range.
    """
    _check_h_beta(horizon_days, beta)
    if not (np.isfinite(lam) and lam > 0):
        raise EngineInputError(f"lam {lam!r} must be > 0")
    r = horizon_returns(closes, horizon_days)
    one_d = r.ndim == 1
    a = np.abs(r.reshape(r.shape[0], -1))
    n = np.count_nonzero(~np.isnan(a), axis=0).astype(np.int64)
    mmf = np.full(a.shape[1], np.nan)
    has = n > 0
    if has.any():
        mmf[has] = np.nanquantile(a[:, has], beta, axis=0, method="linear")
    imf = mmf * lam
    feasible = (mmf > 0) & (mmf < imf) & (imf <= 1)
    return Recommendation(
        mmf=_unwrap(mmf, one_d, float),
        imf=_unwrap(imf, one_d, float),
        n_windows=_unwrap(n, one_d, int),
        feasible=_unwrap(feasible, one_d, bool),
        horizon_days=int(horizon_days),
        beta=float(beta),
        lam=float(lam),
    )


def kupiec_lr(x: npt.ArrayLike, n: npt.ArrayLike, p: float) -> np.ndarray:
    """Kupiec's proportion-of-failures likelihood ratio (RISK_MODEL §12).

    ``LR = −2 ln[(1−p)^{n−x} p^x] + 2 ln[(1−x/n)^{n−x} (x/n)^x]`` with ``0·ln 0 = 0``, so
    ``x = 0`` and ``x = n`` are exact. Tiny negative rounding is clipped to 0.

    Args:
        x: exceedances (int, any shape). n: windows (same shape). p: expected rate in (0, 1).

    Returns:
        float64 array of the broadcast shape; NaN where ``n = 0``.
    """
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, x / np.where(n > 0, n, 1.0), 0.0)
        null = xlogy(n - x, 1.0 - p) + xlogy(x, p)
        alt = xlogy(n - x, 1.0 - rate) + xlogy(x, rate)
        lr = np.maximum(-2.0 * null + 2.0 * alt, 0.0)
    return np.where(n > 0, lr, np.nan)


def backtest_mmf(
    closes: npt.ArrayLike, mmf: float | npt.ArrayLike, *, horizon_days: int, beta: float = 0.995
) -> Backtest:
    """Backtest an MMF against history with Kupiec's POF test (RISK_MODEL §12).

    Args:
        closes: ``(T,)`` or ``(T, M)`` daily closes, NaN for a missing day.
        mmf: scalar, or ``(M,)`` one per column.
        horizon_days: ``h``.
        beta: confidence ``β``; the expected exceedance rate is ``1 − β``.

    Returns:
        ``Backtest`` (scalars for 1-D input, ``(M,)`` arrays for 2-D); ``reject`` is
        ``LR > chi2.ppf(0.95, 1)``.

    Raises:
        EngineInputError, PriceError: see ``horizon_returns``; bad ``mmf`` shape or value.
    """
    _check_h_beta(horizon_days, beta)
    r = horizon_returns(closes, horizon_days)
    one_d = r.ndim == 1
    a = np.abs(r.reshape(r.shape[0], -1))
    m = np.asarray(mmf, dtype=np.float64)
    if m.ndim > 1 or (m.ndim == 1 and m.shape != (a.shape[1],)):
        raise EngineInputError(f"mmf has shape {m.shape}, expected () or ({a.shape[1]},)")
    if not (np.isfinite(m) & (m >= 0)).all():
        raise EngineInputError(f"mmf {mmf!r} must be finite and >= 0")
    valid = ~np.isnan(a)
    n = np.count_nonzero(valid, axis=0).astype(np.int64)
    x = np.count_nonzero(valid & (a > m), axis=0).astype(np.int64)
    p = 1.0 - float(beta)
    lr = kupiec_lr(x, n, p)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(n > 0, x / np.maximum(n, 1), np.nan)
    reject = np.where(n > 0, lr > KUPIEC_CRITICAL, False)
    return Backtest(
        exceedances=_unwrap(x, one_d, int),
        n=_unwrap(n, one_d, int),
        expected_rate=p,
        observed_rate=_unwrap(rate, one_d, float),
        kupiec_lr=_unwrap(lr, one_d, float),
        critical=KUPIEC_CRITICAL,
        reject=_unwrap(reject, one_d, bool),
        horizon_days=int(horizon_days),
        beta=float(beta),
    )

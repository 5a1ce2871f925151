"""Margin recommendation at the liquidation horizon, and its backtest (RISK_MODEL §12).

Inputs are one asset's simple returns ``r_Δ`` at the resolution ``Δ`` of its finest real
series (minutes: 60 for hourly bars), optionally with the UTC end instant of each return,
and a market's bracket table. Pure numpy; no Django.

- **Quantile at the horizon.** ``Q_β(h) = Q_β(|r_Δ|)·√(h/Δ)``: the β-quantile of absolute
  ``Δ``-returns (numpy ``"linear"``, Hyndman–Fan type 7, as ``engine.recommend``), scaled by
  the square root of time. The scale ``√(h/Δ)`` and ``Δ`` are always reported.
- **Lookbacks.** ``Q_recent`` over the returns ending in the last 365 days before
  ``as_of`` (default: the last return's instant), ``Q_long`` over the full history up to 10
  years (3,652 days). Without ``times`` the returns are taken as consecutive and equally
  spaced, the last ending at ``as_of``: the recent window is the last ``365·1440/Δ``.
  **Anti-procyclicality floor** (EMIR RTS 153/2013 Art. 28(1)(c)):
  ``Q = max(Q_recent, Q_long)``.
- **Brackets.** Upper notional ``N⁺_k = F_{k+1}``; for the last bracket the max position
  notional, else ``2·F_K``, and at least ``D_m`` (so a one-bracket table, ``F_1 = 0``, is
  priced at the depth). ``MMF_rec,k = Q + slip_m(N⁺_k)``, ``slip_m(N) = min(1, 0.01·N/D_m)``
  (§8); ``IMF_rec,k = λ·MMF_rec,k``; both made non-decreasing in ``k`` (running maximum),
  then capped (``MMF ≤ 0.5``, ``IMF ≤ 1``).
- **Backtest** of the active ``MMF_1`` over the last 365 days at resolution ``Δ``: an
  exceedance is a return with ``|r_Δ| > (MMF_1 − slip_m(N⁺_1))·√(Δ/h)`` (strict); ``x`` of
  ``n`` against ``n·(1 − β)``; Kupiec's POF likelihood ratio (``engine.recommend.kupiec_lr``),
  rejected above ``χ²₁(0.95) = 3.841``. **Flagged** when it rejects with ``x`` above the
  expected count, or when ``MMF_1 < (1 − tol)·MMF_rec,1`` (tol 0.25).

All fractions are plain fractions (0.004 = 0.40 %), money in USD, times in minutes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from riskgov.engine.recommend import KUPIEC_CRITICAL, kupiec_lr
from riskgov.engine.types import EngineInputError

__all__ = [
    "LONG_DAYS",
    "MINUTES_PER_DAY",
    "RECENT_DAYS",
    "HorizonBacktest",
    "HorizonBrackets",
    "HorizonRecommendation",
    "backtest_at_horizon",
    "horizon_quantile",
    "recommend_at_horizon",
    "slippage",
    "upper_notionals",
]

MINUTES_PER_DAY = 1440
#: ``Q_recent`` and the backtest look back this many days.
RECENT_DAYS = 365
#: ``Q_long`` looks back at most this many days (10 years).
LONG_DAYS = 3652


@dataclass(frozen=True)
class HorizonBrackets:
    """A market's bracket table as §12 needs it.

    Attributes:
        floors: ``(K,)`` notional floors ``F_k`` in USD, ``F_1 = 0``, strictly increasing.
        depth_usd: ``D_m``, the USD notional that moves the price by 1 % (§8), ``> 0``.
        max_position_notional: USD cap on a position's notional, or None (unbounded).
    """

    floors: tuple[float, ...]
    depth_usd: float
    max_position_notional: float | None = None

    def __post_init__(self) -> None:
        f = np.asarray(self.floors, dtype=np.float64)
        if f.ndim != 1 or f.size == 0 or not np.isfinite(f).all():
            raise EngineInputError(f"floors {self.floors!r} must be a non-empty list of finite USD amounts")
        if f[0] != 0 or (f.size > 1 and not (np.diff(f) > 0).all()):
            raise EngineInputError(f"floors {self.floors!r} must start at 0 and increase strictly")
        if not (math.isfinite(self.depth_usd) and self.depth_usd > 0):
            raise EngineInputError(f"depth_usd {self.depth_usd!r} must be > 0")
        cap = self.max_position_notional
        if cap is not None and not (math.isfinite(cap) and cap > f[-1]):
            raise EngineInputError(f"max_position_notional {cap!r} must exceed the last floor {f[-1]}")


@dataclass(frozen=True)
class HorizonRecommendation:
    """Recommended MMF/IMF per bracket at the liquidation horizon (RISK_MODEL §12).

    Attributes:
        horizon_minutes: ``h``, the liquidation horizon (minutes).
        resolution_minutes: ``Δ``, the resolution of the returns used (minutes).
        scale: ``√(h/Δ)``, the square-root-of-time factor applied to the Δ-quantiles.
        scaling: the scaling stated in words, e.g. ``"Q(5 min) = Q(|r_60min|)·√(5/60) = …"``.
        beta: confidence level β. lam: ``λ = IMF/MMF`` before the caps.
        q_recent: ``Q_recent``, fraction at the horizon from the last ``RECENT_DAYS`` days
            (NaN without returns there). n_recent: returns used.
        q_long: ``Q_long``, fraction at the horizon from the full history, at most
            ``LONG_DAYS`` days. n_long: returns used. long_days: days the long lookback
            really spans (first to last return used).
        q: ``max(Q_recent, Q_long)``, the anti-procyclicality floor applied.
        floor_binds: True when ``Q_long > Q_recent`` (the floor raised the quantile).
        upper_notional: ``(K,)`` USD ``N⁺_k``.
        slippage: ``(K,)`` fraction ``slip_m(N⁺_k)``.
        mmf: ``(K,)`` ``MMF_rec,k`` (non-decreasing, ≤ ``mmf_cap``).
        imf: ``(K,)`` ``IMF_rec,k`` (non-decreasing, ≤ ``imf_cap``).
        capped: ``(K,)`` bool, the MMF or IMF of that bracket was cut by its cap.
        mmf_cap, imf_cap: the caps.
    """

    horizon_minutes: float
    resolution_minutes: float
    scale: float
    scaling: str
    beta: float
    lam: float
    q_recent: float
    n_recent: int
    q_long: float
    n_long: int
    long_days: float
    q: float
    floor_binds: bool
    upper_notional: np.ndarray
    slippage: np.ndarray
    mmf: np.ndarray
    imf: np.ndarray
    capped: np.ndarray
    mmf_cap: float
    imf_cap: float


@dataclass(frozen=True)
class HorizonBacktest:
    """Kupiec backtest of the active ``MMF_1`` at the horizon (RISK_MODEL §12).

    Attributes:
        mmf_active: the venue's active ``MMF_1`` (fraction).
        mmf_recommended: ``MMF_rec,1`` it is compared with (fraction).
        threshold: the Δ-return size that counts as an exceedance,
            ``(MMF_1 − slip_m(N⁺_1))·√(Δ/h)`` (fraction).
        n: Δ-returns in the last ``RECENT_DAYS`` days. exceedances: ``x``, those with
            ``|r_Δ| > threshold``. expected: ``n·(1 − β)``.
        lr: Kupiec's LR (NaN when ``n = 0``). critical: 3.841…
        reject: ``lr > critical``. too_many: ``reject`` and ``x > expected``.
        too_low: ``MMF_1 < (1 − tol)·MMF_rec,1``. tol: that tolerance.
        flagged: ``too_many or too_low``.
        horizon_minutes, resolution_minutes, beta: as in the recommendation.
        verdict: the result in plain words (horizon, resolution, lookback, n, x, expected, LR,
            verdict).
    """

    mmf_active: float
    mmf_recommended: float
    threshold: float
    n: int
    exceedances: int
    expected: float
    lr: float
    critical: float
    reject: bool
    too_many: bool
    too_low: bool
    tol: float
    flagged: bool
    horizon_minutes: float
    resolution_minutes: float
    beta: float
    verdict: str


def slippage(notional: npt.ArrayLike, depth_usd: float) -> np.ndarray:
    """``slip_m(N) = min(1, 0.01·N/D_m)`` (RISK_MODEL §8). notional USD (any shape) → fraction."""
    if not (math.isfinite(depth_usd) and depth_usd > 0):
        raise EngineInputError(f"depth_usd {depth_usd!r} must be > 0")
    return np.minimum(1.0, 0.01 * np.asarray(notional, dtype=np.float64) / depth_usd)


def upper_notionals(brackets: HorizonBrackets) -> np.ndarray:
    """``(K,)`` USD ``N⁺_k``: the next floor; for the last bracket the max position notional,
    else ``2·F_K``, and at least ``D_m`` (RISK_MODEL §12)."""
    f = np.asarray(brackets.floors, dtype=np.float64)
    last = brackets.max_position_notional if brackets.max_position_notional is not None else 2.0 * f[-1]
    return np.append(f[1:], max(float(last), brackets.depth_usd))


def _check_common(horizon_minutes: float, resolution_minutes: float, beta: float) -> None:
    if not (math.isfinite(horizon_minutes) and horizon_minutes > 0):
        raise EngineInputError(f"horizon_minutes {horizon_minutes!r} must be > 0")
    if not (math.isfinite(resolution_minutes) and resolution_minutes > 0):
        raise EngineInputError(f"resolution_minutes {resolution_minutes!r} must be > 0")
    if not 0 < float(beta) < 1:
        raise EngineInputError(f"beta {beta!r} must be in (0, 1)")


def horizon_quantile(
    returns: npt.ArrayLike, *, beta: float, horizon_minutes: float, resolution_minutes: float
) -> float:
    """``Q_β(|r_Δ|)·√(h/Δ)``: fraction at the horizon; NaN returns ignored, NaN if none."""
    _check_common(horizon_minutes, resolution_minutes, beta)
    a = np.abs(np.asarray(returns, dtype=np.float64).ravel())
    a = a[~np.isnan(a)]
    if a.size == 0:
        return math.nan
    return float(np.quantile(a, beta, method="linear")) * math.sqrt(horizon_minutes / resolution_minutes)


def _returns_and_windows(
    returns: npt.ArrayLike,
    times: npt.ArrayLike | None,
    resolution_minutes: float,
    as_of: np.datetime64 | None,
    days: Sequence[float],
) -> tuple[np.ndarray, list[np.ndarray], list[float]]:
    """Finite returns and, per lookback in ``days``, the mask of those inside it and its span."""
    r = np.asarray(returns, dtype=np.float64)
    if r.ndim != 1:
        raise EngineInputError(f"returns must be (n,) (got shape {r.shape})")
    if np.isinf(r).any() or (r <= -1).any():
        raise EngineInputError("returns must be finite and > -1 (NaN marks a missing return)")
    if times is None:
        keep = ~np.isnan(r)
        idx = np.arange(r.size, dtype=np.float64)
        age_minutes = (r.size - 1 - idx) * resolution_minutes
    else:
        t = np.asarray(times).astype("datetime64[m]")
        if t.shape != r.shape:
            raise EngineInputError(f"times has shape {t.shape}, returns {r.shape}")
        end = np.datetime64(as_of, "m") if as_of is not None else t.max()
        keep = ~np.isnan(r) & (t <= end)
        age_minutes = (end - t).astype(np.int64).astype(np.float64)
    masks, spans = [], []
    for d in days:
        m = keep & (age_minutes < d * MINUTES_PER_DAY)
        masks.append(m)
        ages = age_minutes[m]
        spans.append(float((ages.max() - ages.min() + resolution_minutes) / MINUTES_PER_DAY) if ages.size else 0.0)
    return r, masks, spans


def recommend_at_horizon(
    returns: npt.ArrayLike,
    *,
    resolution_minutes: float,
    brackets: HorizonBrackets,
    times: npt.ArrayLike | None = None,
    as_of: np.datetime64 | None = None,
    horizon_minutes: float = 5.0,
    beta: float = 0.99,
    lam: float = 2.0,
    mmf_cap: float = 0.5,
    imf_cap: float = 1.0,
    recent_days: float = RECENT_DAYS,
    long_days: float = LONG_DAYS,
) -> HorizonRecommendation:
    """MMF/IMF per bracket at the liquidation horizon (RISK_MODEL §12; module docstring).

    Args:
        returns: ``(n,)`` simple returns at resolution ``Δ``, oldest first, NaN = missing.
        resolution_minutes: ``Δ`` (60 for hourly bars).
        brackets: the market's floors, depth and max position notional.
        times: ``(n,)`` ``datetime64`` UTC end instant of each return, or None (consecutive).
        as_of: lookbacks end here (default: the last return).
        horizon_minutes: ``h`` (default 5). beta: β (0.99). lam: λ (2).
        mmf_cap, imf_cap: caps (0.5, 1). recent_days, long_days: lookbacks (365, 3652).

    Returns:
        :class:`HorizonRecommendation`.

    Raises:
        EngineInputError: bad shapes or values, or no return in either lookback.
    """
    _check_common(horizon_minutes, resolution_minutes, beta)
    if not (math.isfinite(lam) and lam > 0):
        raise EngineInputError(f"lam {lam!r} must be > 0")
    if not (0 < mmf_cap <= imf_cap <= 1):
        raise EngineInputError(f"caps must satisfy 0 < mmf_cap {mmf_cap} <= imf_cap {imf_cap} <= 1")
    r, (recent, long), (_, span) = _returns_and_windows(
        returns, times, resolution_minutes, as_of, (recent_days, long_days)
    )
    kw = {"beta": beta, "horizon_minutes": horizon_minutes, "resolution_minutes": resolution_minutes}
    q_recent = horizon_quantile(r[recent], **kw)
    q_long = horizon_quantile(r[long], **kw)
    if math.isnan(q_recent) and math.isnan(q_long):
        raise EngineInputError("no return inside the lookbacks")
    q = float(np.nanmax([q_recent, q_long]))
    upper = upper_notionals(brackets)
    slip = slippage(upper, brackets.depth_usd)
    mmf_raw = np.maximum.accumulate(q + slip)
    imf_raw = np.maximum.accumulate(lam * mmf_raw)
    mmf = np.minimum(mmf_raw, mmf_cap)
    imf = np.minimum(imf_raw, imf_cap)
    scale = math.sqrt(horizon_minutes / resolution_minutes)
    scaling = (
        f"Q({_minutes(horizon_minutes)}) = Q_{beta:g}(|r_{_minutes(resolution_minutes)}|) · "
        f"√({horizon_minutes:g}/{resolution_minutes:g}) = Q_{beta:g}(|r_{_minutes(resolution_minutes)}|) · {scale:.4f}"
    )
    return HorizonRecommendation(
        horizon_minutes=float(horizon_minutes),
        resolution_minutes=float(resolution_minutes),
        scale=scale,
        scaling=scaling,
        beta=float(beta),
        lam=float(lam),
        q_recent=q_recent,
        n_recent=int(recent.sum()),
        q_long=q_long,
        n_long=int(long.sum()),
        long_days=span,
        q=q,
        floor_binds=bool(not math.isnan(q_long) and (math.isnan(q_recent) or q_long > q_recent)),
        upper_notional=upper,
        slippage=slip,
        mmf=mmf,
        imf=imf,
        capped=(mmf < mmf_raw) | (imf < imf_raw),
        mmf_cap=float(mmf_cap),
        imf_cap=float(imf_cap),
    )


def _minutes(m: float) -> str:
    if m >= MINUTES_PER_DAY and m % MINUTES_PER_DAY == 0:
        return f"{m / MINUTES_PER_DAY:g} d"
    if m >= 60 and m % 60 == 0:
        return f"{m / 60:g} h"
    return f"{m:g} min"


def _pct(x: float) -> str:
    return f"{100 * x:.3f} %"


def backtest_at_horizon(
    returns: npt.ArrayLike,
    *,
    mmf_active: float,
    recommendation: HorizonRecommendation,
    times: npt.ArrayLike | None = None,
    as_of: np.datetime64 | None = None,
    tol: float = 0.25,
    recent_days: float = RECENT_DAYS,
    label: str = "",
) -> HorizonBacktest:
    """Backtest the active ``MMF_1`` at the horizon over the last ``recent_days`` (§12).

    Uses the recommendation's ``h``, ``Δ``, β and ``slip_m(N⁺_1)``.

    Args:
        returns, times, as_of: as :func:`recommend_at_horizon` (the same series).
        mmf_active: the active ``MMF_1`` (fraction, ``≥ 0``).
        recommendation: from :func:`recommend_at_horizon` on the same series and brackets.
        tol: flag when ``MMF_1 < (1 − tol)·MMF_rec,1`` (default 0.25).
        label: market name used in the verdict.

    Returns:
        :class:`HorizonBacktest` (``lr`` NaN and nothing rejected when ``n = 0``).
    """
    rec = recommendation
    if not (math.isfinite(mmf_active) and mmf_active >= 0):
        raise EngineInputError(f"mmf_active {mmf_active!r} must be finite and >= 0")
    if not 0 <= tol < 1:
        raise EngineInputError(f"tol {tol!r} must be in [0, 1)")
    r, (recent,), (span,) = _returns_and_windows(returns, times, rec.resolution_minutes, as_of, (recent_days,))
    threshold = (mmf_active - float(rec.slippage[0])) / rec.scale
    a = np.abs(r[recent])
    n = int(a.size)
    x = int(np.count_nonzero(a > threshold))
    p = 1.0 - rec.beta
    expected = n * p
    lr = float(kupiec_lr(x, n, p)) if n else math.nan
    reject = bool(n and lr > KUPIEC_CRITICAL)
    too_many = reject and x > expected
    mmf_rec = float(rec.mmf[0])
    too_low = mmf_active < (1.0 - tol) * mmf_rec
    flagged = too_many or too_low
    who = f"{label}: " if label else ""
    if n == 0:
        test = "no return in the backtest window, not tested"
    else:
        test = (
            f"{x:,} of {n:,} {_minutes(rec.resolution_minutes)} returns exceed {_pct(threshold)} "
            f"(expected {expected:,.1f} at β = {rec.beta:g}); Kupiec LR {lr:.2f} "
            f"{'>' if reject else '≤'} {KUPIEC_CRITICAL:.3f}: "
            + (
                "rejected, too many exceedances"
                if too_many
                else "rejected, fewer exceedances than expected (conservative)"
                if reject
                else "not rejected"
            )
        )
    level = (
        f"MMF_1 {_pct(mmf_active)} is below {1 - tol:.0%} of the recommended {_pct(mmf_rec)}"
        if too_low
        else f"MMF_1 {_pct(mmf_active)} against the recommended {_pct(mmf_rec)}"
    )
    verdict = (
        f"{who}at a {_minutes(rec.horizon_minutes)} liquidation horizon, from {_minutes(rec.resolution_minutes)} "
        f"returns scaled by √(h/Δ) = {rec.scale:.4f}, last {span:.0f} days: {test}; {level}. "
        + ("Flagged." if flagged else "Not flagged.")
    )
    return HorizonBacktest(
        mmf_active=float(mmf_active),
        mmf_recommended=mmf_rec,
        threshold=threshold,
        n=n,
        exceedances=x,
        expected=expected,
        lr=lr,
        critical=KUPIEC_CRITICAL,
        reject=reject,
        too_many=too_many,
        too_low=too_low,
        tol=float(tol),
        flagged=flagged,
        horizon_minutes=rec.horizon_minutes,
        resolution_minutes=rec.resolution_minutes,
        beta=rec.beta,
        verdict=verdict,
    )

"""Black-76 prices and Greeks of European options, vectorised (RISK_MODEL §14).

Every function takes keyword-only arrays that broadcast against each other (axis 0 = the
option, a trailing axis may carry scenarios) and returns arrays of the broadcast shape.
Units (§1, §14): prices in USD per base unit, ``t`` in years of 365 days, ``vol`` a fraction
per ``√year``, sizes in base units.

Pricing: forward ``F``, discount ``D``, mark vol ``σ``;
``d1 = (ln(F/K) + σ²T/2)/(σ√T)``, ``d2 = d1 − σ√T``; call ``D·(F·N(d1) − K·N(d2))``, put
``D·(K·N(−d2) − F·N(−d1))``. ``T ≤ 0``: intrinsic value on the spot ``S`` (expired, settling).

Greeks (§14), per contract of one base unit:

* ``delta = ∂V/∂S`` and ``gamma = ∂²V/∂S²`` with the forward moving with the spot
  (``F = S·c`` for a fixed carry ``c = F/S``, as the scenarios of §14 move it): so
  ``delta = D·N(d1)·F/S`` (call), ``D·(N(d1) − 1)·F/S`` (put), ``gamma = D·φ(d1)·F/(S²·σ√T)``;
* ``vega`` = the value change per 0.01 of vol, USD: ``0.01·D·F·φ(d1)·√T``;
* ``theta`` = the value change per calendar day, USD: ``−(∂V/∂T)/365`` with spot, vol, the
  carry rate ``b = ln(F/S)/T`` and the discount rate ``r_d = −ln(D)/T`` held fixed, i.e.
  ``F(T) = S·e^{bT}`` and ``D(T) = e^{−r_d·T}``:
  ``∂V/∂T = −r_d·V + D·(b·F·∂B/∂F + F·φ(d1)·σ/(2√T))`` where ``B`` is the undiscounted price.

At ``T ≤ 0`` delta is the intrinsic's slope (``1{S>K}`` call, ``−1{S<K}`` put), the other
Greeks are 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from riskgov.engine.types import F64, EngineInputError

__all__ = [
    "Greeks",
    "black76_greeks",
    "black76_price",
    "forward_and_discount",
    "validate_options",
]

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)
DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class Greeks:
    """Black-76 Greeks per contract (RISK_MODEL §14); every field has the broadcast shape.

    Attributes:
        delta: ``∂V/∂S``, base units (dimensionless per contract).
        gamma: ``∂²V/∂S²``, per USD.
        vega: USD per 0.01 of vol.
        theta: USD per calendar day.
    """

    delta: F64
    gamma: F64
    vega: F64
    theta: F64


def _f64(name: str, value) -> F64:
    a = np.asarray(value, dtype=np.float64)
    if not np.isfinite(a).all():
        raise EngineInputError(f"{name}: must be finite")
    return a


def validate_options(*, strike, vol, t, forward=None, discount=None, spot=None) -> None:
    """Check option inputs (RISK_MODEL §14); raises ``EngineInputError`` naming the field.

    ``strike > 0``, ``vol > 0``, ``t`` finite, ``forward > 0``, ``0 < discount``, ``spot > 0``.
    """
    k = _f64("strike", strike)
    if (k <= 0).any():
        raise EngineInputError("strike: must be > 0")
    v = _f64("vol", vol)
    if (v <= 0).any():
        raise EngineInputError("vol: must be > 0")
    _f64("t", t)
    for name, value in (("forward", forward), ("discount", discount), ("spot", spot)):
        if value is not None and (_f64(name, value) <= 0).any():
            raise EngineInputError(f"{name}: must be > 0")


def forward_and_discount(*, spot, t, rate=0.0, forward=None, discount_rate=None) -> tuple[F64, F64]:
    """Forward ``F`` and discount ``D`` per option (RISK_MODEL §14).

    ``F`` = the given forward where it is not NaN, else ``S·e^{rT}``; ``D = e^{−r_d·T}`` with
    ``r_d`` = ``discount_rate`` where given (not NaN), else ``rate``. Arrays broadcast.

    Returns:
        ``(F, D)`` float64 arrays of the broadcast shape.
    """
    s = np.asarray(spot, dtype=np.float64)
    tt = np.asarray(t, dtype=np.float64)
    r = np.asarray(rate, dtype=np.float64)
    fwd = s * np.exp(r * tt)
    if forward is not None:
        given = np.asarray(forward, dtype=np.float64)
        fwd = np.where(np.isnan(given), fwd, given)
    rd = r if discount_rate is None else np.where(np.isnan(discount_rate), r, discount_rate)
    return fwd, np.exp(-rd * tt) * np.ones_like(fwd)


def _d1_d2(forward: F64, strike: F64, vol: F64, t: F64) -> tuple[F64, F64, F64, F64]:
    """``(d1, d2, σ√T, live)`` with ``T ≤ 0`` rows computed at ``T = 1`` (masked by the caller)."""
    live = t > 0
    tt = np.where(live, t, 1.0)
    sd = vol * np.sqrt(tt)
    d1 = np.log(forward / strike)
    d1 += 0.5 * sd * sd
    d1 /= sd
    return d1, d1 - sd, sd, live


def black76_price(*, is_call, forward, strike, vol, t, discount, spot) -> F64:
    """Black-76 value per contract, USD (RISK_MODEL §14); intrinsic on ``spot`` at ``t ≤ 0``.

    Args:
        is_call: bool, True for calls, False for puts.
        forward: USD forward ``F`` (> 0).
        strike: USD strike ``K`` (> 0).
        vol: mark vol ``σ`` (> 0), fraction per √year.
        t: years to expiry (365-day years); ``≤ 0`` means expired.
        discount: discount factor ``D``.
        spot: USD spot ``S`` (used only where ``t ≤ 0``).

    All broadcast together; no validation here (see ``validate_options``).

    Returns:
        float64 array of the broadcast shape, USD per base unit.
    """
    call = np.asarray(is_call, dtype=bool)
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    tt = np.asarray(t, dtype=np.float64)
    d1, d2, _, live = _d1_d2(f, k, np.asarray(vol, dtype=np.float64), tt)
    sign = np.where(call, 1.0, -1.0)
    # call: F·N(d1) − K·N(d2); put: K·N(−d2) − F·N(−d1)
    value = f * ndtr(sign * d1)
    value -= k * ndtr(sign * d2)
    value *= sign
    value *= discount
    if not live.all():
        intrinsic = np.maximum(0.0, sign * (np.asarray(spot, dtype=np.float64) - k))
        value = np.where(live, value, intrinsic)
    return value


def black76_greeks(*, is_call, forward, strike, vol, t, discount, spot) -> Greeks:
    """Black-76 delta, gamma, vega (per 0.01 vol) and theta (per day) per contract (§14).

    Arguments as ``black76_price``; the forward moves with the spot (``∂F/∂S = F/S``).

    Returns:
        ``Greeks`` of float64 arrays of the broadcast shape.
    """
    call = np.asarray(is_call, dtype=bool)
    f = np.asarray(forward, dtype=np.float64)
    k = np.asarray(strike, dtype=np.float64)
    s = np.asarray(spot, dtype=np.float64)
    v = np.asarray(vol, dtype=np.float64)
    tt = np.asarray(t, dtype=np.float64)
    dsc = np.asarray(discount, dtype=np.float64)
    d1, d2, sd, live = _d1_d2(f, k, v, tt)
    ts = np.where(live, tt, 1.0)
    pdf = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)
    n1 = ndtr(d1)
    dbdf = np.where(call, n1, n1 - 1.0)  # ∂B/∂F of the undiscounted price
    carry = f / s  # ∂F/∂S
    delta = dsc * dbdf * carry
    gamma = dsc * pdf * carry * carry / (f * sd)
    vega = 0.01 * dsc * f * pdf * np.sqrt(ts)
    price = black76_price(is_call=call, forward=f, strike=k, vol=v, t=tt, discount=dsc, spot=s)
    b = np.log(carry) / ts
    rd = -np.log(dsc) / ts
    dv_dt = -rd * price + dsc * (b * f * dbdf + f * pdf * v / (2.0 * np.sqrt(ts)))
    theta = -dv_dt / DAYS_PER_YEAR
    if not np.all(live):
        sign = np.where(call, 1.0, -1.0)
        expired_delta = np.where(sign * (s - k) > 0, sign, 0.0)
        delta = np.where(live, delta, expired_delta)
        gamma = np.where(live, gamma, 0.0)
        vega = np.where(live, vega, 0.0)
        theta = np.where(live, theta, 0.0)
    return Greeks(delta=delta, gamma=gamma, vega=vega, theta=theta)

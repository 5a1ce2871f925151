"""Black-76 prices and Greeks (RISK_MODEL §14) against QuantLib and finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from riskgov.engine.options import black76_greeks, black76_price, forward_and_discount, validate_options
from riskgov.engine.types import EngineInputError

ql = pytest.importorskip("QuantLib")


def _random_options(n: int, seed: int):
    rng = np.random.default_rng(seed)
    spot = np.exp(rng.uniform(np.log(50.0), np.log(200_000.0), n))
    t = rng.uniform(1.0 / 365.0, 3.0, n)
    rate = rng.uniform(-0.01, 0.10, n)
    forward, discount = forward_and_discount(spot=spot, t=t, rate=rate)
    strike = forward * np.exp(rng.uniform(-0.8, 0.8, n))
    vol = rng.uniform(0.05, 2.0, n)
    is_call = rng.random(n) < 0.5
    return dict(is_call=is_call, forward=forward, strike=strike, vol=vol, t=t, discount=discount, spot=spot)


def _ql_black(o, i: int) -> float:
    kind = ql.Option.Call if o["is_call"][i] else ql.Option.Put
    return ql.blackFormula(kind, o["strike"][i], o["forward"][i], o["vol"][i] * np.sqrt(o["t"][i]), o["discount"][i])


def test_black76_matches_quantlib_on_random_options():
    o = _random_options(3000, seed=17)
    ours = black76_price(**o)
    ref = np.array([_ql_black(o, i) for i in range(ours.size)])
    # Both evaluate D·(F·N(d1) − K·N(d2)); when the price is far below F the subtraction
    # cancels and either side carries ~1e-16·F of rounding, so the 1e-10 relative check
    # applies where the price is at least 1e-6·D·F (the far tail is held to 1e-12·D·F).
    scale = o["discount"] * o["forward"]
    body = ref >= 1e-6 * scale
    assert body.sum() >= 1000
    assert o["is_call"][body].sum() >= 400 and (~o["is_call"][body]).sum() >= 400
    np.testing.assert_allclose(ours[body], ref[body], rtol=1e-10, atol=0)
    np.testing.assert_allclose(ours[~body], ref[~body], rtol=0, atol=1e-12 * scale[~body].max())


def test_black76_matches_quantlib_black_calculator():
    o = _random_options(200, seed=3)
    ours = black76_price(**o)
    for i in range(ours.size):
        kind = ql.Option.Call if o["is_call"][i] else ql.Option.Put
        payoff = ql.PlainVanillaPayoff(kind, float(o["strike"][i]))
        calc = ql.BlackCalculator(
            payoff, float(o["forward"][i]), float(o["vol"][i] * np.sqrt(o["t"][i])), float(o["discount"][i])
        )
        if calc.value() >= 1e-6 * o["forward"][i]:
            assert ours[i] == pytest.approx(calc.value(), rel=1e-10)


def test_put_call_parity_and_expired_intrinsic():
    o = _random_options(500, seed=5)
    call = black76_price(**{**o, "is_call": np.ones(500, dtype=bool)})
    put = black76_price(**{**o, "is_call": np.zeros(500, dtype=bool)})
    np.testing.assert_allclose(call - put, o["discount"] * (o["forward"] - o["strike"]), rtol=1e-9, atol=1e-8)
    spot = np.array([100.0, 100.0, 100.0, 100.0])
    strike = np.array([90.0, 110.0, 90.0, 110.0])
    is_call = np.array([True, True, False, False])
    for t in (0.0, -0.01):
        v = black76_price(is_call=is_call, forward=spot * 1.5, strike=strike, vol=0.5, t=t, discount=0.9, spot=spot)
        np.testing.assert_array_equal(v, [10.0, 0.0, 0.0, 10.0])
    g = black76_greeks(is_call=is_call, forward=spot, strike=strike, vol=0.5, t=0.0, discount=1.0, spot=spot)
    np.testing.assert_array_equal(g.delta, [1.0, 0.0, 0.0, -1.0])
    np.testing.assert_array_equal(g.gamma, 0.0)
    np.testing.assert_array_equal(g.vega, 0.0)
    np.testing.assert_array_equal(g.theta, 0.0)


def _value_of(o, *, spot=None, vol=None, t=None):
    """Re-price with the carry and discount rates held: F = S·e^{bT}, D = e^{−r_d·T}."""
    s0, t0 = o["spot"], o["t"]
    b = np.log(o["forward"] / s0) / t0
    rd = -np.log(o["discount"]) / t0
    s = s0 if spot is None else spot
    tt = t0 if t is None else t
    return black76_price(
        is_call=o["is_call"],
        forward=s * np.exp(b * tt),
        strike=o["strike"],
        vol=o["vol"] if vol is None else vol,
        t=tt,
        discount=np.exp(-rd * tt),
        spot=s,
    )


def test_greeks_match_finite_differences():
    o = _random_options(2000, seed=11)
    # keep options whose price is not vanishingly small (finite differences need signal)
    keep = black76_price(**o) > 1e-4 * o["forward"]
    o = {k: v[keep] for k, v in o.items()}
    g = black76_greeks(**o)
    s, v, t = o["spot"], o["vol"], o["t"]
    h = 1e-4 * s
    up, mid, dn = _value_of(o, spot=s + h), _value_of(o), _value_of(o, spot=s - h)
    np.testing.assert_allclose(g.delta, (up - dn) / (2 * h), rtol=1e-5, atol=1e-7)
    gamma_fd = (up - 2 * mid + dn) / (h * h)
    # the second difference carries ~eps·V/h² of rounding
    assert (np.abs(g.gamma - gamma_fd) <= 1e-4 * np.abs(g.gamma) + 1e3 * np.finfo(float).eps * up / (h * h)).all()
    dv = 1e-5
    vega_fd = (_value_of(o, vol=v + dv) - _value_of(o, vol=v - dv)) / (2 * dv) * 0.01
    np.testing.assert_allclose(g.vega, vega_fd, rtol=1e-6, atol=1e-9 * s.max())
    dt = 1e-6
    theta_fd = -(_value_of(o, t=t + dt) - _value_of(o, t=t - dt)) / (2 * dt) / 365.0
    np.testing.assert_allclose(g.theta, theta_fd, rtol=1e-5, atol=1e-9 * s.max())


def test_greeks_when_forward_is_given_move_it_with_the_spot():
    # F = S·1.02 given per expiry: delta is ∂V/∂S with F/S held
    s = np.array([100.0])
    o = dict(is_call=np.array([True]), forward=s * 1.02, strike=np.array([95.0]), vol=0.6, t=0.25, discount=0.99)
    g = black76_greeks(**o, spot=s)
    h = 1e-4
    fd = (
        black76_price(**{**o, "forward": (s + h) * 1.02}, spot=s + h)
        - black76_price(**{**o, "forward": (s - h) * 1.02}, spot=s - h)
    ) / (2 * h)
    assert g.delta[0] == pytest.approx(fd[0], rel=1e-7)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        (dict(strike=[100.0, 0.0], vol=0.5, t=1.0), "strike"),
        (dict(strike=100.0, vol=[0.5, -0.1], t=1.0), "vol"),
        (dict(strike=100.0, vol=0.5, t=np.nan), "t"),
        (dict(strike=100.0, vol=0.5, t=1.0, forward=0.0), "forward"),
    ],
)
def test_validation_names_the_field(kwargs, field):
    with pytest.raises(EngineInputError, match=rf"^{field}: "):
        validate_options(**kwargs)

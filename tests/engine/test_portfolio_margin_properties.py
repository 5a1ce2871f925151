"""Hypothesis properties of portfolio margin (RISK_MODEL §14)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from riskgov.engine.portfolio_margin import PMParams, portfolio_margin
from tests.engine.test_portfolio_margin import DAY, make_book, make_market

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def pm_params(draw) -> PMParams:
    floor = draw(st.floats(0.1, 10.0))
    p_s = draw(st.floats(0.0, 0.6))
    p_l = draw(st.floats(0.0, 0.3))
    probe = PMParams(vol_range_down=0.0, dte_floor_days=floor, short_term_vega_power=p_s, long_term_vega_power=p_l)
    return PMParams(
        price_range=draw(st.floats(0.01, 0.6)),
        buckets=draw(st.integers(1, 6)),
        vol_range_up=draw(st.floats(0.0, 1.0)),
        vol_range_down=draw(st.floats(0.0, 0.99)) / probe.max_vol_shock_x,
        short_term_vega_power=p_s,
        long_term_vega_power=p_l,
        dte_floor_days=floor,
        min_vol_for_shock_up=draw(st.floats(0.0, 1.0)),
        mm_factor=draw(st.floats(0.05, 1.0)),
        short_option_contingency=draw(st.floats(0.0, 0.05)),
        perp_contingency=draw(st.floats(0.0, 0.05)),
        extended=draw(st.sampled_from([PMParams().extended, (), ((-0.5, 0.1), (2.0, 0.02))])),
    )


spot = st.floats(10.0, 200_000.0)


@st.composite
def option(draw, s: float):
    """(call, strike, t, vol)."""
    return (
        draw(st.booleans()),
        s * draw(st.floats(0.3, 3.0)),
        draw(st.one_of(st.just(0.0), st.floats(0.01, 730.0))) * DAY,
        draw(st.floats(0.05, 2.5)),
    )


@SETTINGS
@given(p=pm_params(), s=spot, data=st.data())
def test_long_options_never_lose_more_than_their_premium(p, s, data):
    legs = data.draw(st.lists(option(s), min_size=1, max_size=5))
    sizes = data.draw(st.lists(st.floats(0.01, 100.0), min_size=len(legs), max_size=len(legs)))
    m = make_market([(0, *leg) for leg in legs], spot=(s,), params=(p,))
    res = portfolio_margin(market=m, book=make_book(1, options=[(0, i, q) for i, q in enumerate(sizes)]))
    premium = res.option_value[0]
    assert res.worst_loss[0] <= premium * (1 + 1e-12) + 1e-9 * s
    assert res.short_option_contingency[0] == 0.0
    assert res.maintenance_margin[0] == res.worst_loss[0]


def _hedge_excess(p: PMParams, s: float, leg, size: float) -> tuple[float, float, float]:
    """(MM hedged, MM bare + c_p·S·|Δ|, |Δ|) for one option position and its delta-neutral perp."""
    m = make_market([(0, *leg)], spot=(s,), params=(p,))
    bare = portfolio_margin(market=m, book=make_book(1, options=[(0, 0, size)]))
    delta = float(bare.delta[0])
    hedged = portfolio_margin(market=m, book=make_book(1, options=[(0, 0, size)], perps=[(0, 0, -delta, s)]))
    assert abs(hedged.delta[0]) <= 1e-9 * abs(size)
    return hedged.maintenance_margin[0], bare.maintenance_margin[0] + p.perp_contingency * s * abs(delta), abs(delta)


@SETTINGS
@given(p=pm_params(), s=spot, data=st.data())
def test_a_delta_hedge_never_raises_mm_by_more_than_its_contingency(p, s, data):
    """One option position (long or short) and the perp that makes it delta-neutral, scenarios at mark vol.

    With the scenario vols at the mark vol the hedge's P&L ``−Δ·S·m`` is the tangent of the
    option's value in ``S``: by convexity the hedged loss at a move is at most the bare loss
    at the opposite move on the symmetric grid (and ``0.036·|Δ|·S`` on the extended table,
    where ``w·|m| = 0.036`` for every row, at most the bare loss at the first move the other
    way), so the hedge raises MM by at most ``c_p·S·|Δ|``.

    With vol shocks this is *not* exact: the hedge is the delta at the mark vol, the shocked
    scenarios have another delta. Counterexamples found (default parameters): a long OTM call
    or put with the worst hedged loss at ``+8 %..+16 %, vol down`` (delta falls with the vol),
    up to ~0.4 % of S·|q| over the bound, and a short deep-ITM put at vol 2.5 over 467 days
    (~0.7 %). See ``test_the_hedge_bound_holds_for_short_options_with_default_parameters``.
    """
    p = PMParams(
        price_range=p.price_range,
        buckets=p.buckets,
        vol_range_up=0.0,
        vol_range_down=0.0,
        min_vol_for_shock_up=0.0,
        mm_factor=p.mm_factor,
        short_option_contingency=p.short_option_contingency,
        perp_contingency=p.perp_contingency,
        extended=data.draw(st.sampled_from([PMParams().extended, ()])),
    )
    leg = data.draw(option(s))
    size = data.draw(st.floats(0.01, 50.0)) * data.draw(st.sampled_from([1.0, -1.0]))
    hedged, allowed, _ = _hedge_excess(p, s, leg, size)
    assert hedged <= allowed * (1 + 1e-9) + 1e-9 * s * abs(size)


@SETTINGS
@given(
    s=spot,
    call=st.booleans(),
    moneyness=st.floats(0.5, 2.0),
    days=st.floats(0.01, 365.0),
    vol=st.floats(0.2, 1.5),
    size=st.floats(0.01, 50.0),
)
def test_the_hedge_bound_holds_for_short_options_with_default_parameters(s, call, moneyness, days, vol, size):
    """Default (Deribit BTC) parameters with vol shocks, short options in a realistic range."""
    hedged, allowed, _ = _hedge_excess(PMParams(), s, (call, s * moneyness, days * DAY, vol), -size)
    assert hedged <= allowed * (1 + 1e-9) + 1e-9 * s * size


@SETTINGS
@given(p=pm_params(), s=spot, data=st.data())
def test_mm_is_mm_factor_times_im_per_unit_and_account(p, s, data):
    legs = data.draw(st.lists(option(s), min_size=1, max_size=6))
    n_acc = data.draw(st.integers(1, 4))
    rows = data.draw(
        st.lists(
            st.tuples(st.integers(0, n_acc - 1), st.integers(0, len(legs) - 1), st.floats(-20.0, 20.0)),
            max_size=12,
        )
    )
    perps = data.draw(st.lists(st.tuples(st.integers(0, n_acc - 1), st.floats(-5.0, 5.0)), max_size=4))
    m = make_market([(0, *leg) for leg in legs], spot=(s,), params=(p,))
    book = make_book(n_acc, options=rows, perps=[(a, 0, q, s) for a, q in perps])
    res = portfolio_margin(market=m, book=book)
    np.testing.assert_allclose(res.maintenance_margin, p.mm_factor * res.initial_margin, rtol=1e-12)
    np.testing.assert_allclose(
        res.maintenance_margin_account, p.mm_factor * res.initial_margin_account, rtol=1e-12, atol=0
    )
    assert (res.maintenance_margin >= res.worst_loss).all() and (res.worst_loss >= 0).all()
    # row order does not matter
    order = np.argsort(-np.arange(len(rows)))
    shuffled = make_book(n_acc, options=[rows[i] for i in order], perps=[(a, 0, q, s) for a, q in perps])
    again = portfolio_margin(market=m, book=shuffled)
    np.testing.assert_allclose(again.maintenance_margin_account, res.maintenance_margin_account, rtol=1e-12, atol=1e-9)


def test_the_hedge_bound_can_fail_with_vol_shocks():
    """A recorded counterexample (default parameters): a long OTM call, hedged at its mark-vol delta.

    Under ``+16 %, vol down`` its delta is lower than the hedge's, so the short perp loses
    more than the call gains; the hedged MM exceeds the bare MM + ``c_p·S·|Δ|``. Kept to show
    that the issue's property holds only as tested above, not for every book under §14.
    """
    hedged, allowed, _ = _hedge_excess(
        PMParams(), 100.0, (True, 137.93727692140743, 224.25009140391427 * DAY, 0.2368749746475774), 1.0
    )
    assert hedged > allowed
    assert hedged - allowed < 0.001 * 100.0

"""Liquidation and bankruptcy prices per position (RISK_MODEL §7).

For position ``i`` (size ``q``, entry ``e``) every other price is held fixed while the
position's own mark price ``p`` moves. That includes, by decision:

* other positions of the same account in *other markets on the same base asset* (they are
  held at today's price although in reality they would move together);
* the account's collateral balance in the position's own base asset (its value is held at
  today's price, as §7's "all other prices held" says).

So the answer is the single-position price of §7, not a joint "asset price at which the
account is liquidated". ``W`` is the account's cross equity without this position's uPnL
(``E_cross − uPnL_i``) and ``MM_o`` the maintenance margin of the other cross positions
(``MM_cross − MM_i``); for an isolated position ``W = w_i`` and ``MM_o = 0``.

Inside bracket ``k`` the solution of ``W + q(p − e) = MM_o + |q|·p·MMF_k − C_k`` is
``p_liq = (W − MM_o + C_k − q·e) / (|q|·MMF_k − q)``. ``E − MM`` is strictly monotone in
``p`` (slope ``q − |q|·MMF_k``, never 0 for ``q ≠ 0`` since ``MMF < 1``), so at most one
bracket gives a consistent candidate (``F_k ≤ |q|·p_liq < F_{k+1}``). Candidates are
computed for every bracket level (a loop over ``K`` levels, vectorized over positions); a
strictly consistent one wins; failing that, one consistent within a relative 1e-9 of a
floor is accepted (at a floor both neighbouring brackets give the same price, and rounding
can push each just outside its own bracket). No price (NaN) when ``q = 0``, when no
candidate is consistent, or when the solution is ``≤ 0``.
"""

from __future__ import annotations

import numpy as np

from riskgov.engine.margin import (
    AccountMetrics,
    PositionMetrics,
    _account_metrics,
    _position_metrics,
    validate_state,
)
from riskgov.engine.types import F64, I64, EngineInputError, ParameterSet, VenueState

__all__ = ["bankruptcy_prices", "liquidation_prices", "position_reference_equity"]

#: Relative slack on bracket floors when no candidate is strictly consistent.
FLOOR_RTOL = 1e-9


def _metrics(
    params: ParameterSet,
    state: VenueState,
    positions: PositionMetrics | None,
    accounts: AccountMetrics | None,
) -> tuple[PositionMetrics, AccountMetrics]:
    validate_state(params, state)
    n_p = state.portfolio.n_positions
    if positions is None:
        positions = _position_metrics(params, state)
    elif positions.notional.shape != (n_p,):
        raise EngineInputError(f"positions has {positions.notional.shape[0]} rows, expected {n_p}")
    if accounts is None:
        accounts = _account_metrics(params, state, positions)
    elif accounts.cross_equity.shape != (state.portfolio.n_accounts,):
        raise EngineInputError(
            f"accounts has {accounts.cross_equity.shape[0]} rows, expected {state.portfolio.n_accounts}"
        )
    return positions, accounts


def position_reference_equity(
    params: ParameterSet,
    state: VenueState,
    positions: PositionMetrics | None = None,
    accounts: AccountMetrics | None = None,
) -> tuple[F64, F64]:
    """``W`` and ``MM_o`` of RISK_MODEL §7 for every position.

    Returns:
        ``(W, MM_o)``, two ``(P,)`` float64 USD arrays: for a cross position the account's
        cross equity without this position's uPnL and the cross MM of its other positions;
        for an isolated position ``w_i`` and 0.
    """
    pm, am = _metrics(params, state, positions, accounts)
    return _reference(state, pm, am)


def _reference(state: VenueState, pm: PositionMetrics, am: AccountMetrics) -> tuple[F64, F64]:
    pf = state.portfolio
    acc = pf.position_account
    iso = pm.isolated
    w = np.where(iso, pf.isolated_margin, am.cross_equity.take(acc) - pm.upnl)
    mm_other = np.where(iso, 0.0, am.cross_maintenance_margin.take(acc) - pm.maintenance_margin)
    return w, mm_other


def _consistent_root(
    floors: F64,
    mmf: F64,
    cum: F64,
    levels: int,
    market: I64,
    q: F64,
    base: F64,
    rtol: float,
) -> F64:
    """Candidate ``(base + C_k)/(|q|·MMF_k − q)`` of every bracket level; keep the one with
    ``F_k(1 − rtol) ≤ |q|·p < F_{k+1}(1 + rtol)`` (the last such level wins; NaN if none)."""
    aq = np.abs(q)
    out = np.full(q.shape, np.nan)
    k_max = floors.shape[1]
    floor_lo = floors[:, 0].take(market) * (1 - rtol)
    with np.errstate(divide="ignore", invalid="ignore"):
        for level in range(levels):
            if level + 1 < k_max:
                floor_hi = floors[:, level + 1].take(market) * (1 + rtol)
            else:
                floor_hi = np.full(q.shape, np.inf)
            cand = (base + cum[:, level].take(market)) / (aq * mmf[:, level].take(market) - q)
            n_cand = aq * cand
            np.copyto(out, cand, where=(n_cand >= floor_lo) & (n_cand < floor_hi))
            if rtol == 0 or level + 1 >= k_max:
                floor_lo = floor_hi
            else:
                floor_lo = floors[:, level + 1].take(market) * (1 - rtol)
    return out


def liquidation_prices(
    params: ParameterSet,
    state: VenueState,
    positions: PositionMetrics | None = None,
    accounts: AccountMetrics | None = None,
) -> F64:
    """Liquidation price of every position (RISK_MODEL §7), USD per base unit.

    Args:
        params: margin parameters.
        state: the venue state (validated once here).
        positions: ``position_metrics`` result (computed when ``None``).
        accounts: ``account_metrics`` result (computed when ``None``).

    Returns:
        ``(P,)`` float64; NaN means "no liquidation price" (``q = 0``, the solution is
        ``≤ 0``, or no bracket is consistent). See the module docstring for which prices
        are held fixed.

    Raises:
        PriceError, UnknownSymbolError, EngineInputError: see ``margin.validate_state``.
    """
    pm, am = _metrics(params, state, positions, accounts)
    w, mm_other = _reference(state, pm, am)
    mk = params.markets
    pf = state.portfolio
    market = pf.position_market
    q = pf.size
    base = w - mm_other - q * pf.entry_price
    levels = int(mk.n_brackets.max()) if mk.n > 0 else 0
    out = _consistent_root(mk.floors, mk.mmf, mk.maintenance_amount, levels, market, q, base, 0.0)
    missing = np.flatnonzero(np.isnan(out) & (q != 0))
    if missing.size:
        # Nothing strictly consistent: accept a candidate within FLOOR_RTOL of its bracket
        # (a root on a floor, pushed just outside both neighbours by rounding).
        out[missing] = _consistent_root(
            mk.floors,
            mk.mmf,
            mk.maintenance_amount,
            levels,
            market[missing],
            q[missing],
            base[missing],
            FLOOR_RTOL,
        )
    out[~(out > 0) | (q == 0)] = np.nan
    return out


def bankruptcy_prices(
    params: ParameterSet,
    state: VenueState,
    positions: PositionMetrics | None = None,
    accounts: AccountMetrics | None = None,
) -> F64:
    """Bankruptcy price of every position (RISK_MODEL §7): ``p_bk = e − W/q``.

    The price at which the position's equity (the account's cross equity, or ``w_i + uPnL_i``
    for an isolated position) reaches 0, all other prices held (see the module docstring).

    Returns:
        ``(P,)`` float64 USD per base unit; NaN when ``q = 0`` or ``p_bk ≤ 0``.

    Raises:
        PriceError, UnknownSymbolError, EngineInputError: see ``margin.validate_state``.
    """
    pm, am = _metrics(params, state, positions, accounts)
    w, _ = _reference(state, pm, am)
    q = state.portfolio.size
    with np.errstate(divide="ignore", invalid="ignore"):
        out = state.portfolio.entry_price - w / q
    out[~(out > 0) | (q == 0)] = np.nan
    return out

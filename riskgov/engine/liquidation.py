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

Fast path, bitwise equal to the level loop
------------------------------------------
With ``base = W − MM_o − q·e`` the candidate's notional at level ``L`` is, in exact
arithmetic on the float inputs, ``n_L = (base + C_L)/(MMF_L − 1)`` for a long and
``(base + C_L)/(1 + MMF_L)`` for a short, so "``n_L`` is below ``F_L(1 − ε)``" is a
comparison of ``base`` with a per-(side, market, level) threshold: ``z > Θ_L`` with
``z = sign(q)·base``. The computed candidate carries a relative error of at most
``(5 + MMF/(1 − MMF))·2⁻⁵³`` (ε = 1e-7 covers it and the 1e-9 floor slack with a wide
margin; thresholds are rounded outwards), and ±inf/NaN candidates are never consistent.
Per position, then:

* if ``z`` exceeds ``max_L Θ_L`` over all levels, no level can be consistent in either
  pass: no price;
* otherwise the level ``g`` where ``n_g ≥ F_g`` last holds (from the same thresholds with
  ε = 0) is tried: if its candidate, computed with exactly the loop's operations, is
  strictly consistent and ``z > max_{L>g} Θ_L`` (no higher level can be consistent), it
  is the loop's answer;
* every other position (near a floor, degenerate sizes) goes through the level loop.

So the result is the level loop's, bit for bit; the loop only runs on a few rows.
"""

from __future__ import annotations

import numpy as np

from riskgov.engine._parallel import run_chunks
from riskgov.engine.margin import (
    AccountMetrics,
    PositionMetrics,
    _account_metrics,
    _position_metrics,
    validate_state,
)
from riskgov.engine.types import F64, I64, EngineInputError, MarketParams, ParameterSet, VenueState

__all__ = ["bankruptcy_prices", "liquidation_prices", "position_reference_equity"]

#: Relative slack on bracket floors when no candidate is strictly consistent.
FLOOR_RTOL = 1e-9
#: Relative margin below a floor under which the fast path treats a level as excluded.
_CERT_EPS = 1e-7


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
    iso = np.flatnonzero(pm.isolated)
    w = am.cross_equity.take(acc)
    w -= pm.upnl
    w[iso] = pf.isolated_margin.take(iso)
    mm_other = am.cross_maintenance_margin.take(acc)
    mm_other -= pm.maintenance_margin
    mm_other[iso] = 0.0
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


def _level_loop(mk: MarketParams, levels: int, market: I64, q: F64, base: F64) -> F64:
    """The §7 level loop: strictly consistent candidates, then ``FLOOR_RTOL`` for the rest."""
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
    return out


def _root_thresholds(mk: MarketParams, levels: int) -> tuple[F64, F64] | None:
    """``(guess, suffix)`` tables of the fast path (module docstring), or ``None`` when the
    parameters fall outside the range its error bound covers.

    ``guess``: ``(2·M, levels)`` — ``z ≤ guess`` ⇔ ``n_L ≥ F_L`` (side 0 long, 1 short).
    ``suffix``: ``(2·M, levels + 1)`` — ``suffix[·, j] = max_{L ≥ j} Θ_L`` of the outward-
    rounded exclusion thresholds (``−inf`` for ``j = levels``).
    """
    f = mk.floors[:, :levels]
    r = mk.mmf[:, :levels]
    c = mk.maintenance_amount[:, :levels]
    fin = np.isfinite(f)
    real = f[fin]
    ok = (
        bool(np.isfinite(r).all() and np.isfinite(c).all())
        and bool(((r >= 0) & (1.0 - r >= 1e-6)).all())
        and bool(np.all(fin[:, 0]))
        and bool(np.all((real == 0) | ((real >= 1e-3) & (real <= 1e200))))
        and bool(np.all(np.abs(c) <= 1e200))
    )
    if not ok:
        return None
    fz = np.where(fin, f, 0.0)
    with np.errstate(invalid="ignore", over="ignore"):
        guess_long = np.where(fin, -c - fz * (1.0 - r), -np.inf)
        guess_short = np.where(fin, c - fz * (1.0 + r), -np.inf)
        keep = 1.0 - _CERT_EPS
        slack = 1e-12 * (np.abs(c) + 2.0 * fz) + 1e-300
        tau = -c - fz * keep * (1.0 - r) + slack  # long excluded ⇔ base > tau
        sigma = fz * keep * (1.0 + r) - c - slack  # short excluded ⇔ base < sigma
    theta = np.concatenate([np.where(fin, tau, -np.inf), np.where(fin, -sigma, -np.inf)])
    guess = np.concatenate([guess_long, guess_short])
    suffix = np.full((theta.shape[0], levels + 1), -np.inf)
    suffix[:, :levels] = np.maximum.accumulate(theta[:, ::-1], axis=1)[:, ::-1]
    return guess, suffix


def _fast_roots(
    mk: MarketParams, levels: int, market: I64, q: F64, base: F64, threads: int | None
) -> tuple[F64, I64] | None:
    """Liquidation price per position where the fast path can prove the level loop's answer;
    returns ``(out, todo)`` with ``todo`` the rows left to the loop (module docstring)."""
    tables = _root_thresholds(mk, levels)
    if tables is None:
        return None
    guess, suffix = tables
    n = q.shape[0]
    m_n = mk.n
    k_max = mk.floors.shape[1]
    width = levels + 1
    guess_flat = np.ascontiguousarray(guess.T).ravel()  # level-major: guess_flat[L·2M + row]
    suffix_flat = suffix.ravel()
    floors_flat = mk.floors.ravel()
    floors_hi = np.concatenate([mk.floors, np.full((m_n, 1), np.inf)], axis=1).ravel()
    mmf_flat = mk.mmf.ravel()
    cum_flat = mk.maintenance_amount.ravel()
    out = np.empty(n)
    todo = np.zeros(n, dtype=np.bool_)

    def kernel(lo: int, hi: int) -> None:
        qc, bc, mc = q[lo:hi], base[lo:hi], market[lo:hi]
        short = qc < 0
        row = np.add(mc, m_n * short)
        z = np.where(short, -bc, bc)
        aq = np.abs(qc)
        fine = aq >= 1e-300
        none = z > suffix_flat.take(row * width)
        none &= fine
        g = np.zeros(row.shape, dtype=np.int64)
        hit = np.empty(row.shape, dtype=np.bool_)
        for level in range(1, levels):
            np.less_equal(z, guess_flat.take(row + level * 2 * m_n), out=hit)
            g += hit
        top = z > suffix_flat.take(row * width + g + 1)
        at = mc * k_max + g
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            cand = (bc + cum_flat.take(at)) / (aq * mmf_flat.take(at) - qc)
            n_cand = aq * cand
        ok = n_cand >= floors_flat.take(at)
        ok &= n_cand < floors_hi.take(mc * (k_max + 1) + g + 1)
        ok &= top
        ok &= fine
        oc = out[lo:hi]
        oc.fill(np.nan)
        np.copyto(oc, cand, where=ok)
        ok |= none
        np.logical_not(ok, out=todo[lo:hi])
        todo[lo:hi] &= qc != 0

    run_chunks(n, kernel, threads)
    return out, np.flatnonzero(todo)


def _liquidation_prices(
    params: ParameterSet,
    state: VenueState,
    pm: PositionMetrics,
    am: AccountMetrics,
    *,
    threads: int | None = None,
    reference: tuple[F64, F64] | None = None,
) -> F64:
    w, mm_other = _reference(state, pm, am) if reference is None else reference
    mk = params.markets
    pf = state.portfolio
    market = pf.position_market
    q = pf.size
    base = w - mm_other
    base -= q * pf.entry_price
    levels = int(mk.n_brackets.max()) if mk.n > 0 else 0
    fast = _fast_roots(mk, levels, market, q, base, threads) if levels > 0 and q.size else None
    if fast is None:
        out = _level_loop(mk, levels, market, q, base)
    else:
        out, todo = fast
        if todo.size:
            out[todo] = _level_loop(mk, levels, market[todo], q[todo], base[todo])
    out[~(out > 0) | (q == 0)] = np.nan
    return out


def liquidation_prices(
    params: ParameterSet,
    state: VenueState,
    positions: PositionMetrics | None = None,
    accounts: AccountMetrics | None = None,
    *,
    threads: int | None = None,
) -> F64:
    """Liquidation price of every position (RISK_MODEL §7), USD per base unit.

    Args:
        params: margin parameters.
        state: the venue state (validated once here).
        positions: ``position_metrics`` result (computed when ``None``).
        accounts: ``account_metrics`` result (computed when ``None``).
        threads: worker threads of the fast path (results do not depend on it).

    Returns:
        ``(P,)`` float64; NaN means "no liquidation price" (``q = 0``, the solution is
        ``≤ 0``, or no bracket is consistent). See the module docstring for which prices
        are held fixed.

    Raises:
        PriceError, UnknownSymbolError, EngineInputError: see ``margin.validate_state``.
    """
    pm, am = _metrics(params, state, positions, accounts)
    return _liquidation_prices(params, state, pm, am, threads=threads)


def _bankruptcy_prices(state: VenueState, w: F64) -> F64:
    q = state.portfolio.size
    with np.errstate(divide="ignore", invalid="ignore"):
        out = state.portfolio.entry_price - w / q
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
    return _bankruptcy_prices(state, w)

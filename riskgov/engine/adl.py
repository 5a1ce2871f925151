"""Auto-deleveraging: who covers the shortfall the insurance fund cannot (RISK_MODEL §8).

Three steps:

1. ``adl_attribution`` — per scenario, which market and side owes the ADL amount. Each
   liquidated unit's shortfall is split across its positions' markets **in proportion to
   their realised losses at the close** (``max(0, −q·(p_close − e))``, slippage included;
   by notional when no position lost, e.g. a collateral-driven shortfall). Summed per
   ``(market, side of the liquidated position)`` this gives ``shortfall_by_market (M, 2)``
   (column 0 = liquidated longs, 1 = liquidated shorts), which adds up to the scenario's
   liquidation shortfall. The scenario's ADL amount ``max(0, S − IF − penalties)`` is then
   attributed pro rata: ``adl_by_market = shortfall_by_market·ADL/S``. Shortfall of
   position-less units (liabilities above collateral) has no market and is not attributed
   (reported as ``unattributed``).
2. ``adl_ranking`` — within each market and side, the profitable positions (``uPnL > 0``)
   ranked by ``(uPnL/max(E, ε))·(N/max(E, ε))`` (profit × leverage, as Binance and
   Hyperliquid), ``E`` the equity of the position's unit (cross equity, or ``E_i`` of an
   isolated position), with the cumulative reducible profit.
3. ``adl_allocation`` — the amount owed by the liquidated side of market ``m`` is covered by
   the profitable positions on the **other** side of ``m``, in rank order. With a
   ``bankruptcy_gap`` ``g = |p_bk − p|`` (USD per base unit, from ``adl_attribution``) the
   ranked positions are reduced by size at the bankruptcy price, each giving up ``dq·g``
   (Binance semantics) until ``amount/g`` base units are matched. Without a gap each
   position gives up at most its uPnL, in order, and the reduced size is the same fraction
   of the position. What the other side cannot cover is returned as ``uncovered``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskgov.engine.brackets import maintenance_margin
from riskgov.engine.fund import adl_amount
from riskgov.engine.pm_venue import PMVenue, pm_adl_cells
from riskgov.engine.scenarios import validate_shocks
from riskgov.engine.types import F64, I64, EngineInputError, ParameterSet, VenueState
from riskgov.engine.units import UnitBook, build_unit_book, close_costs, unit_outcome

__all__ = [
    "AdlAllocation",
    "AdlAttribution",
    "AdlRanking",
    "adl_allocation",
    "adl_attribution",
    "adl_ranking",
]

LONG, SHORT = 0, 1


@dataclass(frozen=True)
class AdlRanking:
    """Profitable positions ranked for ADL within each market and side (RISK_MODEL §8).

    Attributes (``R`` ranked positions, grouped by market then side, best rank first):
        position: ``(R,)`` int64 portfolio row.
        market: ``(R,)`` int64.
        side: ``(R,)`` int64 ``0`` long, ``1`` short.
        score: ``(R,)`` float64 ``(uPnL/max(E,ε))·(N/max(E,ε))``.
        upnl: ``(R,)`` float64 USD unrealised profit (> 0) at the ranking prices.
        size: ``(R,)`` float64 ``|q|`` base units.
        notional: ``(R,)`` float64 USD.
        cum_profit: ``(R,)`` float64 USD reducible profit of this and all better-ranked
            positions of its group.
        group_start: ``(M, 2)`` int64 first row of each (market, side) group; ``group_end``
            one past its last (equal when empty).
        group_end: ``(M, 2)`` int64.
    """

    position: I64
    market: I64
    side: I64
    score: F64
    upnl: F64
    size: F64
    notional: F64
    cum_profit: F64
    group_start: I64
    group_end: I64


def adl_ranking(
    params: ParameterSet,
    state: VenueState,
    *,
    shocks: F64 | None = None,
    eps: float = 1e-9,
    book: UnitBook | None = None,
) -> AdlRanking:
    """Rank profitable positions for ADL per market and side (RISK_MODEL §8).

    Args:
        params: margin parameters.
        state: venue state.
        shocks: ``(A,)`` relative shocks to rank at (a scenario's prices); base prices when
            ``None``.
        eps: USD floor of the equity in the score (``max(E, ε)``).
        book: a ``stress.build_unit_book(params, state)`` to reuse.

    Returns:
        ``AdlRanking``. Ties are broken by portfolio row.

    Raises:
        PriceError, EngineInputError: bad prices, shocks or shapes.
    """
    if book is None:
        book = build_unit_book(params, state)
    mk = params.markets
    r = (
        np.zeros(params.assets.n)
        if shocks is None
        else validate_shocks(np.reshape(shocks, (1, -1)), params.assets.n)[0]
    )
    price = book.price0 * (1.0 + r[book.pos_asset])
    upnl = book.size * (price - book.entry_price)
    notional = np.abs(book.size) * price
    bal_price = state.asset_prices[book.bal_asset] * (1.0 + r[book.bal_asset])
    factor = np.where(book.bal_amount > 0, 1.0 - params.assets.haircut[book.bal_asset], 1.0)
    equity = (
        np.bincount(book.bal_unit, weights=book.bal_amount * bal_price * factor, minlength=book.n_units)
        + np.bincount(book.pos_unit, weights=upnl, minlength=book.n_units)
        + book.unit_margin
    )
    e = np.maximum(equity[book.pos_unit], eps)
    score = (upnl / e) * (notional / e)
    keep = np.flatnonzero(upnl > 0)
    side = np.where(book.size[keep] > 0, LONG, SHORT)
    mkt = book.pos_market[keep]
    row = book.pos_index[keep]
    order = np.lexsort((row, -score[keep], side, mkt))
    keep, side, mkt, row = keep[order], side[order], mkt[order], row[order]
    group = mkt * 2 + side
    bounds = np.searchsorted(group, np.arange(2 * mk.n + 1))
    up = upnl[keep]
    cum = np.cumsum(up)
    start = bounds[:-1]
    before = np.where(start > 0, cum[np.maximum(start - 1, 0)], 0.0) if cum.size else start * 0.0
    cum_in_group = cum - np.repeat(before, np.diff(bounds)) if cum.size else cum
    return AdlRanking(
        position=row,
        market=mkt,
        side=side.astype(np.int64),
        score=score[keep],
        upnl=up,
        size=np.abs(book.size[keep]),
        notional=notional[keep],
        cum_profit=cum_in_group,
        group_start=start.reshape(mk.n, 2),
        group_end=bounds[1:].reshape(mk.n, 2),
    )


@dataclass(frozen=True)
class AdlAllocation:
    """How the ranked positions are reduced (RISK_MODEL §8); rows match ``AdlRanking``.

    Attributes:
        position: ``(R,)`` int64 portfolio row (as in the ranking).
        size_reduced: ``(R,)`` float64 base units closed by ADL (``0 ≤ · ≤ |q|``).
        amount: ``(R,)`` float64 USD given up by the position.
        uncovered: ``(M, 2)`` float64 USD of ``adl_amount`` the other side could not cover.
    """

    position: I64
    size_reduced: F64
    amount: F64
    uncovered: F64


def adl_allocation(ranking: AdlRanking, adl_amount_per_market: F64, bankruptcy_gap: F64 | None = None) -> AdlAllocation:
    """Reduce opposite-side profitable positions in rank order (RISK_MODEL §8).

    Args:
        ranking: ``adl_ranking`` result at the scenario's prices.
        adl_amount_per_market: ``(M, 2)`` float64 USD owed by the liquidated longs (column 0)
            and shorts (column 1) of each market (``adl_attribution().adl_by_market``); a
            ``(M,)`` array means liquidated longs only.
        bankruptcy_gap: ``(M, 2)`` float64 USD per base unit ``|p_bk − p|`` of the liquidated
            side (``adl_attribution().bankruptcy_gap``); ``None`` = profit-capped mode.

    Returns:
        ``AdlAllocation``.

    Raises:
        EngineInputError: wrong shapes, negative amounts or gaps.
    """
    n_m = ranking.group_start.shape[0]
    amt = np.asarray(adl_amount_per_market, dtype=np.float64)
    if amt.shape == (n_m,):
        amt = np.stack([amt, np.zeros(n_m)], axis=1)
    if amt.shape != (n_m, 2) or not np.all(np.isfinite(amt)) or (amt < 0).any():
        raise EngineInputError(f"adl_amount_per_market must be ({n_m}, 2) finite >= 0")
    # owed by liquidated longs of m (col 0) is covered by the shorts of m, and vice versa
    owed_by_group = amt[:, ::-1]  # group (m, side) covers what the other side of m owes
    n = ranking.position.size
    group = ranking.market * 2 + ranking.side
    start = ranking.group_start.reshape(-1)
    if bankruptcy_gap is None:
        need = owed_by_group.reshape(-1)[group] if n else np.zeros(0)
        before = ranking.cum_profit - ranking.upnl
        amount = np.clip(need - before, 0.0, ranking.upnl)
        size_reduced = ranking.size * amount / ranking.upnl
        covered = np.bincount(group, weights=amount, minlength=2 * n_m).reshape(n_m, 2)
    else:
        gap = np.asarray(bankruptcy_gap, dtype=np.float64)
        if gap.shape != (n_m, 2) or not np.all(np.isfinite(gap)) or (gap < 0).any():
            raise EngineInputError(f"bankruptcy_gap must be ({n_m}, 2) finite >= 0")
        g = gap[:, ::-1].reshape(-1)
        owed = owed_by_group.reshape(-1)
        size_need = np.where(g > 0, owed / np.where(g > 0, g, 1.0), 0.0)
        cum_size = np.cumsum(ranking.size)
        base = np.where(start > 0, cum_size[np.maximum(start - 1, 0)], 0.0) if n else start * 0.0
        before = cum_size - ranking.size - base[group] if n else cum_size
        size_reduced = np.clip(size_need[group] - before, 0.0, ranking.size) if n else cum_size
        amount = size_reduced * g[group] if n else cum_size
        covered = np.bincount(group, weights=amount, minlength=2 * n_m).reshape(n_m, 2)
    uncovered = np.maximum(0.0, amt - covered[:, ::-1])
    return AdlAllocation(position=ranking.position, size_reduced=size_reduced, amount=amount, uncovered=uncovered)


@dataclass(frozen=True)
class AdlAttribution:
    """A scenario's shortfall and ADL amount by market and liquidated side (RISK_MODEL §8).

    Attributes:
        shortfall_by_market: ``(M, 2)`` float64 USD liquidation shortfall owed by the
            liquidated longs (column 0) and shorts (column 1) of each market.
        liquidated_size: ``(M, 2)`` float64 base units of the liquidated positions of those
            bankrupt units, same layout.
        bankruptcy_gap: ``(M, 2)`` float64 USD per base unit, ``shortfall/size`` (0 when no size).
        adl_by_market: ``(M, 2)`` float64 USD ``shortfall_by_market·ADL/S``.
        shortfall: USD scenario shortfall ``S`` (as ``stress.run_scenarios``).
        penalties: USD penalties paid.
        adl_amount: USD ``max(0, S − IF − penalties)``.
        unattributed: USD shortfall of position-less units (no market to attribute to).
    """

    shortfall_by_market: F64
    liquidated_size: F64
    bankruptcy_gap: F64
    adl_by_market: F64
    shortfall: float
    penalties: float
    adl_amount: float
    unattributed: float


#: positions per block of ``adl_attribution`` (whole units: a block ends where a unit ends)
BLOCK_POSITIONS = 1 << 20


def _unit_blocks(book: UnitBook) -> list[tuple[int, int, int, int]]:
    """``(lo, hi, u_lo, u_hi)``: position ranges ``[lo, hi)`` of about ``BLOCK_POSITIONS``
    positions holding units ``[u_lo, u_hi)`` whole (``UnitBook.unit_ranges``; positions are
    sorted by unit)."""
    out = []
    for u_lo, u_hi in book.unit_ranges(BLOCK_POSITIONS):
        lo, hi = (int(x) for x in np.searchsorted(book.pos_unit, [u_lo, u_hi], side="left"))
        if hi > lo:
            out.append((lo, hi, u_lo, u_hi))
    return out


def _closes(book: UnitBook, r: F64, lo: int, hi: int) -> tuple[F64, F64, F64, F64]:
    """Positions ``[lo, hi)`` at the shocked prices: size ``q``, price ``p``, notional ``N``
    and realised loss at the close ``max(0, −q·(p_close − e))`` (§8 slippage), USD."""
    q = book.size[lo:hi]
    p = book.price0[lo:hi] * (1.0 + r[book.pos_asset[lo:hi]])
    notional = np.abs(q) * p
    depth = book.markets.depth_usd_per_1pct.take(book.pos_market[lo:hi])  # not the book's cached copy
    slip = np.minimum(1.0, 0.01 * notional / depth)
    p_close = p * (1.0 - np.sign(q) * slip)
    loss = np.maximum(0.0, -q * (p_close - book.entry_price[lo:hi]))
    return q, p, notional, loss


def adl_attribution(
    params: ParameterSet,
    state: VenueState,
    shocks: F64,
    *,
    book: UnitBook | None = None,
    pm: PMVenue | None = None,
) -> AdlAttribution:
    """Attribute one scenario's shortfall and ADL amount to markets and sides (RISK_MODEL §8).

    Args:
        params: margin parameters.
        state: venue state with its insurance fund.
        shocks: ``(A,)`` float64 relative shocks of the scenario.
        book: a ``stress.build_unit_book(params, state)`` to reuse; with it only the state's
            prices and insurance fund are read (``units.prices_of``).
        pm: the venue's portfolio-margin accounts (``pm_venue.split_venue``; ``state`` is then
            its ``cross_state``): their shortfall split over their legs by the same rule
            (``pm_venue.pm_adl_cells``; an option leg by its delta equivalent's market and side).

    Returns:
        ``AdlAttribution`` (see the module docstring for the rule).

    Raises:
        PriceError, EngineInputError: bad prices, shocks or shapes.
    """
    if book is None:
        book = build_unit_book(params, state)
    mk = params.markets
    r = validate_shocks(np.reshape(shocks, (1, -1)), params.assets.n)[0]
    n_u, n_m = book.n_units, mk.n
    bal_price = state.asset_prices[book.bal_asset] * (1.0 + r[book.bal_asset])
    factor = np.where(book.bal_amount > 0, 1.0 - params.assets.haircut[book.bal_asset], 1.0)
    equity = np.bincount(book.bal_unit, weights=book.bal_amount * bal_price * factor, minlength=n_u).astype(
        np.float64, copy=False
    )  # float even without balances (bincount of nothing is int64)
    del bal_price, factor
    # per unit, position by position in blocks of whole units (a venue's worth of per-position
    # temporaries never coexists): P&L, MM, close costs, realised loss and notional at the close
    mm, slip_u, pen_u, loss_u, notional_u = (np.zeros(n_u) for _ in range(5))
    blocks = _unit_blocks(book)
    for lo, hi, u_lo, u_hi in blocks:
        q, p, notional, loss = _closes(book, r, lo, hi)
        unit = book.pos_unit[lo:hi] - u_lo
        k = u_hi - u_lo
        m = book.pos_market[lo:hi]
        s_cost, p_due = close_costs(
            notional, book.markets.depth_usd_per_1pct.take(m), book.markets.liquidation_penalty.take(m)
        )
        equity[u_lo:u_hi] += np.bincount(unit, weights=q * (p - book.entry_price[lo:hi]), minlength=k)
        mm[u_lo:u_hi] = np.bincount(unit, weights=maintenance_margin(mk, book.pos_market[lo:hi], notional), minlength=k)
        slip_u[u_lo:u_hi] = np.bincount(unit, weights=s_cost, minlength=k)
        pen_u[u_lo:u_hi] = np.bincount(unit, weights=p_due, minlength=k)
        loss_u[u_lo:u_hi] = np.bincount(unit, weights=loss, minlength=k)
        notional_u[u_lo:u_hi] = np.bincount(unit, weights=notional, minlength=k)
    equity += book.unit_margin  # E = collateral + P&L + isolated margin, summed in that order
    liq, _, pen, short = unit_outcome(equity, mm, slip_u, pen_u)
    del equity, mm, slip_u, pen_u
    by_market = np.zeros(2 * n_m)
    size = np.zeros(2 * n_m)
    for lo, hi, _, _ in blocks:
        q, _, notional, loss = _closes(book, r, lo, hi)
        unit = book.pos_unit[lo:hi]
        lu = loss_u[unit]
        by_loss = lu > 0
        weight = np.where(
            by_loss,
            loss / np.where(by_loss, lu, 1.0),
            notional / np.maximum(notional_u[unit], 1e-300),
        )
        liq_pos = liq[unit]
        share = short[unit] * weight * liq_pos
        bankrupt_pos = liq_pos & (short[unit] > 0)
        cell = book.pos_market[lo:hi] * 2 + np.where(q > 0, LONG, SHORT)
        by_market += np.bincount(cell, weights=share, minlength=2 * n_m)
        size += np.bincount(cell, weights=np.abs(q) * bankrupt_pos, minlength=2 * n_m)
    by_market, size = by_market.reshape(n_m, 2), size.reshape(n_m, 2)
    gap = np.where(size > 0, by_market / np.where(size > 0, size, 1.0), 0.0)
    total = float(short.sum())
    penalties = float(pen.sum())
    unattributed = float(short[~liq].sum())
    if pm is not None and pm.book.n_accounts:
        cells = pm_adl_cells(params, pm, state.asset_prices, r)
        by_market = by_market + cells.shortfall_by_market
        size = size + cells.liquidated_size
        gap = np.where(size > 0, by_market / np.where(size > 0, size, 1.0), 0.0)
        total += cells.shortfall
        penalties += cells.penalties
        unattributed += cells.unattributed
    fund = float(state.insurance_fund)
    adl = float(adl_amount(fund, penalties, total))
    return AdlAttribution(
        shortfall_by_market=by_market,
        liquidated_size=size,
        bankruptcy_gap=gap,
        adl_by_market=by_market * (adl / total) if total > 0 else np.zeros((n_m, 2)),
        shortfall=total,
        penalties=penalties,
        adl_amount=adl,
        unattributed=unattributed,
    )

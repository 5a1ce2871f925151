"""Margin units of a venue and the §8 outcome of one unit (RISK_MODEL §4–§6, §8).

Shared by the stress run (``stress``), the cascade (``cascade``) and ADL (``adl``).

Margin units (§5, §6, §8)
-------------------------
Liquidation acts on *units*: the cross side of an account (collateral + cross positions)
or one isolated position with its own margin. Units ``0..A-1`` are the accounts' cross
sides, ``A..A+I-1`` the isolated positions in portfolio order; each has an ``owner`` account,
and an account counts once per scenario however many of its units are liquidated (§9).

Outcome of one unit (§8)
------------------------
With shocked equity ``E'`` and maintenance margin ``MM'``: liquidated ⇔ ``MM' > 0`` and
``E' < MM'``. All its positions close at ``p'(1 − sign(q)·slip)``, ``slip = min(1,
0.01·N'/D_m)``, which lowers equity by ``Σ N'·slip``: ``E_after = E' − Σ N'·slip``; the
penalty paid is ``min(Σ N'·pen_m, max(0, E_after))``, the shortfall ``max(0, −E_after)``.
A unit that is not liquidated contributes ``max(0, −E')`` to the shortfall: that is only
ever non-zero for an account with no positions whose liabilities exceed its collateral
(it is bankrupt by §5 but cannot be liquidated). So a zero-shock scenario reproduces the
base pass (``margin.account_metrics``): same liquidatable count, and with infinite depth the
same bankrupt count and shortfall. An account is *bankrupt* in a scenario when the sum of
its units' shortfalls is > 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from riskgov.engine._parallel import run_chunks
from riskgov.engine.brackets import bracket_index
from riskgov.engine.types import (
    F64,
    I64,
    Bool,
    EngineInputError,
    MarketParams,
    ParameterSet,
    PriceError,
    UnknownSymbolError,
    VenueState,
)

__all__ = ["UnitBook", "build_unit_book", "close_costs", "prices_of", "unit_outcome"]


@dataclass(frozen=True)
class UnitBook:
    """A venue laid out by margin unit, at base prices (RISK_MODEL §4–§6).

    Attributes (``U`` units, ``P`` positions sorted by unit, ``B`` balances):
        n_accounts: number of accounts ``A``.
        n_units: ``U = A + I`` (``I`` isolated positions).
        unit_owner: ``(U,)`` int64 account of each unit.
        unit_start, unit_count: ``(U,)`` int64 slice of the unit's positions.
        unit_margin: ``(U,)`` float64 USD isolated margin ``w`` (0 for cross units).
        unit_has_liability: ``(U,)`` bool, the unit holds a negative balance.
        equity0: ``(U,)`` float64 USD equity at base prices (``V + Σ uPnL`` or ``w + uPnL``).
        mm0: ``(U,)`` float64 USD maintenance margin at base prices.
        pos_index: ``(P,)`` int64 original portfolio row of each sorted position.
        pos_unit, pos_market, pos_asset: ``(P,)`` int64.
        size, entry_price: ``(P,)`` float64 base units / USD.
        price0: ``(P,)`` float64 USD mark price (the base asset's price, §9).
        notional0: ``(P,)`` float64 USD ``|q|·p``.
        pos_mm0: ``(P,)`` float64 USD ``MM(N)``.
        pos_bracket: ``(P,)`` int64 0-based base bracket ``k`` of each position (§2).
        bal_unit, bal_asset: ``(B,)`` int64, sorted by unit (a balance belongs to its
            account's cross unit).
        bal_amount: ``(B,)`` float64 asset units.
        bal_value0: ``(B,)`` float64 USD value at base price, haircut on positives (§4).
        markets: the parameter set's ``MarketParams`` (bracket tables, penalties, depths).

    Computed from ``markets`` on first access (cached), ``(P,)`` float64:
        pos_mmf0, pos_cum0: ``MMF_k`` and ``C_k`` of the base bracket ``k``.
        pos_floor_lo, pos_floor_hi: USD ``[F_k, F_{k+1})`` of the base bracket (``+inf``
            above the last), so a shocked notional inside it needs no lookup.
        penalty_rate, depth: the market's ``pen_m`` and USD ``D_m`` (§8).
    """

    n_accounts: int
    n_units: int
    unit_owner: I64
    unit_start: I64
    unit_count: I64
    unit_margin: F64
    unit_has_liability: Bool
    equity0: F64
    mm0: F64
    pos_index: I64
    pos_unit: I64
    pos_market: I64
    pos_asset: I64
    size: F64
    entry_price: F64
    price0: F64
    notional0: F64
    pos_mm0: F64
    pos_bracket: I64
    bal_unit: I64
    bal_asset: I64
    bal_amount: F64
    bal_value0: F64
    markets: MarketParams

    def slice_units(self, u_lo: int, u_hi: int) -> UnitBook:
        """The units ``[u_lo, u_hi)`` as a book of their own (unit ``u`` becomes ``u − u_lo``):
        their positions and balances are contiguous (sorted by unit), so every array is a view
        but the rebased unit ids. For what is computed unit by unit (``pruning._Fast``'s
        bounds), a venue in blocks gives the same per-unit figures as the whole book."""
        p_lo, p_hi = (int(x) for x in np.searchsorted(self.pos_unit, [u_lo, u_hi], side="left"))
        b_lo, b_hi = (int(x) for x in np.searchsorted(self.bal_unit, [u_lo, u_hi], side="left"))
        return UnitBook(
            n_accounts=self.n_accounts,
            n_units=u_hi - u_lo,
            unit_owner=self.unit_owner[u_lo:u_hi],
            unit_start=self.unit_start[u_lo:u_hi] - p_lo,
            unit_count=self.unit_count[u_lo:u_hi],
            unit_margin=self.unit_margin[u_lo:u_hi],
            unit_has_liability=self.unit_has_liability[u_lo:u_hi],
            equity0=self.equity0[u_lo:u_hi],
            mm0=self.mm0[u_lo:u_hi],
            pos_index=self.pos_index[p_lo:p_hi],
            pos_unit=self.pos_unit[p_lo:p_hi] - u_lo,
            pos_market=self.pos_market[p_lo:p_hi],
            pos_asset=self.pos_asset[p_lo:p_hi],
            size=self.size[p_lo:p_hi],
            entry_price=self.entry_price[p_lo:p_hi],
            price0=self.price0[p_lo:p_hi],
            notional0=self.notional0[p_lo:p_hi],
            pos_mm0=self.pos_mm0[p_lo:p_hi],
            pos_bracket=self.pos_bracket[p_lo:p_hi],
            bal_unit=self.bal_unit[b_lo:b_hi] - u_lo,
            bal_asset=self.bal_asset[b_lo:b_hi],
            bal_amount=self.bal_amount[b_lo:b_hi],
            bal_value0=self.bal_value0[b_lo:b_hi],
            markets=self.markets,
        )

    def unit_ranges(self, positions: int) -> list[tuple[int, int]]:
        """Consecutive ``(u_lo, u_hi)`` unit ranges covering ``[0, U)``, each holding about
        ``positions`` positions (a unit is never split, so a unit with more positions makes a
        range of its own; units without positions go with their neighbours).

        Raises:
            EngineInputError: ``positions < 1``.
        """
        _check(positions >= 1, f"positions per range must be >= 1, got {positions}")
        n = self.pos_unit.size
        cuts = {0, self.n_units}
        cuts.update(int(self.pos_unit[i]) for i in range(positions, n, positions))
        edges = sorted(cuts)
        return [(a, b) for a, b in zip(edges, edges[1:], strict=False) if b > a]

    # Per-position values of the base bracket and market, gathered from the small
    # ``markets`` tables on first access (the stress fast path reads the tables directly).

    @cached_property
    def pos_cell(self) -> I64:
        """``(P,)`` int64 flat ``(market, bracket)`` index into the ``(M, K)`` tables."""
        return self.pos_market * self.markets.max_brackets + self.pos_bracket

    @cached_property
    def pos_mmf0(self) -> F64:
        """``(P,)`` float64 ``MMF_k`` of the base bracket."""
        return np.ascontiguousarray(self.markets.mmf).ravel().take(self.pos_cell)

    @cached_property
    def pos_cum0(self) -> F64:
        """``(P,)`` float64 USD ``C_k`` of the base bracket."""
        return np.ascontiguousarray(self.markets.maintenance_amount).ravel().take(self.pos_cell)

    @cached_property
    def pos_floor_lo(self) -> F64:
        """``(P,)`` float64 USD ``F_k`` of the base bracket."""
        return np.ascontiguousarray(self.markets.floors).ravel().take(self.pos_cell)

    @cached_property
    def pos_floor_hi(self) -> F64:
        """``(P,)`` float64 USD ``F_{k+1}`` of the base bracket (``+inf`` above the last)."""
        mk = self.markets
        ext = np.concatenate([mk.floors, np.full((mk.n, 1), np.inf)], axis=1).ravel()
        return ext.take(self.pos_cell + self.pos_market + 1)

    @cached_property
    def penalty_rate(self) -> F64:
        """``(P,)`` float64 the market's ``pen_m`` (§8)."""
        return self.markets.liquidation_penalty.take(self.pos_market)

    @cached_property
    def depth(self) -> F64:
        """``(P,)`` float64 USD the market's ``D_m`` per 1 % (§8)."""
        return self.markets.depth_usd_per_1pct.take(self.pos_market)


def _check(cond: bool, msg: str, exc: type[EngineInputError] = EngineInputError) -> None:
    if not cond:
        raise exc(msg)


def build_unit_book(params: ParameterSet, state: VenueState) -> UnitBook:
    """Validate a venue once and lay it out by margin unit (RISK_MODEL §4–§6).

    Args:
        params: the margin parameters.
        state: portfolio, ``(A_assets,)`` asset prices and insurance fund.

    Returns:
        ``UnitBook`` at the state's prices.

    Raises:
        PriceError: an asset price is not finite and > 0.
        UnknownSymbolError: a market, asset or account index is out of range.
        EngineInputError: inconsistent array shapes or non-finite sizes/entries/balances.
    """
    pf = state.portfolio
    assets, mk = params.assets, params.markets
    prices = np.asarray(state.asset_prices, dtype=np.float64)
    _check(prices.shape == (assets.n,), f"asset_prices must be ({assets.n},), got {prices.shape}")
    _check(bool(np.all(np.isfinite(prices) & (prices > 0))), "asset prices must be > 0", PriceError)
    n_acc = int(pf.n_accounts)
    p = pf.n_positions
    for name in ("position_account", "position_market", "size", "entry_price", "isolated"):
        _check(getattr(pf, name).shape == (p,), f"{name} must have {p} rows")
    _check(pf.isolated_margin.shape == (p,), f"isolated_margin must have {p} rows")
    for name in ("balance_account", "balance_asset"):
        _check(getattr(pf, name).shape == (pf.n_balances,), f"{name} must have B rows")
    acc = np.asarray(pf.position_account, dtype=np.int64)
    mkt = np.asarray(pf.position_market, dtype=np.int64)
    if p:
        _check(acc.min() >= 0 and acc.max() < n_acc, "position account out of range", UnknownSymbolError)
        _check(mkt.min() >= 0 and mkt.max() < mk.n, "position market out of range", UnknownSymbolError)
    b_acc = np.asarray(pf.balance_account, dtype=np.int64)
    b_ast = np.asarray(pf.balance_asset, dtype=np.int64)
    if pf.n_balances:
        _check(b_acc.min() >= 0 and b_acc.max() < n_acc, "balance account out of range", UnknownSymbolError)
        _check(b_ast.min() >= 0 and b_ast.max() < assets.n, "balance asset out of range", UnknownSymbolError)
    q_all = np.asarray(pf.size, dtype=np.float64)
    e_all = np.asarray(pf.entry_price, dtype=np.float64)
    iso = np.asarray(pf.isolated, dtype=np.bool_)
    w_iso = np.asarray(pf.isolated_margin, dtype=np.float64)[iso]
    _check(bool(np.isfinite(q_all).all() and np.isfinite(e_all).all()), "sizes/entries not finite")
    _check(bool(np.isfinite(w_iso).all()), "isolated margins not finite")
    amt = np.asarray(pf.balance_amount, dtype=np.float64)
    _check(bool(np.isfinite(amt).all()), "balances not finite")

    n_iso = int(np.count_nonzero(iso))
    unit_of = acc.copy()
    unit_of[iso] = n_acc + np.arange(n_iso, dtype=np.int64)
    n_units = n_acc + n_iso
    if p and bool((acc[1:] >= acc[:-1]).all()):  # usual case: rows sorted by account
        order = np.concatenate([np.flatnonzero(~iso), np.flatnonzero(iso)])
    else:
        order = np.argsort(unit_of, kind="stable")

    # per-position fields, in chunks on worker threads (each chunk writes its own rows)
    n_k = mk.max_brackets
    mmf_flat = np.ascontiguousarray(mk.mmf).ravel()
    cum_flat = np.ascontiguousarray(mk.maintenance_amount).ravel()
    pos_unit = np.empty(p, dtype=np.int64)
    pos_market = np.empty(p, dtype=np.int64)
    pos_asset = np.empty(p, dtype=np.int64)
    pos_bracket = np.empty(p, dtype=np.int64)
    q = np.empty(p)
    e = np.empty(p)
    price0 = np.empty(p)
    notional0 = np.empty(p)
    pos_mm0 = np.empty(p)
    upnl = np.empty(p)

    def kernel(lo: int, hi: int) -> None:
        o = order[lo:hi]
        np.take(unit_of, o, out=pos_unit[lo:hi], mode="clip")
        pm = np.take(mkt, o, out=pos_market[lo:hi], mode="clip")
        pa = np.take(mk.base_asset, pm, out=pos_asset[lo:hi], mode="clip")
        qq = np.take(q_all, o, out=q[lo:hi], mode="clip")
        ee = np.take(e_all, o, out=e[lo:hi], mode="clip")
        pr = np.take(prices, pa, out=price0[lo:hi], mode="clip")
        n0 = np.abs(qq, out=notional0[lo:hi])
        n0 *= pr  # N = |q|·p
        k = bracket_index(mk, pm, n0)
        pos_bracket[lo:hi] = k
        cell = np.multiply(pm, n_k)
        cell += k
        mm = np.take(mmf_flat, cell, out=pos_mm0[lo:hi], mode="clip")
        mm *= n0
        mm -= cum_flat.take(cell)  # MM(N) = N·MMF_k − C_k
        u = np.subtract(pr, ee, out=upnl[lo:hi])
        u *= qq  # q·(p − e)

    run_chunks(p, kernel)
    unit_of = None  # the temporaries go as soon as they are used: a 10M-account book is built
    # next to the venue it comes from, so its peak is the two plus what is alive here
    unit_count = np.bincount(pos_unit, minlength=n_units).astype(np.int64)
    unit_start = np.zeros(n_units, dtype=np.int64)
    np.cumsum(unit_count[:-1], out=unit_start[1:])
    unit_owner = np.concatenate([np.arange(n_acc, dtype=np.int64), acc[iso]])
    unit_margin = np.zeros(n_units)
    unit_margin[n_acc:] = w_iso

    if b_acc.size and not bool((b_acc[1:] >= b_acc[:-1]).all()):
        b_order = np.argsort(b_acc, kind="stable")
        b_acc, b_ast, amt = b_acc[b_order], b_ast[b_order], amt[b_order]
    factor = np.where(amt > 0, 1.0 - assets.haircut[b_ast], 1.0)
    bal_value0 = amt * prices[b_ast] * factor
    del factor
    # (float even without balances: bincount of nothing is int64)
    equity0 = np.bincount(b_acc, weights=bal_value0, minlength=n_units).astype(np.float64, copy=False)
    equity0 += np.bincount(pos_unit, weights=upnl, minlength=n_units)
    upnl = None
    equity0 += unit_margin
    mm0 = np.bincount(pos_unit, weights=pos_mm0, minlength=n_units)
    has_liab = np.bincount(b_acc[amt < 0], minlength=n_units) > 0
    return UnitBook(
        n_accounts=n_acc,
        n_units=n_units,
        unit_owner=unit_owner,
        unit_start=unit_start,
        unit_count=unit_count,
        unit_margin=unit_margin,
        unit_has_liability=has_liab,
        equity0=equity0,
        mm0=mm0,
        pos_index=order.astype(np.int64, copy=False),
        pos_unit=pos_unit,
        pos_market=pos_market,
        pos_asset=pos_asset,
        size=q,
        entry_price=e,
        price0=price0,
        notional0=notional0,
        pos_mm0=pos_mm0,
        pos_bracket=pos_bracket,
        bal_unit=b_acc,
        bal_asset=b_ast,
        bal_amount=amt,
        bal_value0=bal_value0,
        markets=mk,
    )


def close_costs(notional: F64, depth: F64, penalty_rate: F64) -> tuple[F64, F64]:
    """Slippage cost and penalty of closing positions (RISK_MODEL §8).

    Closing at ``p·(1 − sign(q)·slip)`` with ``slip = min(1, 0.01·N/D)`` lowers the unit's
    equity by ``N·slip`` whatever the side; the penalty due is ``N·pen``.

    Args:
        notional: ``(...)`` float64 USD ``N`` at the shocked price.
        depth: same shape, USD ``D_m`` per 1 % move.
        penalty_rate: same shape, fraction ``pen_m``.

    Returns:
        ``(slippage_cost, penalty_due)`` in USD, same shape.
    """
    slip = np.minimum(1.0, 0.01 * notional / depth)
    return notional * slip, notional * penalty_rate


def unit_outcome(equity: F64, mm: F64, slip_cost: F64, penalty_due: F64) -> tuple[Bool, F64, F64, F64]:
    """§8 outcome of margin units given their shocked equity, margin and close costs.

    Args:
        equity: ``(n,)`` float64 USD shocked equity ``E'``.
        mm: ``(n,)`` float64 USD shocked maintenance margin ``MM'``.
        slip_cost: ``(n,)`` float64 USD ``Σ N'·slip`` over the unit's positions.
        penalty_due: ``(n,)`` float64 USD ``Σ N'·pen_m``.

    Returns:
        ``(liquidated, equity_after, penalty_paid, shortfall)``: liquidated ⇔ ``MM' > 0`` and
        ``E' < MM'``; for a liquidated unit ``E_after = E' − slip_cost``, penalty
        ``min(penalty_due, max(0, E_after))``, shortfall ``max(0, −E_after)``; otherwise
        ``E_after = E'``, no penalty, shortfall ``max(0, −E')``.
    """
    liq = (mm > 0) & (equity < mm)
    # multiplying by the 0/1 flag is exact (costs and penalties are finite and >= 0) and
    # cheaper than np.where on a mixed mask
    after = equity - slip_cost * liq
    pen = np.minimum(penalty_due, np.maximum(0.0, after))
    pen *= liq
    return liq, after, pen, np.maximum(0.0, -after)


def prices_of(state: VenueState) -> VenueState:
    """``state``'s prices, insurance fund and open interest with an empty portfolio of the same
    number of accounts: all that ``cascade.run_cascade``, ``adl.adl_attribution`` and
    ``path_cascade.run_path_cascade`` read of a state when they are given its ``book``
    (``build_unit_book(params, state)``), so a caller holding the book can let the state's
    own arrays go (a 10M-account venue's positions and balances twice otherwise)."""
    from riskgov.engine.types import Portfolio

    i64, f64 = np.zeros(0, dtype=np.int64), np.zeros(0)
    empty = Portfolio(
        n_accounts=state.portfolio.n_accounts,
        balance_account=i64,
        balance_asset=i64,
        balance_amount=f64,
        position_account=i64,
        position_market=i64,
        size=f64,
        entry_price=f64,
        isolated=np.zeros(0, dtype=bool),
        isolated_margin=f64,
    )
    return VenueState(
        portfolio=empty,
        asset_prices=state.asset_prices,
        insurance_fund=state.insurance_fund,
        open_interest=state.open_interest,
    )

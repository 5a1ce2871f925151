"""Per-position margin metrics (RISK_MODEL §2, §3, §5, §6) and open interest (§3).

``position_metrics`` is one elementwise pass over the positions, run in chunks on a few
threads (``_parallel.run_chunks``): every chunk writes its own rows of preallocated outputs,
so the result is bitwise the same for any thread count. The bracket lookup needs no
``searchsorted`` when the markets share few distinct floors: the index into a small
``(M, G+1)`` bracket table is ``m·(G+1) + #{U_j ≤ N}``, counted with one comparison per
distinct floor ``U_j`` (see ``_bracket_lookup``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskgov.engine._parallel import run_chunks
from riskgov.engine.types import F64, I64, Bool, MarketParams, ParameterSet, Portfolio, VenueState
from riskgov.engine.validation import validate_state

__all__ = ["PositionMetrics", "open_interest", "position_metrics"]

#: Largest ``M × (G + 1)`` table (``G`` distinct floors) used by the one-search lookup.
_MAX_LOOKUP_TABLE = 4_000_000
#: Up to this many distinct floors, the lookup counts them by comparisons instead of searching.
_MAX_COMPARE_FLOORS = 32


@dataclass(frozen=True)
class PositionMetrics:
    """Per-position margin numbers (RISK_MODEL §2, §3, §5, §6); every field is ``(P,)``.

    Attributes:
        mark_price: float64 USD, the market's base-asset price.
        notional: float64 USD ``N = |q|·p``.
        bracket: int64 0-based bracket index ``k − 1`` (§2).
        imf: float64 initial margin fraction after §3 OI scaling.
        mmf: float64 maintenance margin fraction ``MMF_k``.
        maintenance_amount: float64 USD ``C_k``.
        initial_margin: float64 USD ``IM = N·IMF_adj``.
        maintenance_margin: float64 USD ``MM = N·MMF_k − C_k``.
        upnl: float64 USD ``q·(p − e)``.
        limit_breach: bool, ``N > max_position_notional`` (still margined at the last bracket).
        isolated: bool, copy of the portfolio's margin mode.
        isolated_equity: float64 USD ``w_i + uPnL_i`` for isolated positions, 0 for cross.
        isolated_liquidatable: bool, isolated and ``MM_i > 0`` and ``E_i < MM_i`` (§6).
    """

    mark_price: F64
    notional: F64
    bracket: I64
    imf: F64
    mmf: F64
    maintenance_amount: F64
    initial_margin: F64
    maintenance_margin: F64
    upnl: F64
    limit_breach: Bool
    isolated: Bool
    isolated_equity: F64
    isolated_liquidatable: Bool


def long_short_base(market: I64, size: F64, n_markets: int) -> tuple[F64, F64]:
    """``(Σ long sizes, Σ |short sizes|)`` per market, ``(M,)`` base units each (RISK_MODEL §3).

    One ``bincount`` over ``2·m + (q < 0)``; a bin adds its rows in row order, exactly as
    ``bincount(market, weights=max(±q, 0))`` does (the zeros it adds there change nothing).
    """
    if size.size == 0:
        return np.zeros(n_markets), np.zeros(n_markets)
    key = np.multiply(market, 2)
    key += size < 0
    sums = np.bincount(key, weights=np.abs(size), minlength=2 * n_markets).reshape(n_markets, 2)
    return sums[:, 0].copy(), sums[:, 1].copy()


def open_interest(params: ParameterSet, portfolio: Portfolio, asset_prices: F64) -> F64:
    """Open interest ``O`` per market (RISK_MODEL §3): ``(Σ long sizes)·p``.

    Args:
        params: the parameter set.
        portfolio: positions (all margin modes count).
        asset_prices: ``(A,)`` USD prices.

    Returns:
        ``(M,)`` float64 USD. Inputs are not validated here (callers validate once).
    """
    mk = params.markets
    long_base, _ = long_short_base(portfolio.position_market, portfolio.size, mk.n)
    return long_base * asset_prices[mk.base_asset]


@dataclass(frozen=True)
class _LookupPlan:
    """How to find the bracket of ``(market, N)`` and gather bracket values (see
    ``_bracket_lookup``). ``flat(market, N)`` indexes the flattened ``(M, W)`` tables."""

    width: int
    n_levels: int  # bracket levels compared on the level-loop path
    floors: F64  # the distinct floors compared or searched (the (M, K) floors on the level loop)
    mode: str  # "compare", "search" or "levels"
    level_floors: F64  # (M, K) for the level loop
    k: I64  # (M·W,) bracket per table cell
    table: I64 | None  # (M, W) bracket per (market, g) for the search modes

    def flat(self, market: I64, notional: F64) -> I64:
        """Flat table index of each position (a new int64 array)."""
        flat = np.multiply(market, self.width)
        if self.mode == "compare":
            # uniq[0] == 0 <= N always: count the positive floors (in one byte), start at 1
            count = np.ones(notional.shape, dtype=np.uint8)
            hit = np.empty(notional.shape, dtype=np.bool_)
            for u in self.floors[1:]:
                np.greater_equal(notional, u, out=hit)
                count += hit.view(np.uint8)
            flat += count
        elif self.mode == "search":
            flat += np.searchsorted(self.floors, notional, side="right")
        else:
            hit = np.empty(notional.shape, dtype=np.bool_)
            for level in range(1, self.n_levels):
                np.greater_equal(notional, self.level_floors[:, level].take(market), out=hit)
                flat += hit
        return flat

    def values(self, values: F64) -> F64:
        """An ``(M, K)`` bracket matrix laid out as the flat table."""
        if self.table is None:
            return np.ascontiguousarray(values).ravel()
        return np.take_along_axis(values, self.table, axis=1).ravel()


def _lookup_plan(mk: MarketParams) -> _LookupPlan:
    floors = mk.floors
    levels = int(mk.n_brackets.max()) if mk.n > 0 else 1
    uniq = np.unique(floors[np.isfinite(floors)])
    if levels <= 2 or uniq.size == 0 or mk.n * (uniq.size + 1) > _MAX_LOOKUP_TABLE:
        k_max = mk.max_brackets
        k = np.tile(np.arange(k_max, dtype=np.int64), mk.n)
        return _LookupPlan(k_max, levels, floors, "levels", floors, k, None)
    width = uniq.size + 1
    # table[m, g] for g = 1..G (g = 0 cannot occur: U_0 = 0 <= N).
    table = np.zeros((mk.n, width), dtype=np.int64)
    table[:, 1:] = (floors[:, :, None] <= uniq[None, None, :]).sum(axis=1) - 1
    mode = "compare" if uniq.size <= _MAX_COMPARE_FLOORS and uniq[0] == 0 else "search"
    return _LookupPlan(width, levels, uniq, mode, floors, table.ravel(), table)


def _bracket_lookup(params: ParameterSet, market: I64, notional: F64) -> tuple[I64, I64, I64 | None]:
    """Bracket per position (§2): the last ``k`` with ``F_k ≤ N``, and a flat gather index.

    Returns ``(k, flat, table)``: the 0-based bracket ``k``; ``table`` an ``(M, G+1)``
    bracket table (``None`` on the level-loop path) and ``flat`` the positions' flat index
    into it (into the ``(M, K)`` bracket matrices on the level-loop path); see
    ``_bracket_values``.

    Exact and equal to ``brackets.bracket_index``, but faster for many brackets: the
    distinct finite floors of all markets ``U_0 = 0 < U_1 < … < U_{G−1}`` give
    ``g = #{U ≤ N}`` (one comparison per distinct floor when there are few, else one
    search); since every market's floors are among them, the bracket of market ``m`` is
    ``k = #{j : F_{m,j} ≤ U_{g−1}} − 1``, tabulated per ``(m, g)``. Falls back to one
    comparison per bracket level when there are few levels or the table would be large.
    """
    plan = _lookup_plan(params.markets)
    flat = plan.flat(market, notional)
    return plan.k.take(flat), flat, plan.table


def _bracket_values(values: F64, flat: I64, table: I64 | None) -> F64:
    """Gather an ``(M, K)`` bracket matrix at the positions' brackets (see ``_bracket_lookup``)."""
    if table is None:
        return values.ravel().take(flat)
    return np.take_along_axis(values, table, axis=1).ravel().take(flat)


def position_metrics(params: ParameterSet, state: VenueState, *, threads: int | None = None) -> PositionMetrics:
    """Per-position margin metrics (RISK_MODEL §2, §3, §5, §6).

    The mark price of a position is its market's base-asset price. ``O`` for §3 is
    ``state.open_interest`` when given, else ``open_interest(...)`` from the portfolio.

    Args:
        params: margin parameters.
        state: portfolio, ``(A,)`` asset prices and optional ``(M,)`` open interest.
        threads: worker threads (default ``min(4, os.cpu_count())``); results do not
            depend on it.

    Returns:
        ``PositionMetrics`` of ``(P,)`` arrays.

    Raises:
        PriceError, UnknownSymbolError, EngineInputError: see ``validate_state``.
    """
    validate_state(params, state)
    return _position_metrics(params, state, threads=threads)


def _oi_scale(params: ParameterSet, state: VenueState) -> F64 | None:
    """``(M,)`` clamp factor ``t`` of §3 (0 where disabled), or ``None`` when no market scales."""
    mk = params.markets
    if not (mk.oi_cap_upper > 0).any():
        return None
    oi = (
        open_interest(params, state.portfolio, state.asset_prices)
        if state.open_interest is None
        else np.asarray(state.open_interest, dtype=np.float64)
    )
    lo = mk.oi_cap_lower
    hi = mk.oi_cap_upper
    enabled = hi > 0
    width = np.where(enabled, hi - lo, 1.0)
    return np.where(enabled, np.clip((oi - lo) / width, 0.0, 1.0), 0.0)


def _position_metrics(params: ParameterSet, state: VenueState, *, threads: int | None = None) -> PositionMetrics:
    mk = params.markets
    pf = state.portfolio
    market = pf.position_market
    q = pf.size
    entry = pf.entry_price
    iso = pf.isolated
    w = pf.isolated_margin
    n = q.shape[0]
    market_price = np.ascontiguousarray(state.asset_prices[mk.base_asset], dtype=np.float64)
    plan = _lookup_plan(mk)
    t_oi = _oi_scale(params, state)
    k_tab, mmf_tab, cum_tab, imf_tab = (
        plan.k,
        plan.values(mk.mmf),
        plan.values(mk.maintenance_amount),
        plan.values(mk.imf),
    )
    cap = mk.max_position_notional
    any_cap = bool((cap < np.inf).any())

    price, notional, imf, mmf, cum, im, mm, upnl, iso_eq = (np.empty(n) for _ in range(9))
    bracket = np.empty(n, dtype=np.int64)
    breach = np.zeros(n, dtype=np.bool_)
    iso_liq = np.zeros(n, dtype=np.bool_)

    def kernel(lo: int, hi: int) -> None:
        m = market[lo:hi]
        p, nn = price[lo:hi], notional[lo:hi]
        np.take(market_price, m, out=p, mode="clip")  # indices validated: clip == raise
        np.abs(q[lo:hi], out=nn)
        nn *= p
        flat = plan.flat(m, nn)
        np.take(k_tab, flat, out=bracket[lo:hi], mode="clip")
        f_mmf, f_cum, f_imf = mmf[lo:hi], cum[lo:hi], imf[lo:hi]
        np.take(mmf_tab, flat, out=f_mmf, mode="clip")
        np.take(cum_tab, flat, out=f_cum, mode="clip")
        np.take(imf_tab, flat, out=f_imf, mode="clip")
        if t_oi is not None:  # IMF_adj = IMF + (1 − IMF)·t
            adj = np.subtract(1.0, f_imf)
            adj *= t_oi.take(m)
            f_imf += adj
        f_mm = mm[lo:hi]
        np.multiply(nn, f_mmf, out=f_mm)
        f_mm -= f_cum
        np.multiply(nn, f_imf, out=im[lo:hi])
        f_up = upnl[lo:hi]
        np.subtract(p, entry[lo:hi], out=f_up)
        f_up *= q[lo:hi]
        if any_cap:
            np.greater(nn, cap.take(m), out=breach[lo:hi])
        f_eq = iso_eq[lo:hi]
        f_eq.fill(0.0)
        idx = np.flatnonzero(iso[lo:hi])
        if idx.size:
            e_i = w[lo:hi].take(idx) + f_up.take(idx)
            f_eq[idx] = e_i
            mm_i = f_mm.take(idx)
            iso_liq[lo:hi][idx] = (mm_i > 0) & (e_i < mm_i)

    run_chunks(n, kernel, threads)
    return PositionMetrics(
        mark_price=price,
        notional=notional,
        bracket=bracket,
        imf=imf,
        mmf=mmf,
        maintenance_amount=cum,
        initial_margin=im,
        maintenance_margin=mm,
        upnl=upnl,
        limit_breach=breach,
        isolated=iso,
        isolated_equity=iso_eq,
        isolated_liquidatable=iso_liq,
    )

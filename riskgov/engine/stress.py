"""Scenario stress runs: full revaluation of every account under many shocks (RISK_MODEL §8, §9).

Per scenario the run revalues every position and collateral balance at ``p' = p·(1 + r)``,
liquidates every liquidatable margin unit (§5, §6) with the closes of §8 and reports counts,
protocol shortfall, penalties, insurance fund after, ADL amount, coverage and the two
largest account shortfalls (for Cover-2, §10).

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

Scenario totals (§9): ``S = Σ shortfall``, ``IF_after = max(0, IF + penalties − S)``,
``ADL = max(0, S − IF − penalties)``, coverage ``IF/S`` (``inf`` when ``S = 0``).

How the fast path stays exact
-----------------------------
Equity is linear in the shocks: ``E' = E + X·r`` with ``X`` the sparse ``(units × assets)``
exposure (``q·p`` of each position on its base asset, ``b·P·(1 − h)`` or ``b·P`` of each
balance). Maintenance margin ``MM(N)`` is convex, piecewise linear and ``MM(0) = 0``
(§2: ``MM(N) = max_k(N·MMF_k − C_k)``), so per position

* ``r ≤ 0``: ``MM(N(1 + r)) ≤ (1 + r)·MM(N)`` (chord through the origin);
* ``0 ≤ r ≤ R``: ``MM(N(1 + r)) ≤ MM(N) + r·N·MMF_{k(N(1 + R))}`` (slope at the far end),
  with ``R`` the largest shock of that asset over the whole run.

Hence ``E' − MM' ≥ L(r) = (E − MM) + A·r⁺ + B·r⁻`` with sparse ``A = X − G⁺``,
``B = X − G⁻`` — exact for positions in their first bracket. Scenarios are sorted by mean
shock and cut in batches; over a batch with per-asset range ``[lo, hi]``,
``L ≥ (E − MM) + A⁺·lo⁺ + A⁻·hi⁺ + B⁺·lo⁻ + B⁻·hi⁻`` (one sparse product for all batches).
Units whose batch bound is ≥ 0 cannot be liquidated in any scenario of the batch and are
skipped; for the rest ``L(r_s)`` is computed per scenario (sparse × dense), and only the
(unit, scenario) pairs with ``L < tol`` are evaluated exactly (their positions expanded,
exact ``MM'``, closes, penalty, shortfall). ``tol = 1e-9·scale + 1e-6`` USD absorbs rounding,
so pruning never drops a liquidation; ``run_scenarios_dense`` (a plain per-scenario full
revaluation) is the reference the tests compare against.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from riskgov.engine.brackets import bracket_index, maintenance_margin
from riskgov.engine.scenarios import ScenarioSet, validate_shocks
from riskgov.engine.types import (
    F64,
    I64,
    Bool,
    EngineInputError,
    ParameterSet,
    PriceError,
    UnknownSymbolError,
    VenueState,
)

__all__ = [
    "StressResult",
    "UnitBook",
    "build_unit_book",
    "close_costs",
    "run_scenarios",
    "run_scenarios_dense",
    "unit_outcome",
]

#: positions expanded at once in the exact step (bounds peak memory, ~10 arrays of this size)
_CHUNK_POSITIONS = 2_000_000


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
        pos_mmf0, pos_cum0: ``(P,)`` float64 ``MMF_k`` and ``C_k`` of the base bracket ``k``.
        pos_floor_lo, pos_floor_hi: ``(P,)`` float64 USD ``[F_k, F_{k+1})`` of the base
            bracket (``+inf`` above the last), so a shocked notional inside it needs no lookup.
        penalty_rate, depth: ``(P,)`` float64 the market's ``pen_m`` and ``D_m`` (§8).
        bal_unit, bal_asset: ``(B,)`` int64, sorted by unit (a balance belongs to its
            account's cross unit).
        bal_amount: ``(B,)`` float64 asset units.
        bal_value0: ``(B,)`` float64 USD value at base price, haircut on positives (§4).
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
    pos_mmf0: F64
    pos_cum0: F64
    pos_floor_lo: F64
    pos_floor_hi: F64
    penalty_rate: F64
    depth: F64
    bal_unit: I64
    bal_asset: I64
    bal_amount: F64
    bal_value0: F64


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
    w_all = np.where(iso, np.asarray(pf.isolated_margin, dtype=np.float64), 0.0)
    _check(bool(np.isfinite(q_all).all() and np.isfinite(e_all).all()), "sizes/entries not finite")
    _check(bool(np.isfinite(w_all).all()), "isolated margins not finite")
    amt = np.asarray(pf.balance_amount, dtype=np.float64)
    _check(bool(np.isfinite(amt).all()), "balances not finite")

    n_iso = int(np.count_nonzero(iso))
    unit_of = acc.copy()
    unit_of[iso] = n_acc + np.arange(n_iso, dtype=np.int64)
    n_units = n_acc + n_iso
    if p and bool((np.diff(acc) >= 0).all()):  # usual case: rows sorted by account
        order = np.concatenate([np.flatnonzero(~iso), np.flatnonzero(iso)])
    else:
        order = np.argsort(unit_of, kind="stable")
    pos_unit = unit_of[order]
    pos_market = mkt[order]
    pos_asset = mk.base_asset[pos_market]
    q = q_all[order]
    e = e_all[order]
    price0 = prices[pos_asset]
    notional0 = np.abs(q) * price0
    k0 = bracket_index(mk, pos_market, notional0)
    pos_mmf0 = mk.mmf[pos_market, k0]
    pos_cum0 = mk.maintenance_amount[pos_market, k0]
    pos_mm0 = notional0 * pos_mmf0 - pos_cum0
    floors_ext = np.concatenate([mk.floors, np.full((mk.n, 1), np.inf)], axis=1)
    pos_floor_lo = floors_ext[pos_market, k0]
    pos_floor_hi = floors_ext[pos_market, k0 + 1]
    unit_count = np.bincount(pos_unit, minlength=n_units).astype(np.int64)
    unit_start = np.zeros(n_units, dtype=np.int64)
    np.cumsum(unit_count[:-1], out=unit_start[1:])
    unit_owner = np.concatenate([np.arange(n_acc, dtype=np.int64), acc[iso]])
    unit_margin = np.zeros(n_units)
    unit_margin[n_acc:] = w_all[iso]

    if b_acc.size and not bool((np.diff(b_acc) >= 0).all()):
        b_order = np.argsort(b_acc, kind="stable")
        b_acc, b_ast, amt = b_acc[b_order], b_ast[b_order], amt[b_order]
    factor = np.where(amt > 0, 1.0 - assets.haircut[b_ast], 1.0)
    bal_value0 = amt * prices[b_ast] * factor
    equity0 = (
        np.bincount(b_acc, weights=bal_value0, minlength=n_units)
        + np.bincount(pos_unit, weights=q * (price0 - e), minlength=n_units)
        + unit_margin
    )
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
        pos_index=order.astype(np.int64),
        pos_unit=pos_unit,
        pos_market=pos_market,
        pos_asset=pos_asset,
        size=q,
        entry_price=e,
        price0=price0,
        notional0=notional0,
        pos_mm0=pos_mm0,
        pos_mmf0=pos_mmf0,
        pos_cum0=pos_cum0,
        pos_floor_lo=pos_floor_lo,
        pos_floor_hi=pos_floor_hi,
        penalty_rate=mk.liquidation_penalty[pos_market],
        depth=mk.depth_usd_per_1pct[pos_market],
        bal_unit=b_acc,
        bal_asset=b_ast,
        bal_amount=amt,
        bal_value0=bal_value0,
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
    after = np.where(liq, equity - slip_cost, equity)
    pen = np.where(liq, np.minimum(penalty_due, np.maximum(0.0, after)), 0.0)
    return liq, after, pen, np.maximum(0.0, -after)


@dataclass(frozen=True)
class StressResult:
    """Per-scenario outcome of a stress run (RISK_MODEL §8, §9, inputs of §10).

    Attributes (``S`` scenarios, in the order given):
        names: ``(S,)`` scenario names.
        n_liquidated: ``(S,)`` int64 accounts with their cross side or any isolated position
            liquidated (each account once).
        n_bankrupt: ``(S,)`` int64 accounts whose units' shortfall sum is > 0.
        shortfall: ``(S,)`` float64 USD protocol shortfall ``S`` after §8 closes.
        penalties: ``(S,)`` float64 USD liquidation penalties paid to the fund.
        insurance_fund: USD fund before the scenarios (``state.insurance_fund``).
        insurance_fund_after: ``(S,)`` float64 USD ``max(0, IF + penalties − S)``.
        adl_amount: ``(S,)`` float64 USD ``max(0, S − IF − penalties)``.
        coverage: ``(S,)`` float64 ``IF/S`` (``inf`` when ``S = 0``).
        top2_shortfall: ``(S, 2)`` float64 USD the two largest account shortfalls
            (descending, 0 when fewer bankrupt accounts): Cover-2 input (§10).
        top2_account: ``(S, 2)`` int64 their account indices (-1 when none).
        evaluated_pairs: ``(S,)`` int64 units evaluated exactly per scenario (diagnostic of
            the pruning; the dense reference reports every active unit).
        worst_scenario: index of the scenario with the largest ``S`` (first on ties; -1 when
            no scenario).
        worst_account_shortfall: ``(A,)`` float64 USD per-account shortfall in the worst
            scenario, or ``None`` unless ``want_account_detail``.
    """

    names: tuple[str, ...]
    n_liquidated: I64
    n_bankrupt: I64
    shortfall: F64
    penalties: F64
    insurance_fund: float
    insurance_fund_after: F64
    adl_amount: F64
    coverage: F64
    top2_shortfall: F64
    top2_account: I64
    evaluated_pairs: I64
    worst_scenario: int
    worst_account_shortfall: F64 | None = None

    @property
    def cover2(self) -> float:
        """Cover-2 (§10): the largest, over scenarios, sum of the two largest account shortfalls."""
        if self.top2_shortfall.shape[0] == 0:
            return 0.0
        return float(self.top2_shortfall.sum(axis=1).max())


def _shocks_and_names(params: ParameterSet, scenarios: ScenarioSet | F64) -> tuple[F64, tuple[str, ...]]:
    if isinstance(scenarios, ScenarioSet):
        if scenarios.asset_symbols != tuple(params.assets.symbols):
            raise UnknownSymbolError("scenario set was built for other assets than the parameter set")
        return scenarios.shocks, scenarios.names
    r = validate_shocks(scenarios, params.assets.n)
    return r, tuple(f"scenario {i}" for i in range(r.shape[0]))


def _distinct_sorted(key: I64) -> tuple[I64, I64]:
    """Sorted distinct keys and, for each, the start of its run in ``np.sort(key)``."""
    srt = np.sort(key, kind="stable")  # keys arrive nearly sorted: timsort is ~linear
    start = np.flatnonzero(np.concatenate([[True], srt[1:] != srt[:-1]])) if srt.size else srt
    return srt, start


class _Acc:
    """Accumulates per-(scenario, account) outcomes of liquidated and bankrupt units.

    Keys ``s_local·A + owner`` are deduplicated by sorting; units arrive scenario-major and
    by unit id, so the keys are nearly sorted (only isolated units break the order).
    """

    def __init__(self, n_scen: int, n_accounts: int) -> None:
        self.n_acc = n_accounts
        self.n_liq = np.zeros(n_scen, dtype=np.int64)
        self.n_bk = np.zeros(n_scen, dtype=np.int64)
        self.shortfall = np.zeros(n_scen)
        self.penalties = np.zeros(n_scen)
        self.evaluated = np.zeros(n_scen, dtype=np.int64)
        self.top2 = np.zeros((n_scen, 2))
        self.top2_acc = np.full((n_scen, 2), -1, dtype=np.int64)

    def add(self, batch: I64, s_local: I64, owner: I64, liq: Bool, pen: F64, short: F64) -> None:
        """Add the unit outcomes of one complete batch of scenarios.

        Args:
            batch: ``(nb,)`` global indices of the batch's scenarios.
            s_local: ``(n,)`` int64 position of each unit's scenario in ``batch``.
            owner: ``(n,)`` int64 account of each unit.
            liq, pen, short: ``(n,)`` outcome of ``unit_outcome``.
        """
        n, nb = self.n_acc, batch.size
        self.penalties[batch] += np.bincount(s_local, weights=pen, minlength=nb)
        self.shortfall[batch] += np.bincount(s_local, weights=short, minlength=nb)
        self.evaluated[batch] += np.bincount(s_local, minlength=nb)
        srt, start = _distinct_sorted(s_local[liq] * n + owner[liq])
        self.n_liq[batch] += np.bincount(srt[start] // n, minlength=nb)
        bk = short > 0
        if not bk.any():
            return
        key = s_local[bk] * n + owner[bk]
        order = np.argsort(key, kind="stable")
        srt = key[order]
        start = np.flatnonzero(np.concatenate([[True], srt[1:] != srt[:-1]]))
        sums = np.add.reduceat(short[bk][order], start)
        s_rep, a_rep = srt[start] // n, srt[start] % n
        self.n_bk[batch] += np.bincount(s_rep, minlength=nb)
        # top-2 per scenario: runs of equal s_rep are contiguous, accounts ascending inside
        g_start = np.flatnonzero(np.concatenate([[True], s_rep[1:] != s_rep[:-1]]))
        g_of = np.repeat(np.arange(g_start.size), np.diff(np.append(g_start, s_rep.size)))
        big = np.int64(s_rep.size)
        idx = np.arange(s_rep.size)
        first = np.minimum.reduceat(np.where(sums == np.maximum.reduceat(sums, g_start)[g_of], idx, big), g_start)
        rest = sums.copy()
        rest[first] = -np.inf
        m2 = np.maximum.reduceat(rest, g_start)
        second = np.minimum.reduceat(np.where(rest == m2[g_of], idx, big), g_start)
        g = batch[s_rep[g_start]]
        self.top2[g, 0] = sums[first]
        self.top2_acc[g, 0] = a_rep[first]
        has2 = np.isfinite(m2)
        self.top2[g[has2], 1] = sums[second[has2]]
        self.top2_acc[g[has2], 1] = a_rep[second[has2]]


def _finish(names: tuple[str, ...], fund: float, acc: _Acc, detail: F64 | None) -> StressResult:
    s = acc.shortfall
    with np.errstate(divide="ignore"):
        coverage = np.where(s > 0, fund / np.where(s > 0, s, 1.0), np.inf)
    return StressResult(
        names=names,
        n_liquidated=acc.n_liq,
        n_bankrupt=acc.n_bk,
        shortfall=s,
        penalties=acc.penalties,
        insurance_fund=fund,
        insurance_fund_after=np.maximum(0.0, fund + acc.penalties - s),
        adl_amount=np.maximum(0.0, s - fund - acc.penalties),
        coverage=coverage,
        top2_shortfall=acc.top2,
        top2_account=acc.top2_acc,
        evaluated_pairs=acc.evaluated,
        worst_scenario=int(np.argmax(s)) if s.size else -1,
        worst_account_shortfall=detail,
    )


class _Fast:
    """Precomputed sparse structure of one stress run (see the module docstring).

    Rows are the *active* units (with positions, or holding a liability); matrices are CSR
    with int32 indices, built directly from the unit-sorted book (duplicate ``(unit, asset)``
    entries are kept: products sum them, and the batch bound stays a valid lower bound).
    """

    def __init__(self, params: ParameterSet, book: UnitBook, shocks: F64, pool: ThreadPoolExecutor) -> None:
        mk = params.markets
        self.book = book
        self.markets = mk
        self.pool = pool
        n_a = params.assets.n
        active = (book.unit_count > 0) | book.unit_has_liability
        self.act = np.flatnonzero(active)
        n_u = self.act.size
        row_of = np.full(book.n_units, -1, dtype=np.int64)
        row_of[self.act] = np.arange(n_u)
        r_up = np.maximum(shocks.max(axis=0), 0.0) if shocks.shape[0] else np.zeros(n_a)
        n_up = book.notional0 * (1.0 + r_up[book.pos_asset])
        up_inside = n_up < book.pos_floor_hi
        slope = book.pos_mmf0.copy()
        out = np.flatnonzero(~up_inside)
        if out.size:
            k_up = bracket_index(mk, book.pos_market[out], n_up[out])
            slope[out] = mk.mmf[book.pos_market[out], k_up]
        g_pos = book.notional0 * slope
        x_pos = book.size * book.price0

        prow = row_of[book.pos_unit]
        brow = row_of[book.bal_unit]
        keep = brow >= 0
        brow = brow[keep]
        bal = book.bal_value0[keep]
        bal_asset = book.bal_asset[keep]
        cnt_p = np.bincount(prow, minlength=n_u)
        cnt_b = np.bincount(brow, minlength=n_u)
        cnt = cnt_p + cnt_b
        indptr = np.zeros(n_u + 1, dtype=np.int64)
        np.cumsum(cnt, out=indptr[1:])
        off_b = np.arange(brow.size) - (np.cumsum(cnt_b) - cnt_b)[brow]
        off_p = cnt_b[prow] + np.arange(prow.size) - (np.cumsum(cnt_p) - cnt_p)[prow]
        nnz = int(indptr[-1])
        idx_t = np.int32 if 4 * nnz < 2**31 and 4 * n_a < 2**31 else np.int64

        x_data = np.empty(nnz)
        x_idx = np.empty(nnz, dtype=idx_t)
        d_b, d_p = indptr[brow] + off_b, indptr[prow] + off_p
        x_data[d_b], x_data[d_p] = bal, x_pos
        x_idx[d_b], x_idx[d_p] = bal_asset, book.pos_asset
        self.X = sp.csr_matrix((x_data, x_idx, indptr.astype(idx_t)), shape=(n_u, n_a))

        ab_data = np.empty(2 * nnz)
        ab_idx = np.empty(2 * nnz, dtype=idx_t)
        a_b, a_p = 2 * indptr[brow] + off_b, 2 * indptr[prow] + off_p
        b_b, b_p = a_b + cnt[brow], a_p + cnt[prow]
        ab_data[a_b], ab_data[b_b] = bal, bal
        ab_data[a_p], ab_data[b_p] = x_pos - g_pos, x_pos - book.pos_mm0
        ab_idx[a_b], ab_idx[b_b] = bal_asset, bal_asset + n_a
        ab_idx[a_p], ab_idx[b_p] = book.pos_asset, book.pos_asset + n_a
        ab_ptr = (2 * indptr).astype(idx_t)
        self.AB = sp.csr_matrix((ab_data, ab_idx, ab_ptr), shape=(n_u, 2 * n_a))
        bd_idx = np.where(ab_data >= 0, ab_idx, ab_idx + 2 * n_a).astype(idx_t)
        self.BD = sp.csr_matrix((ab_data, bd_idx, ab_ptr), shape=(n_u, 4 * n_a))

        u = self.act
        self.s0 = book.equity0[u] - book.mm0[u]
        self.e0 = book.equity0[u]
        scale = (
            np.abs(book.equity0[u])
            + book.mm0[u]
            + np.bincount(prow, weights=book.notional0, minlength=n_u)
            + np.bincount(brow, weights=np.abs(bal), minlength=n_u)
            + np.abs(book.unit_margin[u])
        )
        self.tol = 1e-9 * scale + 1e-6

    def batch_candidates(self, lo: F64, hi: F64) -> Bool:
        """``(U_active, nb)`` True where the batch bound cannot exclude a liquidation.

        ``lo``/``hi``: ``(nb, A)`` per-batch min/max shock of each asset.
        """
        rhs = np.ascontiguousarray(
            np.concatenate(
                [np.maximum(lo, 0.0), np.minimum(lo, 0.0), np.maximum(hi, 0.0), np.minimum(hi, 0.0)],
                axis=1,
            ).T
        )
        n_u = self.act.size
        out = np.empty((n_u, lo.shape[0]), dtype=np.bool_)
        step = 1 << 16

        def chunk(r0: int) -> None:
            r1 = min(n_u, r0 + step)
            bound = self.BD[r0:r1] @ rhs
            bound += self.s0[r0:r1, None]
            np.less(bound, self.tol[r0:r1, None], out=out[r0:r1])

        list(self.pool.map(chunk, range(0, n_u, step)))
        return out

    def batch(self, cand: I64, rb: F64) -> tuple[I64, I64, Bool, F64, F64]:
        """Exact outcomes of one batch: per-scenario bound on ``cand`` rows, then §8 on the
        flagged (unit, scenario) pairs.

        Returns ``(active_row, s_local, liquidated, penalty_paid, shortfall)`` per evaluated
        pair, scenario-major and by unit id within a scenario.
        """
        rhs = np.ascontiguousarray(np.concatenate([np.maximum(rb, 0.0), np.minimum(rb, 0.0)], axis=1).T)
        bound = self.AB[cand] @ rhs
        bound += self.s0[cand, None]
        flag = bound < self.tol[cand, None]
        any_row = flag.any(axis=1)
        cand = cand[any_row]
        flag = flag[any_row]
        sj, ci = np.nonzero(flag.T)
        ex = self.X[cand] @ np.ascontiguousarray(rb.T)
        e_pair = self.e0[cand[ci]] + ex[ci, sj]
        rows = cand[ci]
        liq, pen, short = self.evaluate(rows, sj, e_pair, rb)
        return rows, sj, liq, pen, short

    def evaluate(self, rows: I64, scen: I64, e_pair: F64, rb: F64) -> tuple[Bool, F64, F64]:
        """Exact §8 outcome of (unit, scenario) pairs; positions expanded in chunks."""
        book = self.book
        units = self.act[rows]
        cnt = book.unit_count[units]
        n = units.size
        mm = np.zeros(n)
        slip = np.zeros(n)
        pen_due = np.zeros(n)
        csum = np.cumsum(cnt)
        lo = 0
        while lo < n:
            base = csum[lo - 1] if lo else 0
            hi = int(np.searchsorted(csum, base + _CHUNK_POSITIONS, side="right"))
            hi = max(hi, lo + 1)
            c = cnt[lo:hi]
            tot = int(c.sum())
            if tot:
                k = hi - lo
                pair = np.repeat(np.arange(k), c)
                pos = np.repeat(book.unit_start[units[lo:hi]] - (np.cumsum(c) - c), c)
                pos += np.arange(tot)
                r = rb[scen[lo:hi][pair], book.pos_asset[pos]]
                notional = book.notional0[pos] * (1.0 + r)
                m = notional * book.pos_mmf0[pos] - book.pos_cum0[pos]
                moved = np.flatnonzero((notional < book.pos_floor_lo[pos]) | (notional >= book.pos_floor_hi[pos]))
                if moved.size:
                    m[moved] = maintenance_margin(self.markets, book.pos_market[pos[moved]], notional[moved])
                s_cost, p_due = close_costs(notional, book.depth[pos], book.penalty_rate[pos])
                mm[lo:hi] = np.bincount(pair, weights=m, minlength=k)
                slip[lo:hi] = np.bincount(pair, weights=s_cost, minlength=k)
                pen_due[lo:hi] = np.bincount(pair, weights=p_due, minlength=k)
            lo = hi
        liq, _, pen, short = unit_outcome(e_pair, mm, slip, pen_due)
        return liq, pen, short


def run_scenarios(
    params: ParameterSet,
    state: VenueState,
    scenarios: ScenarioSet | F64,
    *,
    batch_size: int = 50,
    want_account_detail: bool = False,
    book: UnitBook | None = None,
    threads: int | None = None,
) -> StressResult:
    """Full-revaluation stress run over many scenarios, pruned exactly (RISK_MODEL §8, §9).

    Args:
        params: margin parameters (brackets, penalties, depths, haircuts).
        state: venue state at base prices with its insurance fund.
        scenarios: a ``ScenarioSet`` over ``params.assets`` or an ``(S, A)`` float64 shock
            matrix (fractions ``> −1``).
        batch_size: scenarios per pruning batch (after sorting by mean shock).
        want_account_detail: also return the ``(A,)`` per-account shortfall of the worst
            scenario.
        book: a ``build_unit_book(params, state)`` result to reuse (built when ``None``).
        threads: worker threads for the sparse products and batches (default
            ``min(4, os.cpu_count())``); numpy and scipy release the GIL in the kernels.

    Returns:
        ``StressResult`` with ``(S,)`` arrays in the order of ``scenarios``; equal to
        ``run_scenarios_dense`` up to float rounding (rtol 1e-9), counts identical.

    Raises:
        PriceError: a shock ``≤ −1`` or non-finite, or a bad base price.
        UnknownSymbolError: the scenario set was built over other assets; bad indices.
        EngineInputError: bad shapes or ``batch_size < 1``.
    """
    if batch_size < 1:
        raise EngineInputError(f"batch_size must be >= 1, got {batch_size}")
    shocks, names = _shocks_and_names(params, scenarios)
    if book is None:
        book = build_unit_book(params, state)
    n_s = shocks.shape[0]
    acc = _Acc(n_s, book.n_accounts)
    detail = None
    workers = max(1, min(4, os.cpu_count() or 1)) if threads is None else max(1, threads)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        fast = _Fast(params, book, shocks, pool)
        if n_s:
            moving = ~params.assets.stable
            key = shocks[:, moving].mean(axis=1) if moving.any() else shocks.mean(axis=1)
            order = np.argsort(key, kind="stable")
            batches = [order[i : i + batch_size] for i in range(0, n_s, batch_size)]
            lo = np.stack([shocks[b].min(axis=0) for b in batches])
            hi = np.stack([shocks[b].max(axis=0) for b in batches])
            cand_mask = fast.batch_candidates(lo, hi)

            def one(j: int) -> tuple[I64, I64, Bool, F64, F64]:
                return fast.batch(np.flatnonzero(cand_mask[:, j]), shocks[batches[j]])

            for j, (rows, sj, liq, pen, short) in enumerate(pool.map(one, range(len(batches)))):
                owner = book.unit_owner[fast.act[rows]]
                acc.add(batches[j], sj, owner, liq, pen, short)
        if want_account_detail and n_s:
            w = int(np.argmax(acc.shortfall))
            rb = shocks[w : w + 1]
            cand = np.flatnonzero(fast.batch_candidates(rb, rb)[:, 0])
            rows, _, _, _, short = fast.batch(cand, rb)
            detail = np.bincount(book.unit_owner[fast.act[rows]], weights=short, minlength=book.n_accounts)
    return _finish(names, float(state.insurance_fund), acc, detail)


def _dense_units(params: ParameterSet, state: VenueState, r: F64) -> tuple[I64, Bool, F64, F64, F64]:
    """Plain §8 outcome of every unit at ``p' = p·(1 + r)`` straight from the portfolio."""
    pf = state.portfolio
    mk = params.markets
    n_acc = pf.n_accounts
    prices = state.asset_prices * (1.0 + r)
    iso = pf.isolated
    unit = pf.position_account.copy()
    unit[iso] = n_acc + np.arange(np.count_nonzero(iso))
    n_u = n_acc + int(np.count_nonzero(iso))
    owner = np.concatenate([np.arange(n_acc), pf.position_account[iso]])
    p = prices[mk.base_asset[pf.position_market]]
    notional = np.abs(pf.size) * p
    upnl = pf.size * (p - pf.entry_price)
    mm_pos = maintenance_margin(mk, pf.position_market, notional)
    slip_pos, pen_pos = close_costs(
        notional,
        mk.depth_usd_per_1pct[pf.position_market],
        mk.liquidation_penalty[pf.position_market],
    )
    b = pf.balance_amount
    haircut = params.assets.haircut[pf.balance_asset]
    value = np.where(b > 0, b * prices[pf.balance_asset] * (1.0 - haircut), b * prices[pf.balance_asset])
    equity = np.bincount(pf.balance_account, weights=value, minlength=n_u)
    equity += np.bincount(unit, weights=upnl, minlength=n_u)
    equity[n_acc:] += pf.isolated_margin[iso]
    mm = np.bincount(unit, weights=mm_pos, minlength=n_u)
    slip = np.bincount(unit, weights=slip_pos, minlength=n_u)
    pen_due = np.bincount(unit, weights=pen_pos, minlength=n_u)
    liq, _, pen, short = unit_outcome(equity, mm, slip, pen_due)
    return owner, liq, pen, short, equity


def run_scenarios_dense(
    params: ParameterSet,
    state: VenueState,
    scenarios: ScenarioSet | F64,
    *,
    want_account_detail: bool = False,
) -> StressResult:
    """Reference stress run: one full, unpruned revaluation per scenario (RISK_MODEL §8, §9).

    Same arguments, result and errors as ``run_scenarios`` (``evaluated_pairs`` counts
    every unit); a straightforward loop over scenarios, ``O(S·(P + B))``.
    """
    shocks, names = _shocks_and_names(params, scenarios)
    book = build_unit_book(params, state)  # validation only
    n_s = shocks.shape[0]
    acc = _Acc(n_s, book.n_accounts)
    detail = None
    worst = (-1.0, None)
    for s in range(n_s):
        owner, liq, pen, short, _ = _dense_units(params, state, shocks[s])
        acc.add(np.array([s]), np.zeros(owner.size, dtype=np.int64), owner, liq, pen, short)
        if want_account_detail and acc.shortfall[s] > worst[0]:
            worst = (acc.shortfall[s], np.bincount(owner, weights=short, minlength=book.n_accounts))
    if want_account_detail and n_s:
        detail = worst[1]
    return _finish(names, float(state.insurance_fund), acc, detail)

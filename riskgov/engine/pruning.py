"""The exact pruning behind ``stress.run_scenarios`` (RISK_MODEL §8, §9).

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
``B = X − G⁻`` — exact for positions in their first bracket. Over a set of scenarios with
per-asset range ``[lo, hi]``, ``L ≥ (E − MM) + A⁺·lo⁺ + A⁻·hi⁺ + B⁺·lo⁻ + B⁻·hi⁻``: one
product with the ``(units × 4·assets)`` matrix ``BD`` (``A`` and ``B`` split by sign; with
``lo = hi = r`` the same product is ``L(r)`` itself, term by term).

Scenarios are sorted by mean shock and cut in batches. Every unit is first bounded over
the range of the whole run (one column); the survivors are bounded per batch (one product
for all batches). Units whose batch bound is ``≥ tol`` cannot be liquidated in any scenario
of the batch and are skipped; for the rest ``L(r_s)`` is computed per scenario (sparse ×
dense), and only the (unit, scenario) pairs with ``L < tol`` are evaluated exactly (their
positions expanded, exact ``MM'``, closes, penalty, shortfall). ``tol = 1e-9·scale + 1e-6``
USD absorbs rounding, so pruning never drops a liquidation; ``run_scenarios_dense`` (a plain
per-scenario full revaluation) is the reference the tests compare against.

Exactly the same floats as before
---------------------------------
``E'`` of a pair is ``E + X·r`` and ``MM'``, the closes and the penalty of a position are
the float operations of ``stress._dense_units``, summed per unit in position order. Only
assets with a non-zero shock in some scenario get columns of ``X`` and ``BD`` (positions on
the others go to one always-zero column): the dropped terms are exact zeros. Whether a
shocked notional may leave its base bracket is decided per position once per run, from the
run's extreme shocks (``N·(1 + r)`` is monotone in ``r``, in floats too).

Layout
------
Rows (the *active* units: with positions, or holding a liability) are ordered by owner
account, each account's cross unit first, then its isolated units. ``pairs`` emits the
pairs row-major (rows ascending, then scenarios), so ``evaluate`` reads each unit's
positions for all its scenarios at once, and ``reduce_pairs`` counts an account once per
scenario after a stable sort of nearly sorted ``(owner, scenario)`` keys (only accounts with
several units are out of order). Per position, one small ``code`` indexes ``(2·M·K)``-entry
tables of its market and base bracket (MMF, maintenance amount, floors, penalty, depth, base
asset); codes ``≥ M·K`` mark positions whose bracket the run's shocks may change. Work is
chunked so that temporaries stay small (they are reused by the allocator instead of being
faulted in afresh), and batches run on the pool's threads (numpy and scipy release the GIL).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

from riskgov.engine.brackets import bracket_index, maintenance_margin
from riskgov.engine.types import F64, I64, Bool, MarketParams, ParameterSet
from riskgov.engine.units import UnitBook, unit_outcome

#: positions expanded at once in the exact step (keeps its ~10 temporaries in cache)
_CHUNK_POSITIONS = 1 << 18
#: (row, scenario) cells bounded at once in ``pairs`` (bounds its temporaries)
_PAIR_CELLS = 1 << 19
#: rows per chunk of the all-units batch bound
_BOUND_ROWS = 1 << 16


def _distinct_sorted(key: I64) -> tuple[I64, I64]:
    """Sorted distinct keys and, for each, the start of its run in ``np.sort(key)``."""
    srt = np.sort(key, kind="stable")  # keys arrive nearly sorted: timsort is ~linear
    start = np.flatnonzero(np.concatenate([[True], srt[1:] != srt[:-1]])) if srt.size else srt
    return srt, start


def _run_starts(key: I64) -> Bool:
    """``(n,)`` True where a run of equal values of ``key`` starts."""
    new = np.empty(key.size, dtype=np.bool_)
    if key.size:
        new[0] = True
        np.not_equal(key[1:], key[:-1], out=new[1:])
    return new


class BatchTotals(NamedTuple):
    """Per-scenario totals of one batch of ``nb`` scenarios (RISK_MODEL §9, §10 inputs).

    ``penalties``, ``shortfall``: ``(nb,)`` float64 USD; ``evaluated``, ``n_liquidated``,
    ``n_bankrupt``: ``(nb,)`` int64; ``top2``: ``(nb, 2)`` float64 USD the two largest
    account shortfalls (0 when fewer); ``top2_account``: ``(nb, 2)`` int64 (-1 when none).
    ``bk_account``, ``bk_scenario``, ``bk_shortfall``: ``(n_bk,)`` every (account, scenario)
    pair of the batch with an account shortfall > 0 (int64 account, int64 scenario in the
    batch, float64 USD the account's shortfall: the sum of its units'), sparse — the input of
    each account's largest shortfall over the run (``_Acc``), never an ``(S, A)`` matrix.
    """

    penalties: F64
    shortfall: F64
    evaluated: I64
    n_liquidated: I64
    n_bankrupt: I64
    top2: F64
    top2_account: I64
    bk_account: I64 | None = None
    bk_scenario: I64 | None = None
    bk_shortfall: F64 | None = None


def reduce_pairs(nb: int, n_accounts: int, s_local: I64, owner: I64, liq: Bool, pen: F64, short: F64) -> BatchTotals:
    """Per-scenario totals of evaluated (unit, scenario) pairs (RISK_MODEL §9).

    An account counts once per scenario however many of its units are liquidated; it is
    bankrupt when the sum of its units' shortfalls is > 0; top-2 ranks accounts by that sum
    (ties: lower account first).

    Args:
        nb: scenarios in the batch; ``s_local`` indexes them.
        n_accounts: number of accounts ``A``.
        s_local: ``(n,)`` int64 scenario of each pair, in ``[0, nb)``.
        owner: ``(n,)`` int64 account of each pair's unit.
        liq, pen, short: ``(n,)`` outcome of ``unit_outcome`` (bool, USD, USD).

    Returns:
        ``BatchTotals`` of ``(nb,)`` arrays.

    Pairs already sorted by ``(owner, s_local)`` need no sort; any other order is sorted
    first, stably, so an account's shortfall adds its units in the order given (``_Fast``
    gives them in unit order: the same sums as the dense reference's).
    """
    penalties = np.bincount(s_local, weights=pen, minlength=nb)
    shortfall = np.bincount(s_local, weights=short, minlength=nb)
    evaluated = np.bincount(s_local, minlength=nb)
    key = owner * np.int64(nb)
    key += s_local
    if key.size > 1 and not bool((key[1:] >= key[:-1]).all()):
        # an account's units are separate rows: merge their scenarios (nearly sorted keys)
        order = np.argsort(key, kind="stable")
        key, liq, short = key.take(order), liq.take(order), short.take(order)
    kl = key[liq]
    kl = kl[_run_starts(kl)]
    n_liq = np.bincount(kl - kl // nb * nb, minlength=nb)
    top2 = np.zeros((nb, 2))
    top2_acc = np.full((nb, 2), -1, dtype=np.int64)
    bk = np.flatnonzero(short > 0)
    if not bk.size:
        none = np.zeros(0, dtype=np.int64)
        return BatchTotals(
            penalties,
            shortfall,
            evaluated,
            n_liq,
            np.zeros(nb, dtype=np.int64),
            top2,
            top2_acc,
            none,
            none,
            np.zeros(0),
        )
    kb = key.take(bk)
    start = np.flatnonzero(_run_starts(kb))
    sums = np.add.reduceat(short.take(bk), start)  # an account's units in unit order
    kb = kb.take(start)
    a_rep = kb // nb
    s_rep = kb - a_rep * nb
    account_sums = sums
    n_bk = np.bincount(s_rep, minlength=nb)
    # top-2 per scenario: the largest sum, ties to the lower account; then the next one
    big = np.int64(n_accounts)
    for j in range(2):
        if j and not (n_bk > 1).any():
            break
        best = np.full(nb, -np.inf)
        np.maximum.at(best, s_rep, sums)
        tie = np.flatnonzero(sums == best.take(s_rep))
        who = np.full(nb, big)
        np.minimum.at(who, s_rep.take(tie), a_rep.take(tie))
        has = n_bk > j
        top2[has, j] = best[has]
        top2_acc[has, j] = who[has]
        if not j:
            sums = np.where(a_rep == who.take(s_rep), -np.inf, sums)
    return BatchTotals(penalties, shortfall, evaluated, n_liq, n_bk, top2, top2_acc, a_rep, s_rep, account_sums)


class _Acc:
    """Per-scenario totals of a stress run, filled batch by batch (``BatchTotals``).

    Also the running maximum, per account, of its shortfall over the scenarios put so far
    (``account_short`` ``(A,)`` USD, 0 when none) and the scenario that gave it
    (``account_scen`` ``(A,)`` int64 global index, -1 when none; ties: the lowest index):
    updated from each batch's sparse bankrupt pairs, so memory stays ``O(A)``.
    """

    def __init__(self, n_scen: int, n_accounts: int) -> None:
        self.n_acc = n_accounts
        self.account_short = np.zeros(n_accounts)
        self.account_scen = np.full(n_accounts, -1, dtype=np.int64)
        self.n_liq = np.zeros(n_scen, dtype=np.int64)
        self.n_bk = np.zeros(n_scen, dtype=np.int64)
        self.shortfall = np.zeros(n_scen)
        self.penalties = np.zeros(n_scen)
        self.evaluated = np.zeros(n_scen, dtype=np.int64)
        self.top2 = np.zeros((n_scen, 2))
        self.top2_acc = np.full((n_scen, 2), -1, dtype=np.int64)

    def put(self, batch: I64, t: BatchTotals) -> None:
        """Store the totals of one complete batch; ``batch``: ``(nb,)`` global scenario indices."""
        self.penalties[batch] += t.penalties
        self.shortfall[batch] += t.shortfall
        self.evaluated[batch] += t.evaluated
        self.n_liq[batch] += t.n_liquidated
        self.n_bk[batch] += t.n_bankrupt
        self.top2[batch] = t.top2
        self.top2_acc[batch] = t.top2_account
        if t.bk_account is not None and t.bk_account.size:
            self.put_account_max(t.bk_account, batch[t.bk_scenario], t.bk_shortfall)

    def put_account_max(self, account: I64, scenario: I64, short: F64) -> None:
        """Fold ``(n,)`` (account, global scenario, USD account shortfall) pairs into the
        per-account running maximum (ties: the lowest scenario index).

        ``reduce_pairs`` gives the pairs grouped by account (ascending): then this is a few
        ``O(n)`` segment reductions, no sort; any other order is sorted first.
        """
        if account.size > 1 and not bool((account[1:] >= account[:-1]).all()):
            order = np.argsort(account, kind="stable")
            account, scenario, short = account.take(order), scenario.take(order), short.take(order)
        start = np.flatnonzero(_run_starts(account))
        best = np.maximum.reduceat(short, start)
        counts = np.diff(np.append(start, account.size))
        tied = short == np.repeat(best, counts)
        big = np.iinfo(np.int64).max
        first = np.minimum.reduceat(np.where(tied, scenario, big), start)
        a = account.take(start)
        cur, cur_s = self.account_short.take(a), self.account_scen.take(a)
        better = (best > cur) | ((best == cur) & (first < cur_s))
        self.account_short[a[better]] = best[better]
        self.account_scen[a[better]] = first[better]

    def add(self, batch: I64, s_local: I64, owner: I64, liq: Bool, pen: F64, short: F64) -> None:
        """Add the unit outcomes of one complete batch of scenarios (see ``reduce_pairs``).

        Args:
            batch: ``(nb,)`` global indices of the batch's scenarios.
            s_local: ``(n,)`` int64 position of each unit's scenario in ``batch``.
            owner: ``(n,)`` int64 account of each unit.
            liq, pen, short: ``(n,)`` outcome of ``unit_outcome``.
        """
        self.put(batch, reduce_pairs(batch.size, self.n_acc, s_local, owner, liq, pen, short))


def _excl_cumsum(x: I64) -> I64:
    out = np.zeros(x.size, dtype=np.int64)
    if x.size > 1:
        np.cumsum(x[:-1], out=out[1:])
    return out


class _Fast:
    """Precomputed sparse structure of one stress run (see the module docstring).

    Rows are the active units ordered by ``(owner, unit)``; ``X`` ``(rows × C)`` and ``BD``
    ``(rows × 4C)`` are CSR with int32 indices over the ``C − 1`` assets that move in some
    scenario plus one always-zero column, built in position chunks straight from the
    unit-sorted book (duplicate ``(unit, asset)`` entries are kept: products sum them, and
    the bounds stay valid lower bounds).

    Args:
        params: the parameter set of ``book``.
        book: ``build_unit_book(params, state)``.
        shocks: ``(S, A)`` float64 all the run's shocks (their per-asset range decides the
            columns, the far-end MM slopes and which positions may change bracket).
        pool: worker threads for the chunked construction and the bounds.
    """

    def __init__(self, params: ParameterSet, book: UnitBook, shocks: F64, pool: ThreadPoolExecutor) -> None:
        mk = params.markets
        self.book = book
        self.markets = mk
        self.pool = pool
        n_a = params.assets.n
        n_units = book.n_units
        if shocks.shape[0]:
            s_min, s_max = shocks.min(axis=0), shocks.max(axis=0)
        else:
            s_min = s_max = np.zeros(n_a)
        # columns: the assets some scenario moves, then one always-zero column that takes
        # the positions on assets no scenario moves (their terms are exact zeros)
        cols = np.flatnonzero((s_min != 0.0) | (s_max != 0.0))
        self.cols = cols
        n_c = cols.size + 1
        col_of = np.full(n_a, cols.size, dtype=np.int64)
        col_of[cols] = np.arange(cols.size)

        # rows: active units by (owner, unit)
        active = (book.unit_count > 0) | book.unit_has_liability
        act = np.flatnonzero(active)
        owner = book.unit_owner[act]
        if owner.size > 1 and not bool((owner[1:] >= owner[:-1]).all()):
            perm = np.argsort(owner, kind="stable")
            act, owner = act[perm], owner[perm]
        self.act = act
        self.row_owner = owner
        n_r = act.size
        self.row_start = book.unit_start[act]
        self.row_count = book.unit_count[act]

        # per (market, bracket) cell: small tables, twice over (codes >= M·K mark positions
        # that some shock of the run may move out of their base bracket)
        n_k = mk.max_brackets
        n_cells = mk.n * n_k
        self.n_cells = n_cells

        def table(v: F64) -> F64:
            return np.tile(np.ascontiguousarray(v).ravel(), 2)

        floors_ext = np.concatenate([mk.floors, np.full((mk.n, 1), np.inf)], axis=1)
        self.t_mmf = table(mk.mmf)
        self.t_cum = table(mk.maintenance_amount)
        self.t_asset = table(np.repeat(mk.base_asset, n_k))
        self.t_depth = table(np.repeat(mk.depth_usd_per_1pct, n_k))
        self.t_pen = table(np.repeat(mk.liquidation_penalty, n_k))
        self.t_floor_lo = table(floors_ext[:, :-1])
        self.t_floor_hi = table(floors_ext[:, 1:])
        up1 = 1.0 + np.maximum(s_max, 0.0)  # per asset: the run's largest growth ...
        dn1 = 1.0 + np.minimum(s_min, 0.0)  # ... and smallest

        # balances kept: a moving asset, held by an active unit (sorted by unit)
        b_col = col_of[book.bal_asset]
        b_keep = (b_col < cols.size) & active[book.bal_unit]
        b_unit, b_col, bal = book.bal_unit[b_keep], b_col[b_keep], book.bal_value0[b_keep]
        nb_u = np.bincount(b_unit, minlength=n_units)
        cnt_u = nb_u + book.unit_count
        indptr = np.zeros(n_r + 1, dtype=np.int64)
        np.cumsum(cnt_u[act], out=indptr[1:])
        rowptr_u = np.zeros(n_units, dtype=np.int64)
        rowptr_u[act] = indptr[:-1]
        nnz = int(indptr[-1])
        idx_t = np.int32 if 4 * nnz < 2**31 and 4 * n_c < 2**31 else np.int64
        x_data = np.empty(nnz)
        x_idx = np.empty(nnz, dtype=idx_t)
        bd_data = np.empty(2 * nnz)
        bd_idx = np.empty(2 * nnz, dtype=idx_t)
        neg = 2 * n_c

        # X row r: its balances, then its positions; BD row r: its A entries, then its B
        # entries (each as in X), columns split by sign
        d_b = (rowptr_u - _excl_cumsum(nb_u))[b_unit]
        d_b += np.arange(b_unit.size)
        x_data[d_b] = bal
        x_idx[d_b] = b_col
        d_b += rowptr_u[b_unit]
        bd_data[d_b] = bal
        bd_idx[d_b] = b_col + np.where(bal < 0, neg, 0)
        d_b += cnt_u[b_unit]
        bd_data[d_b] = bal
        bd_idx[d_b] = b_col + np.where(bal < 0, neg + n_c, n_c)
        del d_b
        x_base = rowptr_u + nb_u - book.unit_start  # X slot of position t of unit u: x_base[u] + t
        code_t = np.int32 if 2 * n_cells < 2**31 else np.int64
        self.pos_code = np.empty(book.notional0.size, dtype=code_t)

        def kernel(lo: int, hi: int) -> None:
            """Positions lo:hi: their code, and their X and BD entries."""
            u = book.pos_unit[lo:hi]
            asset = book.pos_asset[lo:hi]
            n0 = book.notional0[lo:hi]
            cell = np.multiply(book.pos_market[lo:hi], n_k)
            cell += book.pos_bracket[lo:hi]
            # MM slope at the far end of the run's up-shocks (exact for r ≥ 0, see above)
            n_up = up1.take(asset)
            n_up *= n0
            up_out = n_up >= self.t_floor_hi.take(cell)
            slope = self.t_mmf.take(cell)
            out = np.flatnonzero(up_out)
            if out.size:
                mkt_out = book.pos_market[lo:hi][out]
                slope[out] = mk.mmf[mkt_out, bracket_index(mk, mkt_out, n_up[out])]
            # N' = N·(1 + r) is monotone in r: the run's extreme shocks bound every scenario
            n_dn = dn1.take(asset)
            n_dn *= n0
            up_out |= n_dn < self.t_floor_lo.take(cell)
            code = self.pos_code[lo:hi]
            np.multiply(up_out, n_cells, out=code, casting="unsafe")
            code += cell
            col = col_of.take(asset)
            x = np.multiply(book.size[lo:hi], book.price0[lo:hi])  # q·p
            dest = x_base.take(u)
            dest += np.arange(lo, hi)
            x_data[dest] = x
            x_idx[dest] = col
            dest += rowptr_u.take(u)
            slope *= n0
            a = np.subtract(x, slope)  # q·p − N·MMF_far
            bd_data[dest] = a
            bd_idx[dest] = col + np.where(a < 0, neg, 0)
            dest += cnt_u.take(u)
            b = np.subtract(x, book.pos_mm0[lo:hi])  # q·p − MM(N)
            bd_data[dest] = b
            bd_idx[dest] = col + np.where(b < 0, neg + n_c, n_c)

        list(
            pool.map(
                lambda lo: kernel(lo, min(lo + _CHUNK_POSITIONS, book.notional0.size)),
                range(0, book.notional0.size, _CHUNK_POSITIONS),
            )
        )
        self.X = sp.csr_matrix((x_data, x_idx, indptr.astype(idx_t)), shape=(n_r, n_c))
        self.BD = sp.csr_matrix((bd_data, bd_idx, (2 * indptr).astype(idx_t)), shape=(n_r, 4 * n_c))

        self.e0 = book.equity0[act]
        self.s0 = self.e0 - book.mm0[act]
        scale = (
            np.abs(self.e0)
            + book.mm0[act]
            + np.bincount(book.pos_unit, weights=book.notional0, minlength=n_units)[act]
            + np.bincount(book.bal_unit, weights=np.abs(book.bal_value0), minlength=n_units)[act]
            + np.abs(book.unit_margin[act])
        )
        self.tol = 1e-9 * scale + 1e-6

    def _shocks(self, r: F64) -> F64:
        """``(n, C)`` the moving assets' columns of ``r`` ``(n, A)``, and the zero column."""
        out = np.zeros((r.shape[0], self.cols.size + 1))
        out[:, :-1] = r[:, self.cols]
        return out

    def _rhs(self, lo: F64, hi: F64) -> F64:
        """``(4C, n)`` right-hand side of ``BD`` for per-asset ranges ``lo``/``hi`` ``(n, A)``."""
        lo, hi = self._shocks(lo), self._shocks(hi)
        return np.ascontiguousarray(
            np.concatenate(
                [np.maximum(lo, 0.0), np.minimum(lo, 0.0), np.maximum(hi, 0.0), np.minimum(hi, 0.0)], axis=1
            ).T
        )

    def batch_candidates(self, lo: F64, hi: F64) -> list[I64]:
        """Per batch, the ascending rows whose batch bound cannot exclude a liquidation.

        ``lo``/``hi``: ``(nb, A)`` per-batch min/max shock of each asset. Rows are first
        bounded over the range of all batches at once (one column); only the rows that
        survive it are bounded per batch.
        """
        n_b = lo.shape[0]
        rhs = self._rhs(lo, hi)
        rhs_all = self._rhs(lo.min(axis=0, keepdims=True), hi.max(axis=0, keepdims=True))
        n_r = self.act.size

        def chunk(r0: int) -> list[I64]:
            r1 = min(n_r, r0 + _BOUND_ROWS)
            m = self.BD[r0:r1]
            s0, tol = self.s0[r0:r1], self.tol[r0:r1]
            bound = (m @ rhs_all)[:, 0]
            bound += s0
            keep = np.flatnonzero(bound < tol)
            if n_b == 1 or not keep.size:
                return [keep + r0] * n_b
            bound = m[keep] @ rhs
            bound += s0[keep, None]
            flag = np.ascontiguousarray((bound < tol[keep, None]).T)
            keep += r0
            return [keep[np.flatnonzero(f)] for f in flag]

        parts = list(self.pool.map(chunk, range(0, n_r, _BOUND_ROWS)))
        if not parts:
            return [np.zeros(0, dtype=np.int64) for _ in range(n_b)]
        return [np.concatenate([p[j] for p in parts]) for j in range(n_b)]

    def pairs(self, cand: I64, rb: F64) -> tuple[I64, I64, F64]:
        """(row, scenario) pairs of ``cand`` rows whose per-scenario bound is ``< tol``.

        Args:
            cand: ``(n,)`` ascending rows (candidates of the batch).
            rb: ``(nb, A)`` the batch's shocks.

        Returns:
            ``(row, s_local, e_pair)``: row-major (rows ascending, then scenarios), with the
            exact shocked equity ``E' = E + X·r`` of each pair (USD).
        """
        nb = rb.shape[0]
        rc = self._shocks(rb)
        rp, rn = np.maximum(rc, 0.0), np.minimum(rc, 0.0)
        # with lo = hi = r the BD bound is L(r): columns 0..4C take (r⁺, r⁻, r⁺, r⁻)
        rhs = np.ascontiguousarray(np.concatenate([rp, rn, rp, rn], axis=1).T)
        rct = np.ascontiguousarray(rc.T)
        step = max(1, _PAIR_CELLS // max(nb, 1))
        rows_out, s_out, e_out = [], [], []
        for c0 in range(0, cand.size, step):
            rows = cand[c0 : c0 + step]
            bound = self.BD[rows] @ rhs
            bound += self.s0.take(rows)[:, None]
            flag = bound < self.tol.take(rows)[:, None]
            del bound
            idx = np.flatnonzero(flag)
            del flag
            if not idx.size:
                continue
            ci = idx // nb
            ex = self.X[rows] @ rct
            e_pair = self.e0.take(rows).take(ci)
            e_pair += ex.ravel().take(idx)
            s_out.append(idx - ci * nb)
            rows_out.append(rows.take(ci))
            e_out.append(e_pair)
        if not rows_out:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0)
        if len(rows_out) == 1:
            return rows_out[0], s_out[0], e_out[0]
        return np.concatenate(rows_out), np.concatenate(s_out), np.concatenate(e_out)

    def batch(self, cand: I64, rb: F64) -> tuple[I64, I64, Bool, F64, F64]:
        """Exact outcomes of one batch: ``pairs`` then §8 on them.

        Args:
            cand: ``(n,)`` ascending candidate rows of the batch.
            rb: ``(nb, A)`` float64 the batch's shocks.

        Returns:
            ``(row, s_local, liquidated, penalty_paid, shortfall)`` per evaluated pair, in the
            order of ``pairs`` (rows ascending, then scenarios); money in USD.
        """
        rows, sj, e_pair = self.pairs(cand, rb)
        liq, pen, short = self.evaluate(rows, sj, e_pair, rb)
        return rows, sj, liq, pen, short

    def batch_totals(self, cand: I64, rb: F64) -> BatchTotals:
        """``reduce_pairs`` of ``batch(cand, rb)``: the batch's per-scenario totals."""
        rows, sj, liq, pen, short = self.batch(cand, rb)
        return reduce_pairs(rb.shape[0], self.book.n_accounts, sj, self.row_owner[rows], liq, pen, short)

    def mm_table(self, markets: MarketParams) -> tuple[F64, F64, MarketParams]:
        """``(t_mmf, t_cum, markets)``: the per-code MMF and maintenance-amount tables of another
        bracket table set with the same floors (``evaluate_terms(tables=...)``)."""
        return (
            np.tile(np.ascontiguousarray(markets.mmf).ravel(), 2),
            np.tile(np.ascontiguousarray(markets.maintenance_amount).ravel(), 2),
            markets,
        )

    def evaluate(self, rows: I64, scen: I64, e_pair: F64, rb: F64) -> tuple[Bool, F64, F64]:
        """Exact §8 outcome of (row, scenario) pairs; positions expanded in chunks.

        Args:
            rows, scen: ``(n,)`` int64 rows and their scenario in ``rb``.
            e_pair: ``(n,)`` float64 USD shocked equity ``E'`` of each pair.
            rb: ``(nb, A)`` float64 shocks; every shock within the run's range.

        Returns:
            ``(liquidated, penalty_paid, shortfall)`` per pair (bool, USD, USD), as
            ``unit_outcome``.
        """
        mm, slip, pen_due = self.evaluate_terms(rows, scen, rb, ((self.t_mmf, self.t_cum, self.markets),))
        liq, _, pen, short = unit_outcome(e_pair, mm[0], slip, pen_due)
        return liq, pen, short

    def evaluate_terms(
        self, rows: I64, scen: I64, rb: F64, tables: tuple[tuple[F64, F64, MarketParams], ...]
    ) -> tuple[F64, F64, F64]:
        """``MM'`` under each of ``tables``, slippage cost and penalty due of (row, scenario) pairs.

        Args:
            rows, scen: ``(n,)`` int64 rows and their scenario in ``rb``.
            rb: ``(nb, A)`` float64 shocks; every shock within the run's range.
            tables: ``K`` outputs of ``mm_table`` for bracket tables with this run's floors (the run's
                own is ``(t_mmf, t_cum, markets)``).

        Returns:
            ``(mm, slip_cost, penalty_due)``: ``(K, n)``, ``(n,)``, ``(n,)`` float64 USD.

        Per position the same float operations as ``stress._dense_units``: ``N' = N·(1 + r)``,
        ``MM' = N'·MMF_k − C_k`` (a fresh bracket lookup when ``N'`` left the base bracket),
        ``close_costs``; summed per pair in position order (for each table alike).
        """
        book = self.book
        n_a = rb.shape[1]
        growth = (1.0 + rb).ravel()
        start = self.row_start.take(rows)
        cnt = self.row_count.take(rows)
        n = rows.size
        mm = np.zeros((len(tables), n))
        slip = np.zeros(n)
        pen_due = np.zeros(n)
        csum = np.cumsum(cnt)
        s_base = scen * np.int64(n_a)
        lo = 0
        while lo < n:
            base = int(csum[lo - 1]) if lo else 0
            hi = int(np.searchsorted(csum, base + _CHUNK_POSITIONS, side="right"))
            hi = max(hi, lo + 1)
            tot = int(csum[hi - 1]) - base
            if tot:
                k = hi - lo
                c = cnt[lo:hi]
                first = csum[lo:hi] - c - base  # each pair's first slot in the chunk
                if k > 1 and bool(c.all()):
                    # pair of each slot without np.repeat: mark where pairs start, cumsum
                    pair = np.zeros(tot, dtype=np.int32)
                    pair[first[1:]] = 1
                    np.cumsum(pair, out=pair)
                else:
                    pair = np.repeat(np.arange(k, dtype=np.int32), c)
                pos = np.arange(tot)
                pos += (start[lo:hi] - first).take(pair)
                code = self.pos_code.take(pos)
                gi = s_base[lo:hi].take(pair)
                gi += self.t_asset.take(code)
                notional = book.notional0.take(pos)
                notional *= growth.take(gi)
                del gi
                maybe = np.flatnonzero(code >= self.n_cells)
                moved = None
                if maybe.size:
                    nm, cm = notional[maybe], code[maybe]
                    moved = maybe[(nm < self.t_floor_lo.take(cm)) | (nm >= self.t_floor_hi.take(cm))]
                for i, (t_mmf, t_cum, markets) in enumerate(tables):
                    m = t_mmf.take(code)
                    m *= notional
                    m -= t_cum.take(code)
                    if moved is not None and moved.size:
                        m[moved] = maintenance_margin(markets, book.pos_market.take(pos[moved]), notional[moved])
                    mm[i, lo:hi] = np.bincount(pair, weights=m, minlength=k)
                # close_costs(notional, depth, penalty_rate), the same operations
                s_cost = np.multiply(notional, 0.01)
                s_cost /= self.t_depth.take(code)
                np.minimum(s_cost, 1.0, out=s_cost)
                s_cost *= notional
                p_due = self.t_pen.take(code)
                p_due *= notional
                slip[lo:hi] = np.bincount(pair, weights=s_cost, minlength=k)
                pen_due[lo:hi] = np.bincount(pair, weights=p_due, minlength=k)
            lo = hi
        return mm, slip, pen_due

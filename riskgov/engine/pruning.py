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

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp

from riskgov.engine.brackets import bracket_index, maintenance_margin
from riskgov.engine.types import F64, I64, Bool, ParameterSet
from riskgov.engine.units import UnitBook, close_costs, unit_outcome

#: positions expanded at once in the exact step (bounds peak memory, ~10 arrays of this size)
_CHUNK_POSITIONS = 2_000_000


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

"""The step-level exact pruning behind ``path_stress.run_path_stress`` (RISK_MODEL §8, §9).

Levels 2 and 3 of the pruning described in ``path_stress`` (level 1 is
``pruning._Fast.batch_candidates``), and the batch order. Everything here reuses the
sparse bounds and the exact evaluation of ``pruning._Fast`` unchanged.
"""

from __future__ import annotations

import numpy as np

from riskgov.engine.pruning import _PAIR_CELLS, _Fast
from riskgov.engine.types import F64, I64
from riskgov.engine.units import unit_outcome

__all__ = ["batch_order", "first_liquidations", "first_liquidations_multi", "shortfall_rows_bound"]


def batch_order(moves: F64, batch_size: int) -> I64:
    """Order of the scenarios cut into batches: similar paths together, so batch ranges stay tight.

    ``moves``: ``(S, T, A')`` shocks of the moving assets. Scenarios are ranked by their mean
    path minimum, cut into ``⌈√(S / batch_size)⌉`` equal-count bands, and ordered inside a
    band by their mean path maximum (ascending and descending in turn, a snake), so that a
    batch is narrow in both the down and the up direction. Only speed depends on it.
    """
    n_s = moves.shape[0]
    lo = moves.min(axis=1).mean(axis=1)
    hi = moves.max(axis=1).mean(axis=1)
    n_band = max(1, int(np.ceil(np.sqrt(n_s / batch_size))))
    band = np.argsort(np.argsort(lo, kind="stable"), kind="stable") * n_band // n_s
    return np.lexsort((np.where(band % 2 == 0, hi, -hi), band))


def shortfall_rows_bound(fast: _Fast, shocks: F64) -> F64:
    """``(rows,)`` USD an upper bound of each row's close costs ``Σ N'·min(1, 0.01·N'/D)`` (§8)
    at any shock of ``shocks`` ``(n, A)``: the cost grows with ``N' = N·(1 + r)``, so its value
    at each asset's largest growth of the run bounds every step (rounding is inside ``tol``)."""
    book = fast.book
    up = 1.0 + np.maximum(shocks.max(axis=0), 0.0) if shocks.shape[0] else np.ones(shocks.shape[1])
    n_hi = book.notional0 * up.take(book.pos_asset)
    cost = n_hi * np.minimum(1.0, 0.01 * n_hi / fast.t_depth.take(fast.pos_code))
    return np.bincount(book.pos_unit, weights=cost, minlength=book.n_units).take(fast.act) * (1.0 + 1e-9)


def _any_rows(flags: np.ndarray) -> np.ndarray:
    """``flags.any(axis=1)`` of a C-contiguous ``(n, T)`` bool matrix, 8 flags per word when ``8 | T``."""
    flags = np.ascontiguousarray(flags)
    if flags.shape[1] % 8 or not flags.shape[1]:
        return flags.any(axis=1)
    words = flags.view(np.uint64)
    acc = words[:, 0].copy()
    for k in range(1, words.shape[1]):
        acc |= words[:, k]
    return acc != 0


def _shocked_equity(fast: _Fast, rows: I64, j: I64, rc_flat: F64, n_c: int) -> F64:
    """``E' = E + X·r`` of (row, step) pairs, ``(n,)`` USD, without the dense product.

    ``rc_flat`` is ``_Fast._shocks(rb).ravel()`` (``n_c`` columns per step). The products of
    a row are summed in its storage order starting from 0, then added to ``E`` — the float
    operations of ``_Fast.pairs`` (``csr_matvecs`` then ``e0 + ex``).
    """
    x = fast.X
    start = x.indptr.take(rows).astype(np.int64)
    cnt = x.indptr.take(rows + 1) - start
    acc = np.zeros(rows.size)
    live = np.flatnonzero(cnt > 0)
    base = j * np.int64(n_c)
    k = 0
    while live.size:
        idx = start.take(live) + k
        acc[live] += x.data.take(idx) * rc_flat.take(base.take(live) + x.indices.take(idx))
        k += 1
        live = live[cnt.take(live) > k]
    e = fast.e0.take(rows)
    e += acc
    return e


def first_liquidations(fast: _Fast, cand: I64, rb: F64, nb: int, n_t: int, slip_hi: F64 | None = None) -> tuple:
    """Levels 2 and 3 of the pruning for one batch: step bounds, then step-ordered evaluation.

    Per chunk of candidate rows, the ``BD`` bound of every (row, scenario, step) — with
    ``lo = hi = r_{s,t}`` it is ``L(r_{s,t})``, as in ``_Fast.pairs`` — flags the steps that
    may liquidate; ``E' = E + X·r`` is computed for the evaluated steps only. Then each round evaluates
    exactly (``_Fast.evaluate``) the first flagged step of every open (row, scenario) group;
    a group closes at its first liquidated step, or at the last step (its non-liquidated
    ``max(0, −E_T)``), or when no flagged step is left (the later steps were bounded away).

    Args:
        cand: ``(n,)`` ascending candidate rows of the batch.
        rb: ``(nb·T, A)`` the batch's steps, scenario-major.
        slip_hi: ``(rows,)`` USD an upper bound of each row's close costs at any step of the
            run (``shortfall_rows_bound``), or None. When given, only the groups that may end
            with a shortfall are kept: a group whose ``E'_t − slip_hi ≥ tol`` at every step
            (``E' = E + X·r`` of ``X``'s product) has shortfall 0 wherever it is liquidated,
            and ``max(0, −E_T) = 0`` if it is not. The others' outcomes are unchanged, so
            the shortfall sums are the same floats (the dropped terms are zeros), but the
            other outputs then cover only the kept groups.

    Returns:
        ``(row, s, liq, pen, short, step, evaluated)`` per (row, scenario) group with a
        flagged step, rows ascending then scenarios (``step`` is the 0-based step of the
        recorded outcome, -1 when nothing was recorded); ``evaluated`` ``(nb,)`` counts the
        exact (unit, step) evaluations per scenario.
    """
    row, s, liq, pen, short, step, evaluated = first_liquidations_multi(
        fast, ((fast.t_mmf, fast.t_cum, fast.markets),), cand, rb, nb, n_t, slip_hi
    )
    return row, s, liq[0], pen[0], short[0], step[0], evaluated


def _step_operands(fast: _Fast, rb: F64, n_j: int, with_rct: bool) -> tuple[F64, F64, F64 | None, int]:
    """``(rc, rhs, rct, chunk)`` of a batch's ``n_j`` steps: the moving columns, the ``BD``
    right-hand side with ``lo = hi = r``, ``rc.T`` (for ``slip_hi``) and the rows per chunk."""
    rc = fast._shocks(rb)
    rp, rn = np.maximum(rc, 0.0), np.minimum(rc, 0.0)
    rhs = np.ascontiguousarray(np.concatenate([rp, rn, rp, rn], axis=1).T)
    rct = np.ascontiguousarray(rc.T) if with_rct else None
    return rc, rhs, rct, max(1, _PAIR_CELLS // max(n_j, 1))


def _flagged_groups(
    fast: _Fast, rows: I64, rhs: F64, rct: F64 | None, nb: int, n_t: int, slip_hi: F64 | None
) -> tuple[I64, I64, np.ndarray] | None:
    """Level 2 for one chunk of candidate rows: ``(g_row, g_s, flags)`` of the (row, scenario)
    groups with a step that may liquidate (and, with ``slip_hi``, may end with a shortfall),
    ``flags`` ``(n_g, T)`` bool; None when there is none (see ``first_liquidations``)."""
    may_lose = None
    if slip_hi is not None:
        low = fast.X[rows] @ rct  # E' − E of every (row, step)
        low += (fast.e0.take(rows) - slip_hi.take(rows))[:, None]
        may_lose = _any_rows((low < fast.tol.take(rows)[:, None]).reshape(rows.size * nb, n_t))
        del low
        keep = np.flatnonzero(may_lose.reshape(rows.size, nb).any(axis=1))
        if not keep.size:
            return None
        may_lose = may_lose.reshape(rows.size, nb)[keep].ravel()
        rows = rows.take(keep)
    bound = fast.BD[rows] @ rhs
    # L + (E − MM) < tol as L < tol − (E − MM): one pass less; tol (≥ 1e-6 USD) dwarfs the
    # rounding of either form, so no step that can liquidate is dropped
    flag = bound < (fast.tol.take(rows) - fast.s0.take(rows))[:, None]
    del bound
    f3 = flag.reshape(rows.size * nb, n_t)
    flagged = _any_rows(f3)
    if may_lose is not None:
        flagged &= may_lose
    grp = np.flatnonzero(flagged)  # group = local row · nb + s
    if not grp.size:
        return None
    return rows.take(grp // nb), grp % nb, f3[grp]


def first_liquidations_multi(
    fast: _Fast, tables: tuple, cand: I64, rb: F64, nb: int, n_t: int, slip_hi: F64 | None = None
) -> tuple:
    """``first_liquidations`` under ``K`` bracket table sets at once (§9; the §15 frontier).

    ``tables``: ``K`` outputs of ``_Fast.mm_table`` for table sets with ``fast``'s floors, each
    with ``MM(N)`` at most that of ``fast``'s own set for every ``N``: ``fast``'s bounds then
    bound every set's ``E' − MM'`` from below, so a step they skip liquidates under none.
    Each round evaluates ``E'``, the close costs and the ``K`` margins ``MM'_k`` of the first
    flagged step of every open (row, scenario) group (``_Fast.evaluate_terms``); the group's
    outcome under set ``k`` is recorded at its first step with ``E' < MM'_k`` (or at the
    last step), and the group closes when every set has one, or when no flagged step is left.

    A step flagged here but not by set ``k``'s own bounds cannot liquidate under ``k``, and
    at the last step has ``max(0, −E_T) = 0``: so row ``k`` of the outcomes holds the floats
    of ``first_liquidations`` run with set ``k``'s own ``_Fast`` (the extra groups add no
    liquidation, penalty or shortfall); only ``evaluated`` (and which groups appear) differ.

    Returns:
        ``(row, s, liq, pen, short, step, evaluated)`` as ``first_liquidations`` with the
        outcomes ``(K, n_g)`` (bool, USD, USD, int64 step or -1), ``evaluated`` ``(nb,)``.
    """
    n_k = len(tables)
    rc, rhs, rct, chunk = _step_operands(fast, rb, nb * n_t, slip_hi is not None)
    rc_flat = rc.ravel()
    evaluated = np.zeros(nb, dtype=np.int64)
    parts = []
    for c0 in range(0, cand.size, chunk):
        got = _flagged_groups(fast, cand[c0 : c0 + chunk], rhs, rct, nb, n_t, slip_hi)
        if got is None:
            continue
        g_row, g_s, f3 = got
        n_g = g_row.size
        g_liq = np.zeros((n_k, n_g), dtype=np.bool_)
        g_pen = np.zeros((n_k, n_g))
        g_short = np.zeros((n_k, n_g))
        g_step = np.full((n_k, n_g), -1, dtype=np.int64)
        open_ = np.arange(n_g)
        while open_.size:
            t = np.argmax(f3[open_], axis=1)  # first flagged step still to evaluate
            s_o = g_s.take(open_)
            r_o, j_o = g_row.take(open_), s_o * n_t + t
            e_pair = _shocked_equity(fast, r_o, j_o, rc_flat, rc.shape[1])
            mm, slip, pen_due = fast.evaluate_terms(r_o, j_o, rb, tables)
            evaluated += np.bincount(s_o, minlength=nb)
            last = t == n_t - 1
            closed = np.ones(open_.size, dtype=np.bool_)
            for k in range(n_k):
                liq, _, pen, short = unit_outcome(e_pair, mm[k], slip, pen_due)
                new = liq | last
                new &= g_step[k].take(open_) < 0
                g = open_[new]
                g_liq[k, g] = liq[new]
                g_pen[k, g] = pen[new]
                g_short[k, g] = short[new]
                g_step[k, g] = t[new]
                closed &= g_step[k].take(open_) >= 0
            rest = open_[~closed]
            f3[rest, t[~closed]] = False
            open_ = rest[_any_rows(f3[rest])]
        parts.append((g_row, g_s, g_liq, g_pen, g_short, g_step))
    if not parts:
        z = np.zeros(0, dtype=np.int64)
        zk = np.zeros((n_k, 0))
        return z, z, zk.astype(np.bool_), zk, zk.copy(), zk.astype(np.int64) - 1, evaluated
    row, s_ = (np.concatenate([p[k] for p in parts]) for k in range(2))
    liq, pen, short, step = (np.concatenate([p[k] for p in parts], axis=1) for k in range(2, 6))
    return row, s_, liq, pen, short, step, evaluated

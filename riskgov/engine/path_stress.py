"""Path stress: step-by-step first liquidation of every margin unit along paths (RISK_MODEL §8, §9).

At each step ``t = 1..T`` of a path every margin unit still open (an account's cross side,
or an isolated position with its own margin, see ``units``) is evaluated at that step's
prices ``p_{a,t} = p_a·(1 + r_{a,t})`` (§5, §6); a unit liquidatable there (``MM > 0`` and
``E < MM``) is liquidated at that step with the closes of §8 (``units.unit_outcome``:
slippage ``min(1, 0.01·N/D_m)``, penalty ``min(N·pen_m, max(0, E_after))``, shortfall
``max(0, −E_after)``) and leaves the book. A unit never liquidated on the path contributes
``max(0, −E_T)`` at the last step — only ever non-zero for a unit without positions whose
liabilities exceed its collateral, as in the gap stress (``units``), so a path with
``T = 1`` is exactly the gap stress of its shocks (``stress.run_scenarios``). There is no
price impact here (no cascade, §11: see ``path_cascade``).

Per scenario (§9): liquidated accounts (once, whatever the number of units or steps),
bankrupt accounts (units' shortfall sum > 0), ``S = Σ`` shortfall over the steps,
penalties, fund after ``max(0, IF + penalties − S)``, ADL amount ``max(0, S − IF −
penalties)``, coverage ``IF/S`` (``inf`` when ``S = 0``), the step where most shortfall
arose, the liquidated notional per market (``N`` at the liquidation step's price), the two
largest account shortfalls (Cover-2, §10), and per-step shortfall and first liquidations.

Exact pruning (the ideas of ``pruning``, reused as they are)
-----------------------------------------------------------
``pruning._Fast`` bounds ``E' − MM'`` of a unit from below by a sparse linear function of
the shocks, valid for every shock inside the run's per-asset range. Three levels:

1. every unit over the whole run's range, then per batch of scenarios over the batch's
   per-asset min/max over all its steps (``_Fast.batch_candidates``): a unit whose bound is
   ``≥ tol`` cannot reach its threshold anywhere on any path of the batch and is never
   evaluated step by step;
2. for the surviving units, the bound of every (scenario, step) of the batch (the ``BD``
   product of ``_Fast.pairs`` on the batch's ``(nb·T, A)`` steps, one flag matrix per row
   chunk): steps with bound ``≥ tol`` cannot liquidate and are skipped;
3. the flagged steps are evaluated exactly (``_Fast.evaluate``, with ``E' = E + X·r``
   summed as ``_Fast.pairs`` does) in step order, the first flagged step of every open
   (unit, scenario) per round: evaluation stops at the first liquidating step (later steps
   are never evaluated) or at the last step.

Batches are formed by ``path_pruning.batch_order`` (bands of path minimum, a snake on path maximum);
the order changes only the speed.

A skipped step is one where the unit cannot be liquidated, so the first liquidating step is
the same as in a full evaluation; the float operations of an evaluated step are those of the
gap stress. ``prune=False`` runs the same code with an infinite tolerance (nothing pruned),
the exactness reference; ``tests/engine/path_reference.py`` is a plain-loop reference.

Tolerance: float64, agreeing with exact arithmetic to a relative 1e-9 (absolute 1e-6 USD),
RISK_MODEL §1; counts are exact.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from riskgov.engine._parallel import default_threads
from riskgov.engine.brackets import scale_bracket_table
from riskgov.engine.fund import adl_amount, insurance_fund_after
from riskgov.engine.path_pruning import batch_order, first_liquidations, first_liquidations_multi, shortfall_rows_bound
from riskgov.engine.paths import PathSet, validate_paths
from riskgov.engine.pruning import _Fast, _run_starts, reduce_pairs
from riskgov.engine.stress import _batch_plan, _Cover2
from riskgov.engine.tail import coverage_ratios
from riskgov.engine.types import F64, I64, EngineInputError, ParameterSet, UnknownSymbolError, VenueState
from riskgov.engine.units import UnitBook, build_unit_book

__all__ = ["PathStressResult", "run_path_shortfall", "run_path_shortfall_multi", "run_path_stress"]


@dataclass(frozen=True)
class PathStressResult(_Cover2):
    """Per-scenario outcome of a path stress run (RISK_MODEL §8, §9; inputs of §10).

    Attributes (``S`` scenarios in the order given, ``T`` steps, ``M`` markets, ``A`` accounts):
        family, kind: the ``PathSet``'s family label and kind (``"paths"``/``""`` for an array).
        step_hours: step length in hours; ``horizon_hours`` = ``T·step_hours``.
        names: ``(S,)`` scenario names.
        n_liquidated: ``(S,)`` int64 accounts with a unit liquidated at some step (once).
        n_bankrupt: ``(S,)`` int64 accounts whose units' shortfall sum is > 0.
        shortfall: ``(S,)`` float64 USD ``S = Σ_t`` shortfall.
        penalties: ``(S,)`` float64 USD paid to the fund.
        insurance_fund: USD fund before.
        insurance_fund_after: ``(S,)`` USD ``max(0, IF + penalties − S)``.
        adl_amount: ``(S,)`` USD ``max(0, S − IF − penalties)``.
        coverage: ``(S,)`` ``IF/S`` (``inf`` when ``S = 0``).
        worst_step: ``(S,)`` int64 1-based step with the most shortfall (first on ties; 0 when
            ``S = 0``).
        shortfall_by_step: ``(S, T)`` float64 USD shortfall arising at each step.
        liquidated_by_step: ``(S, T)`` int64 accounts liquidated for the first time at each step.
        liquidated_notional: ``(S, M)`` float64 USD ``Σ |q|·p_t`` of the positions closed, at
            their liquidation step's price (before slippage).
        top2_shortfall: ``(S, 2)`` float64 USD the two largest account shortfalls (0 if fewer).
        top2_account: ``(S, 2)`` int64 their accounts (-1 when none).
        evaluated_steps: ``(S,)`` int64 (unit, step) pairs evaluated exactly (pruning
            diagnostic; with ``prune=False`` every step up to the liquidating one).
        candidate_units: ``(S,)`` int64 units that survived the path bound (evaluated at
            some step of the scenario).
        interpolated_share: ``(S,)`` float64 share of interpolated prices (``PathSet``).
        worst_scenario: index of the largest ``S`` (first on ties; -1 when no scenario).
        account_shortfall: ``(S, A)`` float64 USD per-account shortfall, only when asked
            (``want_account_shortfall``; dense, for small venues and tests).
    """

    family: str
    kind: str
    step_hours: float
    names: tuple[str, ...]
    n_liquidated: I64
    n_bankrupt: I64
    shortfall: F64
    penalties: F64
    insurance_fund: float
    insurance_fund_after: F64
    adl_amount: F64
    coverage: F64
    worst_step: I64
    shortfall_by_step: F64
    liquidated_by_step: I64
    liquidated_notional: F64
    top2_shortfall: F64
    top2_account: I64
    evaluated_steps: I64
    candidate_units: I64
    interpolated_share: F64
    worst_scenario: int
    account_shortfall: F64 | None = None

    @property
    def n_steps(self) -> int:
        """Steps per scenario ``T``."""
        return int(self.shortfall_by_step.shape[1])

    @property
    def horizon_hours(self) -> float:
        """``T·Δ`` in hours."""
        return self.n_steps * self.step_hours


class _BatchOut(NamedTuple):
    penalties: F64
    shortfall: F64
    n_liq: I64
    n_bk: I64
    top2: F64
    top2_acc: I64
    evaluated: I64
    candidates: I64
    by_step: F64
    liq_by_step: I64
    notional: F64
    acct: tuple[I64, I64, F64] | None


def _paths_of(params: ParameterSet, paths: PathSet | F64) -> tuple[F64, PathSet | None]:
    if isinstance(paths, PathSet):
        if paths.asset_symbols != tuple(params.assets.symbols):
            raise UnknownSymbolError("path set was built for other assets than the parameter set")
        return paths.shocks, paths
    return validate_paths(paths, params.assets.n), None


def _batch(fast: _Fast, cand: I64, rb: F64, nb: int, n_t: int, n_m: int, want_acct: bool) -> _BatchOut:
    """One batch of ``nb`` scenarios: pairs, step-ordered exact evaluation, per-scenario totals."""
    book = fast.book
    n_acc = book.n_accounts
    g_row, g_s, liq, pen, short, step, evaluated = first_liquidations(fast, cand, rb, nb, n_t)
    owner = fast.row_owner.take(g_row)
    tot = reduce_pairs(nb, n_acc, g_s, owner, liq, pen, short)
    cand_units = np.bincount(g_s, minlength=nb)
    rec = step >= 0
    by_step = np.bincount(g_s[rec] * n_t + step[rec], weights=short[rec], minlength=nb * n_t).reshape(nb, n_t)
    # accounts liquidated for the first time at a step: the earliest step per (owner, s); the
    # groups come by row (rows by owner), so the keys are sorted but where an account has
    # several units (a stable sort, nearly linear on such keys)
    li = np.flatnonzero(liq)
    key = owner.take(li) * np.int64(nb) + g_s.take(li)
    st = step.take(li)
    if key.size > 1 and not bool((key[1:] >= key[:-1]).all()):
        o = np.argsort(key, kind="stable")
        key, st = key.take(o), st.take(o)
    starts = np.flatnonzero(_run_starts(key))
    first_step = np.minimum.reduceat(st, starts) if starts.size else st
    s_first = key.take(starts) % nb
    liq_by_step = np.bincount(s_first * n_t + first_step, minlength=nb * n_t).reshape(nb, n_t)
    # liquidated notional per market: N' = N·(1 + r) at the liquidation step, as evaluate
    r_l = g_row.take(li)
    cnt = fast.row_count.take(r_l)
    pair = np.repeat(np.arange(li.size), cnt)
    pos = np.arange(int(cnt.sum())) - np.repeat(np.cumsum(cnt) - cnt, cnt) + np.repeat(fast.row_start.take(r_l), cnt)
    jj = (g_s.take(li) * n_t + step.take(li)).take(pair)
    growth = (1.0 + rb).ravel().take(jj * rb.shape[1] + book.pos_asset.take(pos))
    notional = book.notional0.take(pos) * growth
    mkt_n = np.bincount(
        g_s.take(li).take(pair) * n_m + book.pos_market.take(pos), weights=notional, minlength=nb * n_m
    ).reshape(nb, n_m)
    acct = (g_s, owner, short) if want_acct else None
    return _BatchOut(
        tot.penalties,
        tot.shortfall,
        tot.n_liquidated,
        tot.n_bankrupt,
        tot.top2,
        tot.top2_account,
        evaluated,
        cand_units,
        by_step,
        liq_by_step,
        mkt_n,
        acct,
    )


def _each_batch(
    params: ParameterSet,
    book: UnitBook,
    shocks: F64,
    batch_size: int,
    prune: bool,
    threads: int | None,
    work: Callable[[_Fast, I64, F64, int], Any],
    setup: Callable[[_Fast], None] | None = None,
) -> Iterator[tuple[I64, Any]]:
    """``(batch, work(fast, cand, rb, nb))`` per pruning batch (levels 1–3 of the module
    docstring), batches on the pool's threads; ``batch`` are the scenario indices;
    ``setup(fast)`` runs once before the batches."""
    n_s, n_t, n_a = shocks.shape
    with ThreadPoolExecutor(max_workers=default_threads(threads)) as pool:
        fast = _Fast(params, book, shocks.reshape(n_s * n_t, n_a), pool)
        if not prune:
            fast.tol = np.full_like(fast.tol, np.inf)
        if not n_s:
            return
        if setup is not None:
            setup(fast)
        moving = ~params.assets.stable
        order = batch_order(shocks[:, :, moving] if moving.any() else shocks, batch_size)
        batches, cands, todo = _batch_plan(fast, shocks, order, batch_size)

        def one(k: int) -> tuple[int, Any]:
            b = batches[k]
            return k, work(fast, cands[k], shocks[b].reshape(b.size * n_t, n_a), b.size)

        for k, out in pool.map(one, todo):
            yield batches[k], out


def _default_batch(batch_size: int | None, n_t: int) -> int:
    if batch_size is None:
        batch_size = 50 if n_t == 1 else max(1, 384 // n_t)
    if batch_size < 1:
        raise EngineInputError(f"batch_size must be >= 1, got {batch_size}")
    return batch_size


def run_path_shortfall(
    params: ParameterSet,
    state: VenueState,
    paths: PathSet | F64,
    *,
    batch_size: int | None = None,
    book: UnitBook | None = None,
    threads: int | None = None,
) -> F64:
    """``(S,)`` float64 USD protocol shortfall ``S`` of each path, alone (RISK_MODEL §9, §10).

    The same floats as ``run_path_stress(...).shortfall`` (same batches, same evaluation,
    same sums), with one more exact pruning: a (unit, path) whose shocked equity less an
    upper bound of its close costs stays ``≥ tol`` at every step cannot end with a shortfall
    wherever it is liquidated, so its first liquidation step is never searched
    (``path_pruning.first_liquidations(slip_hi=...)``). For what needs only ``S`` — the
    frontier's ES of §15. Arguments, errors: as ``run_path_stress``.
    """
    return _shortfall_runs([params], 0, state, paths, batch_size, book, threads)[0]


def _shortfall_runs(
    sets: Sequence[ParameterSet],
    top: int,
    state: VenueState,
    paths: PathSet | F64,
    batch_size: int | None,
    book: UnitBook | None,
    threads: int | None,
) -> F64:
    """``(K, S)`` ``run_path_shortfall`` of every set of ``sets`` in one pass on ``sets[top]``'s
    bounds (``path_pruning.first_liquidations_multi(slip_hi=...)``); ``book``: of ``sets[top]``."""
    params = sets[top]
    shocks, _ = _paths_of(params, paths)
    n_s, n_t, n_a = shocks.shape
    batch_size = _default_batch(batch_size, n_t)
    if book is None:
        book = build_unit_book(params, state)
    n_k = len(sets)
    short = np.zeros((n_k, n_s))
    slip: list[F64] = []
    tables: list[tuple] = []

    def setup(fast: _Fast) -> None:
        slip.append(shortfall_rows_bound(fast, shocks.reshape(n_s * n_t, n_a)))
        tables.extend(_tables_of(fast, sets, top))

    def work(fast: _Fast, cand: I64, rb: F64, nb: int) -> F64:
        _, g_s, _, _, g_short, _, _ = first_liquidations_multi(fast, tables, cand, rb, nb, n_t, slip_hi=slip[0])
        return np.stack([np.bincount(g_s, weights=row, minlength=nb) for row in g_short]).reshape(n_k, nb)

    for b, out in _each_batch(params, book, shocks, batch_size, True, threads, work, setup):
        short[:, b] = out
    return short


def _tables_of(fast: _Fast, sets: Sequence[ParameterSet], top: int) -> list[tuple]:
    """The ``_Fast.mm_table`` of each set (``fast``'s own for ``sets[top]``)."""
    return [
        (fast.t_mmf, fast.t_cum, fast.markets) if i == top else fast.mm_table(p.markets) for i, p in enumerate(sets)
    ]


def run_path_shortfall_multi(
    params: ParameterSet,
    state: VenueState,
    paths: PathSet | F64,
    market: int,
    multipliers: Sequence[float],
    *,
    batch_size: int | None = None,
    threads: int | None = None,
) -> F64:
    """``(K, S)`` float64 USD shortfall ``S`` of each path with ``market``'s table scaled by each
    multiplier, in one pass (RISK_MODEL §9, §15 frontier).

    Row ``k`` holds the same floats as ``run_path_shortfall(scale_bracket_table(params,
    market, multipliers[k]), state, paths)``. Scaling (MMF and IMF ×k, capped at 1, floors
    unchanged) keeps every position in its bracket, and ``MM(N) = ∫₀ᴺ MMF`` is
    non-decreasing in ``k``, so the bounds of the largest multiplier bound every other's
    ``E' − MM'`` from below: one pruned search (``path_pruning.first_liquidations_multi``)
    evaluates ``E'`` and the close costs of a (unit, step) once and its margin under each
    table, and records each table's outcome at that table's first liquidating step. The
    batches, the groups' order and the sums are those of ``run_path_shortfall``.

    Args:
        params: the parameter set to scale (``market``'s table; every other table as is).
        state, paths, batch_size, threads: as ``run_path_shortfall``.
        market: index of the market whose table is scaled.
        multipliers: ``K`` factors ``> 0`` (any order, repeats allowed).

    Raises:
        EngineInputError: a multiplier not finite and ``> 0``, a bad market index, bad
            shapes or ``batch_size < 1``; otherwise as ``run_path_stress``.
    """
    ks = [float(k) for k in multipliers]
    if not all(np.isfinite(k) and k > 0 for k in ks):
        raise EngineInputError(f"multipliers must be finite and > 0, got {ks}")
    if not 0 <= int(market) < params.markets.n:
        raise EngineInputError(f"market index {market} out of range")
    shocks, _ = _paths_of(params, paths)
    if not ks:
        return np.zeros((0, shocks.shape[0]))
    sets = [scale_bracket_table(params, int(market), k) for k in ks]
    return _shortfall_runs(sets, int(np.argmax(ks)), state, paths, batch_size, None, threads)


def run_path_stress(
    params: ParameterSet,
    state: VenueState,
    paths: PathSet | F64,
    *,
    batch_size: int | None = None,
    prune: bool = True,
    want_account_shortfall: bool = False,
    book: UnitBook | None = None,
    threads: int | None = None,
) -> PathStressResult:
    """Path stress: every unit liquidated at its first liquidatable step (RISK_MODEL §8, §9).

    Args:
        params: margin parameters (brackets, penalties, depths, haircuts).
        state: venue state at base prices with its insurance fund.
        paths: a ``PathSet`` over ``params.assets`` or an ``(S, T, A)`` float64 array of
            relative shocks (fractions ``> −1``); ``T = 1`` is the gap stress.
        batch_size: scenarios per pruning batch (in ``path_pruning.batch_order``);
            default 50 for gaps (as ``stress.run_scenarios``), else ``max(1, 384 // T)``
            (16 for one-day paths; one batch bounds ``nb·T`` steps at once).
        prune: ``False`` evaluates every step of every active unit (same code, infinite
            tolerance): the exactness reference, ``O(S·T·P)``.
        want_account_shortfall: also return the dense ``(S, A)`` per-account shortfall.
        book: a ``build_unit_book(params, state)`` to reuse.
        threads: worker threads (default ``min(4, os.cpu_count())``).

    Returns:
        ``PathStressResult``; pruned and unpruned results are equal (counts exact, money to
        float rounding, rtol 1e-9).

    Raises:
        PriceError: a shock ``≤ −1`` or non-finite; bad base prices.
        UnknownSymbolError: a path set over other assets; bad indices.
        EngineInputError: bad shapes or ``batch_size < 1``.
    """
    shocks, pset = _paths_of(params, paths)
    n_s, n_t, n_a = shocks.shape
    batch_size = _default_batch(batch_size, n_t)
    if book is None:
        book = build_unit_book(params, state)
    n_m = params.markets.n
    n_acc = book.n_accounts
    pen = np.zeros(n_s)
    short = np.zeros(n_s)
    n_liq = np.zeros(n_s, dtype=np.int64)
    n_bk = np.zeros(n_s, dtype=np.int64)
    top2 = np.zeros((n_s, 2))
    top2_acc = np.full((n_s, 2), -1, dtype=np.int64)
    evaluated = np.zeros(n_s, dtype=np.int64)
    candidates = np.zeros(n_s, dtype=np.int64)
    by_step = np.zeros((n_s, n_t))
    liq_by_step = np.zeros((n_s, n_t), dtype=np.int64)
    notional = np.zeros((n_s, n_m))
    acct = np.zeros((n_s, n_acc)) if want_account_shortfall else None

    def work(fast: _Fast, cand: I64, rb: F64, nb: int) -> _BatchOut:
        return _batch(fast, cand, rb, nb, n_t, n_m, want_account_shortfall)

    for b, out in _each_batch(params, book, shocks, batch_size, prune, threads, work):
        pen[b] = out.penalties
        short[b] = out.shortfall
        n_liq[b] = out.n_liq
        n_bk[b] = out.n_bk
        top2[b] = out.top2
        top2_acc[b] = out.top2_acc
        evaluated[b] = out.evaluated
        candidates[b] = out.candidates
        by_step[b] = out.by_step
        liq_by_step[b] = out.liq_by_step
        notional[b] = out.notional
        if acct is not None and out.acct is not None:
            g_s, owner, sh = out.acct
            np.add.at(acct, (b[g_s], owner), sh)
    fund = float(state.insurance_fund)
    worst_step = np.where(short > 0, np.argmax(by_step, axis=1) + 1, 0) if n_t else np.zeros(n_s, dtype=np.int64)
    share = pset.interpolated_share if pset is not None else np.zeros(n_s)
    return PathStressResult(
        family=pset.family if pset is not None else "paths",
        kind=pset.kind if pset is not None else "",
        step_hours=float(pset.step_hours) if pset is not None else 1.0,
        names=pset.names if pset is not None else tuple(f"path {i}" for i in range(n_s)),
        n_liquidated=n_liq,
        n_bankrupt=n_bk,
        shortfall=short,
        penalties=pen,
        insurance_fund=fund,
        insurance_fund_after=insurance_fund_after(fund, pen, short),
        adl_amount=adl_amount(fund, pen, short),
        coverage=coverage_ratios(fund, short),
        worst_step=worst_step.astype(np.int64),
        shortfall_by_step=by_step,
        liquidated_by_step=liq_by_step,
        liquidated_notional=notional,
        top2_shortfall=top2,
        top2_account=top2_acc,
        evaluated_steps=evaluated,
        candidate_units=candidates,
        interpolated_share=share,
        worst_scenario=int(np.argmax(short)) if n_s else -1,
        account_shortfall=acct,
    )

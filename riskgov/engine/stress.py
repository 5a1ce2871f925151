"""Scenario stress runs: full revaluation of every account under many shocks (RISK_MODEL §8, §9).

Per scenario the run revalues every position and collateral balance at ``p' = p·(1 + r)``,
liquidates every liquidatable margin unit (§5, §6) with the closes of §8 and reports counts,
protocol shortfall, penalties, insurance fund after, ADL amount, coverage and the two
largest account shortfalls (for Cover-2, §10).

The unit layout and the §8 outcome of one unit live in ``units`` (re-exported here), the
exact pruning of the fast path in ``pruning``.

Scenario totals (§9): ``S = Σ shortfall``, ``IF_after = max(0, IF + penalties − S)``,
``ADL = max(0, S − IF − penalties)`` (both in ``fund``), coverage ``IF/S`` (``inf`` when
``S = 0``, ``tail.coverage_ratios``).

The fast path (``run_scenarios``) prunes (unit, scenario) pairs with a sparse linear lower
bound of ``E' − MM'`` and evaluates only the rest exactly; ``pruning`` explains why no
liquidation is dropped. ``run_scenarios_dense`` (a plain per-scenario full revaluation) is
the reference the tests compare against.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from riskgov.engine._parallel import default_threads
from riskgov.engine.brackets import maintenance_margin
from riskgov.engine.fund import adl_amount, insurance_fund_after
from riskgov.engine.pruning import _CHUNK_POSITIONS as _CHUNK_POSITIONS  # noqa: F401
from riskgov.engine.pruning import BatchTotals, _Acc, _Fast
from riskgov.engine.pruning import _distinct_sorted as _distinct_sorted  # noqa: F401
from riskgov.engine.scenarios import ScenarioSet, validate_shocks
from riskgov.engine.tail import coverage_ratios
from riskgov.engine.types import F64, I64, Bool, EngineInputError, ParameterSet, UnknownSymbolError, VenueState
from riskgov.engine.units import UnitBook, build_unit_book, close_costs, unit_outcome
from riskgov.engine.units import _check as _check  # noqa: F401

__all__ = [
    "StressResult",
    "UnitBook",
    "build_unit_book",
    "close_costs",
    "run_scenarios",
    "run_scenarios_dense",
    "unit_outcome",
]


class _Cover2:
    """Cover-2 (§10) of a per-scenario result with ``top2_shortfall`` ``(S, 2)`` float64 USD.

    Shared by ``StressResult`` and ``path_stress.PathStressResult`` (a plain base: no fields).
    """

    top2_shortfall: F64

    @property
    def cover2(self) -> float:
        """Cover-2 (§10): the largest, over scenarios, sum of the two largest account shortfalls."""
        if self.top2_shortfall.shape[0] == 0:
            return 0.0
        return float(self.top2_shortfall.sum(axis=1).max())


@dataclass(frozen=True)
class StressResult(_Cover2):
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
        account_stress_shortfall: ``(A,)`` float64 USD each account's **stress shortfall**:
            the largest, over the scenarios, of its shortfall (the sum of its units'
            ``max(0, −E_after)``, §8) — 0 when no scenario leaves it one.
        account_stress_scenario: ``(A,)`` int64 the scenario giving it (lowest index on
            ties; -1 when the stress shortfall is 0).
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
    account_stress_shortfall: F64 | None = None
    account_stress_scenario: I64 | None = None


def _batch_plan(fast: _Fast, shocks: F64, order: I64, batch_size: int) -> tuple[list[I64], list[I64], I64]:
    """Cut the scenarios into pruning batches and bound each (§9; shared with ``path_stress``).

    Args:
        fast: the run's ``pruning._Fast``.
        shocks: ``(S, A)`` scenario shocks or ``(S, T, A)`` path shocks (fractions).
        order: ``(S,)`` int64 scenario order (similar scenarios together; speed only).
        batch_size: scenarios per batch.

    Returns:
        ``(batches, cands, todo)``: the ``(nb,)`` int64 scenario indices of each batch, in
        ``order``; per batch the rows of ``fast`` its per-asset min/max shock (over its
        scenarios and steps) cannot exclude; batch indices heaviest first (so the workers
        finish together).
    """
    batches = [order[i : i + batch_size] for i in range(0, order.size, batch_size)]
    axes = tuple(range(shocks.ndim - 1))
    lo = np.stack([shocks[b].min(axis=axes) for b in batches])
    hi = np.stack([shocks[b].max(axis=axes) for b in batches])
    cands = fast.batch_candidates(lo, hi)
    todo = np.argsort([-c.size for c in cands], kind="stable")
    return batches, cands, todo


def _shocks_and_names(params: ParameterSet, scenarios: ScenarioSet | F64) -> tuple[F64, tuple[str, ...]]:
    if isinstance(scenarios, ScenarioSet):
        if scenarios.asset_symbols != tuple(params.assets.symbols):
            raise UnknownSymbolError("scenario set was built for other assets than the parameter set")
        return scenarios.shocks, scenarios.names
    r = validate_shocks(scenarios, params.assets.n)
    return r, tuple(f"scenario {i}" for i in range(r.shape[0]))


def _finish(names: tuple[str, ...], fund: float, acc: _Acc, detail: F64 | None) -> StressResult:
    s = acc.shortfall
    return StressResult(
        names=names,
        n_liquidated=acc.n_liq,
        n_bankrupt=acc.n_bk,
        shortfall=s,
        penalties=acc.penalties,
        insurance_fund=fund,
        insurance_fund_after=insurance_fund_after(fund, acc.penalties, s),
        adl_amount=adl_amount(fund, acc.penalties, s),
        coverage=coverage_ratios(fund, s),
        top2_shortfall=acc.top2,
        top2_account=acc.top2_acc,
        evaluated_pairs=acc.evaluated,
        worst_scenario=int(np.argmax(s)) if s.size else -1,
        worst_account_shortfall=detail,
        account_stress_shortfall=acc.account_short,
        account_stress_scenario=acc.account_scen,
    )


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
        ``run_scenarios_dense`` up to float rounding (rtol 1e-9), counts identical. The
        per-account stress shortfall is a running maximum over the batches' sparse bankrupt
        pairs: ``O(A)`` memory, no ``(S, A)`` matrix.

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
    with ThreadPoolExecutor(max_workers=default_threads(threads)) as pool:
        fast = _Fast(params, book, shocks, pool)
        if n_s:
            moving = ~params.assets.stable
            key = shocks[:, moving].mean(axis=1) if moving.any() else shocks.mean(axis=1)
            batches, cands, todo = _batch_plan(fast, shocks, np.argsort(key, kind="stable"), batch_size)

            def one(j: int) -> tuple[int, BatchTotals]:
                return j, fast.batch_totals(cands[j], shocks[batches[j]])

            for j, totals in pool.map(one, todo):
                acc.put(batches[j], totals)
            del cands
        if want_account_detail and n_s:
            w = int(np.argmax(acc.shortfall))
            rb = shocks[w : w + 1]
            cand = fast.batch_candidates(rb, rb)[0]
            rows, _, _, _, short = fast.batch(cand, rb)
            detail = np.bincount(fast.row_owner[rows], weights=short, minlength=book.n_accounts)
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
    every unit); a straightforward loop over scenarios, ``O(S·(P + B))``. The per-account
    stress shortfall is taken here by a plain loop (per scenario the accounts' shortfalls,
    then a strict running maximum), independently of ``_Acc``'s sparse fold.
    """
    shocks, names = _shocks_and_names(params, scenarios)
    book = build_unit_book(params, state)  # validation only
    n_s = shocks.shape[0]
    acc = _Acc(n_s, book.n_accounts)
    detail = None
    worst = (-1.0, None)
    best = np.zeros(book.n_accounts)
    best_s = np.full(book.n_accounts, -1, dtype=np.int64)
    for s in range(n_s):
        owner, liq, pen, short, _ = _dense_units(params, state, shocks[s])
        acc.add(np.array([s]), np.zeros(owner.size, dtype=np.int64), owner, liq, pen, short)
        per_account = np.bincount(owner, weights=short, minlength=book.n_accounts)
        up = per_account > best
        best[up], best_s[up] = per_account[up], s
        if want_account_detail and acc.shortfall[s] > worst[0]:
            worst = (acc.shortfall[s], per_account)
    if want_account_detail and n_s:
        detail = worst[1]
    acc.account_short, acc.account_scen = best, best_s
    return _finish(names, float(state.insurance_fund), acc, detail)

"""Chunk partials of a run and their exact combination (RISK_MODEL §1, §8–§10; DESIGN "Scale").

A health run cuts the accounts ``[0, n)`` into ranges. Each range is evaluated by the base
pass (``health.evaluate_health``) and the stress run (``stress.run_scenarios``); this module
keeps what those computed in a ``ChunkPartial`` (``chunk_partial``) and adds partials up
(``combine_partials``); ``run.run_result`` derives what the run reports from the sum.

* counts (accounts, positions, liquidatable/bankrupt accounts, limit breaches, and per
  scenario liquidated and bankrupt accounts) add up exactly — every account is in exactly
  one chunk and is counted once there;
* money sums (equity, IM, MM, base shortfall, per scenario shortfall ``S`` and penalties)
  are float64 sums taken in account order (partials sorted by ``first_account``), so the
  order the partials arrive in never changes a bit, and any split equals the one-chunk
  result to float rounding (§1: 1e-9 relative);
* the two largest account shortfalls per scenario (Cover-2 input, §10) merge exactly: the
  venue's top 2 is the top 2 of the chunks' top 2s, ties to the smaller account index as
  ``stress.run_scenarios`` ranks them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from riskgov.engine.stress import StressResult
from riskgov.engine.totals import ProtocolTotals
from riskgov.engine.types import F64, I64, EngineInputError

__all__ = [
    "ChunkPartial",
    "chunk_partial",
    "combine_partials",
    "combine_step_arrays",
    "empty_partial",
    "family_partial",
    "merge_top2",
]


@dataclass(frozen=True)
class ChunkPartial:
    """What the engine computed on one account range, in a form that adds up (§5, §8–§10).

    Attributes (``S`` scenarios):
        first_account: index of the range's first account in the venue (the order of sums).
        n_accounts, n_positions: accounts and position rows of the range.
        equity, initial_margin, maintenance_margin: USD sums of the accounts' §5 figures.
        liquidatable_accounts, bankrupt_accounts: accounts counted once (§5, §6, §9).
        shortfall: USD base-pass shortfall ``S = Σ`` account shortfall (``ProtocolTotals``).
        limit_breaches: positions above their market's max notional.
        scenario_liquidated: ``(S,)`` int64 accounts liquidated per scenario.
        scenario_bankrupt: ``(S,)`` int64 accounts with shortfall > 0 per scenario.
        scenario_shortfall: ``(S,)`` float64 USD protocol shortfall ``S`` per scenario.
        scenario_penalties: ``(S,)`` float64 USD penalties paid to the fund per scenario.
        top2_shortfall: ``(S, 2)`` float64 USD the two largest account shortfalls,
            descending, 0 when none.
        top2_account: ``(S, 2)`` int64 their **venue** account indices, -1 when none.
    """

    first_account: int
    n_accounts: int
    n_positions: int
    equity: float
    initial_margin: float
    maintenance_margin: float
    liquidatable_accounts: int
    bankrupt_accounts: int
    shortfall: float
    limit_breaches: int
    scenario_liquidated: I64
    scenario_bankrupt: I64
    scenario_shortfall: F64
    scenario_penalties: F64
    top2_shortfall: F64
    top2_account: I64

    @property
    def n_scenarios(self) -> int:
        """Number of scenarios ``S``."""
        return int(self.scenario_shortfall.shape[0])


def chunk_partial(totals: ProtocolTotals, stress: StressResult, *, first_account: int) -> ChunkPartial:
    """The partial of one account range from the engine's results on it.

    Args:
        totals: ``evaluate_health(...).totals`` of the range (§5, §6, §9 counts).
        stress: ``run_scenarios`` of the range (§8, §9); its account indices are local.
        first_account: venue index of the range's first account (added to the top-2
            account indices).

    Returns:
        ``ChunkPartial`` with ``(S,)`` / ``(S, 2)`` arrays copied from ``stress``.

    Raises:
        EngineInputError: ``first_account < 0``.
    """
    if first_account < 0:
        raise EngineInputError(f"first_account must be >= 0, got {first_account}")
    top2_acc = np.asarray(stress.top2_account, dtype=np.int64)
    return ChunkPartial(
        first_account=int(first_account),
        n_accounts=int(totals.n_accounts),
        n_positions=int(totals.n_positions),
        equity=float(totals.equity),
        initial_margin=float(totals.initial_margin),
        maintenance_margin=float(totals.maintenance_margin),
        liquidatable_accounts=int(totals.liquidatable_accounts),
        bankrupt_accounts=int(totals.bankrupt_accounts),
        shortfall=float(totals.shortfall),
        limit_breaches=int(totals.limit_breaches),
        scenario_liquidated=np.asarray(stress.n_liquidated, dtype=np.int64).copy(),
        scenario_bankrupt=np.asarray(stress.n_bankrupt, dtype=np.int64).copy(),
        scenario_shortfall=np.asarray(stress.shortfall, dtype=np.float64).copy(),
        scenario_penalties=np.asarray(stress.penalties, dtype=np.float64).copy(),
        top2_shortfall=np.asarray(stress.top2_shortfall, dtype=np.float64).reshape(-1, 2).copy(),
        top2_account=np.where(top2_acc >= 0, top2_acc + first_account, -1).reshape(-1, 2),
    )


def empty_partial(n_scenarios: int, *, first_account: int = 0) -> ChunkPartial:
    """The partial of an empty account range (a snapshot without accounts): zeros, no top 2.

    Raises:
        EngineInputError: ``n_scenarios < 0``.
    """
    if n_scenarios < 0:
        raise EngineInputError(f"n_scenarios must be >= 0, got {n_scenarios}")
    zeros = np.zeros(n_scenarios)
    return ChunkPartial(
        first_account=int(first_account),
        n_accounts=0,
        n_positions=0,
        equity=0.0,
        initial_margin=0.0,
        maintenance_margin=0.0,
        liquidatable_accounts=0,
        bankrupt_accounts=0,
        shortfall=0.0,
        limit_breaches=0,
        scenario_liquidated=np.zeros(n_scenarios, dtype=np.int64),
        scenario_bankrupt=np.zeros(n_scenarios, dtype=np.int64),
        scenario_shortfall=zeros,
        scenario_penalties=zeros.copy(),
        top2_shortfall=np.zeros((n_scenarios, 2)),
        top2_account=np.full((n_scenarios, 2), -1, dtype=np.int64),
    )


def merge_top2(values: npt.ArrayLike, accounts: npt.ArrayLike) -> tuple[F64, I64]:
    """Merge per-chunk top-2 account shortfalls into the venue's top 2 per scenario (exact, §10).

    Args:
        values: ``(C, S, 2)`` float64 USD (0 = none).
        accounts: ``(C, S, 2)`` int64 venue account indices (-1 = none).

    Returns:
        ``(S, 2)`` values (descending) and accounts; ties go to the smaller account index,
        as ``stress.run_scenarios`` ranks them; 0 / -1 where fewer than two are positive.

    Raises:
        EngineInputError: shapes differ or are not ``(C, S, 2)``.
    """
    v3 = np.asarray(values, dtype=np.float64)
    a3 = np.asarray(accounts, dtype=np.int64)
    if v3.ndim != 3 or v3.shape[2] != 2 or a3.shape != v3.shape:
        raise EngineInputError(f"top-2 values {v3.shape} and accounts {a3.shape} must be (C, S, 2)")
    c, s, _ = v3.shape
    v = v3.transpose(1, 0, 2).reshape(s, 2 * c)
    a = a3.transpose(1, 0, 2).reshape(s, 2 * c)
    big = np.iinfo(np.int64).max
    key_acc = np.where(a >= 0, a, big)
    order = np.lexsort((key_acc, -v), axis=-1) if s else np.zeros((0, 2 * c), dtype=np.int64)
    top_v = np.take_along_axis(v, order, axis=1)[:, :2]
    top_a = np.take_along_axis(a, order, axis=1)[:, :2]
    none = top_v <= 0
    return np.where(none, 0.0, top_v), np.where(none, -1, top_a)


def _sum_float(values: Sequence[float]) -> float:
    """Float64 sum in the given order, from 0.0 (the one summation order of §1)."""
    total = 0.0
    for x in values:
        total += x
    return total


def _sum_arrays(arrays: Sequence[np.ndarray], dtype: type) -> np.ndarray:
    """Elementwise sum in the given order, from zeros."""
    acc = np.zeros(arrays[0].shape, dtype=dtype)
    for x in arrays:
        acc = acc + np.asarray(x, dtype=dtype)
    return acc


def combine_partials(parts: Sequence[ChunkPartial], *, n_scenarios: int | None = None) -> ChunkPartial:
    """Add up the partials of disjoint account ranges (see the module docstring).

    The partials are taken in ``first_account`` order whatever order they are given in;
    counts and the top 2 are exact, money is summed in that order (§1).

    Args:
        parts: partials of disjoint account ranges of one venue, over the same scenarios.
        n_scenarios: number of scenarios, needed when ``parts`` is empty (then the result
            is ``empty_partial(n_scenarios)``); checked against the partials otherwise.

    Returns:
        ``ChunkPartial`` of the union, ``first_account`` the smallest of the parts.

    Raises:
        EngineInputError: no parts and no ``n_scenarios``; partials over different numbers
            of scenarios; two partials with the same ``first_account``.
    """
    if not parts:
        if n_scenarios is None:
            raise EngineInputError("combining no partials needs n_scenarios")
        return empty_partial(n_scenarios)
    ps = sorted(parts, key=lambda p: p.first_account)
    n_s = ps[0].n_scenarios if n_scenarios is None else n_scenarios
    if any(p.n_scenarios != n_s or p.top2_shortfall.shape != (n_s, 2) for p in ps):
        raise EngineInputError(f"partials cover different numbers of scenarios (expected {n_s})")
    firsts = [p.first_account for p in ps]
    if len(set(firsts)) != len(firsts):
        raise EngineInputError("two partials start at the same account")
    top_v, top_a = merge_top2(np.stack([p.top2_shortfall for p in ps]), np.stack([p.top2_account for p in ps]))
    return ChunkPartial(
        first_account=ps[0].first_account,
        n_accounts=sum(p.n_accounts for p in ps),
        n_positions=sum(p.n_positions for p in ps),
        equity=_sum_float([p.equity for p in ps]),
        initial_margin=_sum_float([p.initial_margin for p in ps]),
        maintenance_margin=_sum_float([p.maintenance_margin for p in ps]),
        liquidatable_accounts=sum(p.liquidatable_accounts for p in ps),
        bankrupt_accounts=sum(p.bankrupt_accounts for p in ps),
        shortfall=_sum_float([p.shortfall for p in ps]),
        limit_breaches=sum(p.limit_breaches for p in ps),
        scenario_liquidated=_sum_arrays([p.scenario_liquidated for p in ps], np.int64),
        scenario_bankrupt=_sum_arrays([p.scenario_bankrupt for p in ps], np.int64),
        scenario_shortfall=_sum_arrays([p.scenario_shortfall for p in ps], np.float64),
        scenario_penalties=_sum_arrays([p.scenario_penalties for p in ps], np.float64),
        top2_shortfall=top_v,
        top2_account=top_a,
    )


def family_partial(stress: StressResult | object, *, first_account: int) -> ChunkPartial:
    """The per-scenario partial of one scenario family on an account range (§9, §10).

    ``stress`` is a ``stress.StressResult`` or a ``path_stress.PathStressResult`` (the same
    per-scenario attributes); the venue totals of the returned partial are zero (they are
    carried once, by the range's main partial), so families combine with
    ``combine_partials`` exactly like the main partial and are never pooled.

    Raises:
        EngineInputError: ``first_account < 0``.
    """
    if first_account < 0:
        raise EngineInputError(f"first_account must be >= 0, got {first_account}")
    top2_acc = np.asarray(stress.top2_account, dtype=np.int64)  # type: ignore[attr-defined]
    return ChunkPartial(
        first_account=int(first_account),
        n_accounts=0,
        n_positions=0,
        equity=0.0,
        initial_margin=0.0,
        maintenance_margin=0.0,
        liquidatable_accounts=0,
        bankrupt_accounts=0,
        shortfall=0.0,
        limit_breaches=0,
        scenario_liquidated=np.asarray(stress.n_liquidated, dtype=np.int64).copy(),  # type: ignore[attr-defined]
        scenario_bankrupt=np.asarray(stress.n_bankrupt, dtype=np.int64).copy(),  # type: ignore[attr-defined]
        scenario_shortfall=np.asarray(stress.shortfall, dtype=np.float64).copy(),  # type: ignore[attr-defined]
        scenario_penalties=np.asarray(stress.penalties, dtype=np.float64).copy(),  # type: ignore[attr-defined]
        top2_shortfall=np.asarray(stress.top2_shortfall, dtype=np.float64).reshape(-1, 2).copy(),  # type: ignore[attr-defined]
        top2_account=np.where(top2_acc >= 0, top2_acc + first_account, -1).reshape(-1, 2),
    )


def combine_step_arrays(first_accounts: Sequence[int], arrays: Sequence[npt.ArrayLike]) -> F64:
    """Sum per-chunk ``(S, T)`` shortfall-by-step arrays in account order (exact, §1).

    The arrays are added in ``first_accounts`` order whatever order they come in, from
    zeros, as ``combine_partials`` sums money.

    Raises:
        EngineInputError: no arrays, lengths differ, shapes differ or duplicate starts.
    """
    if not arrays or len(arrays) != len(first_accounts):
        raise EngineInputError("combine_step_arrays needs one array per chunk start")
    if len(set(first_accounts)) != len(first_accounts):
        raise EngineInputError("two arrays start at the same account")
    order = sorted(range(len(arrays)), key=lambda i: first_accounts[i])
    mats = [np.asarray(arrays[i], dtype=np.float64) for i in order]
    if any(m.shape != mats[0].shape for m in mats):
        raise EngineInputError("step arrays have different shapes")
    return _sum_arrays(mats, np.float64)

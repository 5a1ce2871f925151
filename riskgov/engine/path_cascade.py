"""One path step by step, with the liquidation cascade inside it (RISK_MODEL §8, §9, §11).

A dense, slower companion of ``path_stress`` for a chosen scenario (the worst of a family,
a replay chart): every step revalues every open margin unit at full resolution, so it also
gives the book's per-step series. For each step ``t = 1..T``:

1. prices ``p_{m,t} = p_m·(1 + r_{a(m),t})·I_m`` where ``I_m`` is the market's impact
   carried from earlier steps and rounds (1 without impact); collateral of asset ``a`` at
   ``P_a·(1 + r_{a,t})·J_a`` (``J_a`` the pooled impact of its markets);
2. each round: revalue the open units, liquidate those newly liquidatable (``MM > 0`` and
   ``E < MM``) with the closes of §8, then — with ``impact`` — move each market by its
   net notional sold, ``I_m ← I_m·max(0, 1 − 0.01·net_sold_m/D_m)``, and collateral by the
   pooled move of its markets (the conventions of ``cascade``); repeat until none is newly
   liquidatable or ``max_rounds`` (50) rounds; without impact a step has one round;
3. the impact stays for every later step, on top of the path's own moves.

Units never liquidated contribute ``max(0, −E)`` at the final prices (after the last step's
impact), attributed to the last step — as ``path_stress`` does at step ``T``. Without
impact the result equals ``path_stress`` for that scenario (counts exact, money rtol
1e-9): the tests use it as a second reference.

Per-step series (the replay chart): round-0 prices of the step, the open book's equity and
maintenance margin and their ratio ``mm_coverage = Σ E / Σ MM`` over open units with
``MM > 0`` (riskgov's choice of "MM coverage": ``< 1`` means the open book as a whole is
below maintenance; ``inf`` when no open MM), shortfall, penalties and first liquidations
by step. Per (step, round): the prices evaluated at, units liquidated, net sold, shortfall.

Vectorised over units and positions; the Python loops are over steps and rounds only.
Tolerance: float64, relative 1e-9 (absolute 1e-6 USD), RISK_MODEL §1.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from riskgov.engine._parallel import default_threads
from riskgov.engine.cascade import MAX_ROUNDS, _impact_factors, _scenario_row, _Sub
from riskgov.engine.cascade import PRICE_IMPACT_PER_DEPTH as PRICE_IMPACT_PER_DEPTH  # noqa: F401
from riskgov.engine.fund import adl_amount, insurance_fund_after
from riskgov.engine.paths import PathSet, validate_paths
from riskgov.engine.pm_venue import PMCascadeSide, PMVenue
from riskgov.engine.pruning import _Fast
from riskgov.engine.tail import coverage
from riskgov.engine.types import F64, I64, Bool, EngineInputError, ParameterSet, VenueState
from riskgov.engine.units import UnitBook, build_unit_book

__all__ = ["PathCascadeResult", "path_replay", "run_path_cascade"]


@dataclass(frozen=True)
class PathCascadeResult:
    """Step-by-step (and round-by-round) outcome of one path (RISK_MODEL §9, §11).

    Per step (``T`` steps; ``M`` markets, ``A`` assets):
        asset_prices: ``(T, A)`` float64 USD collateral prices at round 0 of each step.
        market_prices: ``(T, M)`` float64 USD market prices at round 0 of each step.
        open_equity, open_mm: ``(T,)`` float64 USD ``Σ E`` and ``Σ MM`` of the units open at
            round 0 of the step, over units with ``MM > 0``.
        mm_coverage: ``(T,)`` float64 ``open_equity / open_mm`` (``inf`` when ``open_mm = 0``).
        shortfall_by_step, penalties_by_step: ``(T,)`` float64 USD.
        liquidated_by_step: ``(T,)`` int64 accounts liquidated for the first time.
        liquidated_units_by_step: ``(T,)`` int64 units liquidated.
        rounds_by_step: ``(T,)`` int64 rounds with liquidations in each step.
        converged: ``(T,)`` bool, False where a step hit ``max_rounds``.
    Per round with liquidations (``R`` in all, in step order):
        round_step: ``(R,)`` int64 1-based step; round_index: ``(R,)`` int64 0-based round.
        round_market_prices: ``(R, M)`` float64 USD prices the round was evaluated at.
        round_liquidated_units: ``(R,)`` int64; round_net_sold: ``(R, M)`` float64 USD.
        round_shortfall, round_penalties: ``(R,)`` float64 USD.
    Totals:
        final_market_prices: ``(M,)`` USD after the last impact.
        n_liquidated, n_bankrupt: accounts (once).
        shortfall, penalties, insurance_fund, insurance_fund_after, adl_amount, coverage:
            as ``path_stress.PathStressResult`` (USD; coverage ``inf`` when ``S = 0``).
        worst_step: 1-based step with the most shortfall (0 when ``S = 0``).
        liquidated_notional: ``(M,)`` USD ``|q|·p`` closed at the round's prices.
        account_shortfall: ``(A_accounts,)`` USD.
        top2_shortfall: ``(2,)`` USD, top2_account: ``(2,)`` int64 (-1 when none).
        impact: whether liquidations moved prices.
    """

    asset_prices: F64
    market_prices: F64
    open_equity: F64
    open_mm: F64
    mm_coverage: F64
    shortfall_by_step: F64
    penalties_by_step: F64
    liquidated_by_step: I64
    liquidated_units_by_step: I64
    rounds_by_step: I64
    converged: Bool
    round_step: I64
    round_index: I64
    round_market_prices: F64
    round_liquidated_units: I64
    round_net_sold: F64
    round_shortfall: F64
    round_penalties: F64
    final_market_prices: F64
    n_liquidated: int
    n_bankrupt: int
    shortfall: float
    penalties: float
    insurance_fund: float
    insurance_fund_after: float
    adl_amount: float
    coverage: float
    worst_step: int
    liquidated_notional: F64
    account_shortfall: F64
    top2_shortfall: F64
    top2_account: I64
    impact: bool

    @property
    def n_steps(self) -> int:
        """Steps ``T``."""
        return int(self.shortfall_by_step.shape[0])


def _path_of(params: ParameterSet, paths: PathSet | F64, scenario: int) -> F64:
    if isinstance(paths, PathSet):
        if paths.asset_symbols != tuple(params.assets.symbols):
            raise EngineInputError("path set was built for other assets")
        return _scenario_row(paths.shocks, scenario)
    r = np.asarray(paths, dtype=np.float64)
    if r.ndim == 2:
        r = r[None]
    return _scenario_row(validate_paths(r, params.assets.n), scenario)


def run_path_cascade(
    params: ParameterSet,
    state: VenueState,
    paths: PathSet | F64,
    *,
    scenario: int = 0,
    impact: bool = True,
    max_rounds: int = MAX_ROUNDS,
    book: UnitBook | None = None,
    prune: bool = True,
    pm: PMVenue | None = None,
) -> PathCascadeResult:
    """Run one path step by step with the §11 cascade inside each step (RISK_MODEL §9, §11).

    Args:
        params: margin parameters (depths drive slippage and price impact).
        state: venue state at base prices with its insurance fund.
        paths: a ``PathSet`` (and ``scenario``), an ``(S, T, A)`` array, or one ``(T, A)`` path
            of relative shocks.
        scenario: which scenario of ``paths``.
        impact: ``False`` turns the cascade off (one round per step): the replay of
            ``path_stress`` for this scenario.
        max_rounds: at most this many rounds per step (50 in §11).
        book: a ``build_unit_book(params, state)`` to reuse; with it only the state's prices
            and insurance fund are read (``units.prices_of``).
        prune: step only the units that can be liquidated for prices inside an envelope of
            the path (its per-asset min/max ± δ, δ = 25 %), bounded exactly as the stress
            run does (``pruning._Fast``); if the cascade moves an effective price out of the
            envelope, the run restarts with δ four times wider, and beyond 100 % without
            pruning. ``False`` steps every unit (same result; counts exact, money rtol 1e-9).
        pm: the venue's portfolio-margin accounts (``pm_venue.split_venue``; ``state`` is then
            its ``cross_state``): stepped and liquidated in the same rounds with the §8
            closes, their net selling in the impact (``pm_venue.PMCascadeSide``); never pruned.

    Returns:
        ``PathCascadeResult``.

    Raises:
        PriceError: a shock ``≤ −1`` or non-finite; bad base prices.
        EngineInputError: bad shapes, scenario index or ``max_rounds < 1``.
    """
    if max_rounds < 1:
        raise EngineInputError(f"max_rounds must be >= 1, got {max_rounds}")
    r = _path_of(params, paths, scenario)
    if book is None:
        book = build_unit_book(params, state)
    if not prune:
        return _run(params, state, r, impact, max_rounds, book, None, pm)
    delta = 0.25
    while True:
        lo = np.maximum(r.min(axis=0) - delta, -1.0 + 1e-6)
        hi = r.max(axis=0) + delta
        try:
            return _run(params, state, r, impact, max_rounds, book, (lo, hi), pm)
        except _Outside:
            if delta > 1.0:
                return _run(params, state, r, impact, max_rounds, book, None, pm)
            delta *= 4.0


class _OpenSums:
    """``Σ E`` and ``Σ MM`` over units with ``MM > 0`` of a set that is never liquidated (the
    units outside the candidates), at any prices, without revaluing them one by one.

    Such a unit is open at every step, and its ``E`` is linear in prices: ``Σ E = Σ margin +
    Σ_a W_a·P_a + Σ_m Q_m·p_m − Σ q·entry`` over the units with a position (``W_a`` the
    haircut collateral amounts, ``Q_m`` the net sizes). ``Σ MM = Σ_i MM_m(|q_i|·p_m)`` is
    summed per market and bracket from the sizes sorted once and their prefix sums (a
    position is in bracket ``k`` when ``|q|·p ≥ F_k``; ``MM(N) = N·MMF_k − C_k``). Exactly
    the set ``MM > 0`` when every market's first MMF is positive and prices are positive (a
    unit with a non-zero size then has ``MM > 0``): ``usable`` says so, else the caller
    revalues the units (``_Sub.revalue``). It selects the §2 bracket itself (the rule of
    ``brackets.bracket_index``, by sorted size). Tolerance: sums in another order (``Σ E`` rests on
    ``Σ q·p − Σ q·entry``), relative 1e-9 as RISK_MODEL §1.
    """

    def __init__(self, params: ParameterSet, book: UnitBook, units: I64) -> None:
        """``units``: ``(U',)`` int64 units of ``book`` (those never liquidated). Reads the
        book's arrays in place: only boolean masks, the net sums and the sorted sizes are
        allocated (no copy of the units' positions)."""
        mk = params.markets
        member = np.zeros(book.n_units, dtype=np.bool_)
        member[units] = True
        live = (book.size != 0) & member[book.pos_unit]
        has_pos = np.bincount(book.pos_unit[live], minlength=book.n_units) > 0
        m_live = book.pos_market[live]
        self.used = np.unique(m_live)
        self.usable = bool(np.all(mk.mmf[self.used, 0] > 0))
        self.margin = float(book.unit_margin[has_pos].sum())
        bal = has_pos[book.bal_unit]
        haircut_factor = np.where(book.bal_amount > 0, 1.0 - params.assets.haircut[book.bal_asset], 1.0)
        self.w = np.bincount(
            book.bal_asset[bal], weights=(book.bal_amount * haircut_factor)[bal], minlength=params.assets.n
        )
        del bal, haircut_factor
        q_live = book.size[live]
        self.q = np.bincount(m_live, weights=q_live, minlength=mk.n)
        self.cost = float((q_live * book.entry_price[live]).sum())
        del live, has_pos
        self.sizes: list[tuple[int, F64, F64]] = []  # per market: sorted |q|, prefix sums
        order = np.argsort(m_live, kind="stable")
        a_by_market = np.abs(q_live[order])
        del q_live, order
        ends = np.cumsum(np.bincount(m_live, minlength=mk.n))
        del m_live
        for m in self.used.tolist():
            a = a_by_market[(ends[m - 1] if m else 0) : ends[m]]  # market m's sizes, then sorted
            a.sort()
            self.sizes.append((m, a, np.concatenate([[0.0], np.cumsum(a)])))
        self.mk = mk

    def sums(self, asset_px: F64, mkt_px: F64) -> tuple[float, float] | None:
        """``(Σ E, Σ MM)`` USD at asset prices ``(A,)`` and market prices ``(M,)``; ``None``
        when not exact there (``usable`` false, or a price of a used market ``≤ 0``)."""
        if not self.usable or np.any(mkt_px[self.used] <= 0):
            return None
        e = self.margin + float(self.w @ asset_px) + float(self.q @ mkt_px) - self.cost
        mk, mm = self.mk, 0.0
        for m, a, prefix in self.sizes:
            p = float(mkt_px[m])
            k_n = int(mk.n_brackets[m])
            # first index of each bracket: the first |q| ≥ F_k / p (MM is continuous at F_k, so
            # a size on the boundary in either bracket gives the same MM up to rounding)
            starts = [0, *np.searchsorted(a, mk.floors[m, 1:k_n] / p, side="left").tolist(), a.size]
            for k in range(k_n):
                lo, hi = starts[k], starts[k + 1]
                if hi > lo:
                    mm += p * mk.mmf[m, k] * (prefix[hi] - prefix[lo]) - mk.maintenance_amount[m, k] * (hi - lo)
        return e, mm


class _Outside(Exception):
    """An effective price left the envelope the candidate units were bounded over."""


#: positions per block of ``_candidate_units`` (bounds a venue's bound matrices to one block's)
CANDIDATE_BLOCK_POSITIONS = 1 << 21


def _candidate_units(params: ParameterSet, book: UnitBook, lo: F64, hi: F64) -> tuple[I64, I64]:
    """Units that may be liquidatable (or bankrupt) for some prices inside ``[lo, hi]``, and the rest.

    The bound of ``pruning._Fast`` over the envelope: it holds term by term, so for any
    effective moves of the positions' markets and the collateral inside the per-asset
    envelope, even when markets on one asset move apart under impact.
    """
    cand = np.zeros(book.n_units, dtype=np.bool_)
    with ThreadPoolExecutor(max_workers=default_threads(None)) as pool:
        for u_lo, u_hi in book.unit_ranges(CANDIDATE_BLOCK_POSITIONS):  # the bound is per unit
            part = book.slice_units(u_lo, u_hi)
            fast = _Fast(params, part, np.stack([lo, hi]), pool)
            rows = fast.batch_candidates(lo[None], hi[None])[0]
            cand[fast.act[rows] + u_lo] = True
            del fast, part
    return np.flatnonzero(cand), np.flatnonzero(~cand)


def _run(
    params: ParameterSet,
    state: VenueState,
    r: F64,
    impact: bool,
    max_rounds: int,
    book: UnitBook,
    envelope: tuple[F64, F64] | None,
    pm: PMVenue | None = None,
) -> PathCascadeResult:
    """The step and round loop over the candidate units of ``envelope`` (all units when None)."""
    mk = params.markets
    n_t = r.shape[0]
    n_m, n_a, n_acc = mk.n, params.assets.n, book.n_accounts
    base_px = np.asarray(state.asset_prices, dtype=np.float64)
    if envelope is None:
        sub, rest_units = _Sub(params, book, None), None
    else:
        cand, other = _candidate_units(params, book, *envelope)
        sub, rest_units = _Sub(params, book, cand), None
        rest_sums = _OpenSums(params, book, other)
        env_lo, env_hi = envelope

    def check(asset_px: F64, mkt_px: F64) -> None:
        if envelope is None:
            return
        m_eff = mkt_px / base_px[mk.base_asset] - 1.0
        a_eff = asset_px / base_px - 1.0
        b = mk.base_asset
        if (m_eff < env_lo[b]).any() or (m_eff > env_hi[b]).any() or (a_eff < env_lo).any() or (a_eff > env_hi).any():
            raise _Outside

    n_u = sub.n
    m_imp = np.ones(n_m)  # carried market impact I_m
    a_imp = np.ones(n_a)  # carried collateral impact J_a
    alive = np.ones(n_u, dtype=np.bool_)
    hit = np.zeros(n_acc, dtype=np.bool_)
    unit_short = np.zeros(n_u)
    liq_notional = np.zeros(n_m)
    a_hist = np.zeros((n_t, n_a))
    m_hist = np.zeros((n_t, n_m))
    open_e = np.zeros(n_t)
    open_mm = np.zeros(n_t)
    short_t = np.zeros(n_t)
    pen_t = np.zeros(n_t)
    liq_acc_t = np.zeros(n_t, dtype=np.int64)
    liq_unit_t = np.zeros(n_t, dtype=np.int64)
    rounds_t = np.zeros(n_t, dtype=np.int64)
    conv = np.ones(n_t, dtype=np.bool_)
    rec: dict[str, list] = {k: [] for k in ("step", "round", "px", "units", "net", "short", "pen")}

    side = PMCascadeSide(params, pm, base_px) if pm is not None and pm.book.n_accounts else None
    asset_px = base_px.copy()
    mkt_px = base_px[mk.base_asset].copy()
    for t in range(n_t):
        move = 1.0 + r[t]
        asset_px = base_px * move * a_imp
        mkt_px = base_px[mk.base_asset] * move[mk.base_asset] * m_imp
        check(asset_px, mkt_px)
        a_hist[t], m_hist[t] = asset_px, mkt_px
        for rnd in range(max_rounds):
            equity, mm, notional = sub.revalue(mk, asset_px, mkt_px)
            if rnd == 0:
                o = alive & (mm > 0)
                open_e[t], open_mm[t] = float(equity[o].sum()), float(mm[o].sum())
                if envelope is not None:  # units that cannot be liquidated are all open
                    sums = rest_sums.sums(asset_px, mkt_px)
                    if sums is None:  # not exact here: revalue them (their sub-book built once)
                        if rest_units is None:
                            rest_units = _Sub(params, book, other)
                        e_r, mm_r, _ = rest_units.revalue(mk, asset_px, mkt_px)
                        o_r = mm_r > 0
                        sums = float(e_r[o_r].sum()), float(mm_r[o_r].sum())
                    open_e[t] += sums[0]
                    open_mm[t] += sums[1]
                if side is not None:
                    e_p, mm_p = side.open_book(asset_px)
                    open_e[t] += e_p
                    open_mm[t] += mm_p
            new = alive & (mm > 0) & (equity < mm)
            pm_acc, pm_pen, pm_short, pm_net, pm_notional = np.zeros(0, np.int64), 0.0, 0.0, 0.0, 0.0
            if side is not None:
                pm_acc, pm_pen, pm_short, pm_net, pm_notional = side.round(asset_px)
            if not new.any() and not pm_acc.size:
                break
            pen, short, closing, net = sub.liquidate(new, equity, mm, notional, mkt_px, n_m)
            net = net + pm_net
            unit_short[new] = short
            liq_notional += np.bincount(sub.pos_market[closing], weights=notional[closing], minlength=n_m)
            liq_notional += pm_notional
            owners = np.concatenate([sub.owner[new], pm_acc])
            first = np.unique(owners[~hit[owners]])
            hit[owners] = True
            alive &= ~new
            n_new = int(np.count_nonzero(new)) + int(pm_acc.size)
            short_t[t] += float(short.sum()) + pm_short
            pen_t[t] += float(pen.sum()) + pm_pen
            liq_acc_t[t] += first.size
            liq_unit_t[t] += n_new
            rounds_t[t] += 1
            for k, v in zip(
                rec,
                (t + 1, rnd, mkt_px.copy(), n_new, net, float(short.sum()) + pm_short, float(pen.sum()) + pm_pen),
                strict=True,
            ):
                rec[k].append(v)
            if not impact:
                break
            factor, a_move = _impact_factors(mk, n_a, net)
            m_imp = m_imp * factor
            mkt_px = mkt_px * factor
            a_imp = a_imp * a_move
            asset_px = asset_px * a_move
            check(asset_px, mkt_px)
        else:
            conv[t] = False
    if n_t:
        # units never liquidated: max(0, −E) at the final prices, at the last step (the units
        # outside the candidates have E ≥ MM + tol > 0 there)
        equity, _, _ = sub.revalue(mk, asset_px, mkt_px)
        rest = np.maximum(0.0, -equity) * alive
        unit_short += rest
        short_t[-1] += float(rest.sum())
        if side is not None:
            short_t[-1] += float(side.rest(asset_px).sum())
    acct_short = np.bincount(sub.owner, weights=unit_short, minlength=n_acc)
    if side is not None:
        acct_short[pm.pm_accounts] += side.shortfall
    fund = float(state.insurance_fund)
    s_tot, p_tot = float(short_t.sum()), float(pen_t.sum())
    order = np.lexsort((np.arange(n_acc), -acct_short))[:2]
    top2 = np.zeros(2)
    top2_acc = np.full(2, -1, dtype=np.int64)
    pos = order[acct_short[order] > 0]
    top2[: pos.size], top2_acc[: pos.size] = acct_short[pos], pos
    n_r = len(rec["step"])
    return PathCascadeResult(
        asset_prices=a_hist,
        market_prices=m_hist,
        open_equity=open_e,
        open_mm=open_mm,
        mm_coverage=np.where(open_mm > 0, open_e / np.where(open_mm > 0, open_mm, 1.0), np.inf),
        shortfall_by_step=short_t,
        penalties_by_step=pen_t,
        liquidated_by_step=liq_acc_t,
        liquidated_units_by_step=liq_unit_t,
        rounds_by_step=rounds_t,
        converged=conv,
        round_step=np.array(rec["step"], dtype=np.int64),
        round_index=np.array(rec["round"], dtype=np.int64),
        round_market_prices=np.array(rec["px"]).reshape(n_r, n_m),
        round_liquidated_units=np.array(rec["units"], dtype=np.int64),
        round_net_sold=np.array(rec["net"]).reshape(n_r, n_m),
        round_shortfall=np.array(rec["short"]),
        round_penalties=np.array(rec["pen"]),
        final_market_prices=mkt_px.copy(),
        n_liquidated=int(np.count_nonzero(hit)),
        n_bankrupt=int(np.count_nonzero(acct_short > 0)),
        shortfall=s_tot,
        penalties=p_tot,
        insurance_fund=fund,
        insurance_fund_after=float(insurance_fund_after(fund, p_tot, s_tot)),
        adl_amount=float(adl_amount(fund, p_tot, s_tot)),
        coverage=coverage(fund, s_tot),
        worst_step=int(np.argmax(short_t)) + 1 if s_tot > 0 else 0,
        liquidated_notional=liq_notional,
        account_shortfall=acct_short,
        top2_shortfall=top2,
        top2_account=top2_acc,
        impact=bool(impact),
    )


def path_replay(
    params: ParameterSet,
    state: VenueState,
    paths: PathSet | F64,
    *,
    scenario: int = 0,
    book: UnitBook | None = None,
    pm: PMVenue | None = None,
) -> PathCascadeResult:
    """Per-step series of one scenario without the cascade, for a replay chart (§9).

    ``run_path_cascade(..., impact=False)``: price, MM coverage, shortfall and liquidations
    by step; its totals equal ``path_stress.run_path_stress`` for that scenario (plus
    ``pm_venue.pm_path_stress`` with ``pm``).
    """
    return run_path_cascade(params, state, paths, scenario=scenario, impact=False, book=book, pm=pm)

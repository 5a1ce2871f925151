"""Portfolio-margin accounts inside a venue's health run and gap stress (RISK_MODEL §14, §5, §9).

A venue mixes cross, isolated and ``portfolio`` accounts. ``split_venue`` takes the venue's
arrays (a ``VenueState`` and the option rows) and returns

* ``cross_state``: the same accounts with the PM accounts' perps and balances left out
  (their perps are margined inside their underlying's risk unit, not by brackets, §14), for
  the bracket kernels (``health``, ``stress``, ``path_stress``) — PM accounts are empty there;
* ``market``/``book``: the PM accounts' options (one series per underlying, expiry, strike,
  kind; ``T = (expiry − as_of)/(365·86400 s)``, forward = spot, discount 1: the snapshot
  carries no curve, §14 rate 0), their perps and collateral (§4), for ``portfolio_margin``.

``merge_health`` puts the PM figures in the PM accounts' rows and recomputes the totals;
``pm_gap_stress`` revalues the PM accounts under each gap scenario ``r`` (spot, forwards and
collateral × ``(1 + r)``, mark vols — the scenarios carry no vol shock — ``T`` unchanged), with
MM recomputed on the scenario grid around the moved spot; a PM account is liquidated when
``E' < MM'`` and its shortfall is ``max(0, −E')``; ``pm_path_stress`` does the same at every
step of a path (first liquidating step, as ``path_stress``). ``merge_stress`` /
``merge_path_stress`` add the PM outcomes to the bracket side's results. **Not covered yet**
(``NOT_COVERED``): the §8 slippage and penalty of a PM liquidation (closed at model value),
PM accounts in the cascade (§11) and in ADL (§8), their liquidated notional per market.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from riskgov.engine.fund import adl_amount, insurance_fund_after
from riskgov.engine.health import HealthResult
from riskgov.engine.portfolio_margin import (
    PMBook,
    PMMarket,
    PMParams,
    PMResult,
    ScenarioGrid,
    pm_collateral,
    portfolio_margin,
    scenario_grid,
)
from riskgov.engine.stress import StressResult
from riskgov.engine.tail import coverage_ratios
from riskgov.engine.types import F64, I64, Bool, EngineInputError, ParameterSet, Portfolio, VenueState

__all__ = [
    "NOT_COVERED",
    "PMPathStress",
    "PMStress",
    "PMVenue",
    "UnderlyingBook",
    "merge_health",
    "merge_path_stress",
    "merge_stress",
    "pm_gap_stress",
    "pm_path_stress",
    "replay_with_pm",
    "split_venue",
    "underlying_books",
]

NOT_COVERED = (
    "PM liquidations close at model value (no §8 slippage or penalty)",
    "PM accounts are not in the §11 cascade nor in the §8 ADL ranking",
    "PM liquidations are not in the liquidated notional per market",
)
_SECONDS_PER_YEAR = 365.0 * 86400.0


@dataclass(frozen=True)
class PMVenue:
    """A venue split into its bracket side and its PM side (see the module docstring).

    Attributes:
        cross_state: ``VenueState`` without the PM accounts' perps and balances.
        keep_positions: ``(P,)`` bool, the venue's position rows kept in ``cross_state``.
        pm_accounts: ``(A_pm,)`` int64 venue index of each PM account (ascending).
        market: ``PMMarket`` of the PM accounts' underlyings and series.
        book: ``PMBook`` (accounts ``0..A_pm-1``).
        underlying_asset: ``(U,)`` int64 parameter-set asset index of each underlying.
        balances: the PM accounts' balance rows as a ``Portfolio`` (local accounts, no
            positions), for revaluing collateral under a scenario.
    """

    cross_state: VenueState
    keep_positions: Bool
    pm_accounts: I64
    market: PMMarket
    book: PMBook
    underlying_asset: I64
    balances: Portfolio


def _rows(pf: Portfolio, *, positions: Bool, balances: Bool, account_map: I64 | None = None) -> Portfolio:
    acc_b = pf.balance_account[balances]
    acc_p = pf.position_account[positions]
    if account_map is not None:
        acc_b, acc_p = account_map[acc_b], account_map[acc_p]
    return Portfolio(
        n_accounts=pf.n_accounts if account_map is None else int(account_map.max(initial=-1) + 1),
        balance_account=acc_b,
        balance_asset=pf.balance_asset[balances],
        balance_amount=pf.balance_amount[balances],
        position_account=acc_p,
        position_market=pf.position_market[positions],
        size=pf.size[positions],
        entry_price=pf.entry_price[positions],
        isolated=pf.isolated[positions],
        isolated_margin=pf.isolated_margin[positions],
    )


def split_venue(
    *,
    params: ParameterSet,
    state: VenueState,
    portfolio_mode: Bool,
    as_of: int,
    option_account: I64,
    option_underlying: I64,
    option_expiry: I64,
    option_strike: F64,
    option_is_call: Bool,
    option_size: F64,
    mark_underlying: I64,
    mark_expiry: I64,
    mark_strike: F64,
    mark_is_call: Bool,
    mark_iv: F64,
    pm_params: Mapping[str, PMParams],
) -> PMVenue:
    """Split a venue into its bracket side and its PM side (RISK_MODEL §14; module docstring).

    Args:
        params, state: the venue (accounts ``0..A-1``).
        portfolio_mode: ``(A,)`` bool.
        as_of: epoch seconds the times to expiry are measured from.
        option_*: ``(P_o,)`` option rows (venue accounts, asset indices, epoch seconds, USD).
        mark_*: ``(K,)`` marks (``mark_iv`` a fraction > 0).
        pm_params: ``{underlying symbol: PMParams}`` (the active PM parameters).

    Raises:
        EngineInputError: an option on an account not in portfolio mode, an underlying
            outside the parameter set or without PM parameters, an option without a mark.
    """
    pf = state.portfolio
    mode = np.asarray(portfolio_mode, dtype=bool)
    if mode.shape != (pf.n_accounts,):
        raise EngineInputError(f"portfolio_mode must have shape ({pf.n_accounts},)")
    o_acc = np.asarray(option_account, dtype=np.int64)
    o_und = np.asarray(option_underlying, dtype=np.int64)
    if o_acc.size and not mode[o_acc].all():
        raise EngineInputError("options held by an account that is not in portfolio mode")
    if (o_und < 0).any():
        raise EngineInputError("an option's underlying is not an asset of the parameter set")
    pm_accounts = np.flatnonzero(mode).astype(np.int64)
    local = np.full(pf.n_accounts, -1, dtype=np.int64)
    local[pm_accounts] = np.arange(pm_accounts.size)
    pm_pos = mode[pf.position_account]
    pm_bal = mode[pf.balance_account]
    cross = _rows(pf, positions=~pm_pos, balances=~pm_bal)
    cross_state = replace(state, portfolio=cross)
    perp_asset = params.markets.base_asset[pf.position_market[pm_pos]]
    und_assets = np.unique(np.concatenate([o_und, perp_asset])).astype(np.int64)
    symbols = tuple(params.assets.symbols[i] for i in und_assets)
    missing = [s for s in symbols if s not in pm_params]
    if missing:
        raise EngineInputError(f"no active PM parameters for underlying {', '.join(missing)}")
    und_of_asset = np.full(params.assets.n, -1, dtype=np.int64)
    und_of_asset[und_assets] = np.arange(und_assets.size)
    spot = state.asset_prices[und_assets]

    # series: distinct (underlying, expiry, strike, kind) of the options held
    key = np.empty(o_acc.size, dtype=[("u", np.int64), ("e", np.int64), ("k", np.float64), ("c", np.bool_)])
    key["u"], key["e"], key["k"], key["c"] = o_und, option_expiry, option_strike, option_is_call
    series, o_series = np.unique(key, return_inverse=True)
    mkey = np.empty(len(mark_iv), dtype=key.dtype)
    mkey["u"], mkey["e"], mkey["k"], mkey["c"] = mark_underlying, mark_expiry, mark_strike, mark_is_call
    order = np.argsort(mkey, kind="stable")
    pos = np.searchsorted(mkey[order], series)
    pos = np.minimum(pos, max(0, order.size - 1))
    found = order.size > 0 and np.asarray(mkey[order][pos] == series) if series.size else np.zeros(0, bool)
    if series.size and not np.all(found):
        raise EngineInputError("an option held has no mark")
    vol = np.asarray(mark_iv, dtype=np.float64)[order][pos] if series.size else np.zeros(0)
    s_und = und_of_asset[series["u"]]
    t = (series["e"].astype(np.float64) - float(as_of)) / _SECONDS_PER_YEAR
    market = PMMarket(
        symbols=symbols,
        spot=spot,
        params=tuple(pm_params[s] for s in symbols),
        series_underlying=s_und,
        series_is_call=series["c"].astype(bool),
        series_strike=series["k"].astype(np.float64),
        series_t=t,
        series_forward=spot[s_und],
        series_discount=np.ones(series.size),
        series_vol=vol,
    )
    balances = _rows(pf, positions=np.zeros(pf.n_positions, bool), balances=pm_bal, account_map=local)
    balances = replace(balances, n_accounts=int(pm_accounts.size))
    collateral, moving = pm_collateral(
        params=params, portfolio=balances, asset_prices=state.asset_prices, moving_assets=und_assets
    )
    book = PMBook(
        n_accounts=int(pm_accounts.size),
        option_account=local[o_acc],
        option_series=o_series.reshape(-1).astype(np.int64),
        option_size=np.asarray(option_size, dtype=np.float64),
        perp_account=local[pf.position_account[pm_pos]],
        perp_underlying=und_of_asset[perp_asset],
        perp_size=pf.size[pm_pos],
        perp_entry_price=pf.entry_price[pm_pos],
        collateral=collateral,
        collateral_moving=moving,
    )
    return PMVenue(
        cross_state=cross_state,
        keep_positions=~pm_pos,
        pm_accounts=pm_accounts,
        market=market,
        book=book,
        underlying_asset=und_assets,
        balances=balances,
    )


def merge_health(health: HealthResult, pm: PMResult, venue: PMVenue) -> HealthResult:
    """The venue's ``HealthResult`` with the PM accounts' rows from ``pm`` (§5, §14).

    ``health`` is ``evaluate_health`` of ``PMVenue.cross_state`` (PM accounts empty there).
    Equity, IM, MM, margin ratio, liquidatable, bankrupt and shortfall of the PM accounts
    come from ``pm`` (their cross fields too, so ``position_liquidatable`` stays consistent);
    the totals are summed again; positions are the bracket side's.
    """
    am = health.accounts
    idx = venue.pm_accounts

    def put(base, value):
        out = np.array(base, copy=True)
        out[idx] = value
        return out

    mm = pm.maintenance_margin_account
    hf = np.where(mm > 0, pm.equity / np.where(mm > 0, mm, 1.0), np.inf)
    accounts = replace(
        am,
        collateral=put(am.collateral, venue.book.collateral),
        cross_equity=put(am.cross_equity, pm.equity),
        cross_initial_margin=put(am.cross_initial_margin, pm.initial_margin_account),
        cross_maintenance_margin=put(am.cross_maintenance_margin, pm.maintenance_margin_account),
        equity=put(am.equity, pm.equity),
        initial_margin=put(am.initial_margin, pm.initial_margin_account),
        maintenance_margin=put(am.maintenance_margin, pm.maintenance_margin_account),
        free_collateral=put(am.free_collateral, pm.equity - pm.initial_margin_account),
        margin_ratio=put(am.margin_ratio, pm.margin_ratio),
        cross_margin_ratio=put(am.cross_margin_ratio, pm.margin_ratio),
        health_factor=put(am.health_factor, hf),
        cross_liquidatable=put(am.cross_liquidatable, pm.liquidatable),
        liquidatable=put(am.liquidatable, pm.liquidatable),
        bankrupt=put(am.bankrupt, pm.bankrupt),
        shortfall=put(am.shortfall, pm.shortfall),
    )
    shortfall = float(accounts.shortfall.sum())
    t = health.totals
    totals = replace(
        t,
        equity=float(accounts.equity.sum()),
        initial_margin=float(accounts.initial_margin.sum()),
        maintenance_margin=float(accounts.maintenance_margin.sum()),
        liquidatable_accounts=int(np.count_nonzero(accounts.liquidatable)),
        bankrupt_accounts=int(np.count_nonzero(accounts.bankrupt)),
        shortfall=shortfall,
        coverage_ratio=t.insurance_fund / shortfall if shortfall > 0 else float("inf"),
    )
    return replace(health, accounts=accounts, totals=totals)


@dataclass(frozen=True)
class PMStress:
    """PM accounts under gap scenarios (§9, §14); ``(S,)`` arrays, ``(S, 2)`` top two.

    Attributes:
        n_liquidated, n_bankrupt: int64 PM accounts liquidated / with shortfall > 0.
        shortfall: float64 USD ``Σ max(0, −E')`` over liquidated PM accounts.
        top2_shortfall: float64 the two largest PM account shortfalls (descending).
        top2_account: int64 their venue account indices (-1 when none).
        equity, maintenance_margin: ``(S, A_pm)`` float64 USD ``E'`` and ``MM'``.
    """

    n_liquidated: I64
    n_bankrupt: I64
    shortfall: F64
    top2_shortfall: F64
    top2_account: I64
    equity: F64
    maintenance_margin: F64


def _collateral_at(params: ParameterSet, balances: Portfolio, prices: F64) -> F64:
    b = balances.balance_amount
    p = prices[balances.balance_asset]
    h = params.assets.haircut[balances.balance_asset]
    value = np.where(b > 0, b * p * (1.0 - h), b * p)
    return np.bincount(balances.balance_account, weights=value, minlength=balances.n_accounts).astype(np.float64)


def _revalue(params: ParameterSet, venue: PMVenue, asset_prices: F64, shocks: F64) -> tuple[F64, F64]:
    """``(E', MM')`` of every PM account under each row of ``shocks`` ``(N, A_assets)``:
    ``(N, A_pm)`` each (spot, forwards and collateral × ``(1 + r)``, mark vols, ``T`` unchanged)."""
    n, n_pm = shocks.shape[0], venue.book.n_accounts
    m, b = venue.market, venue.book
    eq = np.zeros((n, n_pm))
    mm = np.zeros((n, n_pm))
    for s in range(n):  # one PM revaluation per row (vectorised over accounts and series)
        factor = 1.0 + shocks[s][venue.underlying_asset]
        moved = replace(
            m,
            spot=m.spot * factor,
            series_forward=m.series_forward * factor[m.series_underlying] if m.n_series else m.series_forward,
        )
        prices = asset_prices * (1.0 + shocks[s])
        book = replace(b, collateral=_collateral_at(params, venue.balances, prices), collateral_moving=None)
        res = portfolio_margin(market=moved, book=book, validate=False)
        eq[s], mm[s] = res.equity, res.maintenance_margin_account
    return eq, mm


def _top2(short: F64, accounts: I64) -> tuple[F64, I64]:
    """The two largest account shortfalls per row of ``short`` ``(S, A_pm)`` and their venue accounts."""
    n_s, n_pm = short.shape
    top2 = np.zeros((n_s, 2))
    acc2 = np.full((n_s, 2), -1, dtype=np.int64)
    if n_pm:
        top = np.argsort(-short, axis=1, kind="stable")[:, :2]
        k = top.shape[1]
        vals = np.take_along_axis(short, top, axis=1)
        top2[:, :k] = vals
        acc2[:, :k] = np.where(vals > 0, accounts[top], -1)
    return top2, acc2


def pm_gap_stress(*, params: ParameterSet, venue: PMVenue, asset_prices: F64, shocks: F64) -> PMStress:
    """Revalue the PM accounts under each gap scenario (module docstring; §9, §14).

    Args:
        params: the parameter set (haircuts).
        venue: ``split_venue`` result.
        asset_prices: ``(A_assets,)`` USD base prices.
        shocks: ``(S, A_assets)`` relative moves (> −1).

    Returns:
        ``PMStress``.
    """
    r = np.asarray(shocks, dtype=np.float64)
    eq, mm = _revalue(params, venue, asset_prices, r)
    liq = (mm > 0) & (eq < mm)
    short = np.where(liq, np.maximum(0.0, -eq), 0.0)
    top2, acc2 = _top2(short, venue.pm_accounts)
    return PMStress(
        n_liquidated=np.count_nonzero(liq, axis=1).astype(np.int64),
        n_bankrupt=np.count_nonzero(short > 0, axis=1).astype(np.int64),
        shortfall=short.sum(axis=1),
        top2_shortfall=top2,
        top2_account=acc2,
        equity=eq,
        maintenance_margin=mm,
    )


@dataclass(frozen=True)
class PMPathStress:
    """PM accounts along paths (§9, §14): ``(S,)`` counts and shortfall, ``(S, T)`` by step.

    Attributes:
        n_liquidated, n_bankrupt: int64 PM accounts liquidated at some step / with shortfall.
        shortfall: float64 USD per scenario.
        shortfall_by_step: ``(S, T)`` USD arising at each step.
        liquidated_by_step: ``(S, T)`` int64 PM accounts first liquidated at each step.
        top2_shortfall, top2_account: ``(S, 2)`` as ``PMStress``.
    """

    n_liquidated: I64
    n_bankrupt: I64
    shortfall: F64
    shortfall_by_step: F64
    liquidated_by_step: I64
    top2_shortfall: F64
    top2_account: I64


def pm_path_stress(*, params: ParameterSet, venue: PMVenue, asset_prices: F64, paths: F64) -> PMPathStress:
    """The PM accounts step by step along paths ``(S, T, A_assets)`` (§9, §14).

    At each step every PM account still open is revalued as in ``pm_gap_stress``; the first
    step where ``E' < MM'`` liquidates it there (shortfall ``max(0, −E')``, closed at model
    value) and it leaves the book; an account never liquidated contributes ``max(0, −E_T)``
    at the last step, as the bracket side's units do. No cascade (§11).
    """
    r = np.asarray(paths, dtype=np.float64)
    n_s, n_t, n_a = r.shape
    n_pm = venue.book.n_accounts
    eq, mm = _revalue(params, venue, asset_prices, r.reshape(n_s * n_t, n_a))
    eq, mm = eq.reshape(n_s, n_t, n_pm), mm.reshape(n_s, n_t, n_pm)
    liq = (mm > 0) & (eq < mm)
    ever = liq.any(axis=1)  # (S, A_pm)
    step = np.where(ever, np.argmax(liq, axis=1), n_t - 1)
    e_at = np.take_along_axis(eq, step[:, None, :], axis=1)[:, 0, :]
    short = np.maximum(0.0, -e_at)
    by_step = np.zeros((n_s, n_t))
    liq_by_step = np.zeros((n_s, n_t), dtype=np.int64)
    rows = np.repeat(np.arange(n_s), n_pm)
    np.add.at(by_step, (rows, step.reshape(-1)), short.reshape(-1))
    np.add.at(liq_by_step, (rows, step.reshape(-1)), ever.reshape(-1).astype(np.int64))
    top2, acc2 = _top2(short, venue.pm_accounts)
    return PMPathStress(
        n_liquidated=np.count_nonzero(ever, axis=1).astype(np.int64),
        n_bankrupt=np.count_nonzero(short > 0, axis=1).astype(np.int64),
        shortfall=short.sum(axis=1),
        shortfall_by_step=by_step,
        liquidated_by_step=liq_by_step,
        top2_shortfall=top2,
        top2_account=acc2,
    )


def _merged_top2(a_vals: F64, a_acc: I64, b_vals: F64, b_acc: I64) -> tuple[F64, I64]:
    vals = np.concatenate([a_vals.reshape(-1, 2), b_vals], axis=1)
    accs = np.concatenate([a_acc.reshape(-1, 2), b_acc], axis=1)
    order = np.lexsort((np.where(accs < 0, np.iinfo(np.int64).max, accs), -vals), axis=1)[:, :2]
    return np.take_along_axis(vals, order, axis=1), np.take_along_axis(accs, order, axis=1)


def replay_with_pm(shortfall_by_step: F64, liquidated_by_step: I64, pm: PMPathStress) -> tuple[F64, I64, float, int]:
    """One path's replay (``path_cascade.path_replay``'s ``(T,)`` by-step arrays) plus the PM
    accounts' (``pm_path_stress`` of that one path): ``(shortfall by step, liquidated by
    step, total shortfall, worst step)`` — the 1-based step with the most shortfall, 0 when none."""
    by_step = np.asarray(shortfall_by_step, dtype=np.float64) + pm.shortfall_by_step[0]
    liq = np.asarray(liquidated_by_step, dtype=np.int64) + pm.liquidated_by_step[0]
    total = float(by_step.sum())
    return by_step, liq, total, int(np.argmax(by_step)) + 1 if total > 0 else 0


def merge_path_stress(stress, pm: PMPathStress):
    """A ``path_stress.PathStressResult`` plus the PM accounts' outcomes (§9, §10).

    Counts, shortfalls and by-step arrays add; fund after, ADL, coverage, the worst step and
    the worst scenario follow the same rules; liquidated notional is the bracket side's.
    """
    s = stress.shortfall + pm.shortfall
    by_step = stress.shortfall_by_step + pm.shortfall_by_step
    top2, acc2 = _merged_top2(stress.top2_shortfall, stress.top2_account, pm.top2_shortfall, pm.top2_account)
    fund = stress.insurance_fund
    worst_step = np.where(s > 0, np.argmax(by_step, axis=1) + 1, 0) if by_step.size else stress.worst_step
    return replace(
        stress,
        n_liquidated=stress.n_liquidated + pm.n_liquidated,
        n_bankrupt=stress.n_bankrupt + pm.n_bankrupt,
        shortfall=s,
        insurance_fund_after=insurance_fund_after(fund, stress.penalties, s),
        adl_amount=adl_amount(fund, stress.penalties, s),
        coverage=coverage_ratios(fund, s),
        worst_step=worst_step.astype(np.int64),
        shortfall_by_step=by_step,
        liquidated_by_step=stress.liquidated_by_step + pm.liquidated_by_step,
        top2_shortfall=top2,
        top2_account=acc2,
        worst_scenario=int(np.argmax(s)) if s.size else -1,
    )


def merge_stress(stress: StressResult, pm: PMStress) -> StressResult:
    """The bracket stress result plus the PM accounts' outcomes (§9; Cover-2 input merged).

    Counts and shortfalls add (each account is on one side only); fund after, ADL and
    coverage are recomputed by the same rules (``fund``, ``tail``); the worst scenario and
    the account detail are the bracket side's.
    """
    s = stress.shortfall + pm.shortfall
    top2, acc2 = _merged_top2(stress.top2_shortfall, stress.top2_account, pm.top2_shortfall, pm.top2_account)
    fund = stress.insurance_fund
    return replace(
        stress,
        n_liquidated=stress.n_liquidated + pm.n_liquidated,
        n_bankrupt=stress.n_bankrupt + pm.n_bankrupt,
        shortfall=s,
        insurance_fund_after=insurance_fund_after(fund, stress.penalties, s),
        adl_amount=adl_amount(fund, stress.penalties, s),
        coverage=coverage_ratios(fund, s),
        top2_shortfall=top2,
        top2_account=acc2,
        worst_scenario=int(np.argmax(s)) if s.size else -1,
    )


@dataclass(frozen=True)
class UnderlyingBook:
    """The PM accounts' book on one underlying (RISK_MODEL §14), for the venue's pages.

    Attributes:
        symbol: the underlying.
        units: number of risk units (PM accounts with a position on it).
        delta, gamma, vega, theta: venue sums ``Σ q·greek`` (perps in delta): base units,
            per USD, USD per 0.01 vol, USD per day.
        option_value: USD ``Σ q·V``.
        maintenance_margin: USD ``Σ MM_u``.
        grid: the underlying's ``ScenarioGrid``.
        loss: ``(S,)`` USD the venue's PM loss per scenario (sum of the units' weighted losses).
        riskiest: ``(k,)`` int64 rows of ``PMResult`` units, riskiest account first (highest
            margin ratio ``MM/E``, ``inf`` first).
    """

    symbol: str
    units: int
    delta: float
    gamma: float
    vega: float
    theta: float
    option_value: float
    maintenance_margin: float
    grid: ScenarioGrid
    loss: F64
    riskiest: I64


def underlying_books(market: PMMarket, pm: PMResult, *, top: int = 10) -> list[UnderlyingBook]:
    """Per underlying: Greeks, MM and scenario losses summed over the PM accounts, and the
    ``top`` riskiest units (RISK_MODEL §14; sums of ``portfolio_margin``'s per-unit figures)."""
    out = []
    ratio = pm.margin_ratio.take(pm.unit_account)
    for u, symbol in enumerate(market.symbols):
        rows = np.flatnonzero(pm.unit_underlying == u)
        grid = scenario_grid(market.params[u])
        key = np.where(np.isposinf(ratio[rows]), np.finfo(np.float64).max, ratio[rows])
        out.append(
            UnderlyingBook(
                symbol=symbol,
                units=int(rows.size),
                delta=float(pm.delta[rows].sum()),
                gamma=float(pm.gamma[rows].sum()),
                vega=float(pm.vega[rows].sum()),
                theta=float(pm.theta[rows].sum()),
                option_value=float(pm.option_value[rows].sum()),
                maintenance_margin=float(pm.maintenance_margin[rows].sum()),
                grid=grid,
                loss=pm.scenario_loss[rows, : grid.n].sum(axis=0) if rows.size else np.zeros(grid.n),
                riskiest=rows[np.argsort(-key, kind="stable")[:top]],
            )
        )
    return out

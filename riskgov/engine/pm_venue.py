"""Portfolio-margin accounts inside a venue's health run, stress, cascade and ADL (RISK_MODEL §14, §5, §8–§11).

A venue mixes cross, isolated and ``portfolio`` accounts. ``split_venue`` takes the venue's
arrays (a ``VenueState`` and the option rows) and returns

* ``cross_state``: the same accounts with the PM accounts' perps and balances left out
  (their perps are margined inside their underlying's risk unit, not by brackets, §14), for
  the bracket kernels (``health``, ``stress``, ``path_stress``) — PM accounts are empty there;
* ``market``/``book``: the PM accounts' options (one series per underlying, expiry, strike,
  kind; ``T = (expiry − as_of)/(365·86400 s)``, forward = spot, discount 1: the snapshot
  carries no curve, §14 rate 0), their perps and collateral (§4), for ``portfolio_margin``.

``merge_health`` puts the PM figures in the PM accounts' rows and recomputes the totals.

**Stress** (§8, §9, §14): ``pm_gap_stress`` revalues the PM accounts under each gap scenario
``r`` (spot, forwards and collateral × ``(1 + r)``, mark vols — the scenarios carry no vol
shock — ``T`` unchanged), with MM recomputed on the scenario grid around the moved spot;
``pm_path_stress`` does the same at every step of a path. A gap is a path with ``T = 1``: one
tail (``_pm_tail``) serves both. A PM account is liquidated at the first step where
``MM' > 0`` and ``E' < MM'``, with the §8 rules applied to its legs, as for a linear account:

* a **perp leg** closes at ``S'·(1 − sign(q)·slip_m(N))``, ``N = |q|·S'``,
  ``slip_m(N) = min(1, 0.01·N/D_m)``, penalty due ``N·pen_m`` (its own market ``m``);
* an **option leg** closes at its scenario value ``V'`` (Black-76, mark vol) and pays the
  slippage and penalty of its **delta equivalent** ``N = |q·Δ'|·S'`` in its underlying's
  deepest market (``hedge_markets``; no cost when the underlying has no market). riskgov's
  choice: the snapshot carries no option-book depth, and a venue liquidating a PM book
  unwinds its delta in the underlying's market — Deribit's auto-liquidation "first
  liquidate[s] future positions and after that ... option positions ... striving for a delta
  neutral position", and charges its options' liquidation fee on the underlying (Deribit
  general documentation, "Liquidation fees": options 0.2 % vs futures 0.5 %–0.9 %); with the
  market's ``pen_m`` on the delta equivalent the fee scales with moneyness and vanishes far
  out of the money, where Deribit caps it at a fraction of the option price;
* then ``E_after = E' − Σ slippage``, penalty ``min(Σ due, max(0, E_after))`` to the fund,
  shortfall ``max(0, −E_after)`` (``units.unit_outcome``); an account never liquidated
  contributes ``max(0, −E_T)`` at the last step, as the bracket side's units.

Liquidated notional per market: perp legs ``|q|·S'``, option legs ``|q·Δ'|·S'``. In the §11
cascade (``cascade.run_cascade``, ``path_cascade.run_path_cascade`` with ``pm=``) the PM
accounts are revalued at each round's asset prices and their net selling (``q·S'``,
``q·Δ'·S'``) moves the prices (``PMCascadeSide``); ``adl.adl_attribution`` with ``pm=``
splits their shortfall over their legs (``pm_adl_cells``). ``merge_stress`` /
``merge_path_stress`` add the PM outcomes to the bracket side's results. **Not covered**
(``NOT_COVERED``): PM accounts' profitable legs are not ranked as ADL counterparties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from riskgov.engine.fund import adl_amount, insurance_fund_after
from riskgov.engine.health import HealthResult
from riskgov.engine.options import black76_greeks, black76_price
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
from riskgov.engine.units import close_costs, unit_outcome

__all__ = [
    "NOT_COVERED",
    "PMPathStress",
    "PMStress",
    "PMAdlCells",
    "PMCascadeSide",
    "PMRevaluation",
    "PMVenue",
    "UnderlyingBook",
    "closed_notional",
    "hedge_markets",
    "merge_health",
    "merge_path_stress",
    "merge_stress",
    "pm_adl_cells",
    "pm_gap_stress",
    "pm_path_stress",
    "pm_revalue",
    "replay_with_pm",
    "split_venue",
    "underlying_books",
    "with_pm_params",
]

NOT_COVERED = (
    "PM accounts' profitable legs are not ranked as ADL counterparties (the §8 ranking is of bracket positions)",
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
        perp_market: ``(Q,)`` int64 venue market of each PM perp leg (``book.perp_*`` order).
        option_market: ``(P_o,)`` int64 hedge market of each option leg: the deepest market on
            its underlying (-1 when the underlying has none: no close cost, module docstring).
    """

    cross_state: VenueState
    keep_positions: Bool
    pm_accounts: I64
    market: PMMarket
    book: PMBook
    underlying_asset: I64
    balances: Portfolio
    perp_market: I64
    option_market: I64


def hedge_markets(params: ParameterSet) -> I64:
    """``(A_assets,)`` int64 the deepest market (largest ``D_m``, first on ties) on each asset,
    -1 for an asset without a market: where an option leg's delta is closed (module docstring)."""
    mk = params.markets
    out = np.full(params.assets.n, -1, dtype=np.int64)
    best = np.full(params.assets.n, -np.inf)
    for m in range(mk.n):
        a = int(mk.base_asset[m])
        if mk.depth_usd_per_1pct[m] > best[a]:
            best[a], out[a] = mk.depth_usd_per_1pct[m], m
    return out


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
        perp_market=pf.position_market[pm_pos].astype(np.int64),
        option_market=hedge_markets(params)[o_und],
    )


def with_pm_params(venue: PMVenue, pm_params: Mapping[str, PMParams]) -> PMVenue:
    """``venue`` with each underlying's PM parameters taken from ``pm_params`` (RISK_MODEL §14):
    the same accounts, legs, marks and collateral, margined and stressed with other parameters
    (the current side of an impact comparison, §15).

    Raises:
        EngineInputError: an underlying of the venue has no entry in ``pm_params``.
    """
    missing = [s for s in venue.market.symbols if s not in pm_params]
    if missing:
        raise EngineInputError(f"no PM parameters for underlying {', '.join(missing)}")
    market = replace(venue.market, params=tuple(pm_params[s] for s in venue.market.symbols))
    return replace(venue, market=market)


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
    """PM accounts under gap scenarios (§8, §9, §14); ``(S,)`` arrays, ``(S, 2)`` top two.

    Attributes:
        n_liquidated, n_bankrupt: int64 PM accounts liquidated / with shortfall > 0.
        shortfall: float64 USD ``Σ max(0, −E_after)`` (``E_after = E' − slippage`` when
            liquidated, module docstring).
        penalties: float64 USD paid to the fund ``Σ min(penalty due, max(0, E_after))``.
        liquidated_notional: ``(S, M)`` float64 USD closed per market (perp legs ``|q|·S'``,
            option legs their delta equivalent ``|q·Δ'|·S'`` in their hedge market).
        top2_shortfall: float64 the two largest PM account shortfalls (descending).
        top2_account: int64 their venue account indices (-1 when none).
        equity, maintenance_margin: ``(S, A_pm)`` float64 USD ``E'`` and ``MM'``.
        slippage: ``(S, A_pm)`` float64 USD the close cost a liquidation would pay.
    """

    n_liquidated: I64
    n_bankrupt: I64
    shortfall: F64
    penalties: F64
    liquidated_notional: F64
    top2_shortfall: F64
    top2_account: I64
    equity: F64
    maintenance_margin: F64
    slippage: F64

    def account_shortfall(self) -> F64:
        """``(S, A_pm)`` float64 USD each PM account's shortfall in each scenario: the same §8
        outcome as ``shortfall`` (``units.unit_outcome``), so ``shortfall`` is its row sum."""
        zero = np.zeros_like(self.equity)
        return unit_outcome(self.equity, self.maintenance_margin, self.slippage, zero)[3]


def _collateral_rows(params: ParameterSet, balances: Portfolio, prices: F64) -> F64:
    """``(k, A_pm)`` USD collateral (§4) at each row of ``prices`` ``(k, A_assets)``."""
    k, n = prices.shape[0], balances.n_accounts
    b = balances.balance_amount
    p = prices[:, balances.balance_asset]
    h = params.assets.haircut[balances.balance_asset]
    value = np.where(b > 0, b * p * (1.0 - h), b * p)
    rows = (np.arange(k)[:, None] * n + balances.balance_account).reshape(-1)
    return np.bincount(rows, weights=value.reshape(-1), minlength=k * n).reshape(k, n).astype(np.float64)


@dataclass(frozen=True)
class PMRevaluation:
    """The PM accounts at ``N`` sets of prices (§8, §14); ``(N, A_pm)`` float64 USD each.

    Attributes:
        equity, maintenance_margin: ``E'`` and ``MM'`` (the scenario grid around the moved spot).
        slippage: ``Σ N·slip_m(N)`` over the account's legs (§8; option legs on their delta
            equivalent ``N = |q·Δ'|·S'``, module docstring).
        penalty_due: ``Σ N·pen_m`` over the same legs.
    """

    equity: F64
    maintenance_margin: F64
    slippage: F64
    penalty_due: F64


def _leg_closes(params: ParameterSet, venue: PMVenue, spot: F64, forward_factor: F64) -> tuple[F64, F64, I64, F64, F64]:
    """Every leg's close at one set of prices (§8 on PM legs; module docstring).

    Args:
        spot: ``(..., U)`` USD moved spot of each underlying (leading axes: rows of prices).
        forward_factor: ``(..., U)`` ``1 + r`` of each underlying (forwards move with the spot).

    Returns:
        ``(notional, slip_cost, market, signed_flow, penalty_due)`` per leg (perps then
        options), ``(..., L)`` (``market`` ``(L,)``): ``N`` USD, ``N·slip`` USD, venue market
        (-1: none, no cost), ``q·S'`` (perp) or ``q·Δ'·S'`` (option) USD sold when closed,
        ``N·pen_m`` USD.
    """
    m, b = venue.market, venue.book
    mk = params.markets
    spot = np.asarray(spot, dtype=np.float64)
    perp_n = np.abs(b.perp_size) * spot[..., b.perp_underlying]
    perp_flow = b.perp_size * spot[..., b.perp_underlying]
    if b.option_size.size:
        delta = black76_greeks(
            is_call=m.series_is_call,
            forward=m.series_forward * forward_factor[..., m.series_underlying],
            strike=m.series_strike,
            vol=m.series_vol,
            t=m.series_t,
            discount=m.series_discount,
            spot=spot[..., m.series_underlying],
        ).delta
        d = b.option_size * delta[..., b.option_series]
        und = m.series_underlying[b.option_series]
        opt_flow = d * spot[..., und]
    else:
        opt_flow = np.zeros((*spot.shape[:-1], 0))
    mkt = np.concatenate([venue.perp_market, venue.option_market])
    notional = np.concatenate([perp_n, np.abs(opt_flow)], axis=-1)
    flow = np.concatenate([perp_flow, opt_flow], axis=-1)
    has = mkt >= 0
    safe = np.where(has, mkt, 0)
    cost, due = close_costs(notional, mk.depth_usd_per_1pct[safe], mk.liquidation_penalty[safe])
    return notional, np.where(has, cost, 0.0), mkt, flow, np.where(has, due, 0.0)


def _moved(venue: PMVenue, shock: F64) -> tuple[PMMarket, F64]:
    """The PM market at one row of shocks ``(A_assets,)``: spot and forwards × ``(1 + r)``."""
    m = venue.market
    factor = 1.0 + shock[venue.underlying_asset]
    moved = replace(
        m,
        spot=m.spot * factor,
        series_forward=m.series_forward * factor[m.series_underlying] if m.n_series else m.series_forward,
    )
    return moved, factor


def _leg_accounts(venue: PMVenue) -> I64:
    return np.concatenate([venue.book.perp_account, venue.book.option_account])


def closed_notional(params: ParameterSet, venue: PMVenue, shock: F64, closing: Bool) -> tuple[F64, F64]:
    """``(notional, net sold)`` ``(M,)`` USD per market of closing the PM accounts ``closing``
    ``(A_pm,)`` bool at one row of shocks (perp legs ``|q|·S'`` / ``q·S'``, option legs their
    delta equivalent ``|q·Δ'|·S'`` / ``q·Δ'·S'`` in their hedge market)."""
    moved, factor = _moved(venue, np.asarray(shock, dtype=np.float64))
    leg_n, _, mkt, flow, _ = _leg_closes(params, venue, moved.spot, factor)
    sel = closing[_leg_accounts(venue)] & (mkt >= 0)
    n_m = params.markets.n
    return (
        np.bincount(mkt[sel], weights=leg_n[sel], minlength=n_m).astype(np.float64),
        np.bincount(mkt[sel], weights=flow[sel], minlength=n_m).astype(np.float64),
    )


#: legs (options + perps) of one stacked ``portfolio_margin`` call: small books take many
#: rows of prices at once (the per-call overhead dominates them), large ones one row each
STACK_LEGS = 50_000


def _stacked(venue: PMVenue, factor: F64, collateral: F64) -> tuple[PMMarket, PMBook]:
    """``k`` copies of the PM book, copy ``j`` at prices row ``j`` (``factor`` ``(k, U)`` = ``1 + r``,
    ``collateral`` ``(k, A_pm)`` USD): underlyings ``j·U + u``, series ``j·K + s``, accounts
    ``j·A_pm + a``. Accounts never share a risk unit across copies, so one ``portfolio_margin``
    of the stack equals ``k`` calls, row by row."""
    m, b = venue.market, venue.book
    k, n_u = factor.shape
    n_k, n_a = m.n_series, b.n_accounts
    off_u = (np.arange(k) * n_u)[:, None]
    off_s = (np.arange(k) * n_k)[:, None]
    off_a = (np.arange(k) * n_a)[:, None]

    def tile(x):
        return np.tile(x, k)

    market = PMMarket(
        symbols=m.symbols * k,
        spot=(m.spot * factor).reshape(-1),
        params=m.params * k,
        series_underlying=(m.series_underlying + off_u).reshape(-1),
        series_is_call=tile(m.series_is_call),
        series_strike=tile(m.series_strike),
        series_t=tile(m.series_t),
        series_forward=(m.series_forward * factor[:, m.series_underlying]).reshape(-1),
        series_discount=tile(m.series_discount),
        series_vol=tile(m.series_vol),
    )
    book = PMBook(
        n_accounts=k * n_a,
        option_account=(b.option_account + off_a).reshape(-1),
        option_series=(b.option_series + off_s).reshape(-1),
        option_size=tile(b.option_size),
        perp_account=(b.perp_account + off_a).reshape(-1),
        perp_underlying=(b.perp_underlying + off_u).reshape(-1),
        perp_size=tile(b.perp_size),
        perp_entry_price=tile(b.perp_entry_price),
        collateral=collateral.reshape(-1),
        collateral_moving=None,
    )
    return market, book


def pm_revalue(params: ParameterSet, venue: PMVenue, asset_prices: F64, shocks: F64) -> PMRevaluation:
    """Revalue every PM account under each row of ``shocks`` ``(N, A_assets)`` (§8, §9, §14).

    Spot, forwards and collateral × ``(1 + r)``, mark vols, ``T`` unchanged; the margin on the
    scenario grid around the moved spot; the §8 close costs of each account's legs at those
    prices. ``portfolio_margin`` runs on blocks of rows stacked into one book (``_stacked``,
    ``STACK_LEGS`` legs a call, at least one row): vectorised over rows, accounts and series;
    memory ``O(N·A_pm)`` for the outputs plus ``O(STACK_LEGS + legs)`` per block.
    """
    shocks = np.asarray(shocks, dtype=np.float64)
    n, n_pm = shocks.shape[0], venue.book.n_accounts
    leg_acc = _leg_accounts(venue)
    n_legs = int(leg_acc.size)
    per = max(1, STACK_LEGS // max(1, n_legs))
    out = {k: np.zeros((n, n_pm)) for k in ("eq", "mm", "slip", "due")}
    m = venue.market
    for lo in range(0, n, per):
        r = shocks[lo : lo + per]
        k = r.shape[0]
        factor = 1.0 + r[:, venue.underlying_asset]  # (k, U)
        coll = _collateral_rows(params, venue.balances, asset_prices * (1.0 + r))
        market, book = _stacked(venue, factor, coll)
        res = portfolio_margin(market=market, book=book, validate=False)
        out["eq"][lo : lo + k] = res.equity.reshape(k, n_pm)
        out["mm"][lo : lo + k] = res.maintenance_margin_account.reshape(k, n_pm)
        _, cost, _, _, due = _leg_closes(params, venue, m.spot * factor, factor)  # (k, L)
        rows = (np.arange(k)[:, None] * n_pm + leg_acc).reshape(-1)
        out["slip"][lo : lo + k] = np.bincount(rows, weights=cost.reshape(-1), minlength=k * n_pm).reshape(k, n_pm)
        out["due"][lo : lo + k] = np.bincount(rows, weights=due.reshape(-1), minlength=k * n_pm).reshape(k, n_pm)
    return PMRevaluation(out["eq"], out["mm"], out["slip"], out["due"])


@dataclass(frozen=True)
class _Tail:
    """The PM accounts' per-scenario outcome along ``(S, T)`` steps (the one tail of gaps and paths)."""

    n_liquidated: I64
    n_bankrupt: I64
    shortfall: F64
    penalties: F64
    shortfall_by_step: F64
    liquidated_by_step: I64
    liquidated_notional: F64
    top2_shortfall: F64
    top2_account: I64


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


#: elements of one ``(scenarios, steps, PM accounts)`` batch array: bounds a path family's memory
BATCH_ELEMENTS = 2_000_000


def _sub_venue(venue: PMVenue, accounts: I64) -> PMVenue:
    """The PM accounts ``accounts`` ``(n,)`` (local, ascending) of ``venue`` as a venue of their own
    (the underlyings kept, only the series they hold; books, balances and leg markets cut and
    renumbered)."""
    b, bal = venue.book, venue.balances
    n = int(accounts.size)
    remap = np.full(b.n_accounts, -1, dtype=np.int64)
    remap[accounts] = np.arange(n)
    o = remap[b.option_account] >= 0
    q = remap[b.perp_account] >= 0
    k = remap[bal.balance_account] >= 0
    m = venue.market
    used, series = np.unique(b.option_series[o], return_inverse=True)  # the series the accounts hold
    market = replace(
        m,
        series_underlying=m.series_underlying[used],
        series_is_call=m.series_is_call[used],
        series_strike=m.series_strike[used],
        series_t=m.series_t[used],
        series_forward=m.series_forward[used],
        series_discount=m.series_discount[used],
        series_vol=m.series_vol[used],
    )
    book = PMBook(
        n_accounts=n,
        option_account=remap[b.option_account[o]],
        option_series=series.reshape(-1).astype(np.int64),
        option_size=b.option_size[o],
        perp_account=remap[b.perp_account[q]],
        perp_underlying=b.perp_underlying[q],
        perp_size=b.perp_size[q],
        perp_entry_price=b.perp_entry_price[q],
        collateral=b.collateral[accounts],
        collateral_moving=None if b.collateral_moving is None else b.collateral_moving[accounts],
    )
    balances = replace(
        bal,
        n_accounts=n,
        balance_account=remap[bal.balance_account[k]],
        balance_asset=bal.balance_asset[k],
        balance_amount=bal.balance_amount[k],
    )
    return replace(
        venue,
        pm_accounts=venue.pm_accounts[accounts],
        market=market,
        book=book,
        balances=balances,
        perp_market=venue.perp_market[q],
        option_market=venue.option_market[o],
    )


#: grid step of the path bound (relative move of an underlying), and its widest grid
BOUND_STEP = 0.005


class _PathBound:
    """An exact lower bound of ``H = E' − MM'`` of every PM account at any prices (the pruning
    of ``pm_path_stress``; RISK_MODEL §14 makes it separable).

    PM has no offset across underlyings, so ``H(r) = C(r) + Σ_u h_u(r_u)`` with ``C`` the
    collateral (exact, cheap) and ``h_u = V_u − MM_u`` of the account's risk unit on ``u``, a
    function of ``u``'s own move only. ``h_u`` is evaluated on a grid ``g`` of moves of ``u``
    alone (other underlyings at 0) and is Lipschitz in ``r_u`` with ``L_u = S_u·[Σ|q_opt|·b·(1 +
    K1 + c_so) + Σ|q_perp|·(1 + K2 + c_p)]``: ``|∂V/∂r| ≤ S·|q|·b`` per option (``b = max(1,
    D·F/S)`` bounds ``|Δ|``), ``S·|q|`` per perp; each scenario loss ``−w·Σ ΔV`` moves at most
    ``w·S·|q|·b·(2 + m)`` per option and ``w·S·|q|·|m|`` per perp (``K1 = max w·(2 + m)``,
    ``K2 = max w·|m|`` over the grid), the max over scenarios and ``max(0, ·)`` keep the
    constant, contingencies add ``c·S``. Hence ``H(r) ≥ C(r) + H₀ − C₀ + Σ_u (D_u(g_j) −
    L_u·|r_u − g_j|)`` with ``D_u(g) = h_u(g) − h_u(0)`` and ``g_j`` the nearest grid point.
    An account whose bound is above a tolerance on every row of a batch cannot be
    liquidated there (and ends with ``E ≥ H > 0``, no shortfall): it is skipped.
    """

    def __init__(self, params: ParameterSet, venue: PMVenue, asset_prices: F64, r: F64) -> None:
        m, b = venue.market, venue.book
        n_pm, n_u = b.n_accounts, len(m.symbols)
        self.venue, self.params, self.prices = venue, params, asset_prices
        # Lipschitz constants (A_pm, U), USD per unit of relative move
        bmax = np.maximum(1.0, m.series_discount * m.series_forward / m.spot[m.series_underlying])
        k1 = np.zeros(n_u)
        k2 = np.zeros(n_u)
        c_so = np.zeros(n_u)
        c_p = np.zeros(n_u)
        for u, pp in enumerate(m.params):
            g = scenario_grid(pp)
            k1[u] = float(np.max(g.weight * (2.0 + g.move), initial=0.0))
            k2[u] = float(np.max(g.weight * np.abs(g.move), initial=0.0))
            c_so[u], c_p[u] = pp.short_option_contingency, pp.perp_contingency
        o_und = m.series_underlying[b.option_series]
        lip = np.zeros(n_pm * n_u)
        np.add.at(
            lip,
            b.option_account * n_u + o_und,
            np.abs(b.option_size) * bmax[b.option_series] * (1.0 + k1[o_und] + c_so[o_und]) * m.spot[o_und],
        )
        pu = b.perp_underlying
        np.add.at(lip, b.perp_account * n_u + pu, np.abs(b.perp_size) * (1.0 + k2[pu] + c_p[pu]) * m.spot[pu])
        self.lip = lip.reshape(n_pm, n_u) * (1.0 + 1e-9)
        # grids of each underlying's own move over the family's range; D_u(g) = h_u(g) − h_u(0)
        zero = np.zeros((1, r.shape[-1]))
        base = pm_revalue(params, venue, asset_prices, zero)
        c0 = _collateral_rows(params, venue.balances, asset_prices[None, :])[0]
        self.h0 = base.equity[0] - base.maintenance_margin[0] - c0
        flat = r.reshape(-1, r.shape[-1])
        most = max(16, BATCH_ELEMENTS // max(1, n_pm * n_u))
        self.grid, self.d = [], []
        for u in range(n_u):
            a = int(venue.underlying_asset[u])
            lo, hi = float(flat[:, a].min(initial=0.0)), float(flat[:, a].max(initial=0.0))
            n_g = int(min(most, np.ceil((hi - lo) / BOUND_STEP) + 1))
            g = np.linspace(lo, hi, max(2, n_g))
            rows = np.zeros((g.size, r.shape[-1]))
            rows[:, a] = g
            rev = pm_revalue(params, venue, asset_prices, rows)
            c = _collateral_rows(params, venue.balances, asset_prices * (1.0 + rows))
            self.grid.append(g)
            self.d.append((rev.equity - rev.maintenance_margin - c - self.h0).T)  # (A_pm, G)
        scale = np.abs(self.h0) + np.abs(c0) + self.lip.sum(axis=1)
        self.tol = 1e-9 * scale + 1e-6

    def candidates(self, rows: F64) -> I64:
        """Local PM accounts whose bound is ``≤`` the tolerance at some row of ``rows`` ``(R, A_assets)``."""
        c = _collateral_rows(self.params, self.venue.balances, self.prices * (1.0 + rows))  # (R, A_pm)
        lb = c.T + self.h0[:, None]
        for u, g in enumerate(self.grid):
            x = rows[:, int(self.venue.underlying_asset[u])]
            j = np.clip(np.searchsorted(g, x), 1, g.size - 1)
            j = np.where(np.abs(x - g[j - 1]) <= np.abs(g[j] - x), j - 1, j)
            lb += self.d[u][:, j] - self.lip[:, u : u + 1] * np.abs(x - g[j])[None, :]
        return np.flatnonzero((lb <= self.tol[:, None]).any(axis=1)).astype(np.int64)


def _batch_outcome(
    params: ParameterSet, venue: PMVenue, asset_prices: F64, r: F64
) -> tuple[dict[str, np.ndarray], PMRevaluation]:
    """The first-liquidation outcome of ``venue``'s PM accounts on paths ``r`` ``(k, T, A_assets)``."""
    k, n_t, n_a = r.shape
    n_pm, n_m = venue.book.n_accounts, params.markets.n
    rev = pm_revalue(params, venue, asset_prices, r.reshape(k * n_t, n_a))
    eq, mm, slip, due = (
        a.reshape(k, n_t, n_pm) for a in (rev.equity, rev.maintenance_margin, rev.slippage, rev.penalty_due)
    )
    liq = (mm > 0) & (eq < mm)
    ever = liq.any(axis=1)  # (k, A_pm)
    step = np.where(ever, np.argmax(liq, axis=1), n_t - 1)

    def at(a):
        return np.take_along_axis(a, step[:, None, :], axis=1)[:, 0, :]

    _, _, pen, short = unit_outcome(at(eq), at(mm), at(slip), at(due))
    pen = np.where(ever, pen, 0.0)  # unit_outcome's flag is E' < MM' at that step: = ever
    rows = np.repeat(np.arange(k), n_pm)
    by_step = np.zeros((k, n_t))
    liq_by_step = np.zeros((k, n_t), np.int64)
    np.add.at(by_step, (rows, step.reshape(-1)), short.reshape(-1))
    np.add.at(liq_by_step, (rows, step.reshape(-1)), ever.reshape(-1).astype(np.int64))
    notional = np.zeros((k, n_m))
    for i, t in zip(*np.nonzero(liq_by_step), strict=True):  # second pass: the closing rows only
        notional[i] += closed_notional(params, venue, r[i, t], ever[i] & (step[i] == t))[0]
    top2, acc2 = _top2(short, venue.pm_accounts)
    out = {
        "n_liq": np.count_nonzero(ever, axis=1),
        "n_bk": np.count_nonzero(short > 0, axis=1),
        "short": short.sum(axis=1),
        "pen": pen.sum(axis=1),
        "by_step": by_step,
        "liq_by_step": liq_by_step,
        "notional": notional,
        "top2": top2,
        "acc2": acc2,
    }
    return out, rev


def _pm_tail(
    params: ParameterSet, venue: PMVenue, asset_prices: F64, paths: F64, *, keep: bool = False, prune: bool = False
) -> tuple[_Tail, PMRevaluation | None]:
    """The PM accounts' §8 outcome along paths ``(S, T, A_assets)`` — a gap is ``T = 1``.

    Each account is liquidated at the first step where ``MM' > 0`` and ``E' < MM'`` (and leaves
    the book): ``E_after = E' − slippage``, penalty ``min(due, max(0, E_after))``, shortfall
    ``max(0, −E_after)`` (``units.unit_outcome``); an account never liquidated contributes
    ``max(0, −E_T)`` at the last step, as the bracket side's units do. Scenarios are taken in
    batches of ``BATCH_ELEMENTS // (T·A_pm)`` (at least one), so memory is
    ``O(BATCH_ELEMENTS)`` (plus the outputs ``O(S·(T + M))``) whatever ``S``. ``keep`` (gaps)
    also returns the revaluation; ``prune`` evaluates, per batch, only the accounts that
    ``_PathBound`` cannot exclude (same result: the others are never liquidated, no shortfall).
    """
    r = np.asarray(paths, dtype=np.float64)
    n_s, n_t, n_a = r.shape
    n_pm, n_m = venue.book.n_accounts, params.markets.n
    per = max(1, BATCH_ELEMENTS // max(1, n_t * n_pm))
    f = {
        "n_liq": np.zeros(n_s, np.int64),
        "n_bk": np.zeros(n_s, np.int64),
        "short": np.zeros(n_s),
        "pen": np.zeros(n_s),
        "by_step": np.zeros((n_s, n_t)),
        "liq_by_step": np.zeros((n_s, n_t), np.int64),
        "notional": np.zeros((n_s, n_m)),
        "top2": np.zeros((n_s, 2)),
        "acc2": np.full((n_s, 2), -1, np.int64),
    }
    bound = _PathBound(params, venue, asset_prices, r) if prune and not keep and n_pm and n_s else None
    kept = []
    for lo in range(0, n_s, per):
        sl = slice(lo, min(n_s, lo + per))
        rb = r[sl]
        sub = venue
        if bound is not None:
            cand = bound.candidates(rb.reshape(-1, n_a))
            if not cand.size:
                continue  # nobody can be liquidated in this batch: zeros
            sub = _sub_venue(venue, cand)
        out, rev = _batch_outcome(params, sub, asset_prices, rb)
        for key, val in out.items():
            f[key][sl] = val
        if keep:
            kept.append(rev)
        del rev, out
    tail = _Tail(
        n_liquidated=f["n_liq"],
        n_bankrupt=f["n_bk"],
        shortfall=f["short"],
        penalties=f["pen"],
        shortfall_by_step=f["by_step"],
        liquidated_by_step=f["liq_by_step"],
        liquidated_notional=f["notional"],
        top2_shortfall=f["top2"],
        top2_account=f["acc2"],
    )
    if not keep:
        return tail, None
    cat = {
        k: np.concatenate([getattr(x, k) for x in kept]) if kept else np.zeros((0, n_pm))
        for k in ("equity", "maintenance_margin", "slippage", "penalty_due")
    }
    return tail, PMRevaluation(**cat)


def pm_gap_stress(*, params: ParameterSet, venue: PMVenue, asset_prices: F64, shocks: F64) -> PMStress:
    """Revalue and liquidate the PM accounts under each gap scenario (module docstring; §8, §9, §14).

    A gap is a path of one step (``_pm_tail`` with ``T = 1``).

    Args:
        params: the parameter set (haircuts, depths, penalties).
        venue: ``split_venue`` result.
        asset_prices: ``(A_assets,)`` USD base prices.
        shocks: ``(S, A_assets)`` relative moves (> −1).

    Returns:
        ``PMStress``.
    """
    r = np.asarray(shocks, dtype=np.float64)
    tail, rev = _pm_tail(params, venue, asset_prices, r[:, None, :], keep=True)
    return PMStress(
        n_liquidated=tail.n_liquidated,
        n_bankrupt=tail.n_bankrupt,
        shortfall=tail.shortfall,
        penalties=tail.penalties,
        liquidated_notional=tail.liquidated_notional,
        top2_shortfall=tail.top2_shortfall,
        top2_account=tail.top2_account,
        equity=rev.equity,
        maintenance_margin=rev.maintenance_margin,
        slippage=rev.slippage,
    )


@dataclass(frozen=True)
class PMPathStress:
    """PM accounts along paths (§8, §9, §14): ``(S,)`` counts and money, ``(S, T)`` by step.

    Attributes:
        n_liquidated, n_bankrupt: int64 PM accounts liquidated at some step / with shortfall.
        shortfall, penalties: float64 USD per scenario.
        shortfall_by_step: ``(S, T)`` USD arising at each step.
        liquidated_by_step: ``(S, T)`` int64 PM accounts first liquidated at each step.
        liquidated_notional: ``(S, M)`` USD as ``PMStress``.
        top2_shortfall, top2_account: ``(S, 2)`` as ``PMStress``.
    """

    n_liquidated: I64
    n_bankrupt: I64
    shortfall: F64
    penalties: F64
    shortfall_by_step: F64
    liquidated_by_step: I64
    liquidated_notional: F64
    top2_shortfall: F64
    top2_account: I64


def pm_path_stress(
    *, params: ParameterSet, venue: PMVenue, asset_prices: F64, paths: F64, prune: bool = True
) -> PMPathStress:
    """The PM accounts step by step along paths ``(S, T, A_assets)`` (§8, §9, §14).

    At each step every PM account still open is revalued as in ``pm_gap_stress``; the first
    step where ``E' < MM'`` liquidates it there with the §8 closes (``_pm_tail``) and it
    leaves the book. Bounded memory (batches of scenarios). ``prune`` (default) skips, per
    batch, the accounts an exact bound shows cannot be liquidated (``_PathBound``); ``False``
    revalues every account at every step (the reference; same numbers to float rounding).
    No cascade here (§11: ``cascade`` / ``path_cascade`` with ``pm=``).
    """
    tail, _ = _pm_tail(params, venue, asset_prices, paths, prune=prune)
    return PMPathStress(
        n_liquidated=tail.n_liquidated,
        n_bankrupt=tail.n_bankrupt,
        shortfall=tail.shortfall,
        penalties=tail.penalties,
        shortfall_by_step=tail.shortfall_by_step,
        liquidated_by_step=tail.liquidated_by_step,
        liquidated_notional=tail.liquidated_notional,
        top2_shortfall=tail.top2_shortfall,
        top2_account=tail.top2_account,
    )


@dataclass(frozen=True)
class PMAdlCells:
    """The PM accounts' part of a scenario's ADL attribution (RISK_MODEL §8; ``adl.adl_attribution``).

    Attributes:
        shortfall_by_market: ``(M, 2)`` USD shortfall of the liquidated PM accounts owed by
            the liquidated long (0) and short (1) legs of each market.
        liquidated_size: ``(M, 2)`` base units of those legs of bankrupt accounts (option legs
            their delta equivalent ``|q·Δ'|``).
        shortfall, penalties: USD totals of the PM accounts (``pm_gap_stress`` of the row).
        unattributed: USD shortfall with no market: accounts not liquidated (liabilities above
            collateral) and legs on an underlying without a market.
    """

    shortfall_by_market: F64
    liquidated_size: F64
    shortfall: float
    penalties: float
    unattributed: float


def pm_adl_cells(params: ParameterSet, venue: PMVenue, asset_prices: F64, shock: F64) -> PMAdlCells:
    """Split each liquidated PM account's shortfall over its legs at one gap ``shock`` ``(A_assets,)``.

    As ``adl.adl_attribution`` does for bracket units: in proportion to each leg's realised
    loss at the close — perp ``max(0, −q·(p_close − e))`` with ``p_close = S'·(1 − sign(q)·slip)``;
    option ``max(0, −q·(V' − V))`` (``V`` the mark value at base prices, ``V'`` at the moved
    ones, mark vols) plus its close cost — or by notional when no leg lost. A leg's market
    and side: the perp's market and the sign of ``q``; an option's hedge market and the sign
    of its delta equivalent ``q·Δ'`` (a short put is a long: RISK_MODEL §8 ranks the other side).
    """
    mk, m, b = params.markets, venue.market, venue.book
    r = np.asarray(shock, dtype=np.float64)
    rev = pm_revalue(params, venue, asset_prices, r[None, :])
    eq, mm = rev.equity[0], rev.maintenance_margin[0]
    liq, _, pen, short = unit_outcome(eq, mm, rev.slippage[0], rev.penalty_due[0])
    moved, factor = _moved(venue, r)
    leg_n, cost, mkt, flow, _ = _leg_closes(params, venue, moved.spot, factor)
    n_q = b.perp_size.size
    p = moved.spot[b.perp_underlying]
    safe = np.where(venue.perp_market >= 0, venue.perp_market, 0)
    slip = np.minimum(1.0, 0.01 * leg_n[:n_q] / mk.depth_usd_per_1pct[safe])
    perp_loss = np.maximum(0.0, -b.perp_size * (p * (1.0 - np.sign(b.perp_size) * slip) - b.perp_entry_price))
    if b.option_size.size:

        def value(mkt_: PMMarket, spot: F64) -> F64:
            return black76_price(
                is_call=mkt_.series_is_call,
                forward=mkt_.series_forward,
                strike=mkt_.series_strike,
                vol=mkt_.series_vol,
                t=mkt_.series_t,
                discount=mkt_.series_discount,
                spot=spot[mkt_.series_underlying],
            )

        dv = (value(moved, moved.spot) - value(m, m.spot))[b.option_series]
        opt_loss = np.maximum(0.0, -b.option_size * dv) + cost[n_q:]
        delta_size = np.abs(flow[n_q:]) / np.maximum(moved.spot[m.series_underlying[b.option_series]], 1e-300)
    else:
        opt_loss = delta_size = np.zeros(0)
    loss = np.concatenate([perp_loss, opt_loss])
    size = np.concatenate([np.abs(b.perp_size), delta_size])
    acc = _leg_accounts(venue)
    n_pm = b.n_accounts
    loss_a = np.bincount(acc, weights=loss, minlength=n_pm)
    n_a = np.bincount(acc, weights=leg_n, minlength=n_pm)
    by_loss = loss_a[acc] > 0
    weight = np.where(by_loss, loss / np.where(by_loss, loss_a[acc], 1.0), leg_n / np.maximum(n_a[acc], 1e-300))
    share = short[acc] * weight * liq[acc]
    has = mkt >= 0
    side = np.where(flow > 0, 0, 1)
    cell = np.where(has, mkt, 0) * 2 + side
    by_market = np.bincount(cell[has], weights=share[has], minlength=2 * mk.n).reshape(mk.n, 2)
    bankrupt = (liq & (short > 0))[acc] & has
    sizes = np.bincount(cell[bankrupt], weights=size[bankrupt], minlength=2 * mk.n).reshape(mk.n, 2)
    return PMAdlCells(
        shortfall_by_market=by_market,
        liquidated_size=sizes,
        shortfall=float(short.sum()),
        penalties=float(pen.sum()),
        unattributed=float(short[~liq].sum()) + float(share[~has].sum()),
    )


class PMCascadeSide:
    """The PM accounts inside a §11 cascade (``cascade.run_cascade``, ``path_cascade``), §8 closes.

    Each round the caller gives the round's asset prices; the PM accounts still open are
    revalued there (``pm_revalue``: the underlyings at their assets' prices — the pooled move
    of their markets in the cascade —, options at mark vols, ``T`` unchanged), those newly
    liquidatable are closed (slippage, penalty from what equity remains, shortfall, as
    ``_pm_tail``) and their net notional sold per market (perp legs ``q·S'``, option legs their
    delta equivalent ``q·Δ'·S'`` in their hedge market) joins the round's flow that moves the
    prices. An account is closed once.

    Attributes:
        alive: ``(A_pm,)`` bool PM accounts still open.
        shortfall: ``(A_pm,)`` USD shortfall of each closed account (0 while open).
    """

    def __init__(self, params: ParameterSet, venue: PMVenue, base_prices: F64) -> None:
        self.params, self.venue = params, venue
        self.base = np.asarray(base_prices, dtype=np.float64)
        self.alive = np.ones(venue.book.n_accounts, dtype=np.bool_)
        self.shortfall = np.zeros(venue.book.n_accounts)

    def _shock(self, asset_px: F64) -> F64:
        return np.asarray(asset_px, dtype=np.float64) / self.base - 1.0

    def open_book(self, asset_px: F64) -> tuple[float, float]:
        """``(Σ E, Σ MM)`` USD of the open accounts with ``MM > 0`` at ``asset_px``."""
        rev = pm_revalue(self.params, self.venue, self.base, self._shock(asset_px)[None, :])
        o = self.alive & (rev.maintenance_margin[0] > 0)
        return float(rev.equity[0][o].sum()), float(rev.maintenance_margin[0][o].sum())

    def round(self, asset_px: F64) -> tuple[I64, float, float, F64, F64]:
        """Liquidate the newly liquidatable PM accounts at ``asset_px`` ``(A_assets,)`` USD.

        Returns:
            ``(accounts, penalties, shortfall, net_sold, notional)``: the venue indices of the
            accounts closed now, USD totals, and ``(M,)`` USD net sold and notional closed.
        """
        shock = self._shock(asset_px)
        rev = pm_revalue(self.params, self.venue, self.base, shock[None, :])
        eq, mm = rev.equity[0], rev.maintenance_margin[0]
        new = self.alive & (mm > 0) & (eq < mm)
        n_m = self.params.markets.n
        if not new.any():
            return np.zeros(0, dtype=np.int64), 0.0, 0.0, np.zeros(n_m), np.zeros(n_m)
        _, _, pen, short = unit_outcome(eq[new], mm[new], rev.slippage[0][new], rev.penalty_due[0][new])
        notional, net = closed_notional(self.params, self.venue, shock, new)
        self.shortfall[new] = short
        self.alive &= ~new
        return self.venue.pm_accounts[new], float(pen.sum()), float(short.sum()), net, notional

    def rest(self, asset_px: F64) -> F64:
        """``(A_pm,)`` USD ``max(0, −E)`` of the accounts never closed, at ``asset_px`` (added to
        their shortfall, as the bracket side's open units at the end)."""
        rev = pm_revalue(self.params, self.venue, self.base, self._shock(asset_px)[None, :])
        out = np.maximum(0.0, -rev.equity[0]) * self.alive
        self.shortfall += out
        return out


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

    Counts, shortfalls, penalties, by-step arrays and liquidated notional add; fund after,
    ADL, coverage, the worst step and the worst scenario follow the same rules.
    """
    s = stress.shortfall + pm.shortfall
    pen = stress.penalties + pm.penalties
    by_step = stress.shortfall_by_step + pm.shortfall_by_step
    top2, acc2 = _merged_top2(stress.top2_shortfall, stress.top2_account, pm.top2_shortfall, pm.top2_account)
    fund = stress.insurance_fund
    worst_step = np.where(s > 0, np.argmax(by_step, axis=1) + 1, 0) if by_step.size else stress.worst_step
    return replace(
        stress,
        n_liquidated=stress.n_liquidated + pm.n_liquidated,
        n_bankrupt=stress.n_bankrupt + pm.n_bankrupt,
        shortfall=s,
        penalties=pen,
        insurance_fund_after=insurance_fund_after(fund, pen, s),
        adl_amount=adl_amount(fund, pen, s),
        coverage=coverage_ratios(fund, s),
        worst_step=worst_step.astype(np.int64),
        shortfall_by_step=by_step,
        liquidated_by_step=stress.liquidated_by_step + pm.liquidated_by_step,
        liquidated_notional=stress.liquidated_notional + pm.liquidated_notional,
        top2_shortfall=top2,
        top2_account=acc2,
        worst_scenario=int(np.argmax(s)) if s.size else -1,
    )


def merge_stress(stress: StressResult, pm: PMStress) -> StressResult:
    """The bracket stress result plus the PM accounts' outcomes (§9; Cover-2 input merged).

    Counts, shortfalls and penalties add (each account is on one side only); fund after, ADL and
    coverage are recomputed by the same rules (``fund``, ``tail``); the worst scenario and
    the account detail are the bracket side's.
    """
    s = stress.shortfall + pm.shortfall
    pen = stress.penalties + pm.penalties
    top2, acc2 = _merged_top2(stress.top2_shortfall, stress.top2_account, pm.top2_shortfall, pm.top2_account)
    fund = stress.insurance_fund
    return replace(
        stress,
        n_liquidated=stress.n_liquidated + pm.n_liquidated,
        n_bankrupt=stress.n_bankrupt + pm.n_bankrupt,
        shortfall=s,
        penalties=pen,
        insurance_fund_after=insurance_fund_after(fund, pen, s),
        adl_amount=adl_amount(fund, pen, s),
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

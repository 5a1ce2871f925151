"""Liquidation cascade: liquidations move prices, which liquidate more (RISK_MODEL §8, §9, §11).

Start from shocked prices ``p' = p·(1 + r)``. Each round ``t``:

1. revalue every margin unit still open (cross side of an account, or an isolated
   position; see ``stress``) at the round's prices;
2. liquidate every unit that is newly liquidatable (``MM > 0`` and ``E < MM``) with the closes
   of §8 at the round's prices (slippage, penalty from remaining equity, shortfall);
3. the net notional sold in market ``m`` — ``Σ q·p`` over the closed positions, i.e. sells of
   liquidated longs minus buys of liquidated shorts, USD — moves its price:
   ``p_m ← p_m·max(0, 1 − 0.01·net_sold_m/D_m)``;

until no unit is newly liquidatable or ``max_rounds`` (50) rounds have run. Vectorized per
round; the only Python loop is over rounds.

Choices where the contract is silent:

* **Markets sharing a base asset** move separately (each by its own net flow and depth);
  collateral of an asset, and markets' prices are not re-synchronised. Collateral of asset
  ``a`` follows the pooled move of its markets: ``P_a ← P_a·max(0, 1 − 0.01·Σ_{m on a}
  net_sold_m / Σ_{m on a} D_m)`` — with one market per asset that is exactly the market's
  move. Assets without a market keep their shocked price.
* Prices are floored at 0 (a relative move below −100 % is capped), as slippage is (§8).
* A unit is closed once; its remaining collateral is not revalued afterwards.
* Portfolio-margin accounts (``pm``, RISK_MODEL §14) take part in every round through
  ``pm_venue.PMCascadeSide``: revalued at the round's asset prices (the pooled move), closed
  with the §8 costs on their legs, their net selling added to the round's flow.
* ``collateral_shortfall`` is ``Σ max(0, −E)`` at the final prices over units without
  positions (liabilities above collateral: bankrupt, never liquidatable, as in the stress
  run); it is part of ``total_shortfall``. With ``max_rounds=1`` the round-0 liquidations
  (count, shortfall, penalties) equal the stress run of the same scenario; the collateral
  shortfall then differs only by round 0's price impact on collateral.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskgov.engine.brackets import maintenance_margin
from riskgov.engine.fund import adl_amount, insurance_fund_after
from riskgov.engine.pm_venue import PMCascadeSide, PMVenue
from riskgov.engine.scenarios import ScenarioSet, validate_shocks
from riskgov.engine.types import F64, I64, Bool, EngineInputError, MarketParams, ParameterSet, VenueState
from riskgov.engine.units import UnitBook, build_unit_book, close_costs, unit_outcome

__all__ = ["CascadeResult", "run_cascade"]

MAX_ROUNDS = 50
PRICE_IMPACT_PER_DEPTH = 0.01  # relative move per depth-sized net flow (§11)


@dataclass(frozen=True)
class CascadeResult:
    """Round-by-round outcome of a cascade (RISK_MODEL §11). ``R`` = rounds with liquidations.

    Attributes:
        market_prices: ``(R + 1, M)`` float64 USD; row ``t`` is the prices round ``t`` was
            evaluated at (row 0 = shocked prices), the last row the prices after the last
            round's impact.
        asset_prices: ``(R + 1, A)`` float64 USD collateral prices, same rows.
        liquidated_units: ``(R,)`` int64 units liquidated in each round.
        liquidated_accounts: ``(R,)`` int64 accounts liquidated for the first time in the round.
        net_sold: ``(R, M)`` float64 USD net notional sold per market per round.
        shortfall: ``(R,)`` float64 USD shortfall of the round's liquidations.
        penalties: ``(R,)`` float64 USD penalties paid to the fund in the round.
        n_rounds: ``R``.
        converged: True when it stopped because nothing new was liquidatable, False when it
            hit ``max_rounds``.
        total_liquidated_accounts: distinct accounts liquidated over all rounds.
        collateral_shortfall: USD ``Σ max(0, −E)`` of position-less units (and of PM accounts
            never closed) at final prices.
        total_shortfall: USD ``Σ shortfall + collateral_shortfall``.
        total_penalties: USD.
        insurance_fund: USD fund before.
        insurance_fund_after: USD ``max(0, IF + penalties − S)``.
        adl_amount: USD ``max(0, S − IF − penalties)``.
    """

    market_prices: F64
    asset_prices: F64
    liquidated_units: I64
    liquidated_accounts: I64
    net_sold: F64
    shortfall: F64
    penalties: F64
    n_rounds: int
    converged: bool
    total_liquidated_accounts: int
    collateral_shortfall: float
    total_shortfall: float
    total_penalties: float
    insurance_fund: float
    insurance_fund_after: float
    adl_amount: float


def _scenario_row(shocks: F64, scenario: int) -> F64:
    """Row ``scenario`` of ``(S, …)`` shocks (one scenario's ``(A,)`` or ``(T, A)`` fractions).

    Shared with ``path_cascade``. Raises ``EngineInputError`` for an index outside ``0..S − 1``.
    """
    if not 0 <= scenario < shocks.shape[0]:
        raise EngineInputError(f"scenario index {scenario} out of range 0..{shocks.shape[0] - 1}")
    return shocks[scenario]


def _impact_factors(mk: MarketParams, n_assets: int, net: F64) -> tuple[F64, F64]:
    """Price moves of one cascade round's net selling (RISK_MODEL §11; shared with ``path_cascade``).

    Args:
        mk: the markets (``depth_usd_per_1pct`` ``D_m``, ``base_asset``).
        n_assets: ``A``.
        net: ``(M,)`` float64 USD net notional sold per market in the round.

    Returns:
        ``(market, asset)``: ``(M,)`` factors ``max(0, 1 − 0.01·net_m/D_m)`` and ``(A,)``
        factors ``max(0, 1 − 0.01·Σ_m net_m/Σ_m D_m)`` over the asset's markets (1 for an
        asset without a market); prices are multiplied by them.
    """
    pooled_depth = np.bincount(mk.base_asset, weights=mk.depth_usd_per_1pct, minlength=n_assets)
    has_market = np.bincount(mk.base_asset, minlength=n_assets) > 0
    market = np.maximum(0.0, 1.0 - PRICE_IMPACT_PER_DEPTH * net / mk.depth_usd_per_1pct)
    net_a = np.bincount(mk.base_asset, weights=net, minlength=n_assets)
    move = np.where(
        has_market,
        1.0 - PRICE_IMPACT_PER_DEPTH * net_a / np.where(has_market, pooled_depth, 1.0),
        1.0,
    )
    return market, np.maximum(0.0, move)


#: positions per block of ``_Sub.revalue``'s bracket lookup
REVALUE_BLOCK = 1 << 20


class _Sub:
    """The positions and balances of a set of margin units, with compact unit ids (§4–§8).

    ``units``: ``(U,)`` int64 units of ``book`` (ascending), or ``None`` for every unit (the
    book's arrays are used as they are). Shared by ``run_cascade`` and ``path_cascade``.
    """

    def __init__(self, params: ParameterSet, book: UnitBook, units: I64 | None) -> None:
        if units is None:
            self.n, self.owner, self.margin, self.count = (
                book.n_units,
                book.unit_owner,
                book.unit_margin,
                book.unit_count,
            )
            pos = bal = slice(None)
            self.pos_unit, self.bal_unit = book.pos_unit, book.bal_unit
        else:
            remap = np.full(book.n_units, -1, dtype=np.int64)
            remap[units] = np.arange(units.size)
            self.n = units.size
            self.owner, self.margin, self.count = (
                book.unit_owner[units],
                book.unit_margin[units],
                book.unit_count[units],
            )
            pos = np.flatnonzero(remap[book.pos_unit] >= 0)
            bal = np.flatnonzero(remap[book.bal_unit] >= 0)
            self.pos_unit, self.bal_unit = remap[book.pos_unit[pos]], remap[book.bal_unit[bal]]
        self.pos_market, self.size, self.entry = (a[pos] for a in (book.pos_market, book.size, book.entry_price))
        # from the market tables, not the book's cached per-position copies (which would stay
        # on a whole venue's book for as long as it lives)
        mk = params.markets
        self.depth = mk.depth_usd_per_1pct.take(self.pos_market)
        self.penalty_rate = mk.liquidation_penalty.take(self.pos_market)
        self.bal_asset, self.bal_amount = book.bal_asset[bal], book.bal_amount[bal]
        self.haircut_factor = np.where(self.bal_amount > 0, 1.0 - params.assets.haircut[self.bal_asset], 1.0)

    def collateral(self, asset_px: F64) -> F64:
        """``(U,)`` USD haircut collateral value per unit at asset prices ``(A,)`` (§4)."""
        return np.bincount(
            self.bal_unit,
            weights=self.bal_amount * asset_px[self.bal_asset] * self.haircut_factor,
            minlength=self.n,
        )

    def revalue(self, mk: MarketParams, asset_px: F64, mkt_px: F64) -> tuple[F64, F64, F64]:
        """``(E, MM)`` per unit and ``N`` per position at the given prices (§4–§6), USD.

        The per-position terms are computed in place, and ``MM(N)`` in blocks of
        ``REVALUE_BLOCK`` positions (the bracket lookup's temporaries stay block-sized): the
        same floats as elementwise over the whole book, with a venue's worth of temporaries
        held two or three times instead of seven.
        """
        p = mkt_px[self.pos_market]
        notional = np.abs(self.size)
        notional *= p
        p -= self.entry  # p − e ...
        p *= self.size  # ... × q: the unrealised P&L per position
        equity = self.collateral(asset_px) + np.bincount(self.pos_unit, weights=p, minlength=self.n) + self.margin
        pos_mm = p  # reused: the P&L is summed
        for lo in range(0, notional.size, REVALUE_BLOCK):
            hi = min(notional.size, lo + REVALUE_BLOCK)
            pos_mm[lo:hi] = maintenance_margin(mk, self.pos_market[lo:hi], notional[lo:hi])
        mm = np.bincount(self.pos_unit, weights=pos_mm, minlength=self.n)
        return equity, mm, notional

    def liquidate(
        self, new: Bool, equity: F64, mm: F64, notional: F64, mkt_px: F64, n_markets: int
    ) -> tuple[F64, F64, Bool, F64]:
        """Close the units ``new`` ``(U,)`` bool with the §8 closes at market prices ``(M,)``.

        ``equity``, ``mm`` ``(U,)`` and ``notional`` (per position) from :meth:`revalue`.
        Returns ``(penalties, shortfall)`` USD per closed unit (in unit order), the ``(P,)``
        bool positions closed and ``(M,)`` USD net notional sold per market (``Σ q·p``).
        """
        s_cost, p_due = close_costs(notional, self.depth, self.penalty_rate)
        slip_u = np.bincount(self.pos_unit, weights=s_cost, minlength=self.n)
        pen_u = np.bincount(self.pos_unit, weights=p_due, minlength=self.n)
        _, _, pen, short = unit_outcome(equity[new], mm[new], slip_u[new], pen_u[new])
        closing = new[self.pos_unit]
        net = np.bincount(
            self.pos_market[closing], weights=(self.size * mkt_px[self.pos_market])[closing], minlength=n_markets
        )
        return pen, short, closing, net


def _shock_vector(params: ParameterSet, shocks: ScenarioSet | F64, scenario: int) -> F64:
    if isinstance(shocks, ScenarioSet):
        if shocks.asset_symbols != tuple(params.assets.symbols):
            raise EngineInputError("scenario set was built for other assets")
        return _scenario_row(shocks.shocks, scenario)
    r = np.asarray(shocks, dtype=np.float64)
    return validate_shocks(r.reshape(1, -1), params.assets.n)[0]


def run_cascade(
    params: ParameterSet,
    state: VenueState,
    shocks: ScenarioSet | F64,
    *,
    scenario: int = 0,
    max_rounds: int = MAX_ROUNDS,
    book: UnitBook | None = None,
    pm: PMVenue | None = None,
) -> CascadeResult:
    """Run a liquidation cascade from one scenario's shocked prices (RISK_MODEL §11).

    Args:
        params: margin parameters (depths drive the price impact).
        state: venue state at base prices with its insurance fund.
        shocks: ``(A,)`` float64 relative shocks, or a ``ScenarioSet`` and ``scenario`` index.
        scenario: which scenario of a ``ScenarioSet``.
        max_rounds: at most this many liquidation rounds (50 in §11).
        book: a ``stress.build_unit_book(params, state)`` to reuse; with it only the state's
            prices and insurance fund are read (``units.prices_of``).
        pm: the venue's portfolio-margin accounts (``pm_venue.split_venue``; ``state`` is then
            its ``cross_state``): liquidated in the same rounds with the §8 closes, their net
            selling moving the prices too (``pm_venue.PMCascadeSide``); counted in units and
            accounts (a PM account is one unit).

    Returns:
        ``CascadeResult``.

    Raises:
        PriceError: a shock ``≤ −1`` or non-finite; bad base prices.
        EngineInputError: wrong shapes, bad scenario index, ``max_rounds < 1``.
    """
    if max_rounds < 1:
        raise EngineInputError(f"max_rounds must be >= 1, got {max_rounds}")
    r = _shock_vector(params, shocks, scenario)
    if book is None:
        book = build_unit_book(params, state)
    mk = params.markets
    n_m, n_a, n_u = mk.n, params.assets.n, book.n_units
    asset_px = state.asset_prices * (1.0 + r)
    mkt_px = asset_px[mk.base_asset].copy()
    sub = _Sub(params, book, None)
    alive = np.ones(n_u, dtype=np.bool_)
    hit = np.zeros(book.n_accounts, dtype=np.bool_)
    m_hist, a_hist = [mkt_px.copy()], [asset_px.copy()]
    n_units, n_accts, sold, short_r, pen_r = [], [], [], [], []
    converged = False
    equity = np.zeros(n_u)
    side = PMCascadeSide(params, pm, state.asset_prices) if pm is not None and pm.book.n_accounts else None
    for _ in range(max_rounds):
        equity, mm, notional = sub.revalue(mk, asset_px, mkt_px)
        new = alive & (mm > 0) & (equity < mm)
        pm_acc, pm_pen, pm_short, pm_net = np.zeros(0, np.int64), 0.0, 0.0, 0.0
        if side is not None:
            pm_acc, pm_pen, pm_short, pm_net, _ = side.round(asset_px)
        if not new.any() and not pm_acc.size:
            converged = True
            break
        pen, short, _, net = sub.liquidate(new, equity, mm, notional, mkt_px, n_m)
        net = net + pm_net
        owners = np.concatenate([book.unit_owner[new], pm_acc])
        first = np.zeros(book.n_accounts, dtype=np.bool_)
        first[owners[~hit[owners]]] = True
        hit[owners] = True
        alive &= ~new
        n_units.append(int(np.count_nonzero(new)) + int(pm_acc.size))
        n_accts.append(int(np.count_nonzero(first)))
        sold.append(net)
        short_r.append(float(short.sum()) + pm_short)
        pen_r.append(float(pen.sum()) + pm_pen)
        m_move, a_move = _impact_factors(mk, n_a, net)
        mkt_px = mkt_px * m_move
        asset_px = asset_px * a_move
        m_hist.append(mkt_px.copy())
        a_hist.append(asset_px.copy())
    if not converged:
        # equity of position-less units at the final prices
        equity = sub.collateral(asset_px)
    no_pos = book.unit_count == 0
    coll_short = float(np.maximum(0.0, -equity[no_pos]).sum())
    if side is not None:  # PM accounts never closed: max(0, −E) at the final prices
        coll_short += float(side.rest(asset_px).sum())
    fund = float(state.insurance_fund)
    total_short = float(sum(short_r)) + coll_short
    total_pen = float(sum(pen_r))
    return CascadeResult(
        market_prices=np.array(m_hist),
        asset_prices=np.array(a_hist),
        liquidated_units=np.array(n_units, dtype=np.int64),
        liquidated_accounts=np.array(n_accts, dtype=np.int64),
        net_sold=np.array(sold).reshape(-1, n_m),
        shortfall=np.array(short_r),
        penalties=np.array(pen_r),
        n_rounds=len(n_units),
        converged=converged,
        total_liquidated_accounts=int(np.count_nonzero(hit)),
        collateral_shortfall=coll_short,
        total_shortfall=total_short,
        total_penalties=total_pen,
        insurance_fund=fund,
        insurance_fund_after=float(insurance_fund_after(fund, total_pen, total_short)),
        adl_amount=float(adl_amount(fund, total_pen, total_short)),
    )

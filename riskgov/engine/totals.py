"""Venue-wide totals of one health evaluation (RISK_MODEL §3, §5, §6, §9; FORMATS "totals")."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskgov.engine.accounts import AccountMetrics, _account_metrics
from riskgov.engine.positions import PositionMetrics, long_short_base, position_metrics
from riskgov.engine.types import F64, ParameterSet, VenueState

__all__ = ["ProtocolTotals", "protocol_totals"]


@dataclass(frozen=True)
class ProtocolTotals:
    """Venue-wide totals of one health evaluation (RISK_MODEL §5, §6, §9; FORMATS "totals").

    Attributes:
        n_accounts: number of accounts.
        n_positions: number of position rows.
        equity: USD sum of reported account equity.
        initial_margin: USD sum of reported account IM.
        maintenance_margin: USD sum of reported account MM.
        liquidatable_accounts: accounts counted once (§9).
        bankrupt_accounts: accounts with shortfall > 0.
        shortfall: USD ``S = Σ`` account shortfall.
        insurance_fund: USD insurance fund balance.
        coverage_ratio: ``IF/S`` (``inf`` when ``S = 0``).
        limit_breaches: number of positions above their market's max notional.
        open_interest_long_base: ``(M,)`` float64 base units, ``Σ max(q, 0)``.
        open_interest_short_base: ``(M,)`` float64 base units, ``Σ max(−q, 0)``.
        open_interest_long_usd: ``(M,)`` float64 USD, long base units × mark price (the
            ``O`` of §3 when the state does not give one).
        open_interest_short_usd: ``(M,)`` float64 USD, short base units × mark price.
    """

    n_accounts: int
    n_positions: int
    equity: float
    initial_margin: float
    maintenance_margin: float
    liquidatable_accounts: int
    bankrupt_accounts: int
    shortfall: float
    insurance_fund: float
    coverage_ratio: float
    limit_breaches: int
    open_interest_long_base: F64
    open_interest_short_base: F64
    open_interest_long_usd: F64
    open_interest_short_usd: F64


def protocol_totals(
    params: ParameterSet,
    state: VenueState,
    positions: PositionMetrics | None = None,
    accounts: AccountMetrics | None = None,
) -> ProtocolTotals:
    """Venue-wide totals (RISK_MODEL §5, §6, §9; FORMATS.md ``totals``).

    Args:
        params: margin parameters.
        state: the venue state (its ``insurance_fund`` is reported and covered against S).
        positions: ``position_metrics`` result, computed when ``None``.
        accounts: ``account_metrics`` result, computed when ``None``.

    Returns:
        ``ProtocolTotals``; ``coverage_ratio = IF/S`` with ``inf`` when ``S = 0``.

    Raises:
        PriceError, UnknownSymbolError, EngineInputError: see ``validate_state``.
    """
    if positions is None:
        positions = position_metrics(params, state)
    if accounts is None:
        accounts = _account_metrics(params, state, positions)
    pf = state.portfolio
    mk = params.markets
    long_base, short_base = long_short_base(pf.position_market, pf.size, mk.n)
    market_price = state.asset_prices[mk.base_asset]
    shortfall = float(accounts.shortfall.sum())
    fund = float(state.insurance_fund)
    return ProtocolTotals(
        n_accounts=int(pf.n_accounts),
        n_positions=int(pf.n_positions),
        equity=float(accounts.equity.sum()),
        initial_margin=float(accounts.initial_margin.sum()),
        maintenance_margin=float(accounts.maintenance_margin.sum()),
        liquidatable_accounts=int(np.count_nonzero(accounts.liquidatable)),
        bankrupt_accounts=int(np.count_nonzero(accounts.bankrupt)),
        shortfall=shortfall,
        insurance_fund=fund,
        coverage_ratio=fund / shortfall if shortfall > 0 else float("inf"),
        limit_breaches=int(np.count_nonzero(positions.limit_breach)),
        open_interest_long_base=long_base,
        open_interest_short_base=short_base,
        open_interest_long_usd=long_base * market_price,
        open_interest_short_usd=short_base * market_price,
    )

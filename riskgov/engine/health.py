"""One-call base health pass: positions, accounts, totals, liquidation prices (RISK_MODEL §2–§7).

Stress scenarios, the cascade and tail metrics live in their own modules and build on the
same kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskgov.engine.liquidation import _bankruptcy_prices, _liquidation_prices, _reference
from riskgov.engine.margin import (
    AccountMetrics,
    PositionMetrics,
    ProtocolTotals,
    _account_metrics,
    _position_metrics,
    protocol_totals,
    validate_state,
)
from riskgov.engine.types import F64, Bool, ParameterSet, VenueState

__all__ = ["HealthResult", "evaluate_health", "position_liquidatable"]


@dataclass(frozen=True)
class HealthResult:
    """Everything a base health run reports.

    Attributes:
        positions: ``(P,)`` position metrics.
        accounts: ``(A,)`` account metrics.
        totals: venue totals.
        liquidation_price: ``(P,)`` float64 USD, NaN for none (§7); ``None`` when not asked.
        bankruptcy_price: ``(P,)`` float64 USD, NaN for none (§7); ``None`` when not asked.
    """

    positions: PositionMetrics
    accounts: AccountMetrics
    totals: ProtocolTotals
    liquidation_price: F64 | None
    bankruptcy_price: F64 | None


def evaluate_health(params: ParameterSet, state: VenueState, *, with_prices: bool = True) -> HealthResult:
    """Validate once, then compute position, account and protocol metrics (§2–§6, §9 counts)
    and, when ``with_prices``, liquidation and bankruptcy prices (§7).

    Raises:
        PriceError, UnknownSymbolError, EngineInputError: see ``margin.validate_state``.
    """
    validate_state(params, state)
    pm = _position_metrics(params, state)
    am = _account_metrics(params, state, pm)
    totals = protocol_totals(params, state, pm, am)
    liq = bk = None
    if with_prices:
        ref = _reference(state, pm, am)  # W and MM_o, shared by both prices
        liq = _liquidation_prices(params, state, pm, am, reference=ref)
        bk = _bankruptcy_prices(state, ref[0])
    return HealthResult(positions=pm, accounts=am, totals=totals, liquidation_price=liq, bankruptcy_price=bk)


def position_liquidatable(health: HealthResult, state: VenueState) -> Bool:
    """Whether each position is liquidatable now (RISK_MODEL §5, §6).

    A cross position is liquidated with its account (``accounts.cross_liquidatable`` of
    its owner), an isolated one on its own (``positions.isolated_liquidatable``).

    Args:
        health: ``evaluate_health(params, state)``.
        state: the same venue state.

    Returns:
        ``(P,)`` bool.
    """
    pf = state.portfolio
    return np.where(
        pf.isolated, health.positions.isolated_liquidatable, health.accounts.cross_liquidatable[pf.position_account]
    ).astype(bool)

"""Per-account metrics (RISK_MODEL §4, §5, §6): collateral, equity, margins, ratios, flags.

Sums per account are ``np.bincount(weights=...)`` (a bin adds its rows in row order). The
cross and isolated parts of IM, MM, notional and uPnL come from one bincount over
``2·account + isolated``; quantities that only isolated positions have (equity, shortfall,
liquidatable count) are summed over the isolated rows alone, which adds the same numbers in
the same order. How isolated positions enter the reported totals is documented in
``riskgov.engine.margin``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskgov.engine.positions import PositionMetrics, position_metrics
from riskgov.engine.types import F64, I64, Bool, EngineInputError, ParameterSet, Portfolio, VenueState
from riskgov.engine.validation import _validate_balances, _validate_prices, validate_state

__all__ = ["AccountMetrics", "account_metrics", "collateral_value"]


@dataclass(frozen=True)
class AccountMetrics:
    """Per-account metrics (RISK_MODEL §4–§6); every field is ``(A,)``.

    See ``riskgov.engine.margin`` for how isolated positions enter the reported totals.

    Attributes:
        collateral: float64 USD ``V`` (§4).
        cross_upnl: float64 USD ``Σ uPnL`` of cross positions.
        cross_equity: float64 USD ``V + Σ cross uPnL`` (§5 ``E``).
        cross_initial_margin: float64 USD ``Σ IM`` of cross positions.
        cross_maintenance_margin: float64 USD ``Σ MM`` of cross positions.
        cross_notional: float64 USD ``Σ N`` of cross positions.
        isolated_equity: float64 USD ``Σ (w_i + uPnL_i)`` over isolated positions.
        isolated_initial_margin: float64 USD ``Σ IM_i`` over isolated positions.
        isolated_maintenance_margin: float64 USD ``Σ MM_i`` over isolated positions.
        isolated_liquidatable_count: int64 number of liquidatable isolated positions (§6).
        equity: float64 USD reported equity, cross plus isolated.
        initial_margin: float64 USD reported IM, cross plus isolated.
        maintenance_margin: float64 USD reported MM, cross plus isolated.
        notional: float64 USD ``Σ N`` over all positions.
        n_positions: int64 number of position rows.
        free_collateral: float64 USD ``cross_equity − cross IM``.
        margin_ratio: float64 ``MM/E`` of the reported totals (``inf`` when
            ``E ≤ 0 < MM``, 0 when ``MM = 0``).
        cross_margin_ratio: float64 the same ratio for the cross side alone (§5).
        health_factor: float64 ``E/MM`` of the reported totals (``inf`` when ``MM = 0``).
        leverage: float64 ``Σ N / E`` of the reported totals (0 when ``Σ N = 0``,
            ``inf`` when ``E ≤ 0 < Σ N``).
        cross_liquidatable: bool, ``cross MM > 0`` and ``cross_equity < cross MM`` (§5).
        liquidatable: bool, cross liquidatable or any isolated position liquidatable (§9).
        bankrupt: bool, ``shortfall > 0``.
        shortfall: float64 USD ``max(0, −cross_equity) + Σ_isolated max(0, −E_i)``.
    """

    collateral: F64
    cross_upnl: F64
    cross_equity: F64
    cross_initial_margin: F64
    cross_maintenance_margin: F64
    cross_notional: F64
    isolated_equity: F64
    isolated_initial_margin: F64
    isolated_maintenance_margin: F64
    isolated_liquidatable_count: I64
    equity: F64
    initial_margin: F64
    maintenance_margin: F64
    notional: F64
    n_positions: I64
    free_collateral: F64
    margin_ratio: F64
    cross_margin_ratio: F64
    health_factor: F64
    leverage: F64
    cross_liquidatable: Bool
    liquidatable: Bool
    bankrupt: Bool
    shortfall: F64


def _sum_by(index: I64, weights: F64, n: int) -> F64:
    """Per-bin sums as float64 (``np.bincount`` returns int64 for empty input, even with weights)."""
    return np.bincount(index, weights=weights, minlength=n).astype(np.float64, copy=False)


def collateral_value(params: ParameterSet, portfolio: Portfolio, asset_prices: F64) -> F64:
    """Collateral value ``V`` per account (RISK_MODEL §4).

    ``V = Σ_{b>0} b·P·(1 − h) + Σ_{b<0} b·P``: haircuts apply to positive balances only,
    liabilities count in full.

    Args:
        params: asset haircuts.
        portfolio: balance rows.
        asset_prices: ``(A,)`` USD prices.

    Returns:
        ``(n_accounts,)`` float64 USD.

    Raises:
        PriceError, UnknownSymbolError, EngineInputError: bad prices, indices or shapes.
    """
    _validate_prices(params, asset_prices)
    _validate_balances(params, portfolio)
    return _collateral_value(params, portfolio, asset_prices)


def _collateral_value(params: ParameterSet, portfolio: Portfolio, asset_prices: F64) -> F64:
    asset = portfolio.balance_asset
    b = portfolio.balance_amount
    # (b·P)·(1 − h) on assets, (b·P)·1 = b·P on liabilities
    value = np.multiply(b, np.asarray(asset_prices, dtype=np.float64).take(asset))
    keep = 1.0 - params.assets.haircut
    if (keep != 1.0).any():
        np.multiply(value, keep.take(asset), out=value, where=b > 0)
    return _sum_by(portfolio.balance_account, value, portfolio.n_accounts)


def _ratio(num: F64, den: F64, *, zero_num: float, nonpos_den: float) -> F64:
    """``num/den`` with ``zero_num`` where ``num == 0`` and ``nonpos_den`` where ``den ≤ 0 < num``."""
    r = np.full(num.shape, nonpos_den)
    np.divide(num, den, out=r, where=den > 0)
    np.copyto(r, zero_num, where=num == 0)
    return r


def account_metrics(
    params: ParameterSet, state: VenueState, positions: PositionMetrics | None = None
) -> AccountMetrics:
    """Per-account metrics (RISK_MODEL §4, §5, §6).

    Args:
        params: margin parameters.
        state: the venue state.
        positions: result of ``position_metrics(params, state)``, computed when ``None``.

    Returns:
        ``AccountMetrics`` of ``(A,)`` arrays; accounts without rows have zeros, are never
        liquidatable, have margin ratio 0 and health factor ``inf``.

    Raises:
        PriceError, UnknownSymbolError, EngineInputError: see ``validate_state``; also when
        ``positions`` does not have ``P`` rows.
    """
    if positions is None:
        positions = position_metrics(params, state)
    else:
        validate_state(params, state)
        if positions.notional.shape != (state.portfolio.n_positions,):
            raise EngineInputError(
                f"positions has {positions.notional.shape[0]} rows, the portfolio {state.portfolio.n_positions}"
            )
    return _account_metrics(params, state, positions)


def _account_metrics(params: ParameterSet, state: VenueState, pm: PositionMetrics) -> AccountMetrics:
    pf = state.portfolio
    n = pf.n_accounts
    acc = pf.position_account
    iso_rows = np.flatnonzero(pm.isolated)

    if iso_rows.size:
        # One bincount per quantity gives the cross (column 0) and isolated (column 1) sums.
        key = np.multiply(acc, 2)
        key += pm.isolated

        def split(weights: F64) -> tuple[F64, F64]:
            sums = _sum_by(key, weights, 2 * n).reshape(n, 2)
            return sums[:, 0].copy(), sums[:, 1].copy()

    else:

        def split(weights: F64) -> tuple[F64, F64]:
            return _sum_by(acc, weights, n), np.zeros(n)

    collateral = _collateral_value(params, pf, state.asset_prices)
    cross_upnl, _ = split(pm.upnl)
    cross_im, iso_im = split(pm.initial_margin)
    cross_mm, iso_mm = split(pm.maintenance_margin)
    cross_notional, iso_notional = split(pm.notional)
    # isolated-only sums over the isolated rows (same rows, same order as column 1 above)
    iso_acc = acc.take(iso_rows)
    iso_eq_rows = pm.isolated_equity.take(iso_rows)
    iso_equity = _sum_by(iso_acc, iso_eq_rows, n)
    iso_shortfall = _sum_by(iso_acc, np.maximum(0.0, -iso_eq_rows), n)
    iso_liq_count = np.bincount(iso_acc[pm.isolated_liquidatable.take(iso_rows)], minlength=n).astype(np.int64)
    n_positions = np.bincount(acc, minlength=n).astype(np.int64)
    im = cross_im + iso_im
    mm = cross_mm + iso_mm
    notional = cross_notional + iso_notional

    cross_equity = collateral + cross_upnl
    equity = cross_equity + iso_equity
    cross_liq = cross_mm > 0
    cross_liq &= cross_equity < cross_mm
    shortfall = np.negative(cross_equity)
    np.maximum(0.0, shortfall, out=shortfall)
    shortfall += iso_shortfall
    health = np.full(n, np.inf)
    np.divide(equity, mm, out=health, where=mm > 0)
    iso_liq_any = iso_liq_count > 0
    return AccountMetrics(
        collateral=collateral,
        cross_upnl=cross_upnl,
        cross_equity=cross_equity,
        cross_initial_margin=cross_im,
        cross_maintenance_margin=cross_mm,
        cross_notional=cross_notional,
        isolated_equity=iso_equity,
        isolated_initial_margin=iso_im,
        isolated_maintenance_margin=iso_mm,
        isolated_liquidatable_count=iso_liq_count,
        equity=equity,
        initial_margin=im,
        maintenance_margin=mm,
        notional=notional,
        n_positions=n_positions,
        free_collateral=cross_equity - cross_im,
        margin_ratio=_ratio(mm, equity, zero_num=0.0, nonpos_den=np.inf),
        cross_margin_ratio=_ratio(cross_mm, cross_equity, zero_num=0.0, nonpos_den=np.inf),
        health_factor=health,
        leverage=_ratio(notional, equity, zero_num=0.0, nonpos_den=np.inf),
        cross_liquidatable=cross_liq,
        liquidatable=cross_liq | iso_liq_any,
        bankrupt=shortfall > 0,
        shortfall=shortfall,
    )

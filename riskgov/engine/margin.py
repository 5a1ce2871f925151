"""Position, account and protocol margin metrics (RISK_MODEL §2–§6, §9 counting).

Three vectorized passes, no Python loop over positions or accounts:

1. ``position_metrics`` — per position ``(P,)``: mark price, notional, bracket, IMF after
   §3 OI scaling, IM, MM, uPnL, limit breach, and the isolated-margin equity of §6.
2. ``account_metrics`` — per account ``(A,)``: collateral (§4), equity, margins, ratios and
   flags (§5, §6), summed with ``np.bincount(weights=...)``.
3. ``protocol_totals`` — scalars and ``(M,)`` open interest for the whole venue.

How isolated positions (§6) enter an account's numbers
------------------------------------------------------
An isolated position ``i`` has its own equity ``E_i = w_i + uPnL_i`` and is liquidatable
⇔ ``MM_i > 0`` and ``E_i < MM_i`` (the ``MM > 0`` guard of §5 applied to the position, so
a zero-size row is never liquidatable). It neither uses nor feeds the cross collateral.
The *cross* fields (``cross_equity = V + Σ cross uPnL``, ``cross_initial_margin``,
``cross_maintenance_margin``) hold the §5 numbers the liquidation logic uses. The
*reported* account totals (FORMATS.md: "isolated positions' margins are reported on their
account row as part of its totals") add the isolated positions:

* ``equity = cross_equity + Σ_isolated (w_i + uPnL_i)``;
* ``initial_margin = cross IM + Σ_isolated IM_i``, ``maintenance_margin`` likewise;
* ``shortfall = max(0, −cross_equity) + Σ_isolated max(0, −E_i)`` — a bankrupt isolated
  position's loss is not covered by the cross collateral, so it is a loss of the protocol
  even when the account's cross side is healthy;
* ``bankrupt`` ⇔ ``shortfall > 0`` (cross equity < 0 or any isolated ``E_i < 0``);
* ``liquidatable`` ⇔ (cross MM > 0 and cross equity < cross MM) or any isolated position is
  liquidatable — an account counts once (§9);
* ``margin_ratio``, ``health_factor`` and ``leverage`` are computed from the reported
  totals (so they agree with the row they are shown on); ``cross_margin_ratio`` is the §5
  ratio of the cross side alone. With isolated positions, ``liquidatable`` is therefore not
  the same as ``margin_ratio > 1``;
* ``free_collateral = cross_equity − cross IM``: margin locked in isolated positions is not
  free.

The ``isolated_margin`` of a cross position is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from riskgov.engine.types import (
    F64,
    I64,
    Bool,
    EngineInputError,
    ParameterSet,
    Portfolio,
    PriceError,
    UnknownSymbolError,
    VenueState,
)

__all__ = [
    "AccountMetrics",
    "PositionMetrics",
    "ProtocolTotals",
    "account_metrics",
    "collateral_value",
    "open_interest",
    "position_metrics",
    "protocol_totals",
    "validate_state",
]


@dataclass(frozen=True)
class PositionMetrics:
    """Per-position margin numbers (RISK_MODEL §2, §3, §5, §6); every field is ``(P,)``.

    Attributes:
        mark_price: float64 USD, the market's base-asset price.
        notional: float64 USD ``N = |q|·p``.
        bracket: int64 0-based bracket index ``k − 1`` (§2).
        imf: float64 initial margin fraction after §3 OI scaling.
        mmf: float64 maintenance margin fraction ``MMF_k``.
        maintenance_amount: float64 USD ``C_k``.
        initial_margin: float64 USD ``IM = N·IMF_adj``.
        maintenance_margin: float64 USD ``MM = N·MMF_k − C_k``.
        upnl: float64 USD ``q·(p − e)``.
        limit_breach: bool, ``N > max_position_notional`` (still margined at the last bracket).
        isolated: bool, copy of the portfolio's margin mode.
        isolated_equity: float64 USD ``w_i + uPnL_i`` for isolated positions, 0 for cross.
        isolated_liquidatable: bool, isolated and ``MM_i > 0`` and ``E_i < MM_i`` (§6).
    """

    mark_price: F64
    notional: F64
    bracket: I64
    imf: F64
    mmf: F64
    maintenance_amount: F64
    initial_margin: F64
    maintenance_margin: F64
    upnl: F64
    limit_breach: Bool
    isolated: Bool
    isolated_equity: F64
    isolated_liquidatable: Bool


@dataclass(frozen=True)
class AccountMetrics:
    """Per-account metrics (RISK_MODEL §4–§6); every field is ``(A,)``.

    See the module docstring for how isolated positions enter the reported totals.

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


# --------------------------------------------------------------------------- validation


def _check_index(name: str, idx: np.ndarray, upper: int, what: str) -> None:
    if idx.ndim != 1 or not np.issubdtype(idx.dtype, np.integer):
        raise EngineInputError(f"{name} must be a 1-D integer array (got {idx.dtype}, {idx.shape})")
    if idx.size == 0:
        return
    if idx.min() >= 0 and idx.max() < upper:
        return
    bad = (idx < 0) | (idx >= upper)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise UnknownSymbolError(f"{name} row {row}: {what} index {int(idx[row])} is not in [0, {upper})")


def _check_finite(name: str, values: np.ndarray, n: int, *, positive: bool = False) -> None:
    if values.shape != (n,):
        raise EngineInputError(f"{name} has shape {values.shape}, expected ({n},)")
    ok = np.isfinite(values)
    if positive:
        ok &= values > 0
    if not ok.all():
        row = int(np.flatnonzero(~ok)[0])
        kind = "a finite positive number" if positive else "finite"
        err = PriceError if positive else EngineInputError
        raise err(f"{name} row {row}: {values[row]!r} is not {kind}")


def _validate_prices(params: ParameterSet, asset_prices: F64) -> None:
    n_a = params.assets.n
    prices = np.asarray(asset_prices)
    if prices.shape != (n_a,):
        raise EngineInputError(f"asset_prices has shape {prices.shape}, expected ({n_a},)")
    ok = np.isfinite(prices) & (prices > 0)
    if not ok.all():
        bad = np.flatnonzero(~ok)
        names = ", ".join(f"{params.assets.symbols[i]}={prices[i]!r}" for i in bad[:5])
        raise PriceError(f"asset price must be finite and > 0: {names}")


def _validate_balances(params: ParameterSet, pf: Portfolio) -> None:
    b = pf.balance_amount.shape[0] if pf.balance_amount.ndim == 1 else -1
    if b < 0 or pf.balance_account.shape != (b,) or pf.balance_asset.shape != (b,):
        raise EngineInputError(
            "balance arrays have mismatched shapes: account "
            f"{pf.balance_account.shape}, asset {pf.balance_asset.shape}, "
            f"amount {pf.balance_amount.shape}"
        )
    _check_index("balance", pf.balance_account, pf.n_accounts, "account")
    _check_index("balance", pf.balance_asset, params.assets.n, "asset")
    _check_finite("balance amount", pf.balance_amount, b)


def _validate_positions(params: ParameterSet, pf: Portfolio) -> None:
    p = pf.size.shape[0] if pf.size.ndim == 1 else -1
    shapes = {
        "position_account": pf.position_account.shape,
        "position_market": pf.position_market.shape,
        "entry_price": pf.entry_price.shape,
        "isolated": pf.isolated.shape,
        "isolated_margin": pf.isolated_margin.shape,
    }
    if p < 0 or any(s != (p,) for s in shapes.values()):
        raise EngineInputError(f"position arrays have mismatched shapes: size {pf.size.shape}, {shapes}")
    if pf.isolated.dtype != np.bool_:
        raise EngineInputError(f"isolated must be a bool array (got {pf.isolated.dtype})")
    _check_index("position", pf.position_account, pf.n_accounts, "account")
    _check_index("position", pf.position_market, params.markets.n, "market")
    _check_finite("position size", pf.size, p)
    _check_finite("position entry price", pf.entry_price, p, positive=True)
    _check_finite("position isolated margin", pf.isolated_margin, p)


def _validate_params(params: ParameterSet) -> None:
    mk = params.markets
    m = mk.n
    k = mk.floors.shape[1] if mk.floors.ndim == 2 else -1
    for name in ("floors", "imf", "mmf", "maintenance_amount"):
        if getattr(mk, name).shape != (m, k):
            raise EngineInputError(f"markets.{name} has shape {getattr(mk, name).shape}, expected ({m}, {k})")
    for name in (
        "base_asset",
        "n_brackets",
        "liquidation_penalty",
        "depth_usd_per_1pct",
        "oi_cap_lower",
        "oi_cap_upper",
        "max_position_notional",
    ):
        if getattr(mk, name).shape != (m,):
            raise EngineInputError(f"markets.{name} has shape {getattr(mk, name).shape}, expected ({m},)")
    _check_index("market base_asset", mk.base_asset, params.assets.n, "asset")
    if params.assets.haircut.shape != (params.assets.n,):
        raise EngineInputError("assets.haircut shape does not match assets.symbols")


def validate_state(params: ParameterSet, state: VenueState) -> None:
    """Check a parameter set and a venue state once, before any kernel runs.

    Raises:
        PriceError: an asset price is NaN, infinite or ``≤ 0`` (names the asset symbol), or a
            position's entry price is (names the row).
        UnknownSymbolError: an account, market or asset index is out of range (names the row).
        EngineInputError: mismatched shapes, wrong dtypes, non-finite sizes, balances or
            margins, or a malformed ``open_interest``.
    """
    _validate_params(params)
    _validate_prices(params, state.asset_prices)
    pf = state.portfolio
    if pf.n_accounts < 0:
        raise EngineInputError(f"n_accounts {pf.n_accounts} is negative")
    _validate_balances(params, pf)
    _validate_positions(params, pf)
    if state.open_interest is not None:
        oi = np.asarray(state.open_interest)
        if oi.shape != (params.markets.n,) or not (np.isfinite(oi) & (oi >= 0)).all():
            raise EngineInputError(
                f"open_interest must be ({params.markets.n},) finite and >= 0 (got shape {oi.shape})"
            )


# --------------------------------------------------------------------------- kernels


def open_interest(params: ParameterSet, portfolio: Portfolio, asset_prices: F64) -> F64:
    """Open interest ``O`` per market (RISK_MODEL §3): ``(Σ long sizes)·p``.

    Args:
        params: the parameter set.
        portfolio: positions (all margin modes count).
        asset_prices: ``(A,)`` USD prices.

    Returns:
        ``(M,)`` float64 USD. Inputs are not validated here (callers validate once).
    """
    mk = params.markets
    long_base = np.bincount(portfolio.position_market, weights=np.maximum(portfolio.size, 0.0), minlength=mk.n)
    return long_base * asset_prices[mk.base_asset]


#: Largest ``M × (G + 1)`` table (``G`` distinct floors) used by the one-search lookup.
_MAX_LOOKUP_TABLE = 4_000_000


def _bracket_lookup(params: ParameterSet, market: I64, notional: F64) -> tuple[I64, I64, I64 | None]:
    """Bracket per position (§2): the last ``k`` with ``F_k ≤ N``, and a flat gather index.

    Returns ``(k, flat, table)``: the 0-based bracket ``k``; ``table`` an ``(M, G+1)``
    bracket table (``None`` on the fallback path) and ``flat`` the positions' flat index
    into it (into the ``(M, K)`` bracket matrices on the fallback path); see
    ``_bracket_values``.

    Exact and equal to ``brackets.bracket_index``, but faster for many brackets: the
    distinct finite floors of all markets ``U_0 = 0 < U_1 < … < U_{G−1}`` are searched once
    (``g = #{U ≤ N}``); since every market's floors are among them, the bracket of market
    ``m`` is ``k = #{j : F_{m,j} ≤ U_{g−1}} − 1``, tabulated per ``(m, g)``. Falls back to
    one comparison per bracket level when there are few levels or the table would be large.
    """
    mk = params.markets
    floors = mk.floors
    levels = int(mk.n_brackets.max()) if mk.n > 0 else 1
    uniq = np.unique(floors[np.isfinite(floors)])
    if levels <= 2 or mk.n * (uniq.size + 1) > _MAX_LOOKUP_TABLE:
        k = np.zeros(notional.shape, dtype=np.int64)
        for level in range(1, levels):
            k += notional >= floors[:, level].take(market)
        return k, market * mk.max_brackets + k, None
    width = uniq.size + 1
    # table[m, g] for g = 1..G (g = 0 cannot occur: U_0 = 0 <= N).
    table = np.zeros((mk.n, width), dtype=np.int64)
    table[:, 1:] = (floors[:, :, None] <= uniq[None, None, :]).sum(axis=1) - 1
    flat = market * width + np.searchsorted(uniq, notional, side="right")
    return table.ravel().take(flat), flat, table


def _bracket_values(values: F64, flat: I64, table: I64 | None) -> F64:
    """Gather an ``(M, K)`` bracket matrix at the positions' brackets (see ``_bracket_lookup``)."""
    if table is None:
        return values.ravel().take(flat)
    return np.take_along_axis(values, table, axis=1).ravel().take(flat)


def position_metrics(params: ParameterSet, state: VenueState) -> PositionMetrics:
    """Per-position margin metrics (RISK_MODEL §2, §3, §5, §6).

    The mark price of a position is its market's base-asset price. ``O`` for §3 is
    ``state.open_interest`` when given, else ``open_interest(...)`` from the portfolio.

    Args:
        params: margin parameters.
        state: portfolio, ``(A,)`` asset prices and optional ``(M,)`` open interest.

    Returns:
        ``PositionMetrics`` of ``(P,)`` arrays.

    Raises:
        PriceError, UnknownSymbolError, EngineInputError: see ``validate_state``.
    """
    validate_state(params, state)
    return _position_metrics(params, state)


def _position_metrics(params: ParameterSet, state: VenueState) -> PositionMetrics:
    mk = params.markets
    pf = state.portfolio
    market = pf.position_market
    market_price = state.asset_prices[mk.base_asset]
    price = market_price.take(market)
    q = pf.size
    notional = np.abs(q) * price
    k, flat, table = _bracket_lookup(params, market, notional)
    mmf = _bracket_values(mk.mmf, flat, table)
    cum = _bracket_values(mk.maintenance_amount, flat, table)
    imf = _bracket_values(mk.imf, flat, table)
    if (mk.oi_cap_upper > 0).any():
        oi = (
            open_interest(params, pf, state.asset_prices)
            if state.open_interest is None
            else np.asarray(state.open_interest, dtype=np.float64)
        )
        lo = mk.oi_cap_lower
        hi = mk.oi_cap_upper
        enabled = hi > 0
        width = np.where(enabled, hi - lo, 1.0)
        t = np.where(enabled, np.clip((oi - lo) / width, 0.0, 1.0), 0.0).take(market)
        imf = imf + (1.0 - imf) * t
    mm = notional * mmf - cum
    im = notional * imf
    upnl = q * (price - pf.entry_price)
    iso = pf.isolated
    iso_equity = np.where(iso, pf.isolated_margin + upnl, 0.0)
    iso_liq = iso & (mm > 0) & (iso_equity < mm)
    return PositionMetrics(
        mark_price=price,
        notional=notional,
        bracket=k,
        imf=imf,
        mmf=mmf,
        maintenance_amount=cum,
        initial_margin=im,
        maintenance_margin=mm,
        upnl=upnl,
        limit_breach=notional > mk.max_position_notional.take(market),
        isolated=iso,
        isolated_equity=iso_equity,
        isolated_liquidatable=iso_liq,
    )


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
    factor = np.where(b > 0, 1.0 - params.assets.haircut.take(asset), 1.0)
    value = b * asset_prices.take(asset) * factor
    return np.bincount(portfolio.balance_account, weights=value, minlength=portfolio.n_accounts)


def _ratio(num: F64, den: F64, *, zero_num: float, nonpos_den: float) -> F64:
    """``num/den`` with ``zero_num`` where ``num == 0`` and ``nonpos_den`` where ``den ≤ 0 < num``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = num / np.where(den > 0, den, 1.0)
    r = np.where(den > 0, r, nonpos_den)
    return np.where(num == 0, zero_num, r)


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
    iso = pm.isolated

    # One bincount per quantity gives the cross (column 0) and isolated (column 1) sums.
    key = acc * 2 + iso

    def split(weights: F64 | None) -> tuple[F64, F64]:
        sums = np.bincount(key, weights=weights, minlength=2 * n).reshape(n, 2)
        return sums[:, 0], sums[:, 1]

    collateral = _collateral_value(params, pf, state.asset_prices)
    cross_upnl, _ = split(pm.upnl)
    cross_im, iso_im = split(pm.initial_margin)
    cross_mm, iso_mm = split(pm.maintenance_margin)
    cross_notional, iso_notional = split(pm.notional)
    _, iso_equity = split(pm.isolated_equity)
    _, iso_shortfall = split(np.maximum(0.0, -pm.isolated_equity))
    iso_liq_count = np.bincount(acc[pm.isolated_liquidatable], minlength=n).astype(np.int64)
    n_cross, n_iso = split(None)
    n_positions = (n_cross + n_iso).astype(np.int64)
    im = cross_im + iso_im
    mm = cross_mm + iso_mm
    notional = cross_notional + iso_notional

    cross_equity = collateral + cross_upnl
    equity = cross_equity + iso_equity
    cross_liq = (cross_mm > 0) & (cross_equity < cross_mm)
    shortfall = np.maximum(0.0, -cross_equity) + iso_shortfall
    with np.errstate(divide="ignore", invalid="ignore"):
        health = np.where(mm > 0, equity / np.where(mm > 0, mm, 1.0), np.inf)
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
        liquidatable=cross_liq | (iso_liq_count > 0),
        bankrupt=shortfall > 0,
        shortfall=shortfall,
    )


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
    long_base = np.bincount(pf.position_market, weights=np.maximum(pf.size, 0.0), minlength=mk.n)
    short_base = np.bincount(pf.position_market, weights=np.maximum(-pf.size, 0.0), minlength=mk.n)
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

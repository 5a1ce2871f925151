"""Validate a parameter set and a venue state once, before any kernel runs (RISK_MODEL §1–§4).

Cheap on the happy path: one or two reductions per array (``min``/``max``/``sum``, which
propagate NaN and infinities), no boolean copies; only when a reduction says something is
wrong is the array scanned again to name the offending row.
"""

from __future__ import annotations

import numpy as np

from riskgov.engine.types import (
    F64,
    EngineInputError,
    ParameterSet,
    Portfolio,
    PriceError,
    UnknownSymbolError,
    VenueState,
)

__all__ = ["validate_state"]


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


def _all_finite(values: np.ndarray, *, positive: bool) -> bool:
    """True when every value is finite (and > 0 if ``positive``), by reductions only.

    A sum of finite numbers that is finite proves them all finite (NaN and ±inf propagate);
    an overflowing sum only sends the caller to the exact scan.
    """
    if values.size == 0:
        return True
    kind = values.dtype.kind
    if kind in "biu":
        return not positive or bool(values.min() > 0)
    if kind != "f":
        return False
    if positive and not bool(values.min() > 0):  # NaN min compares False
        return False
    return bool(np.isfinite(np.add.reduce(values)))


def _check_finite(name: str, values: np.ndarray, n: int, *, positive: bool = False) -> None:
    if values.shape != (n,):
        raise EngineInputError(f"{name} has shape {values.shape}, expected ({n},)")
    if _all_finite(values, positive=positive):
        return
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

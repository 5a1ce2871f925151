"""Position, account and protocol margin metrics (RISK_MODEL §2–§6, §9 counting).

Three vectorized passes, no Python loop over positions or accounts, each in its own module
and re-exported here (``riskgov.engine.margin`` stays the import path):

1. ``position_metrics`` (``positions``) — per position ``(P,)``: mark price, notional,
   bracket, IMF after §3 OI scaling, IM, MM, uPnL, limit breach, and the isolated-margin
   equity of §6; elementwise, in chunks on a few threads.
2. ``account_metrics`` (``accounts``) — per account ``(A,)``: collateral (§4), equity,
   margins, ratios and flags (§5, §6), summed with ``np.bincount(weights=...)``.
3. ``protocol_totals`` (``totals``) — scalars and ``(M,)`` open interest for the whole venue.

``validate_state`` (``validation``) checks a parameter set and a venue state once.

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

from riskgov.engine.accounts import AccountMetrics, account_metrics, collateral_value
from riskgov.engine.accounts import _account_metrics as _account_metrics  # noqa: F401
from riskgov.engine.accounts import _collateral_value as _collateral_value  # noqa: F401
from riskgov.engine.accounts import _ratio as _ratio  # noqa: F401
from riskgov.engine.positions import _MAX_LOOKUP_TABLE as _MAX_LOOKUP_TABLE  # noqa: F401
from riskgov.engine.positions import PositionMetrics, long_short_base, open_interest, position_metrics
from riskgov.engine.positions import _bracket_lookup as _bracket_lookup  # noqa: F401
from riskgov.engine.positions import _bracket_values as _bracket_values  # noqa: F401
from riskgov.engine.positions import _position_metrics as _position_metrics  # noqa: F401
from riskgov.engine.totals import ProtocolTotals, protocol_totals
from riskgov.engine.validation import _check_finite as _check_finite  # noqa: F401
from riskgov.engine.validation import _check_index as _check_index  # noqa: F401
from riskgov.engine.validation import _validate_balances as _validate_balances  # noqa: F401
from riskgov.engine.validation import _validate_params as _validate_params  # noqa: F401
from riskgov.engine.validation import _validate_positions as _validate_positions  # noqa: F401
from riskgov.engine.validation import _validate_prices as _validate_prices  # noqa: F401
from riskgov.engine.validation import validate_state

__all__ = [
    "AccountMetrics",
    "PositionMetrics",
    "ProtocolTotals",
    "account_metrics",
    "collateral_value",
    "long_short_base",
    "open_interest",
    "position_metrics",
    "protocol_totals",
    "validate_state",
]

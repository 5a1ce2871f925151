"""Engine data contract: frozen dataclasses of numpy arrays, and the engine's errors.

Everything the engine consumes is built from these types (adapters in the Django apps turn
database rows into them; the benchmark generates them directly). Conventions (RISK_MODEL §1):

* prices in USD per base unit, money and notional in USD, sizes in signed base units;
* fractions are plain fractions (0.05 = 5 %);
* index arrays are ``int64``, value arrays ``float64``, flags ``bool``;
* axis 0 of a per-position array is the position, of a per-account array the account;
* markets carry their brackets in padded ``(M, K)`` matrices, ``K`` = the largest bracket
  count; past a market's own ``n_brackets`` floors are ``+inf`` and the fractions and
  maintenance amounts repeat its last bracket, so a lookup can never land there.

Tolerance: the engine computes in float64 and agrees with exact arithmetic to a relative
error of 1e-9 (absolute 1e-6 USD), RISK_MODEL §1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]


class EngineInputError(ValueError):
    """Bad input to the engine. The message names the offending market, account or bracket."""


class BracketTableError(EngineInputError):
    """A bracket table breaks a rule of RISK_MODEL §2; ``rule`` says which one.

    Attributes:
        market: market symbol (or "" when not known).
        bracket: 1-based bracket index the problem is at (0 when it concerns the whole table).
        rule: short machine-readable rule name, e.g. ``"floors_increasing"``.
    """

    def __init__(self, message: str, *, market: str = "", bracket: int = 0, rule: str = ""):
        super().__init__(message)
        self.market = market
        self.bracket = bracket
        self.rule = rule


class PriceError(EngineInputError):
    """A price is NaN, infinite or not strictly positive."""


class UnknownSymbolError(EngineInputError):
    """A symbol or index refers to no known market or asset."""


@dataclass(frozen=True)
class AssetParams:
    """Per-asset parameters (RISK_MODEL §4, §9).

    Attributes:
        symbols: ``(A,)`` asset symbols, e.g. ``("USDT", "BTC")``.
        haircut: ``(A,)`` float64 collateral haircut fraction in ``[0, 1)``.
        stable: ``(A,)`` bool, True for USD stablecoins (kept at their price by uniform and
            historical scenarios unless a scenario names them).
    """

    symbols: tuple[str, ...]
    haircut: F64
    stable: Bool

    @property
    def n(self) -> int:
        return len(self.symbols)

    def index(self, symbol: str) -> int:
        """Index of an asset symbol; raises ``UnknownSymbolError``."""
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise UnknownSymbolError(f"unknown asset {symbol!r}") from None


@dataclass(frozen=True)
class MarketParams:
    """Per-market parameters with padded bracket matrices (RISK_MODEL §2, §3, §8).

    Attributes:
        symbols: ``(M,)`` market symbols, e.g. ``("BTC-PERP",)``.
        base_asset: ``(M,)`` int64 index into ``AssetParams``; the market's mark price is
            its base asset's price (markets follow their underlying asset, §9).
        floors: ``(M, K)`` float64 USD notional floors ``F_k``, ``F_1 = 0``, strictly
            increasing, padded with ``+inf``.
        imf: ``(M, K)`` initial margin fractions ``IMF_k`` (padded by repeating the last).
        mmf: ``(M, K)`` maintenance margin fractions ``MMF_k`` (padded likewise).
        maintenance_amount: ``(M, K)`` USD, derived ``C_k`` (§2), padded likewise.
        n_brackets: ``(M,)`` int64 number of real brackets per market.
        liquidation_penalty: ``(M,)`` fraction of notional paid to the insurance fund (§8).
        depth_usd_per_1pct: ``(M,)`` USD notional that moves the price by 1 % (§8, §11).
        oi_cap_lower: ``(M,)`` USD ``U_lo`` of §3.
        oi_cap_upper: ``(M,)`` USD ``U_hi`` of §3; 0 disables OI scaling.
        max_position_notional: ``(M,)`` USD; ``+inf`` when the market sets none.
    """

    symbols: tuple[str, ...]
    base_asset: I64
    floors: F64
    imf: F64
    mmf: F64
    maintenance_amount: F64
    n_brackets: I64
    liquidation_penalty: F64
    depth_usd_per_1pct: F64
    oi_cap_lower: F64
    oi_cap_upper: F64
    max_position_notional: F64

    @property
    def n(self) -> int:
        return len(self.symbols)

    @property
    def max_brackets(self) -> int:
        return int(self.floors.shape[1])

    def index(self, symbol: str) -> int:
        """Index of a market symbol; raises ``UnknownSymbolError``."""
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise UnknownSymbolError(f"unknown market {symbol!r}") from None


@dataclass(frozen=True)
class ParameterSet:
    """One complete set of margin parameters: assets and markets."""

    assets: AssetParams
    markets: MarketParams


@dataclass(frozen=True)
class MarketSpec:
    """One market's parameters as plain Python values, the input of ``build_parameter_set``.

    Brackets are given as parallel sequences ordered by floor; maintenance amounts are
    derived (RISK_MODEL §2), never given.
    """

    symbol: str
    base_asset: str
    floors: Sequence[float]
    imf: Sequence[float]
    mmf: Sequence[float]
    liquidation_penalty: float = 0.0
    depth_usd_per_1pct: float = float("inf")
    oi_cap_lower: float = 0.0
    oi_cap_upper: float = 0.0
    max_position_notional: float | None = None


@dataclass(frozen=True)
class AssetSpec:
    """One asset's parameters as plain Python values."""

    symbol: str
    haircut: float = 0.0
    stable: bool = False


@dataclass(frozen=True)
class Portfolio:
    """A venue's accounts, balances and positions as index/value arrays (RISK_MODEL §4–§6).

    Accounts are numbered ``0 .. n_accounts-1``; the adapters keep the mapping to account
    ids. Rows need not be sorted, but the pipeline sorts positions and balances by account
    so that an account range is a contiguous slice.

    Attributes:
        n_accounts: number of accounts ``A`` (accounts without rows are allowed: empty
            accounts have zero equity and are never liquidatable).
        balance_account: ``(B,)`` int64 account index of each balance row.
        balance_asset: ``(B,)`` int64 asset index.
        balance_amount: ``(B,)`` float64 amount in asset units, negative = liability.
        position_account: ``(P,)`` int64 account index of each position.
        position_market: ``(P,)`` int64 market index.
        size: ``(P,)`` float64 signed size in base units (``> 0`` long, ``< 0`` short).
        entry_price: ``(P,)`` float64 USD entry price ``e``.
        isolated: ``(P,)`` bool, True for isolated-margin positions (§6).
        isolated_margin: ``(P,)`` float64 USD margin ``w`` of isolated positions, 0 for cross.
    """

    n_accounts: int
    balance_account: I64
    balance_asset: I64
    balance_amount: F64
    position_account: I64
    position_market: I64
    size: F64
    entry_price: F64
    isolated: Bool
    isolated_margin: F64

    @property
    def n_positions(self) -> int:
        return int(self.size.shape[0])

    @property
    def n_balances(self) -> int:
        return int(self.balance_amount.shape[0])


@dataclass(frozen=True)
class VenueState:
    """A portfolio with its prices and insurance fund: everything a health run reads.

    Attributes:
        portfolio: the accounts, balances and positions.
        asset_prices: ``(A,)`` float64 USD oracle price of every asset (> 0).
        insurance_fund: USD balance of the insurance fund.
        open_interest: ``(M,)`` float64 USD open interest ``O`` per market for §3 OI scaling;
            ``None`` means "compute from the portfolio's longs at mark price".
    """

    portfolio: Portfolio
    asset_prices: F64
    insurance_fund: float = 0.0
    open_interest: F64 | None = field(default=None)

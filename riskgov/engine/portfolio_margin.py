"""Portfolio margin (PM) of options and perpetuals on a scenario grid (RISK_MODEL §14, §4, §5).

A **risk unit** is one account's book on one underlying: its options (all series of that
underlying) and its perps. Each unit is revalued on its underlying's scenarios; the worst
weighted loss plus contingencies is its maintenance margin ``MM_u``; ``IM_u = MM_u/mm_factor``.
An account in ``portfolio`` mode sums its units (no offset across underlyings).

Data layout (axis 0 = the row, as everywhere in the engine):

* ``PMMarket`` — underlyings ``(U,)`` with spot and ``PMParams``, option series ``(K,)``
  (underlying, kind, strike, years to expiry, forward, discount, mark vol);
* ``PMBook`` — option positions ``(P,)`` referring to series, perp positions ``(Q,)``,
  collateral per account ``(A,)`` valued by §4 (``pm_collateral`` builds it);
* ``PMResult`` — per unit ``(N,)`` and per account ``(A,)`` arrays; the loss matrix is
  ``(N, S)`` with ``S`` = the largest scenario count over the underlyings (columns past an
  underlying's own count are NaN).

Options are priced once per series and scenario (``(K, S)`` Black-76 values); positions
enter through one sparse ``(N, K)`` matrix of net sizes per unit and series, so the cost in
positions is one sparse product. No Python loop over rows.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from scipy.special import ndtr

from riskgov.engine._parallel import run_chunks
from riskgov.engine.accounts import AccountMetrics, _ratio, collateral_value
from riskgov.engine.options import black76_greeks, validate_options
from riskgov.engine.types import F64, I64, Bool, EngineInputError, ParameterSet, Portfolio

__all__ = [
    "DEFAULT_EXTENDED",
    "LIQUIDATION_MOVE_MAX",
    "LIQUIDATION_MOVE_STEP",
    "VOL_CODES",
    "PMBook",
    "PMMarket",
    "PMParams",
    "PMResult",
    "ScenarioGrid",
    "VenueAccounts",
    "liquidation_move",
    "pm_collateral",
    "portfolio_margin",
    "scenario_grid",
    "shocked_vols",
    "venue_accounts",
    "vol_shock_x",
]

#: scenario vol codes: the grid's ``down | none | up``
VOL_CODES = {"down": -1, "none": 0, "up": 1}
VOL_NAMES = {v: k for k, v in VOL_CODES.items()}
#: riskgov's extended table (§14): moves with weight ``0.036/|move|``
DEFAULT_EXTENDED: tuple[tuple[float, float], ...] = tuple(
    (m, 0.036 / abs(m)) for m in (-0.66, -0.33, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0)
)
#: liquidation move search (§14): steps of 0.5 % up to 50 %
LIQUIDATION_MOVE_STEP = 0.005
LIQUIDATION_MOVE_MAX = 0.5
_SHORT_TERM_DAYS = 30.0
#: cells (series or positions × scenarios × moves) per pass of the liquidation-move search
_PASS_CELLS = 1 << 22


def _check(cond: bool, name: str, why: str) -> None:
    if not cond:
        raise EngineInputError(f"{name}: {why}")


@dataclass(frozen=True)
class PMParams:
    """PM parameters of one underlying (RISK_MODEL §14); defaults = Deribit's BTC set.

    Validated on construction (``EngineInputError``, a ``ValueError``, naming the field).

    Attributes:
        price_range: ``R``, the largest standard move, fraction in ``(0, 1)``.
        buckets: ``n``, standard moves ``m_i = R·i/n``, ``i = −n..n`` (int ≥ 1).
        vol_range_up: ``u`` ≥ 0, vol-up shock scale.
        vol_range_down: ``d`` ≥ 0, vol-down shock scale; ``d·x < 1`` for every DTE.
        short_term_vega_power: ``p_s`` ≥ 0, used below 30 days to expiry.
        long_term_vega_power: ``p_l`` ≥ 0, used at 30 days and beyond.
        dte_floor_days: floor of the days to expiry in ``x`` (> 0).
        min_vol_for_shock_up: floor of the shocked-up vol (fraction ≥ 0).
        extended: ``((move, weight), …)`` extra scenarios with vol up; move > −1 and ≠ 0,
            weight in ``(0, 1]``.
        mm_factor: ``MM/IM`` in ``(0, 1]``.
        short_option_contingency: ``c_so`` ≥ 0, fraction of spot per net short contract.
        perp_contingency: ``c_p`` ≥ 0, fraction of spot per net perp unit.
        scenarios: ``((move, vol, weight), …)`` with vol ``"down" | "none" | "up"``: a venue's
            explicit list that replaces the grid and the extended table; ``None`` = the grid.
    """

    price_range: float = 0.16
    buckets: int = 4
    vol_range_up: float = 0.5
    vol_range_down: float = 0.25
    short_term_vega_power: float = 0.3
    long_term_vega_power: float = 0.13
    dte_floor_days: float = 1.0
    min_vol_for_shock_up: float = 0.5
    extended: tuple[tuple[float, float], ...] = DEFAULT_EXTENDED
    mm_factor: float = 0.8
    short_option_contingency: float = 0.01
    perp_contingency: float = 0.01
    scenarios: tuple[tuple[float, str, float], ...] | None = None

    def __post_init__(self) -> None:
        def finite(name: str) -> float:
            v = getattr(self, name)
            _check(isinstance(v, numbers.Real) and not isinstance(v, bool), name, "must be a number")
            _check(math.isfinite(v), name, "must be finite")
            return float(v)

        _check(0 < finite("price_range") < 1, "price_range", "must be in (0, 1)")
        _check(
            isinstance(self.buckets, numbers.Integral) and not isinstance(self.buckets, bool) and self.buckets >= 1,
            "buckets",
            "must be an integer ≥ 1",
        )
        for name in ("vol_range_up", "vol_range_down", "short_term_vega_power", "long_term_vega_power"):
            _check(finite(name) >= 0, name, "must be ≥ 0")
        _check(finite("dte_floor_days") > 0, "dte_floor_days", "must be > 0")
        _check(finite("min_vol_for_shock_up") >= 0, "min_vol_for_shock_up", "must be ≥ 0")
        _check(0 < finite("mm_factor") <= 1, "mm_factor", "must be in (0, 1]")
        for name in ("short_option_contingency", "perp_contingency"):
            _check(finite(name) >= 0, name, "must be ≥ 0")
        for i, row in enumerate(self.extended):
            _check(len(row) == 2, f"extended[{i}]", "must be (move, weight)")
            move, weight = (float(x) for x in row)
            _check(math.isfinite(move) and move > -1 and move != 0, f"extended[{i}].move", "must be > −1 and ≠ 0")
            _check(0 < weight <= 1, f"extended[{i}].weight", "must be in (0, 1]")
        if self.scenarios is not None:
            _check(len(self.scenarios) > 0, "scenarios", "must not be empty (use null for the grid)")
            for i, row in enumerate(self.scenarios):
                _check(len(row) == 3, f"scenarios[{i}]", "must be (move, vol, weight)")
                move, vol, weight = row
                _check(math.isfinite(float(move)) and float(move) > -1, f"scenarios[{i}].move", "must be > −1")
                _check(vol in VOL_CODES, f"scenarios[{i}].vol", "must be 'down', 'none' or 'up'")
                _check(0 < float(weight) <= 1, f"scenarios[{i}].weight", "must be in (0, 1]")
        _check(
            self.vol_range_down * self.max_vol_shock_x < 1,
            "vol_range_down",
            f"vol_range_down·x must be < 1 (largest x = {self.max_vol_shock_x:.6g})",
        )

    @property
    def max_vol_shock_x(self) -> float:
        """The largest ``x`` of §14 over all days to expiry (at the DTE floor)."""
        floor = self.dte_floor_days
        x_short = (_SHORT_TERM_DAYS / floor) ** self.short_term_vega_power if floor < _SHORT_TERM_DAYS else 0.0
        x_long = (_SHORT_TERM_DAYS / max(floor, _SHORT_TERM_DAYS)) ** self.long_term_vega_power
        return max(x_short, x_long)


@dataclass(frozen=True)
class ScenarioGrid:
    """One underlying's scenarios (RISK_MODEL §14); every field is ``(S,)``.

    Attributes:
        move: float64 spot move fraction ``m`` (spot and forwards × ``(1 + m)``).
        vol: int8 vol code, −1 down, 0 none, +1 up (``VOL_CODES``).
        weight: float64 weight in ``(0, 1]``.
    """

    move: F64
    vol: npt.NDArray[np.int8]
    weight: F64

    @property
    def n(self) -> int:
        return int(self.move.shape[0])


def scenario_grid(params: PMParams) -> ScenarioGrid:
    """The §14 scenarios of one underlying.

    Standard: ``m_i = R·i/n`` for ``i = −n..n`` × vol down, none, up (weight 1), in that
    order (move-major), then the extended table with vol up. An explicit ``scenarios`` list
    replaces both, in its own order.
    """
    if params.scenarios is not None:
        rows = params.scenarios
        return ScenarioGrid(
            move=np.array([float(r[0]) for r in rows]),
            vol=np.array([VOL_CODES[r[1]] for r in rows], dtype=np.int8),
            weight=np.array([float(r[2]) for r in rows]),
        )
    n = params.buckets
    moves = params.price_range * np.arange(-n, n + 1) / n
    std_move = np.repeat(moves, 3)
    std_vol = np.tile(np.array([-1, 0, 1], dtype=np.int8), moves.size)
    ext = np.array(params.extended, dtype=np.float64).reshape(-1, 2)
    return ScenarioGrid(
        move=np.concatenate([std_move, ext[:, 0]]),
        vol=np.concatenate([std_vol, np.ones(ext.shape[0], dtype=np.int8)]),
        weight=np.concatenate([np.ones(std_move.size), ext[:, 1]]),
    )


def vol_shock_x(*, params: PMParams, dte_days) -> F64:
    """``x = (30/max(DTE, floor))^p`` with ``p = p_s`` below 30 days, else ``p_l`` (§14)."""
    dte = np.asarray(dte_days, dtype=np.float64)
    p = np.where(dte < _SHORT_TERM_DAYS, params.short_term_vega_power, params.long_term_vega_power)
    return (_SHORT_TERM_DAYS / np.maximum(dte, params.dte_floor_days)) ** p


def shocked_vols(*, params: PMParams, vol, t) -> tuple[F64, F64]:
    """``(σ_down, σ_up)`` of §14: ``σ·(1 − d·x)`` and ``max(σ·(1 + u·x), min_vol_for_shock_up)``.

    ``vol`` and ``t`` (years) broadcast; DTE = ``365·t`` days.
    """
    s = np.asarray(vol, dtype=np.float64)
    x = vol_shock_x(params=params, dte_days=365.0 * np.asarray(t, dtype=np.float64))
    return s * (1.0 - params.vol_range_down * x), np.maximum(
        s * (1.0 + params.vol_range_up * x), params.min_vol_for_shock_up
    )


@dataclass(frozen=True)
class PMMarket:
    """Underlyings and option series for PM (RISK_MODEL §14).

    Attributes:
        symbols: ``(U,)`` underlying asset symbols.
        spot: ``(U,)`` float64 USD spot ``S`` (> 0).
        params: ``(U,)`` ``PMParams`` per underlying.
        series_underlying: ``(K,)`` int64 index into the underlyings.
        series_is_call: ``(K,)`` bool, True = call, False = put.
        series_strike: ``(K,)`` float64 USD ``K`` (> 0).
        series_t: ``(K,)`` float64 years to expiry (365-day years; ≤ 0 expired, intrinsic).
        series_forward: ``(K,)`` float64 USD forward ``F`` (> 0), e.g. from
            ``options.forward_and_discount``.
        series_discount: ``(K,)`` float64 discount factor ``D`` (> 0).
        series_vol: ``(K,)`` float64 mark vol ``σ`` (> 0).
    """

    symbols: tuple[str, ...]
    spot: F64
    params: tuple[PMParams, ...]
    series_underlying: I64
    series_is_call: Bool
    series_strike: F64
    series_t: F64
    series_forward: F64
    series_discount: F64
    series_vol: F64

    @property
    def n_series(self) -> int:
        return int(self.series_strike.shape[0])


@dataclass(frozen=True)
class PMBook:
    """PM accounts' positions and collateral (RISK_MODEL §4, §14).

    Attributes:
        n_accounts: ``A``; accounts are ``0..A-1``.
        option_account: ``(P,)`` int64 account of each option position.
        option_series: ``(P,)`` int64 index into the market's series.
        option_size: ``(P,)`` float64 signed size in base units (negative = short).
        perp_account: ``(Q,)`` int64 account of each perp position.
        perp_underlying: ``(Q,)`` int64 underlying of the perp's market.
        perp_size: ``(Q,)`` float64 signed size in base units.
        perp_entry_price: ``(Q,)`` float64 USD entry price.
        collateral: ``(A,)`` float64 USD collateral value ``V`` (§4) at current prices.
        collateral_moving: ``(A,)`` float64 USD part of ``collateral`` held in the
            underlyings' own assets (revalued by ``1 + r`` in the liquidation move);
            zeros when ``None``.
    """

    n_accounts: int
    option_account: I64
    option_series: I64
    option_size: F64
    perp_account: I64
    perp_underlying: I64
    perp_size: F64
    perp_entry_price: F64
    collateral: F64
    collateral_moving: F64 | None = field(default=None)


@dataclass(frozen=True)
class PMResult:
    """PM per risk unit ``(N,)`` and per account ``(A,)`` (RISK_MODEL §14, §5).

    Units are sorted by ``(account, underlying)``.

    Attributes:
        unit_account: ``(N,)`` int64 account of each unit.
        unit_underlying: ``(N,)`` int64 underlying of each unit.
        scenario_loss: ``(N, S)`` float64 USD weighted loss ``−w·Σ value change`` per
            scenario of the unit's underlying (NaN past its scenario count).
        worst_loss: ``(N,)`` USD ``L = max(0, max loss)``.
        worst_scenario: ``(N,)`` int64 index of the largest loss in the underlying's grid.
        short_option_contingency: ``(N,)`` USD ``c_so·S·Σ_series max(0, −net q)``.
        perp_contingency: ``(N,)`` USD ``c_p·S·|Σ perp q|``.
        maintenance_margin: ``(N,)`` USD ``MM_u``.
        initial_margin: ``(N,)`` USD ``IM_u = MM_u/mm_factor``.
        option_value: ``(N,)`` USD ``Σ q·V``.
        perp_size: ``(N,)`` base units, net perp size.
        delta, gamma, vega, theta: ``(N,)`` ``Σ q·greek`` (perps add ``q`` to delta): base
            units, per USD, USD per 0.01 vol, USD per day.
        equity: ``(A,)`` USD collateral + perp uPnL + ``Σ q·V``.
        maintenance_margin_account: ``(A,)`` USD ``Σ_u MM_u``.
        initial_margin_account: ``(A,)`` USD ``Σ_u IM_u``.
        margin_ratio: ``(A,)`` ``MM/E`` (``inf`` when ``E ≤ 0 < MM``, 0 when ``MM = 0``).
        liquidatable: ``(A,)`` bool, ``MM > 0`` and ``E < MM``.
        bankrupt: ``(A,)`` bool, ``E < 0``.
        shortfall: ``(A,)`` USD ``max(0, −E)``.
    """

    unit_account: I64
    unit_underlying: I64
    scenario_loss: F64
    worst_loss: F64
    worst_scenario: I64
    short_option_contingency: F64
    perp_contingency: F64
    maintenance_margin: F64
    initial_margin: F64
    option_value: F64
    perp_size: F64
    delta: F64
    gamma: F64
    vega: F64
    theta: F64
    equity: F64
    maintenance_margin_account: F64
    initial_margin_account: F64
    margin_ratio: F64
    liquidatable: Bool
    bankrupt: Bool
    shortfall: F64


# --------------------------------------------------------------------------- validation


def _index(name: str, a, n: int) -> I64:
    idx = np.asarray(a)
    _check(
        idx.ndim == 1 and (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)), name, "must be a 1-d integer array"
    )
    idx = idx.astype(np.int64, copy=False)
    _check(idx.size == 0 or (idx.min() >= 0 and idx.max() < n), name, f"index out of range [0, {n})")
    return idx


def _values(name: str, a, n: int) -> F64:
    v = np.asarray(a, dtype=np.float64)
    _check(v.shape == (n,), name, f"must have shape ({n},), got {v.shape}")
    _check(bool(np.isfinite(v).all()), name, "must be finite")
    return v


def validate_market(market: PMMarket) -> None:
    """Check a ``PMMarket``; raises ``EngineInputError`` naming the field."""
    u = len(market.symbols)
    _check(len(market.params) == u, "params", f"needs one PMParams per underlying ({u})")
    _check(all(isinstance(p, PMParams) for p in market.params), "params", "must be PMParams")
    spot = _values("spot", market.spot, u)
    _check(bool((spot > 0).all()), "spot", "must be > 0")
    k = market.n_series
    _index("series_underlying", market.series_underlying, u)
    _check(np.shape(market.series_underlying) == (k,), "series_underlying", f"must have shape ({k},)")
    _check(np.shape(market.series_is_call) == (k,), "series_is_call", f"must have shape ({k},)")
    for name in ("series_strike", "series_t", "series_forward", "series_discount", "series_vol"):
        _values(name, getattr(market, name), k)
    try:
        validate_options(
            strike=market.series_strike,
            vol=market.series_vol,
            t=market.series_t,
            forward=market.series_forward,
            discount=market.series_discount,
        )
    except EngineInputError as exc:
        raise EngineInputError(f"series_{exc}") from None


def validate_book(market: PMMarket, book: PMBook) -> None:
    """Check a ``PMBook`` against its market; raises ``EngineInputError`` naming the field."""
    a = book.n_accounts
    _check(isinstance(a, (int, np.integer)) and a >= 0, "n_accounts", "must be an integer ≥ 0")
    p = np.shape(book.option_account)[0] if np.ndim(book.option_account) else -1
    _index("option_account", book.option_account, a)
    _index("option_series", book.option_series, market.n_series)
    _check(np.shape(book.option_series) == (p,), "option_series", f"must have shape ({p},)")
    _values("option_size", book.option_size, p)
    q = np.shape(book.perp_account)[0] if np.ndim(book.perp_account) else -1
    _index("perp_account", book.perp_account, a)
    _index("perp_underlying", book.perp_underlying, len(market.symbols))
    _check(np.shape(book.perp_underlying) == (q,), "perp_underlying", f"must have shape ({q},)")
    _values("perp_size", book.perp_size, q)
    entry = _values("perp_entry_price", book.perp_entry_price, q)
    _check(bool((entry > 0).all()), "perp_entry_price", "must be > 0")
    _values("collateral", book.collateral, a)
    if book.collateral_moving is not None:
        _values("collateral_moving", book.collateral_moving, a)


# --------------------------------------------------------------------------- kernels


@dataclass(frozen=True)
class _Layout:
    """Units, grids and the sparse net-size matrix shared by the margin and the move search."""

    unit_account: I64  # (N,)
    unit_underlying: I64  # (N,)
    net: sp.csr_matrix  # (N, K) net option size per unit and series
    perp_q: F64  # (N,)
    move: F64  # (U, S) padded with 0
    vol: npt.NDArray[np.int8]  # (U, S), padded with 0
    weight: F64  # (U, S) padded with 0
    valid: Bool  # (U, S)
    vol_down: F64  # (K,)
    vol_up: F64  # (K,)


def _layout(market: PMMarket, book: PMBook) -> _Layout:
    n_und = len(market.symbols)
    opt_acc = np.asarray(book.option_account, dtype=np.int64)
    ser = np.asarray(book.option_series, dtype=np.int64)
    und_of_series = np.asarray(market.series_underlying, dtype=np.int64)
    perp_acc = np.asarray(book.perp_account, dtype=np.int64)
    perp_und = np.asarray(book.perp_underlying, dtype=np.int64)
    keys = np.concatenate([opt_acc * n_und + und_of_series.take(ser), perp_acc * n_und + perp_und])
    unit_keys, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(-1)
    n_units = unit_keys.size
    p = ser.size
    net = sp.csr_matrix(
        (np.asarray(book.option_size, dtype=np.float64), (inverse[:p], ser)), shape=(n_units, market.n_series)
    )
    net.sum_duplicates()
    perp_q = np.bincount(inverse[p:], weights=np.asarray(book.perp_size, dtype=np.float64), minlength=n_units)

    # underlyings grouped by their parameters (a stacked market repeats a few sets many times)
    groups: dict[PMParams, list[int]] = {}
    for u, pp in enumerate(market.params):
        groups.setdefault(pp, []).append(u)
    grids = {pp: scenario_grid(pp) for pp in groups}
    s_max = max((g.n for g in grids.values()), default=0)
    move = np.zeros((n_und, s_max))
    vol = np.zeros((n_und, s_max), dtype=np.int8)
    weight = np.zeros((n_und, s_max))
    valid = np.zeros((n_und, s_max), dtype=bool)
    for pp, us in groups.items():  # one row per underlying (a handful of sets), not per position
        g, us = grids[pp], np.asarray(us)
        move[us, : g.n], vol[us, : g.n], weight[us, : g.n], valid[us, : g.n] = g.move, g.vol, g.weight, True

    vol_down = np.empty(market.n_series)
    vol_up = np.empty(market.n_series)
    group_of = np.empty(n_und, dtype=np.int64)
    for i, us in enumerate(groups.values()):
        group_of[us] = i
    series_group = group_of.take(und_of_series) if n_und else und_of_series
    for i, pp in enumerate(groups):  # per set of parameters
        rows = np.flatnonzero(series_group == i)
        vol_down[rows], vol_up[rows] = shocked_vols(
            params=pp, vol=market.series_vol.take(rows), t=market.series_t.take(rows)
        )
    return _Layout(
        unit_account=unit_keys // n_und if n_und else unit_keys,
        unit_underlying=unit_keys % n_und if n_und else unit_keys,
        net=net,
        perp_q=perp_q.astype(np.float64, copy=False),
        move=move,
        vol=vol,
        weight=weight,
        valid=valid,
        vol_down=vol_down,
        vol_up=vol_up,
    )


def _series_values(market: PMMarket, lay: _Layout, shift: F64, threads: int | None = None) -> tuple[F64, F64]:
    """Series values at spot moved by ``shift`` ``(R,)``: base ``(K, R)`` and scenario change ``(K, R, S)``.

    Scenario prices are ``S·(1 + r)·(1 + m)`` (forwards alike), vols by the scenario's code,
    ``T`` unchanged (§14); Black-76 as ``options.black76_price`` with
    ``ln(F'/K) = ln(F/K) + ln((1 + r)(1 + m))``, intrinsic on the moved spot at ``T ≤ 0``.
    Rows are done in blocks that stay in cache, blocks on a few threads (``_parallel``).
    """
    und = market.series_underlying
    k = market.n_series
    n_und = len(market.symbols)
    r = shift.size
    s_max = lay.move.shape[1]
    cols = 1 + s_max  # base (no scenario move, mark vol), then the scenarios
    # per underlying: ln of the price factor (U, R, 1+S) and the vol code 0 down | 1 none | 2 up
    ln_move = np.log1p(np.concatenate([np.zeros((n_und, 1)), lay.move], axis=1))
    ln_f = np.log1p(shift)[None, :, None] + ln_move[:, None, :]
    factor_u = np.exp(ln_f)
    code_u = np.concatenate([np.ones((n_und, 1), dtype=np.int64), lay.vol.astype(np.int64) + 1], axis=1)
    # per series
    t = market.series_t
    live = t > 0
    sqrt_t = np.sqrt(np.where(live, t, 1.0))
    sd3 = np.stack([lay.vol_down, market.series_vol, lay.vol_up], axis=1) * sqrt_t[:, None]  # (K, 3)
    ln_fk = np.log(market.series_forward / market.series_strike)
    sign = np.where(market.series_is_call, 1.0, -1.0)
    fwd_d = market.series_forward * market.series_discount
    k_d = market.series_strike * market.series_discount
    spot = market.spot.take(und)
    base = np.empty((k, r))
    change = np.empty((k, r, s_max))
    block = max(1, (1 << 15) // max(1, r * cols))

    def kernel(lo: int, hi: int) -> None:
        for b0 in range(lo, hi, block):  # blocks of rows, vectorised inside
            b1 = min(hi, b0 + block)
            u = und[b0:b1]
            sd = np.take_along_axis(sd3[b0:b1], code_u.take(u, axis=0), axis=1)[:, None, :]  # (B, 1, 1+S)
            sg = sign[b0:b1, None, None]
            d1 = ln_f.take(u, axis=0)  # (B, R, 1+S) fresh copy
            d1 += ln_fk[b0:b1, None, None]
            d1 /= sd
            d1 += 0.5 * sd
            d2 = d1 - sd
            d1 *= sg
            d2 *= sg
            fac = factor_u.take(u, axis=0)
            v = ndtr(d1)
            v *= fac
            v *= fwd_d[b0:b1, None, None]
            v -= k_d[b0:b1, None, None] * ndtr(d2)
            v *= sg
            dead = ~live[b0:b1]
            if dead.any():
                rows = np.flatnonzero(dead)
                moved = spot[b0:b1][rows, None, None] * fac[rows]
                v[rows] = np.maximum(0.0, sg[rows] * (moved - market.series_strike[b0:b1][rows, None, None]))
            base[b0:b1] = v[:, :, 0]
            np.subtract(v[:, :, 1:], v[:, :, :1], out=change[b0:b1])

    run_chunks(k, kernel, threads)
    return base, change


def _unit_margin(
    market: PMMarket, lay: _Layout, net: sp.csr_matrix, perp_q: F64, und: I64, shift: F64
) -> tuple[F64, F64, F64, F64, F64]:
    """Per unit ``(n,)`` and shift ``(R,)``: loss ``(n, R, S)``, L, c_so part, c_p part, option value ``(n, R)``."""
    n = net.shape[0]
    r = shift.size
    s_max = lay.move.shape[1]
    base, change = _series_values(market, lay, shift)
    opt_change = (net @ change.reshape(market.n_series, r * s_max)).reshape(n, r, s_max)
    opt_value = np.asarray(net @ base).reshape(n, r)
    spot = market.spot.take(und)[:, None] * (1.0 + shift)[None, :]  # (n, R)
    loss = opt_change
    if perp_q.any():
        loss += (perp_q[:, None] * spot)[:, :, None] * lay.move.take(und, axis=0)[:, None, :]
    loss *= -lay.weight.take(und, axis=0)[:, None, :]
    # L = max(0, max loss); padded columns have weight 0, loss 0, so they never raise it
    worst = np.max(loss, axis=2, initial=0.0)
    short_q = net.copy()
    short_q.data = np.maximum(0.0, -short_q.data)
    short_sum = np.asarray(short_q.sum(axis=1)).reshape(n)
    c_so = np.array([p.short_option_contingency for p in market.params]).take(und)
    c_p = np.array([p.perp_contingency for p in market.params]).take(und)
    cont_so = (c_so * short_sum)[:, None] * spot
    cont_p = (c_p * np.abs(perp_q))[:, None] * spot
    return loss, worst, cont_so, cont_p, opt_value


def portfolio_margin(*, market: PMMarket, book: PMBook, validate: bool = True) -> PMResult:
    """PM of every unit and account (RISK_MODEL §14; equity and flags as §5).

    Args:
        market: underlyings, PM parameters and option series.
        book: option and perp positions, collateral per account.
        validate: check inputs first (``EngineInputError`` naming the field).

    Returns:
        ``PMResult``: ``(N,)`` per unit, ``(N, S)`` losses, ``(A,)`` per account.
    """
    if validate:
        validate_market(market)
        validate_book(market, book)
    lay = _layout(market, book)
    und = lay.unit_underlying
    n = und.size
    loss, worst, cont_so, cont_p, opt_value = _unit_margin(market, lay, lay.net, lay.perp_q, und, np.zeros(1))
    loss = loss[:, 0, :]
    valid = lay.valid.take(und, axis=0)
    worst_idx = np.argmax(np.where(valid, loss, -np.inf), axis=1) if loss.shape[1] else np.zeros(n, dtype=np.int64)
    loss = np.where(valid, loss, np.nan)
    mm = worst[:, 0] + cont_so[:, 0] + cont_p[:, 0]
    mm_factor = np.array([p.mm_factor for p in market.params]).take(und)
    im = mm / mm_factor

    g = black76_greeks(
        is_call=market.series_is_call,
        forward=market.series_forward,
        strike=market.series_strike,
        vol=market.series_vol,
        t=market.series_t,
        discount=market.series_discount,
        spot=market.spot.take(market.series_underlying),
    )
    net = lay.net

    a = book.n_accounts
    acc = lay.unit_account
    perp_acc = np.asarray(book.perp_account, dtype=np.int64)
    perp_upnl = np.asarray(book.perp_size, dtype=np.float64) * (
        market.spot.take(np.asarray(book.perp_underlying, dtype=np.int64))
        - np.asarray(book.perp_entry_price, dtype=np.float64)
    )
    equity = (
        np.asarray(book.collateral, dtype=np.float64) + _sum(perp_acc, perp_upnl, a) + _sum(acc, opt_value[:, 0], a)
    )
    mm_acc = _sum(acc, mm, a)
    im_acc = _sum(acc, im, a)
    return PMResult(
        unit_account=acc,
        unit_underlying=und,
        scenario_loss=loss,
        worst_loss=worst[:, 0],
        worst_scenario=worst_idx.astype(np.int64),
        short_option_contingency=cont_so[:, 0],
        perp_contingency=cont_p[:, 0],
        maintenance_margin=mm,
        initial_margin=im,
        option_value=opt_value[:, 0],
        perp_size=lay.perp_q,
        delta=net @ g.delta + lay.perp_q,
        gamma=net @ g.gamma,
        vega=net @ g.vega,
        theta=net @ g.theta,
        equity=equity,
        maintenance_margin_account=mm_acc,
        initial_margin_account=im_acc,
        margin_ratio=_ratio(mm_acc, equity, zero_num=0.0, nonpos_den=np.inf),
        liquidatable=(mm_acc > 0) & (equity < mm_acc),
        bankrupt=equity < 0,
        shortfall=np.maximum(0.0, -equity),
    )


def _sum(index: I64, weights: F64, n: int) -> F64:
    return np.bincount(index, weights=weights, minlength=n).astype(np.float64, copy=False)


def liquidation_moves() -> F64:
    """The §14 search order: ``−0.005, +0.005, −0.01, +0.01, …, −0.5, +0.5``."""
    steps = LIQUIDATION_MOVE_STEP * np.arange(1, round(LIQUIDATION_MOVE_MAX / LIQUIDATION_MOVE_STEP) + 1)
    return np.stack([-steps, steps], axis=1).reshape(-1)


def liquidation_move(
    *, market: PMMarket, book: PMBook, result: PMResult | None = None, batch: int | None = None, validate: bool = True
) -> F64:
    """Smallest common move ``r`` of every underlying that makes each account liquidatable (§14).

    Every underlying's spot, its forwards and the collateral held in it (``collateral_moving``)
    move by ``(1 + r)``; ``T`` and vols stay; MM is recomputed on the scenario grid around the
    moved spot. ``r`` runs over ``liquidation_moves()`` (``−r`` before ``+r``).

    Args:
        market, book: as ``portfolio_margin``.
        result: its result, computed when ``None`` (gives the ``r = 0`` flags).
        batch: moves evaluated per pass (accounts found drop out between passes); by
            default as many as keep a pass near ``_PASS_CELLS`` Black-76 cells and
            sparse-product cells (one pass for a simulator-sized book).

    Returns:
        ``(A,)`` float64: 0 when already liquidatable, NaN when no move up to 50 % does it.
    """
    if validate:
        validate_market(market)
        validate_book(market, book)
    if result is None:
        result = portfolio_margin(market=market, book=book, validate=False)
    a = book.n_accounts
    out = np.full(a, np.nan)
    out[result.liquidatable] = 0.0
    lay = _layout(market, book)
    moving = np.zeros(a) if book.collateral_moving is None else np.asarray(book.collateral_moving, dtype=np.float64)
    fixed = np.asarray(book.collateral, dtype=np.float64) - moving
    perp_acc = np.asarray(book.perp_account, dtype=np.int64)
    perp_und = np.asarray(book.perp_underlying, dtype=np.int64)
    perp_q = np.asarray(book.perp_size, dtype=np.float64)
    perp_e = np.asarray(book.perp_entry_price, dtype=np.float64)
    has_units = np.bincount(lay.unit_account, minlength=a) > 0
    pending = ~result.liquidatable & has_units  # accounts without units have MM = 0 at any move
    moves = liquidation_moves()
    if batch is None:
        cells = (max(market.n_series, lay.net.nnz) + 1) * (lay.move.shape[1] + 1)
        batch = int(min(moves.size, max(2, _PASS_CELLS // cells)))
    for lo in range(0, moves.size, batch):  # a few passes over move batches, vectorised inside
        if not pending.any():
            break
        shift = moves[lo : lo + batch]
        units = np.flatnonzero(pending[lay.unit_account])
        und = lay.unit_underlying.take(units)
        uacc = lay.unit_account.take(units)
        _, worst, cont_so, cont_p, opt_value = _unit_margin(
            market, lay, lay.net[units], lay.perp_q.take(units), und, shift
        )
        mm_unit = worst + cont_so + cont_p  # (n, R)
        accs, local = np.unique(uacc, return_inverse=True)
        m = accs.size
        r = shift.size
        flat = (local.reshape(-1)[:, None] * r + np.arange(r)[None, :]).reshape(-1)
        mm = np.bincount(flat, weights=mm_unit.reshape(-1), minlength=m * r).reshape(m, r)
        eq = np.bincount(flat, weights=opt_value.reshape(-1), minlength=m * r).reshape(m, r)
        eq += fixed.take(accs)[:, None] + moving.take(accs)[:, None] * (1.0 + shift)[None, :]
        sel = np.flatnonzero(pending.take(perp_acc))
        if sel.size:
            pos = np.searchsorted(accs, perp_acc.take(sel))
            moved = market.spot.take(perp_und.take(sel))[:, None] * (1.0 + shift)[None, :]
            upnl = perp_q.take(sel)[:, None] * (moved - perp_e.take(sel)[:, None])
            eq += np.bincount(
                (pos[:, None] * r + np.arange(r)[None, :]).reshape(-1), weights=upnl.reshape(-1), minlength=m * r
            ).reshape(m, r)
        hit = (mm > 0) & (eq < mm)
        found = hit.any(axis=1)
        first = np.argmax(hit, axis=1)
        out[accs[found]] = shift[first[found]]
        pending[accs[found]] = False
    return out


def pm_collateral(
    *, params: ParameterSet, portfolio: Portfolio, asset_prices: F64, moving_assets: Sequence[int]
) -> tuple[F64, F64]:
    """Collateral ``V`` per account (§4) and its part held in the moving (underlying) assets.

    Args:
        params, portfolio, asset_prices: as ``accounts.collateral_value`` (positions unused).
        moving_assets: asset indices that are underlyings (they move in the liquidation move).

    Returns:
        ``(V, V_moving)``, each ``(A,)`` float64 USD.
    """
    total = collateral_value(params, portfolio, asset_prices)
    rows = np.flatnonzero(np.isin(portfolio.balance_asset, np.asarray(moving_assets, dtype=np.int64)))
    sub = Portfolio(
        n_accounts=portfolio.n_accounts,
        balance_account=portfolio.balance_account.take(rows),
        balance_asset=portfolio.balance_asset.take(rows),
        balance_amount=portfolio.balance_amount.take(rows),
        position_account=portfolio.position_account[:0],
        position_market=portfolio.position_market[:0],
        size=portfolio.size[:0],
        entry_price=portfolio.entry_price[:0],
        isolated=portfolio.isolated[:0],
        isolated_margin=portfolio.isolated_margin[:0],
    )
    return total, collateral_value(params, sub, asset_prices)


@dataclass(frozen=True)
class VenueAccounts:
    """Every account of a venue, cross/isolated and portfolio mode together; fields ``(A,)``.

    Attributes:
        portfolio_mode: bool, True for accounts margined by PM (§14).
        equity, initial_margin, maintenance_margin: float64 USD.
        margin_ratio: float64 ``MM/E`` (§5).
        liquidatable, bankrupt: bool (§5; isolated positions as ``AccountMetrics``).
        shortfall: float64 USD.
    """

    portfolio_mode: Bool
    equity: F64
    initial_margin: F64
    maintenance_margin: F64
    margin_ratio: F64
    liquidatable: Bool
    bankrupt: Bool
    shortfall: F64


def venue_accounts(*, metrics: AccountMetrics, pm: PMResult, pm_accounts: I64) -> VenueAccounts:
    """Put PM accounts beside cross and isolated ones (RISK_MODEL §5, §14).

    Args:
        metrics: ``accounts.account_metrics`` over all ``A`` venue accounts, computed from a
            portfolio that leaves out the PM accounts' perps and balances (their perps are
            margined in their risk units, not by brackets; their collateral is in ``pm``).
        pm: ``portfolio_margin`` of the PM accounts, numbered ``0..len(pm_accounts)-1``.
        pm_accounts: ``(A_pm,)`` int64 venue index of each PM account (distinct).

    Returns:
        ``VenueAccounts``: the rows of ``pm_accounts`` from ``pm``, the others from ``metrics``.
    """
    idx = _index("pm_accounts", pm_accounts, metrics.equity.shape[0])
    _check(
        idx.size == pm.equity.shape[0], "pm_accounts", f"needs one venue index per PM account ({pm.equity.shape[0]})"
    )
    _check(np.unique(idx).size == idx.size, "pm_accounts", "must be distinct")
    mode = np.zeros(metrics.equity.shape[0], dtype=bool)
    mode[idx] = True

    def put(base, value):
        out = np.array(base, copy=True)
        out[idx] = value
        return out

    return VenueAccounts(
        portfolio_mode=mode,
        equity=put(metrics.equity, pm.equity),
        initial_margin=put(metrics.initial_margin, pm.initial_margin_account),
        maintenance_margin=put(metrics.maintenance_margin, pm.maintenance_margin_account),
        margin_ratio=put(metrics.margin_ratio, pm.margin_ratio),
        liquidatable=put(metrics.liquidatable, pm.liquidatable),
        bankrupt=put(metrics.bankrupt, pm.bankrupt),
        shortfall=put(metrics.shortfall, pm.shortfall),
    )

"""Notional brackets: validation, derived maintenance amounts, vectorized lookup (RISK_MODEL §2, §3).

The bracket of a position with notional ``N`` in market ``m`` is the last ``k`` with
``F_k <= N`` (bracket ``k`` covers ``F_k <= N < F_{k+1}``). Lookups are vectorized over
positions: one pass per bracket level (``K`` is small, at most a few dozen), so memory stays
``O(P)`` and there is no Python loop over positions or markets.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from riskgov.engine.types import (
    F64,
    I64,
    AssetParams,
    AssetSpec,
    BracketTableError,
    EngineInputError,
    MarketParams,
    MarketSpec,
    ParameterSet,
    UnknownSymbolError,
)


def derive_maintenance_amounts(floors: Sequence[float], mmf: Sequence[float]) -> F64:
    """Maintenance amounts ``C_k`` of one bracket table (RISK_MODEL §2).

    ``C_1 = 0``, ``C_k = C_{k-1} + F_k·(MMF_k − MMF_{k-1})``; they make ``MM(N)`` continuous.

    Args:
        floors: ``(K,)`` USD notional floors.
        mmf: ``(K,)`` maintenance margin fractions.

    Returns:
        ``(K,)`` float64 USD maintenance amounts.
    """
    f = np.asarray(floors, dtype=np.float64)
    r = np.asarray(mmf, dtype=np.float64)
    steps = np.zeros_like(f)
    if f.size > 1:
        steps[1:] = f[1:] * np.diff(r)
    return np.cumsum(steps)


def validate_bracket_table(
    floors: Sequence[float],
    imf: Sequence[float],
    mmf: Sequence[float],
    *,
    market: str = "",
) -> None:
    """Check the float invariants the kernels rely on for one bracket table (RISK_MODEL §2).

    The engine's own guard on what it is handed (finite values, the ordering the vectorized
    bracket lookup and ``MM(N)`` need). Whether a parameter set a person or a venue file
    proposes is *valid* is decided exactly, in Decimal, by the one validator
    ``riskgov.parameters.validation`` (governance, importers, API and forms ask it, not this).

    Rules (``rule`` attribute of the error): ``non_empty``, ``lengths``, ``finite``,
    ``first_floor_zero``, ``floors_increasing``, ``mmf_positive``, ``mmf_below_imf``,
    ``imf_at_most_one``, ``imf_non_decreasing``, ``mmf_non_decreasing``.

    Raises:
        BracketTableError: naming the market, the 1-based bracket and the rule.
    """
    where = market or "bracket table"
    if len(floors) == 0:
        raise BracketTableError(f"{where}: no brackets", market=market, rule="non_empty")
    if not (len(floors) == len(imf) == len(mmf)):
        raise BracketTableError(
            f"{where}: floors, IMF and MMF have different lengths ({len(floors)}, {len(imf)}, {len(mmf)})",
            market=market,
            rule="lengths",
        )
    for k in range(1, len(floors) + 1):
        broken = _broken_rule(k, floors, imf, mmf)
        if broken is not None:
            rule, message = broken
            raise BracketTableError(f"{where} bracket {k}: {message}", market=market, bracket=k, rule=rule)


def _broken_rule(k: int, floors: Sequence[float], imf: Sequence[float], mmf: Sequence[float]) -> tuple[str, str] | None:
    """The first rule of ``validate_bracket_table`` that 1-based bracket ``k`` breaks, as
    ``(rule, message)``, or None (RISK_MODEL §2; floors USD notional, IMF/MMF fractions)."""
    f, i, m = floors[k - 1], imf[k - 1], mmf[k - 1]
    if not all(math.isfinite(float(x)) for x in (f, i, m)):
        return "finite", f"floor, IMF and MMF must be finite numbers (got {f}, {i}, {m})"
    if k == 1 and float(f) != 0.0:
        return "first_floor_zero", f"the first notional floor must be 0 (got {f})"
    if k > 1 and not float(f) > float(floors[k - 2]):
        return "floors_increasing", f"notional floor {f} is not above the previous floor {floors[k - 2]}"
    if not float(m) > 0:
        return "mmf_positive", f"MMF {m} must be > 0"
    if not float(m) < float(i):
        return "mmf_below_imf", f"MMF {m} must be < IMF {i}"
    if not float(i) <= 1:
        return "imf_at_most_one", f"IMF {i} must be <= 1"
    if k > 1 and float(i) < float(imf[k - 2]):
        return "imf_non_decreasing", f"IMF {i} is below the previous bracket's IMF {imf[k - 2]}"
    if k > 1 and float(m) < float(mmf[k - 2]):
        return "mmf_non_decreasing", f"MMF {m} is below the previous bracket's MMF {mmf[k - 2]}"
    return None


def build_parameter_set(*, assets: Sequence[AssetSpec], markets: Sequence[MarketSpec]) -> ParameterSet:
    """Validate plain specs and pack them into a ``ParameterSet`` with padded matrices.

    Raises:
        BracketTableError: a market's brackets break RISK_MODEL §2.
        UnknownSymbolError: a market's base asset is not among ``assets``.
        EngineInputError: duplicate symbols, a haircut outside ``[0, 1)``, a penalty above
            ``MMF_1`` (§8), a non-positive depth, or OI caps with ``U_lo >= U_hi > 0`` (§3).
    """
    if not markets:
        raise EngineInputError("a parameter set needs at least one market")
    asset_symbols = tuple(a.symbol for a in assets)
    if len(set(asset_symbols)) != len(asset_symbols):
        raise EngineInputError("duplicate asset symbols")
    market_symbols = tuple(m.symbol for m in markets)
    if len(set(market_symbols)) != len(market_symbols):
        raise EngineInputError("duplicate market symbols")
    for a in assets:
        if not 0.0 <= a.haircut < 1.0:
            raise EngineInputError(f"asset {a.symbol}: haircut {a.haircut} not in [0, 1)")
    asset_params = AssetParams(
        symbols=asset_symbols,
        haircut=np.array([a.haircut for a in assets], dtype=np.float64),
        stable=np.array([a.stable for a in assets], dtype=np.bool_),
    )

    n_m = len(markets)
    k_max = max(len(m.floors) for m in markets)
    floors = np.full((n_m, k_max), np.inf)
    imf = np.zeros((n_m, k_max))
    mmf = np.zeros((n_m, k_max))
    cum = np.zeros((n_m, k_max))
    n_brackets = np.zeros(n_m, dtype=np.int64)
    base = np.zeros(n_m, dtype=np.int64)
    for j, m in enumerate(markets):
        validate_bracket_table(m.floors, m.imf, m.mmf, market=m.symbol)
        if m.base_asset not in asset_symbols:
            raise UnknownSymbolError(f"market {m.symbol}: unknown base asset {m.base_asset!r}")
        base[j] = asset_symbols.index(m.base_asset)
        k = len(m.floors)
        n_brackets[j] = k
        floors[j, :k] = m.floors
        imf[j, :k] = m.imf
        imf[j, k:] = m.imf[-1]
        mmf[j, :k] = m.mmf
        mmf[j, k:] = m.mmf[-1]
        c = derive_maintenance_amounts(m.floors, m.mmf)
        cum[j, :k] = c
        cum[j, k:] = c[-1]
        if not 0.0 <= m.liquidation_penalty <= m.mmf[0]:
            raise EngineInputError(
                f"market {m.symbol}: liquidation penalty {m.liquidation_penalty} must be in "
                f"[0, MMF_1={m.mmf[0]}] (RISK_MODEL §8)"
            )
        if not m.depth_usd_per_1pct > 0:
            raise EngineInputError(f"market {m.symbol}: depth {m.depth_usd_per_1pct} USD per 1 % must be > 0")
        if m.oi_cap_upper != 0 and not 0 <= m.oi_cap_lower < m.oi_cap_upper:
            raise EngineInputError(
                f"market {m.symbol}: OI caps need 0 <= lower < upper "
                f"(got {m.oi_cap_lower}, {m.oi_cap_upper}; RISK_MODEL §3)"
            )
    market_params = MarketParams(
        symbols=market_symbols,
        base_asset=base,
        floors=floors,
        imf=imf,
        mmf=mmf,
        maintenance_amount=cum,
        n_brackets=n_brackets,
        liquidation_penalty=np.array([m.liquidation_penalty for m in markets], dtype=np.float64),
        depth_usd_per_1pct=np.array([m.depth_usd_per_1pct for m in markets], dtype=np.float64),
        oi_cap_lower=np.array([m.oi_cap_lower for m in markets], dtype=np.float64),
        oi_cap_upper=np.array([m.oi_cap_upper for m in markets], dtype=np.float64),
        max_position_notional=np.array(
            [np.inf if m.max_position_notional is None else m.max_position_notional for m in markets],
            dtype=np.float64,
        ),
    )
    return ParameterSet(assets=asset_params, markets=market_params)


def bracket_index(markets: MarketParams, market: I64, notional: F64) -> I64:
    """0-based bracket index of each position (RISK_MODEL §2).

    Args:
        markets: the markets' parameters.
        market: ``(...)`` int64 market index per position (any shape).
        notional: same shape, float64 USD notional ``N >= 0``.

    Returns:
        int64 array of the same shape: the last ``k`` with ``F_k <= N`` (0 for ``N = 0``).
    """
    market = np.asarray(market)
    k = np.zeros(np.broadcast_shapes(np.shape(market), np.shape(notional)), dtype=np.int64)
    for level in range(1, markets.max_brackets):
        k += notional >= np.ascontiguousarray(markets.floors[:, level]).take(market)
    return k


def maintenance_margin(markets: MarketParams, market: I64, notional: F64) -> F64:
    """Maintenance margin ``MM(N) = N·MMF_k − C_k`` per position (RISK_MODEL §2), USD.

    Shapes as in ``bracket_index``; ``MM(0) = 0``.
    """
    k = bracket_index(markets, market, notional)
    return notional * markets.mmf[market, k] - markets.maintenance_amount[market, k]


def oi_scaled_imf(markets: MarketParams, imf: F64, market: I64, open_interest: F64) -> F64:
    """IMF after open-interest scaling (RISK_MODEL §3).

    ``IMF_adj = IMF_k + (1 − IMF_k)·clamp((O − U_lo)/(U_hi − U_lo), 0, 1)``; markets with
    ``U_hi = 0`` are unscaled.

    Args:
        imf: ``(...)`` bracket IMF per position.
        market: same shape, market index per position.
        open_interest: ``(M,)`` USD open interest per market.
    """
    lo = markets.oi_cap_lower[market]
    hi = markets.oi_cap_upper[market]
    enabled = hi > 0
    width = np.where(enabled, hi - lo, 1.0)
    t = np.clip((open_interest[market] - lo) / width, 0.0, 1.0)
    return np.where(enabled, imf + (1.0 - imf) * t, imf)


def initial_margin(markets: MarketParams, market: I64, notional: F64, open_interest: F64 | None = None) -> F64:
    """Initial margin ``IM(N) = N·IMF_adj`` per position (RISK_MODEL §2, §3), USD.

    Args:
        open_interest: ``(M,)`` USD open interest per market for §3 scaling; ``None`` skips it.
    """
    k = bracket_index(markets, market, notional)
    imf = markets.imf[market, k]
    if open_interest is not None:
        imf = oi_scaled_imf(markets, imf, market, open_interest)
    return notional * imf


def bracket_table(params: ParameterSet, market: int) -> tuple[F64, F64, F64]:
    """``(floors, imf, mmf)`` ``(K,)`` float64 copies of ``market``'s bracket table (§2)."""
    k = int(params.markets.n_brackets[market])
    mk = params.markets
    return mk.floors[market, :k].copy(), mk.imf[market, :k].copy(), mk.mmf[market, :k].copy()


def with_bracket_table(params: ParameterSet, market: int, floors: F64, imf: F64, mmf: F64) -> ParameterSet:
    """``params`` with ``market``'s bracket table replaced, maintenance amounts derived (§2).

    ``floors``, ``imf``, ``mmf``: ``(K,)`` float64 (USD, fractions); the padded matrices are
    widened (repeating each row's last entry, floors ``+inf``) when ``K`` exceeds their width.
    Not validated (``validate_bracket_table`` is the check).
    """
    mk = params.markets
    k_real = floors.size
    width = max(mk.floors.shape[1], k_real)

    def pad(mat: F64, row: F64, fill_inf: bool) -> F64:
        out = mat
        if mat.shape[1] < width:  # widen every row by repeating its last (floors: +inf)
            extra = np.full((mat.shape[0], width - mat.shape[1]), np.inf) if fill_inf else mat[:, -1:]
            out = np.concatenate([mat, np.broadcast_to(extra, (mat.shape[0], width - mat.shape[1]))], axis=1)
        out = out.copy()
        out[market, :k_real] = row
        out[market, k_real:] = np.inf if fill_inf else row[-1]
        return out

    c = derive_maintenance_amounts(floors, mmf)
    markets = replace(
        mk,
        floors=pad(mk.floors, floors, True),
        imf=pad(mk.imf, imf, False),
        mmf=pad(mk.mmf, mmf, False),
        maintenance_amount=pad(mk.maintenance_amount, c, False),
        n_brackets=np.where(np.arange(len(mk.symbols)) == market, k_real, mk.n_brackets).astype(np.int64),
    )
    return replace(params, markets=markets)


def scale_bracket_table(params: ParameterSet, market: int, multiplier: float) -> ParameterSet:
    """``params`` with every MMF and IMF of ``market`` multiplied by ``multiplier``, each capped
    at 1, maintenance amounts derived (§2, the frontier of §15). Same floors, so the same
    brackets; ``MM(N) = ∫₀ᴺ MMF(n) dn`` is non-decreasing in ``multiplier`` for every ``N``."""
    floors, imf, mmf = bracket_table(params, market)
    k = float(multiplier)
    return with_bracket_table(params, market, floors, np.minimum(1.0, imf * k), np.minimum(1.0, mmf * k))

"""Stress scenarios: relative price shocks per asset (RISK_MODEL §9).

A scenario is a vector ``r`` of relative shocks, one per asset of an ``AssetParams``:
``p' = p·(1 + r_a)``. Markets follow their base asset; collateral is revalued too (that is
done by ``stress.run_scenarios``; this module only builds shock matrices).

Kinds:

* ``uniform`` — every non-stable asset the same ``r``; stables (``AssetParams.stable``) 0;
* ``per_asset`` — named assets get their own ``r``, every other asset 0; a stable asset is
  shocked only when it is named (a depeg scenario);
* ``historical`` — every ``h``-day window ``r = P_{t+h}/P_t − 1`` of daily closes, over the
  dates that **all** required assets share, applied jointly (correlation kept). Stables are
  not shocked. A required asset with no history needs an explicit proxy; none is invented.

Windows are calendar-exact: a window runs from a shared date ``t`` to the date ``t + h``
calendar days, and exists only when both dates are shared by every required asset. A date on
which any required asset has no close (missing row, NaN) is dropped, and so is every window
that starts or ends on it (no window silently spans more than ``h`` days).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from riskgov.engine.types import (
    F64,
    AssetParams,
    EngineInputError,
    PriceError,
    UnknownSymbolError,
)

__all__ = [
    "ScenarioSet",
    "concat",
    "historical_scenarios",
    "per_asset_scenario",
    "uniform_scenarios",
    "validate_shocks",
    "zero_scenario",
]

KINDS = ("uniform", "per_asset", "historical")


def validate_shocks(shocks: F64, n_assets: int) -> F64:
    """Check a shock matrix and return it as C-contiguous float64 ``(S, A)``.

    Raises:
        EngineInputError: wrong shape.
        PriceError: a shock is not finite or ``≤ −1`` (the shocked price must stay > 0).
    """
    r = np.ascontiguousarray(shocks, dtype=np.float64)
    if r.ndim != 2 or r.shape[1] != n_assets:
        raise EngineInputError(f"shocks must have shape (S, {n_assets}), got {r.shape}")
    bad = ~np.isfinite(r) | (r <= -1.0)
    if bad.any():
        s, a = np.argwhere(bad)[0]
        raise PriceError(
            f"scenario {s}, asset {a}: shock {r[s, a]} must be finite and > -1 "
            "(shocked prices must stay positive, RISK_MODEL §9)"
        )
    return r


@dataclass(frozen=True)
class ScenarioSet:
    """A batch of scenarios over one asset list (RISK_MODEL §9).

    Attributes:
        names: ``(S,)`` scenario names, e.g. ``"uniform -10%"`` or ``"hist 1d 2020-03-12"``.
        kinds: ``(S,)`` one of ``"uniform"``, ``"per_asset"``, ``"historical"``.
        shocks: ``(S, A)`` float64 relative shocks ``r`` (fractions, ``> −1``), columns in
            the order of the ``AssetParams`` the set was built for.
        asset_symbols: ``(A,)`` the asset symbols of the columns (checked by the stress run).
        start_date: ``(S,)`` ISO date of a historical window's start, ``""`` otherwise.
        end_date: ``(S,)`` ISO date of a historical window's end, ``""`` otherwise.
    """

    names: tuple[str, ...]
    kinds: tuple[str, ...]
    shocks: F64
    asset_symbols: tuple[str, ...]
    start_date: tuple[str, ...]
    end_date: tuple[str, ...]

    def __post_init__(self) -> None:
        s = len(self.names)
        r = validate_shocks(self.shocks, len(self.asset_symbols))
        if r.shape[0] != s or len(self.kinds) != s:
            raise EngineInputError(f"names ({s}), kinds ({len(self.kinds)}) and shocks ({r.shape[0]}) differ")
        if len(self.start_date) != s or len(self.end_date) != s:
            raise EngineInputError("start_date/end_date must have one entry per scenario")
        unknown = set(self.kinds) - set(KINDS)
        if unknown:
            raise EngineInputError(f"unknown scenario kinds {sorted(unknown)}")
        object.__setattr__(self, "shocks", r)

    @property
    def n(self) -> int:
        """Number of scenarios ``S``."""
        return len(self.names)


def _make(
    assets: AssetParams,
    names: Sequence[str],
    kind: str,
    shocks: F64,
    start: Sequence[str] | None = None,
    end: Sequence[str] | None = None,
) -> ScenarioSet:
    blank = ("",) * len(names)
    return ScenarioSet(
        names=tuple(names),
        kinds=(kind,) * len(names),
        shocks=shocks,
        asset_symbols=tuple(assets.symbols),
        start_date=tuple(start) if start is not None else blank,
        end_date=tuple(end) if end is not None else blank,
    )


def uniform_scenarios(assets: AssetParams, shocks: Sequence[float] = (-0.1, -0.2, -0.3, 0.1, 0.2, 0.3)) -> ScenarioSet:
    """One ``uniform`` scenario per shock: every non-stable asset moves by ``r`` (§9).

    Args:
        assets: the asset list (its ``stable`` flags keep stables at 0).
        shocks: relative shocks, fractions ``> −1``.

    Returns:
        ``ScenarioSet`` of ``len(shocks)`` scenarios named ``"uniform {r:+.1%}"``.

    Raises:
        PriceError: a shock ``≤ −1`` or not finite.
    """
    r = np.asarray(shocks, dtype=np.float64).reshape(-1, 1)
    mat = r * (~assets.stable).astype(np.float64)[None, :]
    return _make(assets, [f"uniform {x:+.1%}" for x in r[:, 0]], "uniform", mat)


def per_asset_scenario(assets: AssetParams, name: str, shocks: Mapping[str, float]) -> ScenarioSet:
    """One ``per_asset`` scenario: the named assets move by their ``r``, all others 0 (§9).

    A stable asset moves only when it is named here (depeg).

    Raises:
        UnknownSymbolError: a symbol is not an asset of ``assets``.
        PriceError: a shock ``≤ −1`` or not finite.
    """
    row = np.zeros((1, assets.n))
    for symbol, r in shocks.items():
        row[0, assets.index(symbol)] = float(r)
    return _make(assets, [name], "per_asset", row)


def zero_scenario(assets: AssetParams, name: str = "base") -> ScenarioSet:
    """A single scenario with every shock 0 (prices unchanged): the base health pass (§5)."""
    return _make(assets, [name], "per_asset", np.zeros((1, assets.n)))


def concat(*sets: ScenarioSet) -> ScenarioSet:
    """Concatenate scenario sets built over the same asset list, in order.

    Raises:
        EngineInputError: no sets, or sets over different asset lists.
    """
    if not sets:
        raise EngineInputError("concat needs at least one ScenarioSet")
    symbols = sets[0].asset_symbols
    for s in sets[1:]:
        if s.asset_symbols != symbols:
            raise EngineInputError("cannot concatenate scenario sets over different assets")
    return ScenarioSet(
        names=tuple(n for s in sets for n in s.names),
        kinds=tuple(k for s in sets for k in s.kinds),
        shocks=np.concatenate([s.shocks for s in sets], axis=0),
        asset_symbols=symbols,
        start_date=tuple(d for s in sets for d in s.start_date),
        end_date=tuple(d for s in sets for d in s.end_date),
    )


def _price_panel(
    prices: F64, hist_symbols: Sequence[str], stamps: Sequence[object], unit: str, *, names: tuple[str, str, str]
) -> tuple[F64, list[str], np.ndarray]:
    """Check a price history panel and its time stamps (RISK_MODEL §9; shared with ``paths``).

    Args:
        prices: ``(N, H)`` USD prices, one row per stamp, one column per history symbol.
        hist_symbols: ``(H,)`` column symbols.
        stamps: ``(N,)`` times (anything ``numpy.datetime64[unit]`` accepts), strictly increasing.
        unit: numpy time unit of the stamps (``"D"`` daily closes, ``"h"`` hourly prices).
        names: (prices argument, its row count in messages, stamps argument), e.g.
            ``("closes", "T", "dates")``.

    Returns:
        ``(px, hist, stamps)``: ``(N, H)`` float64, the symbols as a list, ``(N,)``
        ``datetime64[unit]``.

    Raises:
        EngineInputError: bad shapes or stamps not strictly increasing.
    """
    what, rows, when = names
    px = np.asarray(prices, dtype=np.float64)
    hist = list(hist_symbols)
    if px.ndim != 2 or px.shape[1] != len(hist):
        raise EngineInputError(f"{what} must be ({rows}, {len(hist)}), got {px.shape}")
    at = np.asarray(stamps, dtype=f"datetime64[{unit}]")
    if at.shape != (px.shape[0],):
        raise EngineInputError(f"{when} must have {px.shape[0]} entries, got {at.shape}")
    if at.size > 1 and not (np.diff(at) > np.timedelta64(0, unit)).all():
        raise EngineInputError(f"{when} must be strictly increasing")
    return px, hist, at


def _required_history(
    assets: AssetParams, px: F64, hist: list[str], proxies: Mapping[str, str], *, no_proxy: str, what: str
) -> tuple[np.ndarray, np.ndarray, F64]:
    """The history columns of the required (non-stable) assets (RISK_MODEL §9; shared with ``paths``).

    Asset ``a``'s history is the column named ``proxies.get(a, a)``; no proxy is invented.

    Args:
        assets: the asset list of the parameter set.
        px: ``(N, H)`` float64 USD prices (NaN = no price); hist: ``(H,)`` its column symbols.
        proxies: ``{asset symbol: history symbol}`` explicit proxies.
        no_proxy: message for a required asset with neither history nor proxy, a
            ``str.format`` template of ``sym`` (before `` (RISK_MODEL §9)``).
        what: the price word in the positivity message (``"close"``, ``"price"``).

    Returns:
        ``(required, cols, sub)``: ``(R,)`` int64 asset indices of the required assets, ``(R,)``
        int64 their columns of ``px``, and ``px[:, cols]`` ``(N, R)``.

    Raises:
        UnknownSymbolError: a proxy of an unknown asset, or a required asset without history.
        PriceError: a finite price ``≤ 0``.
    """
    for sym in proxies:
        assets.index(sym)  # raises UnknownSymbolError for a proxy of an unknown asset
    required = np.flatnonzero(~assets.stable)
    cols = np.empty(required.size, dtype=np.int64)
    for j, a in enumerate(required):
        sym = assets.symbols[a]
        src = proxies.get(sym, sym)
        if src not in hist:
            if sym in proxies:
                raise UnknownSymbolError(f"asset {sym!r}: proxy {src!r} has no price history (RISK_MODEL §9)")
            raise UnknownSymbolError(no_proxy.format(sym=sym) + " (RISK_MODEL §9)")
        cols[j] = hist.index(src)
    sub = px[:, cols]
    if (np.isfinite(sub) & (sub <= 0)).any():
        raise PriceError(f"historical {what}s must be > 0 (NaN marks a missing {what})")
    return required, cols, sub


def historical_scenarios(
    assets: AssetParams,
    closes: F64,
    hist_symbols: Sequence[str],
    dates: Sequence[object],
    horizon_days: int,
    proxies: Mapping[str, str] | None = None,
) -> ScenarioSet:
    """Every ``h``-day joint window of daily closes as a scenario (RISK_MODEL §9).

    Each non-stable asset ``a`` of ``assets`` is *required*; its history is the column of
    ``hist_symbols`` named ``proxies.get(a, a)`` (an explicit proxy, e.g.
    ``{"WIF": "DOGE"}``). For every shared date ``t`` whose date ``t + h`` days is also
    shared, the scenario shocks ``r_a = P_{a,t+h}/P_{a,t} − 1`` for every required asset at
    once; stables get 0.

    Args:
        assets: the asset list of the parameter set.
        closes: ``(T, H)`` float64 USD daily closes; NaN (or a missing row) = no close.
        hist_symbols: ``(H,)`` symbols of the columns of ``closes``.
        dates: ``(T,)`` calendar dates (anything ``numpy.datetime64[D]`` accepts, e.g.
            ``"2020-03-12"``), strictly increasing.
        horizon_days: ``h ≥ 1`` calendar days.
        proxies: ``{asset symbol: history symbol}`` explicit proxies.

    Returns:
        ``ScenarioSet`` of kind ``historical`` in date order, named
        ``"hist {h}d {start}"`` with ``start_date``/``end_date`` filled.

    Raises:
        UnknownSymbolError: a required asset has no history and no proxy (named in the
            message), or a proxy names an unknown asset or history column.
        EngineInputError: bad shapes, unsorted/duplicate dates, ``h < 1``, or no window.
        PriceError: a close that is finite but ``≤ 0``.
    """
    proxies = dict(proxies or {})
    h = int(horizon_days)
    if h < 1:
        raise EngineInputError(f"horizon_days must be >= 1, got {horizon_days}")
    px, hist, day = _price_panel(closes, hist_symbols, dates, "D", names=("closes", "T", "dates"))
    required, _, sub = _required_history(
        assets, px, hist, proxies, no_proxy="asset {sym!r} has no price history and no explicit proxy", what="close"
    )
    shared = np.isfinite(sub).all(axis=1)
    d_sh = day[shared]
    p_sh = sub[shared]
    end_pos = np.searchsorted(d_sh, d_sh + np.timedelta64(h, "D"))
    ok = end_pos < d_sh.size
    ok[ok] = d_sh[end_pos[ok]] == d_sh[ok] + np.timedelta64(h, "D")
    start_idx = np.flatnonzero(ok)
    if start_idx.size == 0:
        raise EngineInputError(f"no {h}-day window over the dates all required assets share")
    stop_idx = end_pos[start_idx]
    mat = np.zeros((start_idx.size, assets.n))
    mat[:, required] = p_sh[stop_idx] / p_sh[start_idx] - 1.0
    start = [str(d) for d in d_sh[start_idx]]
    end = [str(d) for d in d_sh[stop_idx]]
    return _make(assets, [f"hist {h}d {s}" for s in start], "historical", mat, start, end)

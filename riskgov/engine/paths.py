"""Path scenarios: gaps, trends and historical paths of relative shocks (RISK_MODEL §9).

A path scenario is a sequence of relative shocks ``r_{a,t}``, steps ``t = 1..T``, applied to
the base prices: ``p_{a,t} = p_a·(1 + r_{a,t})`` (markets follow their base asset, collateral
is revalued too). A *family* of scenarios with one step count and one horizon is stored as
one ``PathSet`` with a dense ``(S, T, A)`` float64 array ``shocks[s, t, a]`` (C order:
scenario, then step, then asset). That layout is already small for the families of §9 —
2,500 one-day paths × 24 steps × 50 assets is 24 MB, 3-day paths three times that — and the
path stress reads a batch of scenarios as one contiguous ``(nb·T, A)`` block.

Kinds (``PathSet.kind``):

* ``gap`` (``T = 1``): the whole move at once — the scenarios of ``scenarios.ScenarioSet``
  (uniform, per-asset, ``h``-day windows of daily closes), see ``gap_paths``;
* ``trend``: a uniform or per-asset move ``r`` reached linearly in ``T`` equal steps,
  ``r_t = r·t/T`` (default ``T = 24``, ``Δ = 1 h``), see ``trend_paths``;
* ``historical``: every window of ``T`` hourly steps (24 = 1 day, 72 = 3 days) starting at
  00:00 UTC over the hours all required assets share, ``r_{a,t} = P_{a,t0+t}/P_{a,t0} − 1``,
  applied jointly (correlation kept), see ``historical_paths``.

Stable assets (``AssetParams.stable``) keep their price unless a scenario names them (a
per-asset trend naming a stable is a depeg). A required asset with no history needs an
explicit proxy; none is invented.

Interpolated steps: the caller gives, with the hourly matrix, a per-(hour, column) mask of
prices that were interpolated linearly between an asset's own coarser observations (4 h,
1 d). Each historical scenario reports ``interpolated_share`` = the fraction of its
``T × n_required`` (step, required asset) prices that are interpolated, and
``interpolated_by_asset`` ``(S, A)`` the fraction of each asset's ``T`` steps (0 for assets
that are not required). Gap and trend scenarios report 0.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from riskgov.engine.scenarios import ScenarioSet, _price_panel, _required_history
from riskgov.engine.types import F64, AssetParams, Bool, EngineInputError, PriceError

__all__ = [
    "PATH_KINDS",
    "PathSet",
    "concat_paths",
    "gap_paths",
    "historical_paths",
    "to_hourly",
    "trend_paths",
    "validate_paths",
]

PATH_KINDS = ("gap", "trend", "historical")
#: default steps of a trend (24 hourly steps, RISK_MODEL §9)
TREND_STEPS = 24


def validate_paths(shocks: F64, n_assets: int) -> F64:
    """Check a path array and return it as C-contiguous float64 ``(S, T, A)``.

    Raises:
        EngineInputError: not 3-D, ``T < 1`` or the wrong number of assets.
        PriceError: a shock is not finite or ``≤ −1`` (every step's price must stay > 0).
    """
    r = np.ascontiguousarray(shocks, dtype=np.float64)
    if r.ndim != 3 or r.shape[2] != n_assets or r.shape[1] < 1:
        raise EngineInputError(f"path shocks must have shape (S, T >= 1, {n_assets}), got {r.shape}")
    bad = ~np.isfinite(r) | (r <= -1.0)
    if bad.any():
        s, t, a = np.argwhere(bad)[0]
        raise PriceError(
            f"scenario {s}, step {t + 1}, asset {a}: shock {r[s, t, a]} must be finite and > -1 "
            "(prices must stay positive at every step, RISK_MODEL §9)"
        )
    return r


@dataclass(frozen=True)
class PathSet:
    """One family of path scenarios with a common step count (RISK_MODEL §9, §10).

    Attributes (``S`` scenarios, ``T`` steps, ``A`` assets):
        family: the family label tails are reported under, e.g. ``"hist_1d"``, ``"gap"``.
        kind: one of ``PATH_KINDS``.
        step_hours: length ``Δ`` of one step in hours (a gap's single step: its horizon).
        names: ``(S,)`` scenario names, e.g. ``"path 1d 2020-03-12"``.
        shocks: ``(S, T, A)`` float64 relative shocks (fractions ``> −1``) of every step.
        asset_symbols: ``(A,)`` symbols of the asset axis (checked by the path stress).
        start: ``(S,)`` ISO start of a historical window (``"2020-03-12T00"``), else ``""``.
        interpolated_share: ``(S,)`` float64 fraction of interpolated (step, asset) prices.
        interpolated_by_asset: ``(S, A)`` float64 fraction of each asset's interpolated steps.
    """

    family: str
    kind: str
    step_hours: float
    names: tuple[str, ...]
    shocks: F64
    asset_symbols: tuple[str, ...]
    start: tuple[str, ...]
    interpolated_share: F64
    interpolated_by_asset: F64

    def __post_init__(self) -> None:
        r = validate_paths(self.shocks, len(self.asset_symbols))
        s = r.shape[0]
        if len(self.names) != s or len(self.start) != s:
            raise EngineInputError(f"names ({len(self.names)}) and start ({len(self.start)}) need {s} entries")
        share = np.asarray(self.interpolated_share, dtype=np.float64)
        by_asset = np.asarray(self.interpolated_by_asset, dtype=np.float64)
        if share.shape != (s,) or by_asset.shape != (s, r.shape[2]):
            raise EngineInputError("interpolated_share must be (S,) and interpolated_by_asset (S, A)")
        if self.kind not in PATH_KINDS:
            raise EngineInputError(f"unknown path kind {self.kind!r}")
        if not (np.isfinite(self.step_hours) and self.step_hours > 0):
            raise EngineInputError(f"step_hours must be > 0, got {self.step_hours}")
        object.__setattr__(self, "shocks", r)
        object.__setattr__(self, "interpolated_share", share)
        object.__setattr__(self, "interpolated_by_asset", by_asset)

    @property
    def n(self) -> int:
        """Number of scenarios ``S``."""
        return int(self.shocks.shape[0])

    @property
    def n_steps(self) -> int:
        """Steps per scenario ``T``."""
        return int(self.shocks.shape[1])

    @property
    def horizon_hours(self) -> float:
        """The family's horizon ``T·Δ`` in hours (24 for one-day paths and one-day gaps)."""
        return self.n_steps * float(self.step_hours)

    @property
    def final_shocks(self) -> F64:
        """``(S, A)`` the last step's shocks: the gap each path ends at."""
        return self.shocks[:, -1, :]


def _zeros_share(s: int, a: int) -> tuple[F64, F64]:
    return np.zeros(s), np.zeros((s, a))


def gap_paths(scenarios: ScenarioSet, *, family: str = "gap", step_hours: float = 24.0) -> PathSet:
    """The gap scenarios of a ``ScenarioSet`` as one-step paths (``T = 1``, RISK_MODEL §9).

    Args:
        scenarios: uniform, per-asset or historical gap scenarios ``(S, A)``.
        family: label of the family (e.g. ``"hist_gap_1d"``).
        step_hours: the gap's horizon in hours (the single step's length).

    Returns:
        ``PathSet`` of kind ``gap`` with ``shocks[:, 0, :] = scenarios.shocks``.
    """
    s, a = scenarios.shocks.shape
    share, by_asset = _zeros_share(s, a)
    return PathSet(
        family=family,
        kind="gap",
        step_hours=float(step_hours),
        names=scenarios.names,
        shocks=scenarios.shocks[:, None, :].copy(),
        asset_symbols=scenarios.asset_symbols,
        start=scenarios.start_date,
        interpolated_share=share,
        interpolated_by_asset=by_asset,
    )


def trend_paths(
    assets: AssetParams,
    moves: Sequence[float | Mapping[str, float]],
    *,
    steps: int = TREND_STEPS,
    step_hours: float = 1.0,
    family: str = "trend",
) -> PathSet:
    """Trends: each move reached linearly in ``steps`` equal steps, ``r_t = r·t/T`` (§9).

    Args:
        assets: the asset list (its ``stable`` flags keep stables at their price).
        moves: one entry per scenario: a float (uniform: every non-stable asset moves by it)
            or a ``{symbol: r}`` mapping (per-asset: the named assets move, the others stay;
            naming a stable asset depegs it).
        steps: ``T ≥ 1`` (default 24).
        step_hours: step length ``Δ`` in hours (default 1).
        family: label of the family.

    Returns:
        ``PathSet`` of kind ``trend``, ``(len(moves), T, A)``, named ``"trend -20.0% 24h"``
        or ``"trend BTC -30.0%, ETH -40.0% 24h"``.

    Raises:
        EngineInputError: ``steps < 1``.
        UnknownSymbolError: a per-asset move names an unknown asset.
        PriceError: a move ``≤ −1`` or not finite.
    """
    t_n = int(steps)
    if t_n < 1:
        raise EngineInputError(f"steps must be >= 1, got {steps}")
    final = np.zeros((len(moves), assets.n))
    names = []
    for i, mv in enumerate(moves):
        if isinstance(mv, Mapping):
            for sym, r in mv.items():
                final[i, assets.index(sym)] = float(r)
            label = ", ".join(f"{sym} {float(r):+.1%}" for sym, r in mv.items())
        else:
            final[i] = float(mv) * (~assets.stable)
            label = f"{float(mv):+.1%}"
        names.append(f"trend {label} {t_n * step_hours:g}h")
    frac = np.arange(1, t_n + 1, dtype=np.float64) / t_n  # t/T, exactly 1 at the last step
    share, by_asset = _zeros_share(len(moves), assets.n)
    return PathSet(
        family=family,
        kind="trend",
        step_hours=float(step_hours),
        names=tuple(names),
        shocks=final[:, None, :] * frac[None, :, None],
        asset_symbols=tuple(assets.symbols),
        start=("",) * len(moves),
        interpolated_share=share,
        interpolated_by_asset=by_asset,
    )


def historical_paths(
    assets: AssetParams,
    hourly: F64,
    hist_symbols: Sequence[str],
    times: Sequence[object],
    steps: int,
    *,
    interpolated: Bool | None = None,
    proxies: Mapping[str, str] | None = None,
    family: str | None = None,
) -> PathSet:
    """Every window of ``steps`` hourly steps starting at 00:00 UTC as a path (§9).

    Each non-stable asset ``a`` is *required*; its history is the column named
    ``proxies.get(a, a)``. A window starts at an hour ``t0`` at 00:00 UTC and exists only when
    the hours ``t0, t0 + 1 h, …, t0 + T h`` are all rows of ``times`` with a finite price for
    every required asset; then ``r_{a,t} = P_{a,t0+t}/P_{a,t0} − 1`` for ``t = 1..T``
    (relative to the window's start price); stables get 0.

    Args:
        assets: the asset list of the parameter set.
        hourly: ``(H_T, H)`` float64 USD hourly prices; NaN = no price.
        hist_symbols: ``(H,)`` symbols of the columns.
        times: ``(H_T,)`` UTC hours (anything ``numpy.datetime64[h]`` accepts), strictly
            increasing.
        steps: ``T`` (24 for 1-day paths, 72 for 3-day paths).
        interpolated: ``(H_T, H)`` bool, True where a price was interpolated between the
            asset's own coarser observations; ``None`` = all real.
        proxies: ``{asset symbol: history symbol}`` explicit proxies.
        family: label (default ``"hist_1d"`` for 24 steps, ``"hist_3d"`` for 72, else
            ``"hist_{T}h"``).

    Returns:
        ``PathSet`` of kind ``historical`` in time order, named ``"path 1d 2020-03-12"``.

    Raises:
        UnknownSymbolError: a required asset has no history and no proxy, or a proxy names
            an unknown asset.
        EngineInputError: bad shapes, unsorted times, ``steps < 1`` or no window.
        PriceError: a finite price ``≤ 0``.
    """
    proxies = dict(proxies or {})
    t_n = int(steps)
    if t_n < 1:
        raise EngineInputError(f"steps must be >= 1, got {steps}")
    px, hist, hours = _price_panel(hourly, hist_symbols, times, "h", names=("hourly", "H_T", "times"))
    mask = np.zeros(px.shape, dtype=np.bool_) if interpolated is None else np.asarray(interpolated, dtype=np.bool_)
    if mask.shape != px.shape:
        raise EngineInputError(f"interpolated must be {px.shape}, got {mask.shape}")
    required, cols, sub = _required_history(
        assets, px, hist, proxies, no_proxy="asset {sym!r}: has no price history and no proxy", what="price"
    )
    bad = ~np.isfinite(sub).all(axis=1)
    n_bad = np.concatenate([[0], np.cumsum(bad)])  # bad rows before row i: n_bad[i]
    i0 = np.arange(max(0, hours.size - t_n))
    midnight = (hours[i0] - hours[i0].astype("datetime64[D]")) == np.timedelta64(0, "h")
    span = (hours[i0 + t_n] - hours[i0]) == np.timedelta64(t_n, "h")  # no missing hour between
    clean = n_bad[i0 + t_n + 1] == n_bad[i0]
    start = i0[midnight & span & clean]
    if start.size == 0:
        raise EngineInputError(f"no {t_n}-hour window from 00:00 UTC over the hours all required assets share")
    steps_idx = start[:, None] + np.arange(1, t_n + 1)[None, :]  # (S, T) rows of steps 1..T
    mat = np.zeros((start.size, t_n, assets.n))
    mat[:, :, required] = sub[steps_idx] / sub[start][:, None, :] - 1.0
    m_sub = mask[:, cols][steps_idx]  # (S, T, n_required)
    by_asset = np.zeros((start.size, assets.n))
    by_asset[:, required] = m_sub.mean(axis=1)
    share = m_sub.mean(axis=(1, 2)) if required.size else np.zeros(start.size)
    label = {24: "1d", 72: "3d"}.get(t_n, f"{t_n}h")
    iso = [str(h) for h in hours[start]]
    return PathSet(
        family=family or (f"hist_{label}" if t_n in (24, 72) else f"hist_{t_n}h"),
        kind="historical",
        step_hours=1.0,
        names=tuple(f"path {label} {s[:10]}" for s in iso),
        shocks=mat,
        asset_symbols=tuple(assets.symbols),
        start=tuple(iso),
        interpolated_share=share,
        interpolated_by_asset=by_asset,
    )


def to_hourly(
    times: Sequence[object], prices: F64, hours: Sequence[object], *, max_gap_hours: int = 24
) -> tuple[F64, Bool]:
    """One asset's series on an hourly grid, interpolated linearly between its own observations (§9).

    An hour that is an observation keeps its price (not interpolated); an hour strictly
    between two consecutive observations at most ``max_gap_hours`` apart gets the linear
    interpolation ``P_a + (P_b − P_a)·(h − t_a)/(t_b − t_a)`` and is marked interpolated;
    any other hour (before the first, after the last observation, or inside a longer hole)
    is NaN. An hourly series therefore comes back unchanged with no mask; a 4 h or 1 d
    series is filled in between its bars, as §9 says for assets without a finer series.

    Args:
        times: ``(n,)`` observation times (anything ``datetime64[h]`` accepts), strictly
            increasing, on whole hours.
        prices: ``(n,)`` float64 USD, ``> 0`` (NaN observations are dropped first).
        hours: ``(H_T,)`` the target hourly grid.
        max_gap_hours: the longest span between observations that is bridged.

    Returns:
        ``(prices_on_grid, interpolated)``: ``(H_T,)`` float64 USD (NaN = no price) and
        ``(H_T,)`` bool, inputs of ``historical_paths``.

    Raises:
        EngineInputError: shapes differ, times not strictly increasing, ``max_gap_hours < 1``.
        PriceError: a finite price ``≤ 0``.
    """
    t = np.asarray(times, dtype="datetime64[h]")
    p = np.asarray(prices, dtype=np.float64)
    grid = np.asarray(hours, dtype="datetime64[h]")
    if t.shape != p.shape or t.ndim != 1:
        raise EngineInputError(f"times {t.shape} and prices {p.shape} must be equal 1-D shapes")
    if max_gap_hours < 1:
        raise EngineInputError(f"max_gap_hours must be >= 1, got {max_gap_hours}")
    ok = np.isfinite(p)
    if (p[ok] <= 0).any():
        raise PriceError("prices must be > 0 (NaN marks a missing price)")
    t, p = t[ok], p[ok]
    if t.size > 1 and not (np.diff(t) > np.timedelta64(0, "h")).all():
        raise EngineInputError("times must be strictly increasing")
    out = np.full(grid.shape, np.nan)
    mask = np.zeros(grid.shape, dtype=np.bool_)
    if not t.size:
        return out, mask
    ti, gi = t.astype(np.int64), grid.astype(np.int64)
    right = np.searchsorted(ti, gi, side="left")  # first observation at or after the hour
    exact = (right < ti.size) & (ti[np.minimum(right, ti.size - 1)] == gi)
    out[exact] = p[right[exact]]
    inner = ~exact & (right > 0) & (right < ti.size)
    a, b = right[inner] - 1, right[inner]
    span = ti[b] - ti[a]
    bridge = span <= max_gap_hours
    idx = np.flatnonzero(inner)[bridge]
    a, b, span = a[bridge], b[bridge], span[bridge]
    w = (gi[idx] - ti[a]) / span
    out[idx] = p[a] + (p[b] - p[a]) * w
    mask[idx] = True
    return out, mask


def concat_paths(*sets: PathSet, family: str | None = None) -> PathSet:
    """Concatenate path sets with the same assets, steps and step length, in order.

    Raises:
        EngineInputError: no sets, or sets over other assets, steps, step lengths or kinds.
    """
    if not sets:
        raise EngineInputError("concat_paths needs at least one PathSet")
    first = sets[0]
    for s in sets[1:]:
        if (s.asset_symbols, s.n_steps, s.step_hours, s.kind) != (
            first.asset_symbols,
            first.n_steps,
            first.step_hours,
            first.kind,
        ):
            raise EngineInputError("cannot concatenate path sets over different assets, steps or kinds")
    return PathSet(
        family=family or first.family,
        kind=first.kind,
        step_hours=first.step_hours,
        names=tuple(n for s in sets for n in s.names),
        shocks=np.concatenate([s.shocks for s in sets], axis=0),
        asset_symbols=first.asset_symbols,
        start=tuple(x for s in sets for x in s.start),
        interpolated_share=np.concatenate([s.interpolated_share for s in sets]),
        interpolated_by_asset=np.concatenate([s.interpolated_by_asset for s in sets], axis=0),
    )

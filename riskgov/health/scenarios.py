"""The standard scenario set of a health run, built from stored daily closes (RISK_MODEL §9, §10).

A *spec* (JSON-able dict, stored on the run) says what to include:

* ``uniform``: relative shocks applied to every non-stable asset (default −10 … −50 % and
  +10 … +50 %);
* ``historical_horizons``: every real ``h``-day window of the stored closes (default 1 and
  3 days), joint across the assets the snapshot uses (correlation kept);
* ``crash_days``: the named crash days of ``CRASH_DAYS`` whose two end dates exist in the data
  for every required asset (close before the crash → close after it);
* ``per_asset``: configured named per-asset scenarios ``[{"name", "shocks": {sym: r}}]``
  (default ``settings.RISKGOV_HEALTH_PER_ASSET_SCENARIOS``, empty);
* ``proxies``: explicit history proxies ``{asset: history asset}`` (default
  ``settings.RISKGOV_HEALTH_PROXIES``, empty: none is invented);
* ``alpha``: VaR/ES level (default 0.99);
* ``trend``: uniform moves reached linearly in ``trend_steps`` hourly steps (default the
  uniform shocks, 24 steps; family ``trend``);
* ``path_horizons``: historical path families, every 1-day (24 hourly steps, family
  ``path_1d``) and 3-day (72 steps, ``path_3d``) window from 00:00 UTC of the hourly prices
  (``markets.selectors.hourly_price_matrix``: each asset's finest real series, coarser ones
  interpolated and the share of interpolated steps reported per scenario); default
  ``settings.RISKGOV_HEALTH_PATH_HORIZONS`` (``[1, 3]``).

Path families (§9, §10): the gap scenarios above form the family ``gap`` (``T = 1``); the
trends and historical paths are ``PathSet`` families run by ``engine.path_stress`` and their
tails are computed per family, never pooled. Historical paths need every non-stable asset
the snapshot uses to have hourly history of its own or an explicit proxy (``proxies``);
when one has neither, the historical path families are **not built** (none is invented) and
the run's scenario meta says which assets were missing (``paths_missing``).

Decision on assets without history (§9 "none is invented"): the required assets of the
historical scenarios are the non-stable assets **the snapshot uses** (its price rows) that
have history of their own or a configured proxy. A used asset with neither is *held at its
price* in historical and crash-day scenarios (it is never given an invented move); such
assets are listed in the run's scenario meta (``historical_unshocked``) and in the export
of the scenario set, so the reader sees the gap. Assets the snapshot does not use do not
restrict the shared dates (they could not change any result).

Tail population (§10: per family with one horizon, never pooled): the ``gap`` family's
VaR/ES/Cover-2 are computed over the **1-day** historical gap windows only (the empirical
distribution; ``meta["tail_horizon_days"]``; the shortest horizon built when the spec has no
1-day windows). 3-day windows, uniform, crash-day and per-asset scenarios stay scenarios
(stress points, shown with their horizon) and enter no tail. With no historical window at
all, the gap tail is over every gap scenario (``tail_population`` says so).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Max, Min

from riskgov.core import limits
from riskgov.core.exceptions import DomainError
from riskgov.engine.paths import PathSet, historical_paths, trend_paths
from riskgov.engine.scenarios import ScenarioSet, concat, historical_scenarios, per_asset_scenario, uniform_scenarios
from riskgov.engine.types import EngineInputError, ParameterSet
from riskgov.markets.models import PriceBar
from riskgov.markets.selectors import PATH_SOURCES, hourly_price_matrix, price_matrix

UNIFORM_SHOCKS = (-0.1, -0.2, -0.3, -0.4, -0.5, 0.1, 0.2, 0.3, 0.4, 0.5)
HISTORICAL_HORIZONS = (1, 3)
DEFAULT_ALPHA = 0.99

#: Named crash days: (name, close before, close after). Used only when present in the data.
CRASH_DAYS = (
    ("Black Thursday", "2020-03-11", "2020-03-12"),
    ("May 2021 crash", "2021-05-18", "2021-05-19"),
    ("LUNA collapse", "2022-05-08", "2022-05-12"),
    ("FTX collapse", "2022-11-07", "2022-11-09"),
)

SPEC_TOKENS = {"uniform", "hist1", "hist3", "crash", "per_asset", "trend", "path1", "path3"}
PATH_HORIZONS = (1, 3)
TREND_STEPS = 24
#: family labels of the path families (FORMATS.md ``riskgov.health/2``)
PATH_FAMILIES = {1: "path_1d", 3: "path_3d"}
HEADLINE_FAMILY = "path_1d"


def default_spec() -> dict[str, Any]:
    """The standard spec (module docstring), with the configured per-asset scenarios and proxies."""
    return {
        "uniform": list(UNIFORM_SHOCKS),
        "historical_horizons": list(HISTORICAL_HORIZONS),
        "crash_days": True,
        "per_asset": list(getattr(settings, "RISKGOV_HEALTH_PER_ASSET_SCENARIOS", [])),
        "proxies": dict(getattr(settings, "RISKGOV_HEALTH_PROXIES", {})),
        "alpha": DEFAULT_ALPHA,
        "trend": list(UNIFORM_SHOCKS),
        "trend_steps": TREND_STEPS,
        "path_horizons": list(getattr(settings, "RISKGOV_HEALTH_PATH_HORIZONS", PATH_HORIZONS)),
    }


def parse_spec(text: str | dict[str, Any] | None) -> dict[str, Any]:
    """A scenario spec from the command line or API.

    Accepts ``None``/``"standard"`` (the default), a JSON object (keys of the module
    docstring; missing keys take the default), or comma-separated tokens among
    ``uniform, hist1, hist3, crash, per_asset, trend, path1, path3`` (e.g.
    ``"uniform,hist1,path1"``).

    Raises:
        DomainError: unknown token or key, or malformed JSON.
    """
    spec = default_spec()
    if text is None or text == "" or text == "standard":
        return spec
    if isinstance(text, str) and text.lstrip().startswith("{"):
        try:
            text = limits.load_json(text.encode("utf-8", "surrogatepass"), label="--scenarios")
        except limits.InputTooLarge as exc:
            raise DomainError(str(exc)) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DomainError(f"--scenarios: bad JSON: {exc}") from None
    if isinstance(text, dict):
        unknown = set(text) - set(spec)
        if unknown:
            raise DomainError(f"unknown scenario spec keys {sorted(unknown)}", extra={"allowed": sorted(spec)})
        spec.update(text)
        return spec
    tokens = {t.strip() for t in str(text).split(",") if t.strip()}
    bad = tokens - SPEC_TOKENS
    if bad:
        raise DomainError(f"unknown scenario tokens {sorted(bad)}; use {sorted(SPEC_TOKENS)} or 'standard'")
    return {
        **spec,
        "uniform": spec["uniform"] if "uniform" in tokens else [],
        "historical_horizons": [h for h in (1, 3) if f"hist{h}" in tokens],
        "crash_days": "crash" in tokens,
        "per_asset": spec["per_asset"] if "per_asset" in tokens else [],
        "trend": spec["trend"] if "trend" in tokens else [],
        "path_horizons": [h for h in (1, 3) if f"path{h}" in tokens],
    }


@dataclass(frozen=True)
class BuiltScenarios:
    """A run's scenario set with its tail flags and notes.

    Attributes:
        scenarios: the engine ``ScenarioSet`` (``S`` scenarios over the parameter set's assets).
        in_tail: ``(S,)`` bool, the scenario belongs to the VaR/ES population.
        meta: notes (assets held at price, crash days found/absent, history range).
        families: the path families (``trend``, ``path_1d``, ``path_3d``) in that order.
    """

    scenarios: ScenarioSet
    in_tail: tuple[bool, ...]
    meta: dict[str, Any]
    families: tuple[PathSet, ...] = ()

    @property
    def sha256(self) -> str:
        """Content hash of names and shocks (part of the run's input hash)."""
        h = hashlib.sha256()
        h.update(json.dumps([self.scenarios.names, self.scenarios.asset_symbols]).encode())
        h.update(np.ascontiguousarray(self.scenarios.shocks, dtype="<f8").tobytes())
        for fam in self.families:
            h.update(json.dumps([fam.family, fam.names]).encode())
            h.update(np.ascontiguousarray(fam.shocks, dtype="<f8").tobytes())
        return h.hexdigest()


def _empty(params: ParameterSet) -> ScenarioSet:
    n = params.assets.n
    return ScenarioSet((), (), np.zeros((0, n)), tuple(params.assets.symbols), (), ())


def build_scenarios(*, params: ParameterSet, spec: dict[str, Any], used_assets: Iterable[str]) -> BuiltScenarios:
    """Build the run's scenarios from the spec and the stored daily closes (§9).

    Args:
        params: the engine parameter set (its asset list orders the shock columns).
        spec: a spec from ``parse_spec``.
        used_assets: symbols of the assets the snapshot uses (its price rows).

    Returns:
        ``BuiltScenarios``.

    Raises:
        DomainError: a per-asset scenario names an unknown asset, a shock ≤ −1, or the
            spec yields no scenario at all.
    """
    assets = params.assets
    sets: list[ScenarioSet] = []
    tail: list[bool] = []
    meta: dict[str, Any] = {}
    try:
        if spec.get("uniform"):
            sets.append(uniform_scenarios(assets, [float(x) for x in spec["uniform"]]))
            tail += [False] * len(spec["uniform"])
        horizons = [int(h) for h in spec.get("historical_horizons") or []]
        if horizons or spec.get("crash_days"):
            hist_sets, hist_tail, hist_meta = _historical(params, spec, set(used_assets), horizons)
            sets += hist_sets
            tail += hist_tail
            meta.update(hist_meta)
        for entry in spec.get("per_asset") or []:
            sets.append(per_asset_scenario(assets, str(entry["name"]), dict(entry["shocks"])))
            tail.append(False)
    except (EngineInputError, KeyError, TypeError, ValueError) as exc:
        raise DomainError(f"scenario spec not usable: {exc}") from exc
    try:
        families, fam_meta = build_path_families(params=params, spec=spec, used_assets=set(used_assets))
    except (EngineInputError, KeyError, TypeError, ValueError) as exc:
        raise DomainError(f"scenario spec not usable: {exc}") from exc
    meta.update(fam_meta)
    if not sets and not families:
        raise DomainError("the scenario spec gives no scenario")
    scenarios = concat(*sets) if sets else _empty(params)
    if not any(tail):
        tail = [True] * scenarios.n
        meta.pop("tail_horizon_days", None)
        meta["tail_population"] = "all gap scenarios (no historical window)"
    else:
        meta["tail_population"] = f"{meta['tail_horizon_days']}-day historical gaps"
    return BuiltScenarios(scenarios=scenarios, in_tail=tuple(tail), meta=meta, families=tuple(families))


def _path_range(symbols: list[str]) -> tuple[dt.date, dt.date] | None:
    """The dates every one of ``symbols`` has a path-source bar on (first, last), or ``None``."""
    rows = (
        PriceBar.objects.filter(asset__symbol__in=symbols, source__in=list(PATH_SOURCES))
        .values("asset__symbol")
        .annotate(first=Min("date"), last=Max("date"))
    )
    got = {r["asset__symbol"]: (r["first"], r["last"]) for r in rows}
    if set(symbols) - set(got):
        return None
    first = max(v[0] for v in got.values())
    last = min(v[1] for v in got.values())
    return (first, last) if first <= last else None


def build_path_families(
    *, params: ParameterSet, spec: dict[str, Any], used_assets: set[str]
) -> tuple[list[PathSet], dict[str, Any]]:
    """The trend and historical path families of the spec (§9; module docstring).

    Returns:
        ``(families, meta)``: ``PathSet`` s labelled ``trend``, ``path_1d``, ``path_3d`` (the
        ones that could be built) and notes (``paths_required``, ``paths_missing``,
        ``path_1d`` windows/first/last/mean interpolated share, …).
    """
    assets = params.assets
    out: list[PathSet] = []
    meta: dict[str, Any] = {}
    moves = [float(x) for x in spec.get("trend") or []]
    if moves:
        out.append(trend_paths(assets, moves, steps=int(spec.get("trend_steps") or TREND_STEPS), family="trend"))
    horizons = [int(h) for h in spec.get("path_horizons") or []]
    if not horizons:
        return out, meta
    proxies = {k: v for k, v in (spec.get("proxies") or {}).items() if k in assets.symbols}
    required = [s for s, st in zip(assets.symbols, assets.stable, strict=True) if not st and s in used_assets]
    meta["paths_required"] = required
    if not required:
        meta["paths_note"] = "no non-stable asset used: no historical path"
        return out, meta
    hist_syms = sorted({proxies.get(s, s) for s in required})
    span = _path_range(hist_syms)
    if span is None:
        have = set(
            PriceBar.objects.filter(asset__symbol__in=hist_syms, source__in=list(PATH_SOURCES))
            .values_list("asset__symbol", flat=True)
            .distinct()
        )
        meta["paths_missing"] = sorted(s for s in required if proxies.get(s, s) not in have)
        meta["paths_note"] = (
            "historical paths not built: "
            + (", ".join(meta["paths_missing"]) or "no shared dates")
            + " without price history or proxy (none is invented)"
        )
        return out, meta
    hm = hourly_price_matrix(symbols=hist_syms, start=span[0], end=span[1])
    if hm.missing:
        meta["paths_missing"] = sorted(s for s in required if proxies.get(s, s) in hm.missing)
        meta["paths_note"] = "historical paths not built: no hourly prices for " + ", ".join(meta["paths_missing"])
        return out, meta
    hist_assets = replace(assets, stable=np.array([s not in required for s in assets.symbols], dtype=np.bool_))
    meta["paths_resolution_minutes"] = dict(zip(hm.symbols, hm.resolutions, strict=True))
    meta["paths_sources"] = dict(zip(hm.symbols, hm.sources, strict=True))
    for h in horizons:
        fam = PATH_FAMILIES.get(h, f"path_{h}d")
        try:
            ps = historical_paths(
                hist_assets,
                hm.prices,
                hm.symbols,
                hm.times,
                24 * h,
                interpolated=hm.interpolated,
                proxies=proxies,
                family=fam,
            )
        except EngineInputError as exc:
            meta[f"{fam}_note"] = str(exc)
            continue
        ps = replace(ps, asset_symbols=tuple(assets.symbols))
        out.append(ps)
        meta[fam] = {
            "windows": ps.n,
            "first": ps.start[0],
            "last": ps.start[-1],
            "mean_interpolated_share": float(ps.interpolated_share.mean()),
        }
    return out, meta


def _historical(
    params: ParameterSet, spec: dict[str, Any], used: set[str], horizons: list[int]
) -> tuple[list[ScenarioSet], list[bool], dict[str, Any]]:
    assets = params.assets
    proxies = {k: v for k, v in (spec.get("proxies") or {}).items() if k in assets.symbols}
    wanted = [s for s, st in zip(assets.symbols, assets.stable, strict=True) if not st and s in used]
    pm = price_matrix(symbols=sorted({proxies.get(s, s) for s in wanted}))
    have = set(pm.symbols)
    required = [s for s in wanted if proxies.get(s, s) in have]
    unshocked = sorted(set(wanted) - set(required))
    meta: dict[str, Any] = {"historical_required": required, "historical_unshocked": unshocked, "proxies": proxies}
    if not required:
        meta["historical_note"] = "no used asset has price history: no historical scenario"
        return [], [], meta
    # Assets outside the required set are treated as stable for the window builder: held at
    # their price (documented in the module docstring), never given an invented move.
    hist_assets = replace(assets, stable=np.array([s not in required for s in assets.symbols], dtype=np.bool_))
    built: list[tuple[int, ScenarioSet]] = []
    for h in horizons:
        try:
            s = historical_scenarios(hist_assets, pm.closes, pm.symbols, pm.dates, h, proxies=proxies)
        except EngineInputError as exc:
            meta[f"historical_{h}d_note"] = str(exc)
            continue
        built.append((h, s))
        meta[f"historical_{h}d"] = {"windows": s.n, "first": s.start_date[0], "last": s.end_date[-1]}
    # §10: one horizon per family, never pooled — the gap tail is the shortest horizon's
    # windows (1-day when built); the other windows stay scenarios outside every tail
    tail_h = min((h for h, _ in built), default=None)
    if tail_h is not None:
        meta["tail_horizon_days"] = tail_h
    sets: list[ScenarioSet] = [s for _, s in built]
    tail: list[bool] = [flag for h, s in built for flag in [h == tail_h] * s.n]
    if spec.get("crash_days"):
        crash = _crash_days(hist_assets, pm, required, proxies)
        meta["crash_days_found"] = list(crash.names)
        meta["crash_days_absent"] = [n for n, _, _ in CRASH_DAYS if not any(c.startswith(n) for c in crash.names)]
        if crash.n:
            sets.append(crash)
            tail += [False] * crash.n
    return sets, tail, meta


def _crash_days(hist_assets, pm, required: list[str], proxies: dict[str, str]) -> ScenarioSet:
    """Named crash days present for every required asset (close before → close after)."""
    dates = [str(d) for d in pm.dates]
    cols = [pm.symbols.index(proxies.get(s, s)) for s in required]
    req_idx = [hist_assets.index(s) for s in required]
    names, rows, starts, ends = [], [], [], []
    for name, start, end in CRASH_DAYS:
        if start not in dates or end not in dates:
            continue
        p0 = pm.closes[dates.index(start), cols]
        p1 = pm.closes[dates.index(end), cols]
        if not (np.isfinite(p0).all() and np.isfinite(p1).all()):
            continue
        row = np.zeros(hist_assets.n)
        row[req_idx] = p1 / p0 - 1.0
        names.append(f"{name} {start}..{end}")
        rows.append(row)
        starts.append(start)
        ends.append(end)
    shocks = np.array(rows) if rows else np.zeros((0, hist_assets.n))
    return ScenarioSet(
        names=tuple(names),
        kinds=("historical",) * len(names),
        shocks=shocks,
        asset_symbols=tuple(hist_assets.symbols),
        start_date=tuple(starts),
        end_date=tuple(ends),
    )


def scenarios_from_store(row: Any) -> tuple[ScenarioSet, np.ndarray]:
    """Rebuild the engine ``ScenarioSet`` and ``(S,)`` tail flags from a ``RunScenarioSet`` row."""
    n_a = len(row.asset_symbols)
    shocks = np.asarray(row.shocks, dtype=np.float64).reshape(-1, n_a)
    return (
        ScenarioSet(
            names=tuple(row.names),
            kinds=tuple(row.kinds),
            shocks=shocks,
            asset_symbols=tuple(row.asset_symbols),
            start_date=tuple(row.start_dates),
            end_date=tuple(row.end_dates),
        ),
        np.asarray(row.in_tail, dtype=np.bool_),
    )


def families_to_store(families: Iterable[PathSet]) -> tuple[list[dict[str, Any]], bytes]:
    """The ``RunScenarioSet.families`` JSON and ``paths`` bytes of a run's path families.

    The shocks of each family are kept exactly (float64) for the columns that move, in one
    compressed ``.npz`` (``f{i}``: ``(S, T, len(cols))``); the JSON has each family's label,
    kind, step length, names, starts, interpolated shares and moving columns.
    """
    meta: list[dict[str, Any]] = []
    arrays: dict[str, np.ndarray] = {}
    for i, fam in enumerate(families):
        cols = np.flatnonzero(np.any(fam.shocks != 0.0, axis=(0, 1)))
        arrays[f"f{i}"] = np.ascontiguousarray(fam.shocks[:, :, cols])
        meta.append(
            {
                "family": fam.family,
                "kind": fam.kind,
                "step_hours": fam.step_hours,
                "steps": fam.n_steps,
                "names": list(fam.names),
                "start": list(fam.start),
                "interpolated_share": fam.interpolated_share.tolist(),
                "cols": cols.tolist(),
                "n": fam.n,
            }
        )
    if not meta:
        return [], b""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return meta, buf.getvalue()


def families_from_store(row: Any) -> tuple[PathSet, ...]:
    """Rebuild the path families of a ``RunScenarioSet`` row (``families_to_store``)."""
    meta = list(getattr(row, "families", None) or [])
    if not meta:
        return ()
    data = np.load(io.BytesIO(bytes(row.paths)))
    n_a = len(row.asset_symbols)
    out = []
    for i, m in enumerate(meta):
        shocks = np.zeros((int(m["n"]), int(m["steps"]), n_a))
        shocks[:, :, np.asarray(m["cols"], dtype=np.int64)] = data[f"f{i}"]
        out.append(
            PathSet(
                family=m["family"],
                kind=m["kind"],
                step_hours=float(m["step_hours"]),
                names=tuple(m["names"]),
                shocks=shocks,
                asset_symbols=tuple(row.asset_symbols),
                start=tuple(m["start"]),
                interpolated_share=np.asarray(m["interpolated_share"], dtype=np.float64),
                interpolated_by_asset=np.zeros((int(m["n"]), n_a)),
            )
        )
    return tuple(out)

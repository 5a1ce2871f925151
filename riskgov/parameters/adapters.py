"""The one place parameter rows become engine dataclasses (STYLE rule 3).

``engine_parameters()`` gives the active parameter set, optionally overlaid with draft
versions (a proposal's), as a ``riskgov.engine.types.ParameterSet`` plus the ids of the
versions it was built from (stored on health runs so that a run can be reproduced).
Decimals become float64 here (RISK_MODEL §1 tolerance).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from riskgov.core.exceptions import DomainError
from riskgov.engine.brackets import build_parameter_set
from riskgov.engine.types import AssetSpec, MarketSpec, ParameterSet
from riskgov.markets.models import Asset
from riskgov.parameters.models import AssetParameterVersion, MarketParameterVersion
from riskgov.parameters.selectors import active_asset_versions, active_market_versions, market_versions


@dataclass(frozen=True)
class EngineParameters:
    """An engine parameter set and where it came from.

    Attributes:
        params: the engine's ``ParameterSet`` (assets and markets in symbol order).
        market_versions: ``{market symbol: MarketParameterVersion id}``.
        asset_versions: ``{asset symbol: AssetParameterVersion id}`` (assets with no
            version get haircut 0 and are absent here).
        horizons: ``{market symbol: liquidation horizon h_m in minutes}`` (RISK_MODEL §12;
            not an engine margin input, used by the §12 recommendation and its backtest).
    """

    params: ParameterSet
    market_versions: dict[str, int]
    asset_versions: dict[str, int]
    horizons: dict[str, float] = field(default_factory=dict)


def engine_parameters(
    *,
    overrides: Iterable[MarketParameterVersion | AssetParameterVersion] = (),
    markets: Iterable[str] | None = None,
    document: dict | None = None,
) -> EngineParameters:
    """The active set (every market with an active version), overlaid with ``overrides``.

    Args:
        overrides: draft (or any) versions that replace the active version of their
            market/asset, e.g. a proposal's drafts for an impact run.
        markets: restrict to these market symbols (default: all active).
        document: a validated ``riskgov.parameters/1`` document (a what-if run): the markets
            and assets it names replace the active ones (the rest stay active); nothing is
            stored or activated. ``market_versions``/``asset_versions`` still list the active
            versions the document is overlaid on (the document is recorded beside them).

    Raises:
        DomainError: no active parameters, or the set is invalid for the engine (the
            message names the market).
    """
    by_market = {v.market.symbol: v for v in active_market_versions(markets=markets)}
    by_asset = {v.asset.symbol: v for v in active_asset_versions()}
    override_ids = [o.pk for o in overrides if isinstance(o, MarketParameterVersion)]
    for v in market_versions().filter(pk__in=override_ids):
        by_market[v.market.symbol] = v
    for o in overrides:
        if isinstance(o, AssetParameterVersion):
            by_asset[o.asset.symbol] = o
    if not by_market:
        raise DomainError("no active market parameters: import a parameter set first")

    needed = {v.market.base_asset.symbol for v in by_market.values()}
    assets = {a.symbol: a for a in Asset.objects.all()}
    asset_symbols = sorted(set(assets) | needed)
    asset_specs = [
        AssetSpec(
            symbol=s,
            haircut=float(by_asset[s].haircut) if s in by_asset else 0.0,
            stable=bool(assets[s].stable) if s in assets else False,
        )
        for s in asset_symbols
    ]
    doc_markets = {m["symbol"]: m for m in (document or {}).get("markets", [])}
    doc_assets = {a["symbol"]: a for a in (document or {}).get("assets", [])}
    for m in doc_markets.values():
        needed.add(m["base_asset"])
    asset_symbols = sorted(set(asset_symbols) | needed | set(doc_assets))
    asset_specs = [
        AssetSpec(
            symbol=s,
            haircut=float(doc_assets[s]["haircut"]) if s in doc_assets else spec.haircut,
            stable=bool(doc_assets[s].get("stable", spec.stable)) if s in doc_assets else spec.stable,
        )
        for s in asset_symbols
        for spec in [
            AssetSpec(
                symbol=s,
                haircut=float(by_asset[s].haircut) if s in by_asset else 0.0,
                stable=bool(assets[s].stable) if s in assets else False,
            )
        ]
    ]
    market_specs = [_document_market(m) for m in doc_markets.values()]
    for symbol in sorted(set(by_market) - set(doc_markets)):
        v = by_market[symbol]
        rows = list(v.brackets.all())
        market_specs.append(
            MarketSpec(
                symbol=symbol,
                base_asset=v.market.base_asset.symbol,
                floors=[float(b.notional_floor) for b in rows],
                imf=[float(b.initial_margin_fraction) for b in rows],
                mmf=[float(b.maintenance_margin_fraction) for b in rows],
                liquidation_penalty=float(v.liquidation_penalty),
                depth_usd_per_1pct=float(v.depth_usd_per_1pct),
                oi_cap_lower=float(v.oi_cap_lower_usd),
                oi_cap_upper=float(v.oi_cap_upper_usd),
                max_position_notional=None
                if v.max_position_notional_usd is None
                else float(v.max_position_notional_usd),
            )
        )
    market_specs.sort(key=lambda m: m.symbol)
    try:
        params = build_parameter_set(assets=asset_specs, markets=market_specs)
    except ValueError as exc:
        raise DomainError(f"parameters not usable by the engine: {exc}") from exc
    return EngineParameters(
        params=params,
        market_versions={s: v.pk for s, v in by_market.items()},
        asset_versions={s: v.pk for s, v in by_asset.items()},
        horizons={s: float(v.liquidation_horizon_minutes) for s, v in by_market.items()},
    )


def _document_market(m: dict) -> MarketSpec:
    """A ``riskgov.parameters/1`` market (decimal strings) as an engine ``MarketSpec``."""
    rows = m["brackets"]
    cap = m.get("max_position_notional_usd")
    return MarketSpec(
        symbol=m["symbol"],
        base_asset=m["base_asset"],
        floors=[float(b["notional_floor"]) for b in rows],
        imf=[float(b["initial_margin_fraction"]) for b in rows],
        mmf=[float(b["maintenance_margin_fraction"]) for b in rows],
        liquidation_penalty=float(m.get("liquidation_penalty", 0)),
        depth_usd_per_1pct=float(m.get("depth_usd_per_1pct", "inf")),
        oi_cap_lower=float(m.get("oi_cap_lower_usd") or 0),
        oi_cap_upper=float(m.get("oi_cap_upper_usd") or 0),
        max_position_notional=None if cap is None else float(cap),
    )


def engine_parameters_from_document(document: dict) -> ParameterSet:
    """A validated ``riskgov.parameters/1`` document (``document.load_document``) as an engine
    ``ParameterSet``, without touching the database — the same field mapping as
    :func:`engine_parameters` (assets and markets in symbol order; maintenance amounts
    derived by the engine, RISK_MODEL §2).

    Used where a document is evaluated as it stands (the liquidation backtest).

    Raises:
        DomainError: the set is invalid for the engine (the message names the market).
    """
    assets = [
        AssetSpec(symbol=a["symbol"], haircut=float(a.get("haircut", 0)), stable=bool(a.get("stable", False)))
        for a in sorted(document["assets"], key=lambda a: a["symbol"])
    ]
    known = {a.symbol for a in assets}
    assets += [AssetSpec(symbol=s) for s in sorted({m["base_asset"] for m in document["markets"]} - known)]
    markets = [_document_market(m) for m in sorted(document["markets"], key=lambda m: m["symbol"])]
    try:
        return build_parameter_set(assets=assets, markets=markets)
    except ValueError as exc:
        raise DomainError(f"parameters not usable by the engine: {exc}") from exc

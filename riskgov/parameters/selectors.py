"""Read queries on parameters: active versions, field-by-field diff, export document."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, QuerySet

from riskgov.parameters.document import FORMAT, decimal_str, derive_maintenance_amounts
from riskgov.parameters.models import (
    BRACKET_FIELDS,
    MARKET_FIELDS,
    AssetParameterVersion,
    Bracket,
    MarketParameterVersion,
    ParameterImport,
    VersionStatus,
)


def market_versions(
    *, status: str | None = None, markets: Iterable[str] | None = None
) -> QuerySet[MarketParameterVersion]:
    """Market versions with market, base asset and brackets prefetched (3 queries in all)."""
    qs = MarketParameterVersion.objects.select_related("market", "market__base_asset").prefetch_related(
        Prefetch("brackets", queryset=Bracket.objects.order_by("index"))
    )
    if status:
        qs = qs.filter(status=status)
    if markets:
        qs = qs.filter(market__symbol__in=list(markets))
    return qs.order_by("market__symbol", "-number")


def active_market_versions(*, markets: Iterable[str] | None = None) -> QuerySet[MarketParameterVersion]:
    """The active version of every market (at most one each, by constraint)."""
    return market_versions(status=VersionStatus.ACTIVE, markets=markets)


def active_asset_versions() -> QuerySet[AssetParameterVersion]:
    """The active version of every asset."""
    return (
        AssetParameterVersion.objects.filter(status=VersionStatus.ACTIVE)
        .select_related("asset")
        .order_by("asset__symbol")
    )


def reference_imports() -> QuerySet[ParameterImport]:
    """Venue tables loaded for comparison (Binance, Hyperliquid, dYdX…)."""
    return ParameterImport.objects.filter(is_reference=True).order_by("venue", "-created_at")


@dataclass(frozen=True)
class FieldChange:
    """One changed field between two versions. ``path`` like ``brackets[2].initial_margin_fraction``.

    ``before``/``after`` are decimal strings, or ``None`` where the field (or bracket) does not
    exist on that side. ``relative`` is ``(after − before)/|before|`` where both are non-zero
    numbers, else ``None``.
    """

    path: str
    before: str | None
    after: str | None
    relative: Decimal | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "field": self.path,
            "before": self.before,
            "after": self.after,
            "relative_change": None if self.relative is None else str(self.relative),
        }


def field_change(path: str, a: Decimal | None, b: Decimal | None) -> FieldChange | None:
    """One field's change from ``a`` to ``b`` (None when equal); any governed kind's diff row."""
    if a == b:
        return None
    rel = None
    if a is not None and b is not None and a != 0:
        rel = ((b - a) / abs(a)).quantize(Decimal("1e-6"))
    return FieldChange(path, None if a is None else decimal_str(a), None if b is None else decimal_str(b), rel)


_change = field_change


def market_version_diff(before: MarketParameterVersion | None, after: MarketParameterVersion) -> list[FieldChange]:
    """Field-by-field differences from ``before`` to ``after`` (same market).

    Brackets are compared by position (1-based index); a bracket present on one side only
    shows every field with ``None`` on the other side. ``before=None`` lists every field as
    added. Maintenance amounts are included (derived, but what traders see).

    Raises:
        ValueError: the versions belong to different markets.
    """
    if before is not None and before.market_id != after.market_id:
        raise ValueError(f"cannot diff {before.market} with {after.market}")
    changes: list[FieldChange | None] = []
    for f in MARKET_FIELDS:
        changes.append(_change(f, None if before is None else getattr(before, f), getattr(after, f)))
    old = {b.index: b for b in (before.brackets.all() if before is not None else [])}
    new = {b.index: b for b in after.brackets.all()}
    for i in sorted(set(old) | set(new)):
        for f in BRACKET_FIELDS:
            changes.append(
                _change(
                    f"brackets[{i}].{f}",
                    getattr(old[i], f) if i in old else None,
                    getattr(new[i], f) if i in new else None,
                )
            )
    return [c for c in changes if c is not None]


def asset_version_diff(before: AssetParameterVersion | None, after: AssetParameterVersion) -> list[FieldChange]:
    """Differences between two asset versions (only the haircut is versioned)."""
    c = _change("haircut", None if before is None else before.haircut, after.haircut)
    return [c] if c else []


def _dec(value: Decimal | None) -> str | None:
    return None if value is None else decimal_str(value)


def parameters_document(
    *,
    market_versions_: Iterable[MarketParameterVersion],
    asset_versions: Iterable[AssetParameterVersion],
    name: str,
    source: str = "exported from riskgov",
) -> dict[str, Any]:
    """Build a ``riskgov.parameters/1`` document (FORMATS.md) from versions.

    Decimal values are written as plain decimal strings without exponent or trailing zeros.
    Only assets used by the markets or explicitly given are included.
    """
    markets = []
    for v in sorted(market_versions_, key=lambda v: v.market.symbol):
        markets.append(
            {
                "symbol": v.market.symbol,
                "base_asset": v.market.base_asset.symbol,
                "liquidation_penalty": _dec(v.liquidation_penalty),
                "depth_usd_per_1pct": _dec(v.depth_usd_per_1pct),
                "oi_cap_lower_usd": _dec(v.oi_cap_lower_usd),
                "oi_cap_upper_usd": _dec(v.oi_cap_upper_usd),
                "max_position_notional_usd": _dec(v.max_position_notional_usd),
                "liquidation_horizon_minutes": _dec(v.liquidation_horizon_minutes),
                "brackets": [
                    {
                        "notional_floor": _dec(b.notional_floor),
                        "initial_margin_fraction": _dec(b.initial_margin_fraction),
                        "maintenance_margin_fraction": _dec(b.maintenance_margin_fraction),
                    }
                    for b in v.brackets.all()
                ],
            }
        )
    assets = []
    for av in sorted(asset_versions, key=lambda v: v.asset.symbol):
        entry: dict[str, Any] = {"symbol": av.asset.symbol, "haircut": _dec(av.haircut)}
        if av.asset.stable:
            entry["stable"] = True
        assets.append(entry)
    return {"format": FORMAT, "name": name, "source": source, "assets": assets, "markets": markets}


def active_parameters_document(
    *, markets: Iterable[str] | None = None, name: str = "riskgov active parameters"
) -> dict[str, Any]:
    """The active parameter set (optionally some markets) as a ``riskgov.parameters/1`` document."""
    mv = list(active_market_versions(markets=markets))
    bases = {v.market.base_asset.symbol for v in mv}
    av = [a for a in active_asset_versions() if a.asset.stable or a.asset.symbol in bases or not markets]
    return parameters_document(market_versions_=mv, asset_versions=av, name=name)


@dataclass(frozen=True)
class BracketCurve:
    """One market's bracket table from one source, for charts.

    ``floors`` USD, ``imf``/``mmf`` fractions, ``maintenance_amounts`` USD (derived, §2).
    """

    label: str
    floors: tuple[Decimal, ...]
    imf: tuple[Decimal, ...]
    mmf: tuple[Decimal, ...]
    maintenance_amounts: tuple[Decimal, ...]


def _curve_from_document_market(label: str, market: dict[str, Any]) -> BracketCurve:
    floors = [Decimal(b["notional_floor"]) for b in market["brackets"]]
    mmf = [Decimal(b["maintenance_margin_fraction"]) for b in market["brackets"]]
    return BracketCurve(
        label=label,
        floors=tuple(floors),
        imf=tuple(Decimal(b["initial_margin_fraction"]) for b in market["brackets"]),
        mmf=tuple(mmf),
        maintenance_amounts=tuple(derive_maintenance_amounts(floors, mmf)),
    )


def market_version_curve(version: MarketParameterVersion, label: str | None = None) -> BracketCurve:
    """The bracket curve of one of our versions."""
    rows = list(version.brackets.all())
    return BracketCurve(
        label=label or f"riskgov v{version.number} ({version.status})",
        floors=tuple(b.notional_floor for b in rows),
        imf=tuple(b.initial_margin_fraction for b in rows),
        mmf=tuple(b.maintenance_margin_fraction for b in rows),
        maintenance_amounts=tuple(b.maintenance_amount for b in rows),
    )


def reference_curves(*, market: str) -> list[BracketCurve]:
    """The same market in every loaded venue reference table (newest table per venue)."""
    curves = []
    newest: dict[str, int] = {}
    for pk, venue in reference_imports().values_list("pk", "venue"):
        newest.setdefault(venue, pk)  # ordered newest first per venue
    # only the newest table of each venue is read (documents hold whole venue tables)
    for ref in ParameterImport.objects.filter(pk__in=newest.values()).order_by("venue"):
        for m in ref.document.get("markets", []):
            if m.get("symbol") == market:
                curves.append(_curve_from_document_market(f"{ref.venue} (reference)", m))
                break
    return curves

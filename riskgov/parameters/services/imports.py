"""Importing a ``riskgov.parameters/1`` document: all or nothing, audited (FORMATS.md "Parameter set").

Validation happens before anything is written, and any failure rolls the whole import back.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction

from riskgov.core.exceptions import Conflict
from riskgov.core.services import audit_record
from riskgov.markets.models import Asset, Market
from riskgov.parameters.document import validate_document
from riskgov.parameters.models import (
    BRACKET_INPUT_FIELDS,
    FRACTION,
    MINUTES,
    MONEY,
    AssetParameterVersion,
    MarketParameterVersion,
    ParameterImport,
    VersionStatus,
)
from riskgov.parameters.services._base import ParameterDocumentInvalid, _quantize
from riskgov.parameters.services.versions import asset_version_create, market_version_create
from riskgov.parameters.validation import DEFAULT_HORIZON_MINUTES


@dataclass
class ImportSummary:
    """What ``parameters_import_document`` did."""

    parameter_import: ParameterImport
    initial: bool
    market_versions: list[MarketParameterVersion] = field(default_factory=list)
    asset_versions: list[AssetParameterVersion] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _market_payload(m: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Decimal]]]:
    sym = m["symbol"]
    fields = {
        "liquidation_penalty": _quantize(
            Decimal(m["liquidation_penalty"]), FRACTION, f"markets[{sym}].liquidation_penalty"
        ),
        "depth_usd_per_1pct": _quantize(Decimal(m["depth_usd_per_1pct"]), MONEY, f"markets[{sym}].depth_usd_per_1pct"),
        "oi_cap_lower_usd": _quantize(
            Decimal(m.get("oi_cap_lower_usd") or "0"), MONEY, f"markets[{sym}].oi_cap_lower_usd"
        ),
        "oi_cap_upper_usd": _quantize(
            Decimal(m.get("oi_cap_upper_usd") or "0"), MONEY, f"markets[{sym}].oi_cap_upper_usd"
        ),
        "max_position_notional_usd": (
            None
            if m.get("max_position_notional_usd") is None
            else _quantize(Decimal(m["max_position_notional_usd"]), MONEY, f"markets[{sym}].max_position_notional_usd")
        ),
        "liquidation_horizon_minutes": _quantize(
            Decimal(m.get("liquidation_horizon_minutes") or DEFAULT_HORIZON_MINUTES),
            MINUTES,
            f"markets[{sym}].liquidation_horizon_minutes",
        ),
    }
    brackets = []
    for i, b in enumerate(m["brackets"], start=1):
        brackets.append(
            {
                "notional_floor": _quantize(
                    Decimal(b["notional_floor"]), MONEY, f"markets[{sym}].brackets[{i}].notional_floor"
                ),
                "initial_margin_fraction": _quantize(
                    Decimal(b["initial_margin_fraction"]),
                    FRACTION,
                    f"markets[{sym}].brackets[{i}].initial_margin_fraction",
                ),
                "maintenance_margin_fraction": _quantize(
                    Decimal(b["maintenance_margin_fraction"]),
                    FRACTION,
                    f"markets[{sym}].brackets[{i}].maintenance_margin_fraction",
                ),
            }
        )
    return fields, brackets


def _same_as(
    version: MarketParameterVersion | None, fields: dict[str, Any], brackets: list[dict[str, Decimal]]
) -> bool:
    if version is None:
        return False
    if any(getattr(version, f) != v for f, v in fields.items()):
        return False
    current = [{f: getattr(b, f) for f in BRACKET_INPUT_FIELDS} for b in version.brackets.all()]
    return current == brackets


def document_sha256(document: dict[str, Any]) -> str:
    """SHA-256 of a document's canonical JSON (sorted keys, decimals as strings)."""
    text = json.dumps(document, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@transaction.atomic
def parameters_import_document(
    *,
    document: dict[str, Any],
    venue: str = "riskgov",
    name: str | None = None,
    file_name: str = "",
    findings: Iterable[str] = (),
    by: Any = None,
    reference: bool = False,
) -> ImportSummary:
    """Import a ``riskgov.parameters/1`` document, all or nothing.

    * ``reference=True``: store the document only (a venue's published table to compare
      with); no assets, markets or versions are created.
    * On an empty database (no active market version at all) the document becomes the
      initial **active** parameter set (audited as the bootstrap).
    * Otherwise every asset and market whose values differ from its active version gets a
      new **draft** version (unchanged ones are listed, not duplicated); drafts become
      active only through an approved proposal (governance).

    Raises:
        ParameterDocumentInvalid: with every error found, each naming market/asset, bracket
            and field; nothing is written.
        Conflict: a market exists with another base asset.
    """
    errors = validate_document(document)
    if errors:
        raise ParameterDocumentInvalid(
            f"{file_name or 'document'}: {len(errors)} error(s); first: {errors[0]}", extra={"errors": errors}
        )
    sha = document_sha256(document)
    if reference:
        existing = ParameterImport.objects.filter(is_reference=True, venue=venue, sha256=sha).first()
        if existing is not None:  # the same table again: keep one copy (reruns are safe)
            return ImportSummary(parameter_import=existing, initial=False)
    record = ParameterImport.objects.create(
        name=name or document.get("name") or file_name or "unnamed",
        venue=venue,
        source=document.get("source", ""),
        file_name=file_name,
        sha256=sha,
        document=json.loads(json.dumps(document, default=str)),
        findings=list(findings),
        is_reference=reference,
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    audit_record(
        actor=by,
        action="parameters.import.reference" if reference else "parameters.import",
        obj=record,
        after={"venue": venue, "markets": len(document["markets"]), "sha256": record.sha256},
    )
    if reference:
        return ImportSummary(parameter_import=record, initial=False)

    initial = not MarketParameterVersion.objects.filter(status=VersionStatus.ACTIVE).exists()
    summary = ImportSummary(parameter_import=record, initial=initial)
    reason = ("initial parameters" if initial else "imported") + f" from {record.name}"
    _import_assets(document, summary, by=by, reason=reason)
    _import_markets(document, summary, by=by, reason=reason)
    return summary


def _import_assets(document: dict[str, Any], summary: ImportSummary, *, by: Any, reason: str) -> None:
    """A version per asset whose haircut differs from its active one (active on the bootstrap)."""
    for a in document["assets"]:
        asset, _ = Asset.objects.get_or_create(symbol=a["symbol"], defaults={"stable": bool(a.get("stable", False))})
        haircut = Decimal(a["haircut"])
        active = asset.versions.filter(status=VersionStatus.ACTIVE).first()
        if active is not None and active.haircut == _quantize(haircut, FRACTION, a["symbol"]):
            summary.unchanged.append(asset.symbol)
            continue
        summary.asset_versions.append(
            asset_version_create(
                asset=asset,
                haircut=haircut,
                by=by,
                reason=reason,
                status=VersionStatus.ACTIVE if active is None and summary.initial else VersionStatus.DRAFT,
                source_import=summary.parameter_import,
            )
        )


def _import_markets(document: dict[str, Any], summary: ImportSummary, *, by: Any, reason: str) -> None:
    """A version per market whose values differ from its active one (active on the bootstrap).

    Raises:
        Conflict: a market exists with another base asset.
    """
    status = VersionStatus.ACTIVE if summary.initial else VersionStatus.DRAFT
    assets = {a.symbol: a for a in Asset.objects.filter(symbol__in=[m["base_asset"] for m in document["markets"]])}
    for m in document["markets"]:
        market, _ = Market.objects.get_or_create(symbol=m["symbol"], defaults={"base_asset": assets[m["base_asset"]]})
        if market.base_asset_id != assets[m["base_asset"]].pk:
            raise Conflict(
                f"markets[{m['symbol']}].base_asset: {m['base_asset']} but the market exists with base asset {market.base_asset.symbol}"
            )
        fields, brackets = _market_payload(m)
        active = market.versions.filter(status=VersionStatus.ACTIVE).first()
        if _same_as(active, fields, brackets):
            summary.unchanged.append(market.symbol)
            continue
        summary.market_versions.append(
            market_version_create(
                market=market,
                fields=fields,
                brackets=brackets,
                by=by,
                reason=reason,
                status=status if active is None else VersionStatus.DRAFT,
                source_import=summary.parameter_import,
            )
        )

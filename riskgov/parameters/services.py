"""Write actions on parameters: import a parameter document, create drafts, activate.

Every action is one atomic function that records its own audit event (STYLE rules 4, 5).
Validation happens before anything is written, and any failure rolls the whole import back:
imports are all-or-nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from riskgov.core.exceptions import Conflict, DomainError
from riskgov.core.services import audit_record
from riskgov.markets.models import Asset, Market
from riskgov.parameters.document import validate_document
from riskgov.parameters.models import (
    BRACKET_INPUT_FIELDS,
    FRACTION,
    MARKET_FIELDS,
    MONEY,
    AssetParameterVersion,
    Bracket,
    MarketParameterVersion,
    ParameterImport,
    VersionStatus,
)
from riskgov.parameters.validation import (
    ParameterError,
    asset_errors,
    derive_maintenance_amounts,
    market_errors,
)


class ParameterDocumentInvalid(DomainError):
    """The parameter document breaks the format or RISK_MODEL §2; ``extra["errors"]`` lists all.

    Raised by the version services with ``extra = {"errors": [text, …], "parameter_errors":
    [{subject, bracket, field, rule, message, kind}, …]}`` (the one validator's structure,
    :class:`riskgov.parameters.validation.ParameterError`); by the document import with
    ``extra = {"errors": [text, …]}`` (format errors have no structure).
    """

    @classmethod
    def from_errors(cls, errors: list[ParameterError]) -> ParameterDocumentInvalid:
        """The first error as the message, every error in ``extra``."""
        texts = [e.text for e in errors]
        return cls(texts[0], extra={"errors": texts, "parameter_errors": [e.as_dict() for e in errors]})


@dataclass
class ImportSummary:
    """What ``parameters_import_document`` did."""

    parameter_import: ParameterImport
    initial: bool
    market_versions: list[MarketParameterVersion] = field(default_factory=list)
    asset_versions: list[AssetParameterVersion] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _quantize(value: Decimal, spec: dict[str, int], where: str) -> Decimal:
    """Round to the column's scale; refuse values that do not fit the column at all."""
    q = value.quantize(Decimal(1).scaleb(-spec["decimal_places"]))
    if len(q.as_tuple().digits) > spec["max_digits"]:
        raise ParameterDocumentInvalid(
            f"{where}: {value} does not fit NUMERIC({spec['max_digits']},{spec['decimal_places']})"
        )
    return q


def _provenance(*, by: Any, status: str, now: Any) -> dict[str, Any]:
    """Who created a version, and its approval/activation time when it is born active."""
    user = by if getattr(by, "is_authenticated", False) else None
    born_active = status == VersionStatus.ACTIVE
    return {
        "created_by": user,
        "created_by_name": user.get_username() if user else "",
        "approved_at": now if born_active else None,
        "activated_at": now if born_active else None,
    }


def _next_number(model: type, **subject: Any) -> int:
    current = model.objects.filter(**subject).aggregate(n=Max("number"))["n"]
    return (current or 0) + 1


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


def market_version_errors(
    *, symbol: str, fields: dict[str, Any], brackets: list[dict[str, Decimal]]
) -> list[ParameterError]:
    """The one validator's verdict on a market version's values (RISK_MODEL §2, §3, §8).

    Args:
        symbol: the market symbol the errors name.
        fields: ``MARKET_FIELDS`` → Decimal (``max_position_notional_usd`` may be None).
        brackets: rows of ``BRACKET_INPUT_FIELDS`` → Decimal, bracket order.
    """
    return market_errors(
        subject=symbol,
        **{f: fields.get(f) for f in MARKET_FIELDS},
        brackets=[tuple(b[f] for f in BRACKET_INPUT_FIELDS) for b in brackets],  # type: ignore[misc]
    )


@transaction.atomic
def market_version_create(
    *,
    market: Market,
    fields: dict[str, Any],
    brackets: list[dict[str, Decimal]],
    by: Any = None,
    reason: str = "",
    status: str = VersionStatus.DRAFT,
    source_import: ParameterImport | None = None,
) -> MarketParameterVersion:
    """Create a new version of a market's parameters with its brackets.

    Maintenance amounts are derived exactly in Decimal (RISK_MODEL §2). ``status`` is
    ``draft`` except for the initial bootstrap of an empty database, which creates the
    first ``active`` versions directly.

    Raises:
        ParameterDocumentInvalid: a bracket table breaks §2 (checked before writing).
        Conflict: activating while another version of the market is active.
    """
    errors = market_version_errors(symbol=market.symbol, fields=fields, brackets=brackets)
    if errors:
        raise ParameterDocumentInvalid.from_errors(errors)
    Market.objects.select_for_update().get(pk=market.pk)
    now = timezone.now()
    if status == VersionStatus.ACTIVE and market.versions.filter(status=VersionStatus.ACTIVE).exists():
        raise Conflict(f"{market.symbol} already has an active version")
    # Brackets can only be written while the version is a draft (database guard), so the
    # version is created as a draft and moved to its status once its brackets exist.
    version = MarketParameterVersion(
        market=market,
        number=_next_number(MarketParameterVersion, market=market),
        status=VersionStatus.DRAFT,
        reason=reason,
        source_import=source_import,
        **_provenance(by=by, status=status, now=now),
        **fields,
    )
    version.full_clean()
    version.save()
    cums = derive_maintenance_amounts(
        [b["notional_floor"] for b in brackets], [b["maintenance_margin_fraction"] for b in brackets]
    )
    Bracket.objects.bulk_create(
        [
            Bracket(version=version, index=i, maintenance_amount=c, **b)
            for i, (b, c) in enumerate(zip(brackets, cums, strict=False), start=1)
        ]
    )
    if status != VersionStatus.DRAFT:
        version.status = status
        version.save(update_fields=["status"])
    audit_record(
        actor=by,
        action="parameters.market_version.create",
        obj=version,
        to_state=status,
        after=market_version_as_dict(version),
        comment=reason,
    )
    return version


@transaction.atomic
def asset_version_create(
    *,
    asset: Asset,
    haircut: Decimal,
    by: Any = None,
    reason: str = "",
    status: str = VersionStatus.DRAFT,
    source_import: ParameterImport | None = None,
) -> AssetParameterVersion:
    """Create a new version of an asset's haircut (RISK_MODEL §4: ``0 <= h < 1``)."""
    errors = asset_errors(subject=asset.symbol, haircut=haircut)
    if errors:
        raise ParameterDocumentInvalid.from_errors(errors)
    Asset.objects.select_for_update().get(pk=asset.pk)
    if status == VersionStatus.ACTIVE and asset.versions.filter(status=VersionStatus.ACTIVE).exists():
        raise Conflict(f"{asset.symbol} already has an active version")
    now = timezone.now()
    version = AssetParameterVersion(
        asset=asset,
        number=_next_number(AssetParameterVersion, asset=asset),
        status=status,
        haircut=_quantize(haircut, FRACTION, f"assets[{asset.symbol}].haircut"),
        reason=reason,
        source_import=source_import,
        **_provenance(by=by, status=status, now=now),
    )
    version.full_clean()
    version.save()
    audit_record(
        actor=by,
        action="parameters.asset_version.create",
        obj=version,
        to_state=status,
        after={"asset": asset.symbol, "number": version.number, "haircut": str(version.haircut)},
        comment=reason,
    )
    return version


# Version status transitions allowed by governance (RISK_MODEL §13): a draft is approved
# with its proposal or discarded; an approved version becomes active or is discarded; an
# active version is superseded by the next one.
VERSION_TRANSITIONS: dict[str, frozenset[str]] = {
    VersionStatus.DRAFT: frozenset({VersionStatus.APPROVED, VersionStatus.DISCARDED}),
    VersionStatus.APPROVED: frozenset({VersionStatus.ACTIVE, VersionStatus.DISCARDED}),
    VersionStatus.ACTIVE: frozenset({VersionStatus.SUPERSEDED}),
    VersionStatus.SUPERSEDED: frozenset(),
    VersionStatus.DISCARDED: frozenset(),
}
_STATUS_TIMESTAMP = {
    VersionStatus.APPROVED: "approved_at",
    VersionStatus.ACTIVE: "activated_at",
    VersionStatus.SUPERSEDED: "superseded_at",
}


def _version_set_status(
    version: MarketParameterVersion | AssetParameterVersion, *, status: str, by: Any, reason: str, at: Any
) -> MarketParameterVersion | AssetParameterVersion:
    model = type(version)
    locked = model.objects.select_for_update().get(pk=version.pk)
    if status not in VERSION_TRANSITIONS[locked.status]:
        raise Conflict(f"{locked}: cannot go from {locked.status} to {status}")
    before = locked.status
    locked.status = status
    fields = ["status"]
    if status in _STATUS_TIMESTAMP:
        setattr(locked, _STATUS_TIMESTAMP[status], at or timezone.now())
        fields.append(_STATUS_TIMESTAMP[status])
    locked.save(update_fields=fields)
    kind = "market_version" if model is MarketParameterVersion else "asset_version"
    audit_record(
        actor=by, action=f"parameters.{kind}.status", obj=locked, from_state=before, to_state=status, comment=reason
    )
    return locked


@transaction.atomic
def market_version_set_status(
    *, version: MarketParameterVersion, status: str, by: Any = None, reason: str = "", at: Any = None
) -> MarketParameterVersion:
    """Move a market version along ``VERSION_TRANSITIONS`` (used by governance activation).

    Locks the version row, stamps ``approved_at``/``activated_at``/``superseded_at`` with
    ``at`` (default now) and records an audit event. The caller keeps "one active version
    per market" by superseding the old version before activating the new one in the same
    transaction (the partial unique index refuses anything else).

    Raises:
        Conflict: the transition is not allowed from the version's current status.
    """
    return _version_set_status(version, status=status, by=by, reason=reason, at=at)  # type: ignore[return-value]


@transaction.atomic
def asset_version_set_status(
    *, version: AssetParameterVersion, status: str, by: Any = None, reason: str = "", at: Any = None
) -> AssetParameterVersion:
    """Like ``market_version_set_status`` for an asset version."""
    return _version_set_status(version, status=status, by=by, reason=reason, at=at)  # type: ignore[return-value]


def market_version_as_dict(version: MarketParameterVersion) -> dict[str, Any]:
    """A version as JSON-safe data (decimal strings), for audit rows, diffs and export."""
    return {
        "market": version.market.symbol,
        "number": version.number,
        "status": version.status,
        **{f: (None if getattr(version, f) is None else str(getattr(version, f))) for f in MARKET_FIELDS},
        "brackets": [
            {
                **{f: str(getattr(b, f)) for f in BRACKET_INPUT_FIELDS},
                "maintenance_amount": str(b.maintenance_amount),
            }
            for b in version.brackets.order_by("index")
        ],
    }


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
    status = VersionStatus.ACTIVE if initial else VersionStatus.DRAFT
    reason = ("initial parameters" if initial else "imported") + f" from {record.name}"
    summary = ImportSummary(parameter_import=record, initial=initial)

    for a in document["assets"]:
        asset, created = Asset.objects.get_or_create(
            symbol=a["symbol"], defaults={"stable": bool(a.get("stable", False))}
        )
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
                status=VersionStatus.ACTIVE if active is None and initial else VersionStatus.DRAFT,
                source_import=record,
            )
        )

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
                source_import=record,
            )
        )
    return summary

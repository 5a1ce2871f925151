"""Write actions on parameter versions: create (validated by the one exact validator), move status.

Every action is one atomic function that records its own audit event (STYLE rules 4, 5).
Validation happens before anything is written (:mod:`riskgov.parameters.validation`);
maintenance amounts are derived once, exactly (``derive_maintenance_amounts``, RISK_MODEL §2).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from riskgov.core.exceptions import Conflict
from riskgov.core.services import audit_record
from riskgov.markets.models import Asset, Market
from riskgov.parameters.models import (
    BRACKET_INPUT_FIELDS,
    FRACTION,
    MARKET_FIELDS,
    AssetParameterVersion,
    Bracket,
    MarketParameterVersion,
    ParameterImport,
    VersionStatus,
)
from riskgov.parameters.services._base import ParameterDocumentInvalid, _next_number, _provenance, _quantize
from riskgov.parameters.validation import (
    DEFAULT_HORIZON_MINUTES,
    ParameterError,
    asset_errors,
    derive_maintenance_amounts,
    market_errors,
)


def market_version_errors(
    *, symbol: str, fields: dict[str, Any], brackets: list[dict[str, Decimal]]
) -> list[ParameterError]:
    """The one validator's verdict on a market version's values (RISK_MODEL §2, §3, §8).

    Args:
        symbol: the market symbol the errors name.
        fields: ``MARKET_FIELDS`` → Decimal (``max_position_notional_usd`` may be None; a
            missing ``liquidation_horizon_minutes`` is the §12 default, 5).
        brackets: rows of ``BRACKET_INPUT_FIELDS`` → Decimal, bracket order.
    """
    return market_errors(
        subject=symbol,
        **{f: fields.get(f) for f in MARKET_FIELDS if f != "liquidation_horizon_minutes"},
        liquidation_horizon_minutes=fields.get("liquidation_horizon_minutes", DEFAULT_HORIZON_MINUTES),
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
    audit_record(
        actor=by,
        action="parameters.market_version.create",
        obj=version,
        to_state=status,
        after=market_version_as_dict(version),
        comment=reason,
    )
    return _walk_to(version, status=status, by=by, reason=reason, at=now)  # type: ignore[return-value]


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
        status=VersionStatus.DRAFT,
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
    return _walk_to(version, status=status, by=by, reason=reason, at=now)  # type: ignore[return-value]


def _walk_to(
    version: MarketParameterVersion | AssetParameterVersion, *, status: str, by: Any, reason: str, at: Any
) -> MarketParameterVersion | AssetParameterVersion:
    """Move a just-created draft to ``status`` along the transitions (bootstrap: draft → approved → active).

    A version is always born a draft (the database refuses anything else); each step is a
    status change with its own audit event.
    """
    path = {VersionStatus.DRAFT: [], VersionStatus.APPROVED: [VersionStatus.APPROVED]}.get(
        status, [VersionStatus.APPROVED, VersionStatus.ACTIVE]
    )
    if status not in (VersionStatus.DRAFT, VersionStatus.APPROVED, VersionStatus.ACTIVE):
        raise Conflict(f"a new version cannot be created as {status}")
    for step in path:
        version = _version_set_status(version, status=step, by=by, reason=reason or "bootstrap", at=at)
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

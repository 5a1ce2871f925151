"""Write actions on PM parameter versions (RISK_MODEL §14, §13): create, move status.

Every action is one atomic function that records its own audit event (STYLE rules 4, 5).
The one exact validator (:mod:`riskgov.portfolio.validation`) runs before anything is
written; values are quantized to the columns (12 places).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from riskgov.core.exceptions import Conflict, DomainError
from riskgov.core.services import audit_record
from riskgov.markets.models import Asset
from riskgov.parameters.models import VersionStatus
from riskgov.parameters.services import VERSION_TRANSITIONS
from riskgov.parameters.services._base import _next_number, _provenance
from riskgov.parameters.validation import decimal_str
from riskgov.portfolio.models import DECIMAL_FIELDS, PMParameterVersion
from riskgov.portfolio.selectors import pm_version_as_dict
from riskgov.portfolio.validation import PMError, default_values, pm_errors

__all__ = ["PMParametersInvalid", "pm_defaults_seed", "pm_version_create", "pm_version_set_status", "quantize"]

PLACES = Decimal("1e-12")
_STAMP = {
    VersionStatus.APPROVED: "approved_at",
    VersionStatus.ACTIVE: "activated_at",
    VersionStatus.SUPERSEDED: "superseded_at",
}


class PMParametersInvalid(DomainError):
    """PM values break RISK_MODEL §14; ``extra["errors"]`` lists every error as text and
    ``extra["pm_errors"]`` as ``{subject, field, rule, message}``."""

    @classmethod
    def from_errors(cls, errors: list[PMError]) -> PMParametersInvalid:
        texts = [e.text for e in errors]
        return cls(texts[0], extra={"errors": texts, "pm_errors": [e.as_dict() for e in errors]})


def quantize(value: Decimal) -> Decimal:
    """To the columns' 12 places (half-even)."""
    return Decimal(value).quantize(PLACES)


def _row_json(values: Mapping[str, Any]) -> tuple[list[dict[str, str]], list[dict[str, str]] | None]:
    ext = [{"move": decimal_str(quantize(m)), "weight": decimal_str(quantize(w))} for m, w in values["extended"]]
    sc = values.get("scenarios")
    rows = (
        None
        if sc is None
        else [{"move": decimal_str(quantize(m)), "vol": vol, "weight": decimal_str(quantize(w))} for m, vol, w in sc]
    )
    return ext, rows


@transaction.atomic
def pm_version_create(
    *,
    underlying: Asset,
    values: Mapping[str, Any],
    by: Any = None,
    reason: str = "",
    source: str = "",
    status: str = VersionStatus.DRAFT,
) -> PMParameterVersion:
    """Create a version of an underlying's PM parameters.

    ``status`` is ``draft`` except for the first version of an underlying (seed or first
    import), which may be born ``active``.

    Raises:
        PMParametersInvalid: the values break §14 (checked before writing).
        Conflict: creating an active version while another one is active.
    """
    full = {**default_values(), **values}
    errors = pm_errors(subject=underlying.symbol, values=full)
    if errors:
        raise PMParametersInvalid.from_errors(errors)
    Asset.objects.select_for_update().get(pk=underlying.pk)
    if status == VersionStatus.ACTIVE and underlying.pm_versions.filter(status=VersionStatus.ACTIVE).exists():
        raise Conflict(f"{underlying.symbol} already has active PM parameters")
    ext, rows = _row_json(full)
    version = PMParameterVersion(
        underlying=underlying,
        number=_next_number(PMParameterVersion, underlying=underlying),
        status=status,
        reason=reason,
        source=source,
        buckets=int(full["buckets"]),
        extended=ext,
        scenarios=rows,
        **{f: quantize(Decimal(str(full[f]))) for f in DECIMAL_FIELDS},
        **_provenance(by=by, status=status, now=timezone.now()),
    )
    version.full_clean()
    version.save()
    audit_record(
        actor=by,
        action="portfolio.pm_version.create",
        obj=version,
        to_state=status,
        after=pm_version_as_dict(version),
        comment=reason,
    )
    return version


@transaction.atomic
def pm_version_set_status(
    *, version: PMParameterVersion, status: str, by: Any = None, reason: str = "", at: Any = None
) -> PMParameterVersion:
    """Move a PM version along ``VERSION_TRANSITIONS`` (governance activation), audited.

    Raises:
        Conflict: the transition is not allowed from the version's current status.
    """
    locked = PMParameterVersion.objects.select_for_update().get(pk=version.pk)
    if status not in VERSION_TRANSITIONS[locked.status]:
        raise Conflict(f"{locked}: cannot go from {locked.status} to {status}")
    before = locked.status
    locked.status = status
    fields = ["status"]
    if status in _STAMP:
        setattr(locked, _STAMP[status], at or timezone.now())
        fields.append(_STAMP[status])
    locked.save(update_fields=fields)
    audit_record(
        actor=by,
        action="portfolio.pm_version.status",
        obj=locked,
        from_state=before,
        to_state=status,
        comment=reason,
    )
    return locked


@transaction.atomic
def pm_defaults_seed(*, underlying: Asset, by: Any = None) -> PMParameterVersion | None:
    """The §14 defaults (Deribit's BTC set) as the first, active version of an underlying
    without PM parameters; None when it has some already."""
    if underlying.pm_versions.exists():
        return None
    return pm_version_create(
        underlying=underlying,
        values=default_values(),
        by=by,
        reason="RISK_MODEL §14 defaults (Deribit's published BTC set)",
        source="RISK_MODEL §14 defaults",
        status=VersionStatus.ACTIVE,
    )

"""Reads of PM parameter versions (RISK_MODEL §14): values, active versions, diff."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from riskgov.parameters.models import VersionStatus
from riskgov.parameters.selectors import FieldChange, field_change
from riskgov.portfolio.models import DECIMAL_FIELDS, PMParameterVersion
from riskgov.portfolio.validation import SCALAR_FIELDS

__all__ = [
    "active_pm_versions",
    "pm_version_as_dict",
    "pm_version_diff",
    "pm_version_flat",
    "pm_version_values",
]


def pm_version_values(version: PMParameterVersion) -> dict[str, Any]:
    """A version's values in validator form: Decimals, ``extended`` as ``((move, weight), …)``,
    ``scenarios`` as ``((move, vol, weight), …)`` or None."""
    out: dict[str, Any] = {f: getattr(version, f) for f in DECIMAL_FIELDS}
    out["buckets"] = Decimal(version.buckets)
    out["extended"] = tuple((Decimal(r["move"]), Decimal(r["weight"])) for r in version.extended or ())
    out["scenarios"] = (
        None
        if version.scenarios is None
        else tuple((Decimal(r["move"]), r["vol"], Decimal(r["weight"])) for r in version.scenarios)
    )
    return {k: out[k] for k in (*SCALAR_FIELDS, "extended", "scenarios")}


def pm_version_flat(version: PMParameterVersion | None) -> dict[str, Decimal | None]:
    """Governed fields by path: scalars, ``extended[i].move|weight``, ``scenarios[i].move|weight``
    (a scenario's vol is a name, shown in the diff's path: ``scenarios[2](up).weight``)."""
    if version is None:
        return {}
    v = pm_version_values(version)
    flat: dict[str, Decimal | None] = {f: v[f] for f in SCALAR_FIELDS}
    for i, (m, w) in enumerate(v["extended"], start=1):
        flat[f"extended[{i}].move"] = m
        flat[f"extended[{i}].weight"] = w
    for i, (m, vol, w) in enumerate(v["scenarios"] or (), start=1):
        flat[f"scenarios[{i}]({vol}).move"] = m
        flat[f"scenarios[{i}]({vol}).weight"] = w
    return flat


def pm_version_diff(before: PMParameterVersion | None, after: PMParameterVersion) -> list[FieldChange]:
    """Field-by-field changes (``field_change`` rows, as every kind's diff); table rows by position.

    Raises:
        ValueError: the versions belong to different underlyings.
    """
    if before is not None and before.underlying_id != after.underlying_id:
        raise ValueError(f"cannot diff {before.underlying} with {after.underlying}")
    a, b = pm_version_flat(before), pm_version_flat(after)
    rows = [field_change(k, a.get(k), b.get(k)) for k in [*b, *(k for k in a if k not in b)]]
    out = [r for r in rows if r is not None]
    if before is not None and (before.scenarios is None) != (after.scenarios is None):
        names = {True: "the §14 grid", False: "explicit list"}
        out.append(FieldChange("scenarios", names[before.scenarios is None], names[after.scenarios is None], None))
    return out


def pm_version_as_dict(version: PMParameterVersion) -> dict[str, Any]:
    """JSON-safe ``{underlying, number, status, <fields>…, extended, scenarios, source}`` (audit, API)."""
    return {
        "underlying": version.underlying.symbol,
        "number": version.number,
        "status": version.status,
        **{f: str(getattr(version, f)) for f in DECIMAL_FIELDS},
        "buckets": version.buckets,
        "extended": list(version.extended or []),
        "scenarios": None if version.scenarios is None else list(version.scenarios),
        "source": version.source,
    }


def active_pm_versions(*, symbols: Iterable[str] | None = None) -> QuerySet[PMParameterVersion]:
    """The active version of every underlying (or of ``symbols``)."""
    qs = PMParameterVersion.objects.filter(status=VersionStatus.ACTIVE).select_related("underlying")
    if symbols is not None:
        qs = qs.filter(underlying__symbol__in=list(symbols))
    return qs.order_by("underlying__symbol")

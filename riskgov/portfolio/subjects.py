"""The ``pm`` governed subject kind: portfolio-margin parameters per underlying (RISK_MODEL §14, §13).

Registered from ``PortfolioConfig.ready`` into :mod:`riskgov.core.subjects`. The subject is
an underlying ``Asset`` (``BTC``); versions are ``PMParameterVersion`` rows. A change spec::

    {"pm": "BTC", "price_range": "0.18", "buckets": 4, …,
     "extended": [{"move": "-0.66", "weight": "0.0545"}, …],
     "scenarios": null | [{"move": "-0.2", "vol": "up", "weight": "1"}, …]}

Fields left out keep the active version's values, or the §14 defaults (Deribit's published
BTC set) when the underlying has no PM parameters yet. The validator is
:func:`riskgov.portfolio.validation.pm_errors`, the stricter-than test
:func:`riskgov.portfolio.strictness.stricter_violations` (parameter-wise, with its proof),
the engine adapter :func:`riskgov.portfolio.adapters.pm_params`. ``engine_overrides`` gives
the versions themselves: a proposal's impact run freezes them for their underlyings (the
active versions for the rest, :func:`riskgov.portfolio.adapters.pm_version_ids_with`), so
every PM account is evaluated under the proposed PM parameters beside the active ones
(RISK_MODEL §15).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from riskgov.core.subjects import Finding, FormField, FormTable, SpecRefused, register
from riskgov.markets.models import Asset
from riskgov.parameters.models import VersionStatus
from riskgov.portfolio import selectors, services
from riskgov.portfolio.models import PMParameterVersion
from riskgov.portfolio.strictness import stricter_violations
from riskgov.portfolio.validation import SCALAR_FIELDS, VOL_NAMES, PMError, default_values, pm_errors

NAME = "pm"
SPEC_FIELDS = (*SCALAR_FIELDS, "extended", "scenarios")


_FRACTIONS = {"price_range", "vol_range_up", "vol_range_down", "min_vol_for_shock_up", "mm_factor"}
_FRACTIONS |= {"short_option_contingency", "perp_contingency"}
#: The PM change's inputs in the committee forms (RISK_MODEL §14; empty keeps the active value).
_LABELS = {
    "price_range": "Price range (± move)",
    "buckets": "Price buckets (per side)",
    "vol_range_up": "Vol shock up",
    "vol_range_down": "Vol shock down",
    "short_term_vega_power": "Short-term vega power",
    "long_term_vega_power": "Long-term vega power",
    "dte_floor_days": "DTE floor (days)",
    "min_vol_for_shock_up": "Min vol for the up shock",
    "mm_factor": "MM factor (MM / IM)",
    "short_option_contingency": "Short option contingency",
    "perp_contingency": "Perpetual contingency",
}
FORM_FIELDS = tuple(FormField(f, _LABELS.get(f, f), "fraction" if f in _FRACTIONS else "number") for f in SCALAR_FIELDS)
FORM_TABLES = (
    FormTable(
        "extended",
        "Extended price moves",
        (
            FormField("move", "Move", "fraction", empty="blank"),
            FormField("weight", "Weight", "fraction", empty="blank"),
        ),
    ),
    FormTable(
        "scenarios",
        "Scenarios (no rows = the standard grid)",
        (
            FormField("move", "Move", "fraction", empty="blank"),
            FormField("vol", "Vol", "choice", empty="blank", choices=VOL_NAMES),
            FormField("weight", "Weight", "fraction", empty="blank"),
        ),
        empty="null",
    ),
)


def pm_finding(e: PMError) -> Finding:
    """A validator error as a governance finding (field = the form field)."""
    return Finding(e.where, e.rule, e.text, subject=e.subject, field=e.top_field)


def _number(value: Any, sym: str, path: str) -> Decimal:
    where = f"{sym} {path}"
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        d = None
    if isinstance(value, bool) or d is None or not d.is_finite():
        field = path.split("[", 1)[0]
        raise SpecRefused(
            [Finding(where, "not_a_number", f"{where}: {value!r} is not a decimal number", sym, None, field)]
        )
    if abs(d) >= Decimal(10) ** 4:
        field = path.split("[", 1)[0]
        raise SpecRefused(
            [
                Finding(
                    where,
                    "out_of_range",
                    f"{where}: {value!r} does not fit (at most 4 digits before the point)",
                    sym,
                    None,
                    field,
                )
            ]
        )
    return d


def _rows(value: Any, sym: str, key: str, cols: tuple[str, ...]) -> tuple[tuple[Any, ...], ...]:
    if not isinstance(value, list):
        raise SpecRefused([Finding(f"{sym} {key}", "not_a_list", f"{sym} {key}: must be a list", sym, None, key)])
    out = []
    for i, row in enumerate(value):
        if isinstance(row, list | tuple) and len(row) == len(cols):
            row = dict(zip(cols, row, strict=True))
        if not isinstance(row, dict) or set(row) != set(cols):
            msg = f"{sym} {key}[{i}]: needs exactly {', '.join(cols)}"
            raise SpecRefused([Finding(f"{sym} {key}[{i}]", "row_fields", msg, sym, None, key)])
        out.append(tuple(row[c] if c == "vol" else _number(row[c], sym, f"{key}[{i}].{c}") for c in cols))
    return tuple(out)


class PMKind:
    """PM parameters of one underlying: ``PMParameterVersion`` (RISK_MODEL §14)."""

    name = NAME
    label = "PM parameters"
    version_model = PMParameterVersion
    same_what = "values"
    version_url_name = "pm-version"
    fast_track_allowed = True
    form_fields = FORM_FIELDS
    form_tables = FORM_TABLES

    def form_subjects(self) -> list[str]:
        """Underlyings with active PM parameters, by symbol."""
        rows = PMParameterVersion.objects.filter(status=VersionStatus.ACTIVE).order_by("underlying__symbol")
        return list(dict.fromkeys(rows.values_list("underlying__symbol", flat=True)))

    def find_subject(self, symbol: str) -> Asset | None:
        return Asset.objects.filter(symbol=symbol).first()

    def subject_symbol(self, version: PMParameterVersion) -> str:
        return version.underlying.symbol

    def active_version(self, subject: Asset) -> PMParameterVersion | None:
        return PMParameterVersion.objects.filter(underlying=subject, status=VersionStatus.ACTIVE).first()

    def active_version_id(self, version: PMParameterVersion) -> int | None:
        return (
            PMParameterVersion.objects.filter(underlying_id=version.underlying_id, status=VersionStatus.ACTIVE)
            .values_list("pk", flat=True)
            .first()
        )

    def lock_subjects(self, versions: Sequence[PMParameterVersion]) -> None:
        ids = sorted({v.underlying_id for v in versions})
        list(Asset.objects.select_for_update().filter(pk__in=ids).order_by("pk").values_list("pk", flat=True))

    def versions_by_id(self, ids: Sequence[int]) -> dict[int, PMParameterVersion]:
        return PMParameterVersion.objects.select_related("underlying").in_bulk(list(ids))

    def parse_spec(
        self, spec: Mapping[str, Any], *, subject: Asset, base: PMParameterVersion | None, where: str = ""
    ) -> dict[str, Any]:
        sym = subject.symbol
        unknown = set(spec) - {NAME, *SPEC_FIELDS}
        if unknown:
            msg = f"{where or sym} ({sym} PM): unknown field(s) {sorted(unknown)}"
            raise SpecRefused([Finding(where or sym, "unknown_field", msg, sym)])
        values = selectors.pm_version_values(base) if base is not None else default_values()
        for f in SCALAR_FIELDS:
            if f in spec:
                values[f] = _number(spec[f], sym, f)
        if "extended" in spec:
            values["extended"] = _rows(spec["extended"], sym, "extended", ("move", "weight"))
        if "scenarios" in spec:
            raw = spec["scenarios"]
            values["scenarios"] = None if raw is None else _rows(raw, sym, "scenarios", ("move", "vol", "weight"))
        return values

    def validate(self, symbol: str, payload: dict[str, Any]) -> list[Finding]:
        return [pm_finding(e) for e in pm_errors(subject=symbol, values=payload)]

    def create_version(self, *, subject: Asset, payload: dict[str, Any], by: Any, reason: str) -> PMParameterVersion:
        return services.pm_version_create(underlying=subject, values=payload, by=by, reason=reason)

    def payload_of(self, version: PMParameterVersion) -> dict[str, Any]:
        return selectors.pm_version_values(version)

    def spec_of(self, symbol: str, version: PMParameterVersion) -> dict[str, Any]:
        d = selectors.pm_version_as_dict(version)
        return {NAME: symbol, **{f: d[f] for f in SPEC_FIELDS}}

    def set_status(
        self, version: PMParameterVersion, *, status: str, by: Any, at: Any, reason: str
    ) -> PMParameterVersion:
        return services.pm_version_set_status(version=version, status=status, by=by, at=at, reason=reason)

    def values(self, version: PMParameterVersion | None) -> dict[str, Decimal | None]:
        return selectors.pm_version_flat(version)

    def history(self, version: PMParameterVersion) -> list[PMParameterVersion]:
        return list(
            PMParameterVersion.objects.filter(
                underlying_id=version.underlying_id,
                activated_at__isnull=False,
                status__in=[VersionStatus.ACTIVE, VersionStatus.SUPERSEDED],
            ).order_by("activated_at", "number")
        )

    def diff(self, base: PMParameterVersion | None, new: PMParameterVersion) -> list[Any]:
        return selectors.pm_version_diff(base, new)

    def stricter_violations(self, symbol: str, base: PMParameterVersion, new: PMParameterVersion) -> list[Finding]:
        old_v, new_v = selectors.pm_version_values(base), selectors.pm_version_values(new)
        return [pm_finding(e) for e in stricter_violations(subject=symbol, old=old_v, new=new_v)]

    def as_audit(self, version: PMParameterVersion) -> dict[str, Any]:
        return selectors.pm_version_as_dict(version)

    def engine_overrides(self, versions: Sequence[PMParameterVersion]) -> list[PMParameterVersion]:
        return list(versions)


PM = register(PMKind())

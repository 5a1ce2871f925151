"""The ``market`` and ``asset`` governed subject kinds (DESIGN "Governed subjects", RISK_MODEL §13).

Registered from ``ParametersConfig.ready`` into :mod:`riskgov.core.subjects`. Each kind
declares its version model, how to find a subject and its active version, how a change spec
becomes a draft version, the one exact validator (:mod:`riskgov.parameters.validation`),
the diff, the stricter-than test for emergencies (:mod:`riskgov.parameters.strictness`),
the status transitions (:mod:`riskgov.parameters.services`) and the engine hook (the
versions overlaid on the active parameter set for an impact run,
:func:`riskgov.parameters.adapters.engine_parameters`).

Change specs:

- market: ``{"market": symbol, <MARKET_FIELDS>…, "brackets": [{notional_floor,
  initial_margin_fraction, maintenance_margin_fraction}, …]}``; fields left out keep the
  active version's values (oi caps default to ``0``, max notional to unlimited, the
  liquidation horizon to 5 minutes when there is no active version). Payload: ``(fields, brackets)`` of Decimals quantized to the columns.
- asset: ``{"asset": symbol, "haircut": value}``. Payload: the Decimal haircut.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from riskgov.core.subjects import Finding, FormField, FormTable, SpecRefused, register
from riskgov.markets.models import Asset, Market
from riskgov.parameters import selectors, services
from riskgov.parameters.models import (
    BRACKET_INPUT_FIELDS,
    FRACTION,
    MARKET_FIELDS,
    MINUTES,
    MONEY,
    AssetParameterVersion,
    MarketParameterVersion,
    VersionStatus,
)
from riskgov.parameters.strictness import MarketTerms, finding, haircut_violations, stricter_only_violations
from riskgov.parameters.validation import DEFAULT_HORIZON_MINUTES, asset_errors

#: Column scale of every governed decimal field (what a typed value is quantized to).
SCALE: dict[str, dict[str, int]] = {f: FRACTION if f == "liquidation_penalty" else MONEY for f in MARKET_FIELDS}
SCALE.update(
    {
        "liquidation_horizon_minutes": MINUTES,
        "notional_floor": MONEY,
        "initial_margin_fraction": FRACTION,
        "maintenance_margin_fraction": FRACTION,
        "haircut": FRACTION,
    }
)


def spec_decimal(value: Any, where: str, field: str, *, subject: str = "", bracket: int | None = None) -> Decimal:
    """A typed value as a Decimal quantized to its column (``SCALE``).

    Raises:
        SpecRefused: ``not_a_number`` — not a decimal number, or not finite;
            ``out_of_range`` — too large for the column (``NUMERIC(max_digits, decimal_places)``).
    """
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise SpecRefused(
            [Finding(where, "not_a_number", f"{where}: {value!r} is not a decimal number", subject, bracket, field)]
        ) from exc
    if not d.is_finite():
        raise SpecRefused(
            [Finding(where, "not_a_number", f"{where}: {value!r} is not finite", subject, bracket, field)]
        )
    spec = SCALE[field]
    try:
        q = d.quantize(Decimal(1).scaleb(-spec["decimal_places"]))
    except InvalidOperation:
        q = None
    if q is None or len(q.as_tuple().digits) > spec["max_digits"]:
        whole = spec["max_digits"] - spec["decimal_places"]
        msg = f"{where}: {value!r} does not fit (at most {whole} digits before the point)"
        raise SpecRefused([Finding(where, "out_of_range", msg, subject, bracket, field)])
    return q


_PCT_HINT = "a percent (0.5 %) or a fraction (0.005)"
#: The market change's inputs in the committee forms (empty keeps the active value; an empty
#: max position notional means unlimited).
MARKET_FORM_FIELDS = (
    FormField("liquidation_penalty", "Liquidation penalty", "fraction", _PCT_HINT),
    FormField("depth_usd_per_1pct", "Depth (USD per 1 % move)"),
    FormField("max_position_notional_usd", "Max position notional (USD)", help="empty = unlimited", empty="null"),
    FormField("oi_cap_lower_usd", "OI cap, lower (USD)", help="0 = no OI scaling"),
    FormField("oi_cap_upper_usd", "OI cap, upper (USD)", help="0 = no OI scaling"),
    FormField(
        "liquidation_horizon_minutes",
        "Liquidation horizon (minutes)",
        help="time to detect and close a position (RISK_MODEL §12)",
    ),
)
BRACKET_TABLE = FormTable(
    "brackets",
    "Brackets",
    (
        FormField("notional_floor", "Notional floor (USD)", empty="blank"),
        FormField("initial_margin_fraction", "IMF", "fraction", empty="blank"),
        FormField("maintenance_margin_fraction", "MMF", "fraction", empty="blank"),
    ),
    numbered=True,
)


def _with_active(model: type, subject_field: str) -> list[str]:
    path = f"{subject_field}__symbol"
    rows = model.objects.filter(status=VersionStatus.ACTIVE).order_by(path).values_list(path, flat=True)
    return list(dict.fromkeys(rows))


def _active(model: type, **subject: Any) -> Any | None:
    return model.objects.filter(status=VersionStatus.ACTIVE, **subject).first()


def _history(model: type, **subject: Any) -> Any:
    return (
        model.objects.filter(activated_at__isnull=False, **subject)
        .filter(status__in=[VersionStatus.ACTIVE, VersionStatus.SUPERSEDED])
        .order_by("activated_at", "number")
    )


def _lock(model: type, ids: Sequence[int]) -> None:
    list(model.objects.select_for_update().filter(pk__in=sorted(set(ids))).order_by("pk").values_list("pk", flat=True))


class MarketKind:
    """Market margin parameters: ``MarketParameterVersion`` + ``Bracket`` rows (RISK_MODEL §2, §3, §8)."""

    name = "market"
    label = "market"
    version_model = MarketParameterVersion
    same_what = "values"
    version_url_name = "market-version"
    fast_track_allowed = True
    form_fields = MARKET_FORM_FIELDS
    form_tables = (BRACKET_TABLE,)

    def form_subjects(self) -> list[str]:
        """Markets with an active version, by symbol (what a change may name)."""
        return _with_active(MarketParameterVersion, "market")

    def find_subject(self, symbol: str) -> Market | None:
        return Market.objects.filter(symbol=symbol).first()

    def subject_symbol(self, version: MarketParameterVersion) -> str:
        return version.market.symbol

    def active_version(self, subject: Market) -> MarketParameterVersion | None:
        return _active(MarketParameterVersion, market=subject)

    def active_version_id(self, version: MarketParameterVersion) -> int | None:
        return (
            MarketParameterVersion.objects.filter(market_id=version.market_id, status=VersionStatus.ACTIVE)
            .values_list("pk", flat=True)
            .first()
        )

    def lock_subjects(self, versions: Sequence[MarketParameterVersion]) -> None:
        _lock(Market, [v.market_id for v in versions])

    def versions_by_id(self, ids: Sequence[int]) -> dict[int, MarketParameterVersion]:
        qs = MarketParameterVersion.objects.select_related("market__base_asset").prefetch_related("brackets")
        return qs.in_bulk(list(ids))

    def parse_spec(
        self, spec: Mapping[str, Any], *, subject: Market, base: MarketParameterVersion | None, where: str = ""
    ) -> tuple[dict[str, Any], list[dict[str, Decimal]]]:
        sym = subject.symbol
        where = where or sym
        unknown = set(spec) - {"market", "brackets", *MARKET_FIELDS}
        if unknown:
            msg = f"{where} ({sym}): unknown field(s) {sorted(unknown)}"
            raise SpecRefused([Finding(where, "unknown_field", msg, sym)])
        fields: dict[str, Any] = {}
        for f in MARKET_FIELDS:
            if f in spec:
                v = spec[f]
                none_ok = v is None and f == "max_position_notional_usd"
                fields[f] = None if none_ok else spec_decimal(v, f"{sym} {f}", f, subject=sym)
            elif base is not None:
                fields[f] = getattr(base, f)
            elif f in ("oi_cap_lower_usd", "oi_cap_upper_usd"):
                fields[f] = Decimal(0)
            elif f == "max_position_notional_usd":
                fields[f] = None
            elif f == "liquidation_horizon_minutes":
                fields[f] = DEFAULT_HORIZON_MINUTES
            else:
                msg = f"{sym}: {f} is required (no active version)"
                raise SpecRefused([Finding(f"{sym} {f}", "missing_field", msg, sym, None, f)])
        return fields, self._brackets(spec, sym, base)

    def _brackets(
        self, spec: Mapping[str, Any], sym: str, base: MarketParameterVersion | None
    ) -> list[dict[str, Decimal]]:
        if "brackets" not in spec:
            if base is None:
                raise SpecRefused([Finding(f"{sym} brackets", "missing_field", f"{sym}: brackets are required", sym)])
            return [{f: getattr(b, f) for f in BRACKET_INPUT_FIELDS} for b in base.brackets.order_by("index")]
        rows = spec["brackets"]
        if not isinstance(rows, list):
            raise SpecRefused([Finding(f"{sym} brackets", "not_a_list", f"{sym}: brackets must be a list", sym)])
        out = []
        for k, row in enumerate(rows, start=1):
            if not isinstance(row, dict) or set(row) != set(BRACKET_INPUT_FIELDS):
                msg = f"{sym} bracket {k}: needs exactly {', '.join(BRACKET_INPUT_FIELDS)}"
                raise SpecRefused([Finding(f"{sym} bracket {k}", "bracket_fields", msg, sym, k)])
            out.append(
                {
                    f: spec_decimal(row[f], f"{sym} bracket {k} {f}", f, subject=sym, bracket=k)
                    for f in BRACKET_INPUT_FIELDS
                }
            )
        return out

    def validate(self, symbol: str, payload: tuple[dict[str, Any], list[dict[str, Decimal]]]) -> list[Finding]:
        fields, brackets = payload
        return [finding(e) for e in services.market_version_errors(symbol=symbol, fields=fields, brackets=brackets)]

    def create_version(
        self, *, subject: Market, payload: tuple[dict[str, Any], list[dict[str, Decimal]]], by: Any, reason: str
    ) -> MarketParameterVersion:
        fields, brackets = payload
        return services.market_version_create(market=subject, fields=fields, brackets=brackets, by=by, reason=reason)

    def payload_of(self, version: MarketParameterVersion) -> tuple[dict[str, Any], list[dict[str, Decimal]]]:
        fields = {f: getattr(version, f) for f in MARKET_FIELDS}
        rows = sorted(version.brackets.all(), key=lambda b: b.index)
        return fields, [{f: getattr(b, f) for f in BRACKET_INPUT_FIELDS} for b in rows]

    def spec_of(self, symbol: str, version: MarketParameterVersion) -> dict[str, Any]:
        fields, brackets = self.payload_of(version)
        return {"market": symbol, **fields, "brackets": brackets}

    def set_status(
        self, version: MarketParameterVersion, *, status: str, by: Any, at: Any, reason: str
    ) -> MarketParameterVersion:
        return services.market_version_set_status(version=version, status=status, by=by, at=at, reason=reason)

    def values(self, version: MarketParameterVersion | None) -> dict[str, Decimal | None]:
        if version is None:
            return {}
        values: dict[str, Decimal | None] = {f: getattr(version, f) for f in MARKET_FIELDS}
        for b in version.brackets.all():
            for f in BRACKET_INPUT_FIELDS:
                values[f"brackets[{b.index}].{f}"] = getattr(b, f)
        return values

    def history(self, version: MarketParameterVersion) -> list[MarketParameterVersion]:
        return list(_history(MarketParameterVersion, market_id=version.market_id).prefetch_related("brackets"))

    def diff(self, base: MarketParameterVersion | None, new: MarketParameterVersion) -> list[Any]:
        return selectors.market_version_diff(base, new)

    def terms(self, version: MarketParameterVersion) -> MarketTerms:
        """A market version as exact plain values (brackets ordered by floor)."""
        rows = sorted(version.brackets.all(), key=lambda b: b.index)
        return MarketTerms(
            floors=tuple(b.notional_floor for b in rows),
            imf=tuple(b.initial_margin_fraction for b in rows),
            mmf=tuple(b.maintenance_margin_fraction for b in rows),
            liquidation_penalty=version.liquidation_penalty,
            depth_usd_per_1pct=version.depth_usd_per_1pct,
            oi_cap_lower_usd=version.oi_cap_lower_usd,
            oi_cap_upper_usd=version.oi_cap_upper_usd,
            max_position_notional_usd=version.max_position_notional_usd,
            liquidation_horizon_minutes=version.liquidation_horizon_minutes,
        )

    def stricter_violations(
        self, symbol: str, base: MarketParameterVersion, new: MarketParameterVersion
    ) -> list[Finding]:
        return stricter_only_violations(symbol, self.terms(base), self.terms(new))

    def as_audit(self, version: MarketParameterVersion) -> dict[str, Any]:
        return services.market_version_as_dict(version)

    def engine_overrides(self, versions: Sequence[MarketParameterVersion]) -> list[MarketParameterVersion]:
        return list(versions)


class AssetKind:
    """Asset collateral parameters: ``AssetParameterVersion`` (the haircut, RISK_MODEL §4)."""

    name = "asset"
    label = "asset"
    version_model = AssetParameterVersion
    same_what = "haircut"
    version_url_name = ""
    fast_track_allowed = True
    form_fields = (FormField("haircut", "Haircut", "fraction", _PCT_HINT, empty="blank"),)
    form_tables = ()

    def form_subjects(self) -> list[str]:
        """Assets with an active haircut version, by symbol."""
        return _with_active(AssetParameterVersion, "asset")

    def find_subject(self, symbol: str) -> Asset | None:
        return Asset.objects.filter(symbol=symbol).first()

    def subject_symbol(self, version: AssetParameterVersion) -> str:
        return version.asset.symbol

    def active_version(self, subject: Asset) -> AssetParameterVersion | None:
        return _active(AssetParameterVersion, asset=subject)

    def active_version_id(self, version: AssetParameterVersion) -> int | None:
        return (
            AssetParameterVersion.objects.filter(asset_id=version.asset_id, status=VersionStatus.ACTIVE)
            .values_list("pk", flat=True)
            .first()
        )

    def lock_subjects(self, versions: Sequence[AssetParameterVersion]) -> None:
        _lock(Asset, [v.asset_id for v in versions])

    def versions_by_id(self, ids: Sequence[int]) -> dict[int, AssetParameterVersion]:
        return AssetParameterVersion.objects.select_related("asset").in_bulk(list(ids))

    def parse_spec(
        self, spec: Mapping[str, Any], *, subject: Asset, base: AssetParameterVersion | None, where: str = ""
    ) -> Decimal:
        sym = subject.symbol
        if set(spec) != {"asset", "haircut"}:
            raise SpecRefused([Finding(where or sym, "unknown_field", f"{sym}: give haircut only", sym)])
        return spec_decimal(spec["haircut"], f"{sym} haircut", "haircut", subject=sym)

    def validate(self, symbol: str, payload: Decimal) -> list[Finding]:
        return [finding(e) for e in asset_errors(subject=symbol, haircut=payload)]

    def create_version(self, *, subject: Asset, payload: Decimal, by: Any, reason: str) -> AssetParameterVersion:
        return services.asset_version_create(asset=subject, haircut=payload, by=by, reason=reason)

    def payload_of(self, version: AssetParameterVersion) -> Decimal:
        return version.haircut

    def spec_of(self, symbol: str, version: AssetParameterVersion) -> dict[str, Any]:
        return {"asset": symbol, "haircut": version.haircut}

    def set_status(
        self, version: AssetParameterVersion, *, status: str, by: Any, at: Any, reason: str
    ) -> AssetParameterVersion:
        return services.asset_version_set_status(version=version, status=status, by=by, at=at, reason=reason)

    def values(self, version: AssetParameterVersion | None) -> dict[str, Decimal | None]:
        return {} if version is None else {"haircut": version.haircut}

    def history(self, version: AssetParameterVersion) -> list[AssetParameterVersion]:
        return list(_history(AssetParameterVersion, asset_id=version.asset_id))

    def diff(self, base: AssetParameterVersion | None, new: AssetParameterVersion) -> list[Any]:
        return selectors.asset_version_diff(base, new)

    def stricter_violations(
        self, symbol: str, base: AssetParameterVersion, new: AssetParameterVersion
    ) -> list[Finding]:
        return haircut_violations(symbol, base.haircut, new.haircut)

    def as_audit(self, version: AssetParameterVersion) -> dict[str, Any]:
        return {"asset": version.asset.symbol, "number": version.number, "haircut": str(version.haircut)}

    def engine_overrides(self, versions: Sequence[AssetParameterVersion]) -> list[AssetParameterVersion]:
        return list(versions)


MARKET = register(MarketKind())
ASSET = register(AssetKind())

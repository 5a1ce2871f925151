"""Proposal changes: draft parameter versions created, re-created and discarded with their proposal."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from riskgov.engine.brackets import validate_bracket_table
from riskgov.engine.types import BracketTableError
from riskgov.governance.models import (
    Proposal,
    ProposalChange,
)
from riskgov.governance.policy import LintError, penalty_violations
from riskgov.governance.selectors import (
    proposal_changes,
)
from riskgov.governance.services._base import _SCALE, LintFailed
from riskgov.markets.models import Asset, Market
from riskgov.parameters.models import (
    BRACKET_INPUT_FIELDS,
    MARKET_FIELDS,
    MarketParameterVersion,
    VersionStatus,
)
from riskgov.parameters.services import (
    asset_version_create,
    asset_version_set_status,
    market_version_create,
    market_version_set_status,
)


# --- changes ------------------------------------------------------------------------------
def _dec(value: Any, where: str, field: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise LintFailed([LintError(where, "not_a_number", f"{where}: {value!r} is not a decimal number")]) from exc
    if not d.is_finite():
        raise LintFailed([LintError(where, "not_a_number", f"{where}: {value!r} is not finite")])
    return d.quantize(Decimal(1).scaleb(-_SCALE[field]["decimal_places"]))


def _market_payload(
    i: int, spec: dict[str, Any], base: MarketParameterVersion | None
) -> tuple[dict[str, Any], list[dict[str, Decimal]]]:
    sym = spec["market"]
    unknown = set(spec) - {"market", "brackets", *MARKET_FIELDS}
    if unknown:
        raise LintFailed(
            [LintError(f"changes[{i}]", "unknown_field", f"changes[{i}] ({sym}): unknown field(s) {sorted(unknown)}")]
        )
    fields: dict[str, Any] = {}
    for f in MARKET_FIELDS:
        if f in spec:
            v = spec[f]
            fields[f] = None if v is None and f == "max_position_notional_usd" else _dec(v, f"{sym} {f}", f)
        elif base is not None:
            fields[f] = getattr(base, f)
        elif f in ("oi_cap_lower_usd", "oi_cap_upper_usd"):
            fields[f] = Decimal(0)
        elif f == "max_position_notional_usd":
            fields[f] = None
        else:
            raise LintFailed([LintError(f"{sym} {f}", "missing_field", f"{sym}: {f} is required (no active version)")])
    if "brackets" in spec:
        rows = spec["brackets"]
        if not isinstance(rows, list):
            raise LintFailed([LintError(f"{sym} brackets", "not_a_list", f"{sym}: brackets must be a list")])
        brackets = []
        for k, row in enumerate(rows, start=1):
            if not isinstance(row, dict) or set(row) != set(BRACKET_INPUT_FIELDS):
                raise LintFailed(
                    [
                        LintError(
                            f"{sym} bracket {k}",
                            "bracket_fields",
                            f"{sym} bracket {k}: needs exactly {', '.join(BRACKET_INPUT_FIELDS)}",
                        )
                    ]
                )
            brackets.append({f: _dec(row[f], f"{sym} bracket {k} {f}", f) for f in BRACKET_INPUT_FIELDS})
    elif base is not None:
        brackets = [{f: getattr(b, f) for f in BRACKET_INPUT_FIELDS} for b in base.brackets.order_by("index")]
    else:
        raise LintFailed([LintError(f"{sym} brackets", "missing_field", f"{sym}: brackets are required")])
    return fields, brackets


def _payload_errors(sym: str, fields: dict[str, Any], brackets: list[dict[str, Decimal]]) -> list[LintError]:
    """Engine bracket validation and the penalty rule, before any row is written."""
    try:
        validate_bracket_table(
            [b["notional_floor"] for b in brackets],
            [b["initial_margin_fraction"] for b in brackets],
            [b["maintenance_margin_fraction"] for b in brackets],
            market=sym,
        )
    except BracketTableError as exc:
        return [LintError(f"{sym} bracket {exc.bracket}" if exc.bracket else sym, exc.rule, str(exc))]
    return penalty_violations(sym, fields["liquidation_penalty"], brackets[0]["maintenance_margin_fraction"])


def _create_changes(proposal: Proposal, specs: Any, *, by: Any) -> list[ProposalChange]:
    """Validate every change spec, then create draft versions and ``ProposalChange`` rows.

    A spec is ``{"market": symbol, <market fields>…, "brackets": [...]}`` (fields left out
    keep the active version's values) or ``{"asset": symbol, "haircut": value}``.
    """
    if not isinstance(specs, list | tuple) or not specs:
        raise LintFailed([LintError("changes", "no_changes", "a proposal needs at least one change")])
    planned: list[tuple[str, Any, Any, Any]] = []
    errors: list[LintError] = []
    seen: set[tuple[str, str]] = set()
    for i, spec in enumerate(specs):
        if not isinstance(spec, dict) or ("market" in spec) == ("asset" in spec):
            raise LintFailed([LintError(f"changes[{i}]", "bad_change", f"changes[{i}]: give either market or asset")])
        if "market" in spec:
            market = Market.objects.filter(symbol=spec["market"]).first()
            if market is None:
                raise LintFailed([LintError(f"changes[{i}]", "unknown_market", f"unknown market {spec['market']!r}")])
            key = ("market", market.symbol)
            base = market.versions.filter(status=VersionStatus.ACTIVE).first()
            fields, brackets = _market_payload(i, spec, base)
            errors += _payload_errors(market.symbol, fields, brackets)
            planned.append(("market", market, base, (fields, brackets)))
        else:
            asset = Asset.objects.filter(symbol=spec["asset"]).first()
            if asset is None:
                raise LintFailed([LintError(f"changes[{i}]", "unknown_asset", f"unknown asset {spec['asset']!r}")])
            if set(spec) != {"asset", "haircut"}:
                raise LintFailed([LintError(f"changes[{i}]", "unknown_field", f"{asset.symbol}: give haircut only")])
            key = ("asset", asset.symbol)
            h = _dec(spec["haircut"], f"{asset.symbol} haircut", "liquidation_penalty")
            if not Decimal(0) <= h < 1:
                errors.append(
                    LintError(f"{asset.symbol} haircut", "haircut_range", f"{asset.symbol}: haircut {h} not in [0, 1)")
                )
            planned.append(("asset", asset, asset.versions.filter(status=VersionStatus.ACTIVE).first(), h))
        if key in seen:
            raise LintFailed([LintError(f"changes[{i}]", "duplicate", f"{key[1]} is changed twice")])
        seen.add(key)
    if errors:
        raise LintFailed(errors)
    reason = f"proposal #{proposal.pk}: {proposal.title}"
    out = []
    for kind, subject, base, payload in planned:
        if kind == "market":
            fields, brackets = payload
            v = market_version_create(market=subject, fields=fields, brackets=brackets, by=by, reason=reason)
            out.append(
                ProposalChange.objects.create(
                    proposal=proposal, market_version=v, base_market_version=base, subject=subject.symbol
                )
            )
        else:
            av = asset_version_create(asset=subject, haircut=payload, by=by, reason=reason)
            out.append(
                ProposalChange.objects.create(
                    proposal=proposal, asset_version=av, base_asset_version=base, subject=subject.symbol
                )
            )
    return out


def _change_specs(proposal: Proposal) -> list[dict[str, Any]]:
    """The proposal's current changes as specs (to re-create them as fresh drafts)."""
    specs: list[dict[str, Any]] = []
    for c in proposal_changes(proposal):
        if c.market_version_id:
            v = c.market_version
            assert v is not None
            specs.append(
                {
                    "market": c.subject,
                    **{f: getattr(v, f) for f in MARKET_FIELDS},
                    "brackets": [{f: getattr(b, f) for f in BRACKET_INPUT_FIELDS} for b in v.brackets.all()],
                }
            )
        else:
            specs.append({"asset": c.subject, "haircut": c.asset_version.haircut})  # type: ignore[union-attr]
    return specs


def _set_versions(proposal: Proposal, status: str, *, by: Any, at: datetime | None = None, reason: str = "") -> None:
    """Move every version of the proposal to ``status`` (approved/discarded)."""
    for c in proposal.changes.select_related("market_version", "asset_version"):
        if c.market_version_id:
            if c.market_version.status != status:  # type: ignore[union-attr]
                market_version_set_status(version=c.market_version, status=status, by=by, at=at, reason=reason)  # type: ignore[arg-type]
        elif c.asset_version.status != status:  # type: ignore[union-attr]
            asset_version_set_status(version=c.asset_version, status=status, by=by, at=at, reason=reason)  # type: ignore[arg-type]


def _discard_changes(proposal: Proposal, *, by: Any, reason: str) -> None:
    _set_versions(proposal, VersionStatus.DISCARDED, by=by, reason=reason)

"""Stricter-only tests of market and asset parameters, for emergency changes (RISK_MODEL §2, §4, §13).

Pure Python, exact ``Decimal`` arithmetic (RISK_MODEL §1). The market and asset subject
kinds (:mod:`riskgov.parameters.subjects`) declare these as their "stricter than" test;
``riskgov.governance.policy`` re-exports them under their historical names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from riskgov.core.subjects import Finding as LintError
from riskgov.parameters.validation import ParameterError, derive_maintenance_amounts

__all__ = ["MarketTerms", "finding", "haircut_violations", "maintenance_margin", "stricter_only_violations"]


def finding(e: ParameterError) -> LintError:
    """One validator error as a governance finding (``where`` like ``BTC-PERP bracket 2``; the
    message names the place and the field; subject/bracket/field kept for the forms)."""
    place = f"{e.subject} bracket {e.bracket} {e.field}" if e.bracket is not None else f"{e.subject} {e.field}"
    return LintError(e.where, e.rule, f"{place}: {e.message}", subject=e.subject, bracket=e.bracket, field=e.field)


@dataclass(frozen=True)
class MarketTerms:
    """A market version as plain values (brackets ordered by floor)."""

    floors: tuple[Decimal, ...]
    imf: tuple[Decimal, ...]
    mmf: tuple[Decimal, ...]
    liquidation_penalty: Decimal
    depth_usd_per_1pct: Decimal
    oi_cap_lower_usd: Decimal
    oi_cap_upper_usd: Decimal
    max_position_notional_usd: Decimal | None
    liquidation_horizon_minutes: Decimal = Decimal(5)


def _bracket_at(floors: Sequence[Decimal], n: Decimal) -> int:
    """0-based index of the bracket covering notional ``n`` (last floor ≤ n)."""
    k = 0
    for i, f in enumerate(floors):
        if f <= n:
            k = i
    return k


def maintenance_margin(floors: Sequence[Decimal], mmf: Sequence[Decimal], n: Decimal) -> Decimal:
    """``MM(N) = N·MMF_k − C_k`` exactly (RISK_MODEL §2); equals ∫₀ᴺ MMF(x) dx."""
    k = _bracket_at(floors, n)
    return n * mmf[k] - derive_maintenance_amounts(floors[: k + 1], mmf[: k + 1])[k]


def stricter_only_violations(subject: str, old: MarketTerms, new: MarketTerms) -> list[LintError]:
    """Why ``new`` is not at least as strict as ``old`` everywhere (empty list: it is).

    Curves, not rows: both bracket tables are step functions of notional, so IMF/MMF are
    compared on every interval of the union of both tables' floors, and the maintenance
    margin amount ``MM(N)`` (piecewise linear and continuous) at every breakpoint and in its
    final slope. Shifting a floor up while keeping the rows' fractions lowers MM between the
    old and the new floor and is refused. ``IM(N) = N·IMF(N)`` (before OI scaling), so IMF ≥
    at every notional is IM ≥ at every notional. Other fields: penalty not lower; OI caps not
    higher (and not disabled when they were enabled); max position notional not higher (and
    not removed); depth not higher (a thinner assumed book is the conservative side).
    """
    return _curve_violations(subject, old, new) + _field_violations(subject, old, new)


def _curve_violations(subject: str, old: MarketTerms, new: MarketTerms) -> list[LintError]:
    """IMF/MMF on every interval of the union of floors, MM at every breakpoint and its last slope."""
    out: list[LintError] = []
    points = sorted(set(old.floors) | set(new.floors))
    for p in points:
        ko, kn = _bracket_at(old.floors, p), _bracket_at(new.floors, p)
        if new.imf[kn] < old.imf[ko]:
            out.append(
                LintError(
                    f"{subject} notional {p}",
                    "imf_lower",
                    f"{subject}: IMF at notional {p} falls from {old.imf[ko]} to {new.imf[kn]}",
                )
            )
        if new.mmf[kn] < old.mmf[ko]:
            out.append(
                LintError(
                    f"{subject} notional {p}",
                    "mmf_lower",
                    f"{subject}: MMF at notional {p} falls from {old.mmf[ko]} to {new.mmf[kn]}",
                )
            )
    for p in points[1:]:
        # MM is continuous: the value at each breakpoint and the last slope decide.
        mo, mn = maintenance_margin(old.floors, old.mmf, p), maintenance_margin(new.floors, new.mmf, p)
        if mn < mo:
            out.append(
                LintError(
                    f"{subject} notional {p}",
                    "mm_lower",
                    f"{subject}: maintenance margin at notional {p} USD falls from {mo} to {mn} USD",
                )
            )
    if new.mmf[-1] < old.mmf[-1]:
        out.append(LintError(f"{subject} last bracket", "mm_lower", f"{subject}: MM grows slower above the last floor"))
    return out


def _field_violations(subject: str, old: MarketTerms, new: MarketTerms) -> list[LintError]:
    """Penalty not lower, depth not higher, OI caps and max position notional not higher or
    removed, liquidation horizon not shorter (a shorter horizon assumes a faster close, §12)."""
    out: list[LintError] = []
    if new.liquidation_penalty < old.liquidation_penalty:
        out.append(
            LintError(
                f"{subject} liquidation_penalty",
                "penalty_lower",
                f"{subject}: penalty {old.liquidation_penalty} → {new.liquidation_penalty} is lower",
                subject=subject,
                field="liquidation_penalty",
            )
        )
    if new.depth_usd_per_1pct > old.depth_usd_per_1pct:
        out.append(
            LintError(
                f"{subject} depth_usd_per_1pct",
                "depth_higher",
                f"{subject}: depth {old.depth_usd_per_1pct} → {new.depth_usd_per_1pct} assumes a deeper book",
                subject=subject,
                field="depth_usd_per_1pct",
            )
        )
    if old.oi_cap_upper_usd > 0 and (
        new.oi_cap_upper_usd == 0
        or new.oi_cap_upper_usd > old.oi_cap_upper_usd
        or new.oi_cap_lower_usd > old.oi_cap_lower_usd
    ):
        out.append(
            LintError(
                f"{subject} oi_caps",
                "oi_caps_higher",
                f"{subject}: OI caps {old.oi_cap_lower_usd}/{old.oi_cap_upper_usd} → "
                f"{new.oi_cap_lower_usd}/{new.oi_cap_upper_usd} are higher or disabled",
                subject=subject,
                field="oi_cap_upper_usd",
            )
        )
    if old.max_position_notional_usd is not None and (
        new.max_position_notional_usd is None or new.max_position_notional_usd > old.max_position_notional_usd
    ):
        out.append(
            LintError(
                f"{subject} max_position_notional_usd",
                "max_notional_higher",
                f"{subject}: max position notional {old.max_position_notional_usd} → "
                f"{new.max_position_notional_usd} is higher or unlimited",
                subject=subject,
                field="max_position_notional_usd",
            )
        )
    if new.liquidation_horizon_minutes < old.liquidation_horizon_minutes:
        out.append(
            LintError(
                f"{subject} liquidation_horizon_minutes",
                "horizon_shorter",
                f"{subject}: liquidation horizon {old.liquidation_horizon_minutes} → "
                f"{new.liquidation_horizon_minutes} minutes assumes a faster close",
                subject=subject,
                field="liquidation_horizon_minutes",
            )
        )
    return out


def haircut_violations(subject: str, old: Decimal, new: Decimal) -> list[LintError]:
    """A haircut may only go up in an emergency."""
    if new < old:
        msg = f"{subject}: haircut {old} → {new} is lower"
        return [LintError(f"{subject} haircut", "haircut_lower", msg, subject=subject, field="haircut")]
    return []

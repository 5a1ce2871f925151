"""Pure governance checks: fast-track bounds, stricter-only emergencies, lint records.

No database here: selectors turn versions into the plain values below, services decide
what to do with the findings. All arithmetic is exact (``Decimal``, RISK_MODEL §1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal


@dataclass(frozen=True)
class LintError:
    """One failed check: ``where`` (e.g. ``"BTC-PERP bracket 2"``), ``rule`` (machine name), ``message``."""

    where: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"where": self.where, "rule": self.rule, "message": self.message}


# --- fast track ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FieldDelta:
    """One governed field of one subject: value before/after and when it last changed.

    ``path`` like ``liquidation_penalty``, ``brackets[2].initial_margin_fraction`` or
    ``haircut``; ``before``/``after`` are ``None`` where the field or bracket does not exist
    (or the max notional is unlimited). ``last_changed_at`` is when the currently active
    value took effect (None: no history, e.g. a new market).
    """

    subject: str
    path: str
    before: Decimal | None
    after: Decimal | None
    last_changed_at: datetime | None


def fast_track_violations(
    deltas: Sequence[FieldDelta], *, max_relative_change: Decimal, min_days_since_change: int, now: datetime
) -> list[LintError]:
    """Why a change cannot be fast-tracked (empty list: it can).

    Every *changed* field must (a) exist on both sides with a non-zero ``before``, (b) move by
    at most ``max_relative_change`` relative to ``before``, and (c) not have changed within
    the last ``min_days_since_change`` days. Unchanged fields are ignored. A change that
    touches no field at all is not a fast-track candidate either.
    """
    out: list[LintError] = []
    changed = [d for d in deltas if d.before != d.after]
    if not changed:
        return [LintError("proposal", "ft_no_change", "the proposal changes no field")]
    min_age = timedelta(days=min_days_since_change)
    for d in changed:
        where = f"{d.subject} {d.path}"
        if d.before is None or d.after is None or d.before == 0:
            out.append(
                LintError(
                    where,
                    "ft_not_relative",
                    f"{where}: {d.before} → {d.after} has no relative change (added, removed or from zero)",
                )
            )
            continue
        rel = abs(d.after - d.before) / abs(d.before)
        if rel > max_relative_change:
            out.append(
                LintError(
                    where,
                    "ft_relative_change",
                    f"{where}: {d.before} → {d.after} moves {rel:.4%}, above the fast-track bound {max_relative_change:.4%}",
                )
            )
        if d.last_changed_at is None:
            out.append(LintError(where, "ft_no_history", f"{where}: no activation history"))
        elif now - d.last_changed_at < min_age:
            days = (now - d.last_changed_at).total_seconds() / 86400
            out.append(
                LintError(
                    where,
                    "ft_changed_recently",
                    f"{where}: last changed {days:.1f} days ago, fast track needs {min_days_since_change}",
                )
            )
    return out


# --- stricter-only (emergency) ------------------------------------------------------------
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
    cum = sum((floors[j] * (mmf[j] - mmf[j - 1]) for j in range(1, k + 1)), Decimal(0))
    return n * mmf[k] - cum


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
    if new.liquidation_penalty < old.liquidation_penalty:
        out.append(
            LintError(
                f"{subject} liquidation_penalty",
                "penalty_lower",
                f"{subject}: penalty {old.liquidation_penalty} → {new.liquidation_penalty} is lower",
            )
        )
    if new.depth_usd_per_1pct > old.depth_usd_per_1pct:
        out.append(
            LintError(
                f"{subject} depth_usd_per_1pct",
                "depth_higher",
                f"{subject}: depth {old.depth_usd_per_1pct} → {new.depth_usd_per_1pct} assumes a deeper book",
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
            )
        )
    return out


def haircut_violations(subject: str, old: Decimal, new: Decimal) -> list[LintError]:
    """A haircut may only go up in an emergency."""
    if new < old:
        return [LintError(f"{subject} haircut", "haircut_lower", f"{subject}: haircut {old} → {new} is lower")]
    return []


def penalty_violations(subject: str, penalty: Decimal, mmf_1: Decimal) -> list[LintError]:
    """RISK_MODEL §8: the liquidation penalty must not exceed the first bracket's MMF."""
    if penalty > mmf_1:
        return [
            LintError(
                f"{subject} liquidation_penalty",
                "penalty_above_mmf1",
                f"{subject}: liquidation penalty {penalty} is above MMF of bracket 1 ({mmf_1}) (RISK_MODEL §8)",
            )
        ]
    return []


def effective_at_violations(
    *, requested: datetime, now: datetime, timelock_hours: int, kind_label: str
) -> list[LintError]:
    """The requested ``effective_at`` must leave at least the timelock from now."""
    earliest = now + timedelta(hours=timelock_hours)
    if requested < earliest:
        return [
            LintError(
                "effective_at",
                "effective_at_before_timelock",
                f"effective_at {requested:%Y-%m-%d %H:%M} UTC is before now + {kind_label} timelock "
                f"{timelock_hours} h ({earliest:%Y-%m-%d %H:%M} UTC)",
            )
        ]
    return []

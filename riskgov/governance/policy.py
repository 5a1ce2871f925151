"""Pure governance checks: fast-track bounds, stricter-only emergencies, lint records.

The stricter-only tests of market and asset parameters belong to their subject kinds and
live in :mod:`riskgov.parameters.strictness` (re-exported here).

No database here: selectors turn versions into the plain values below, services decide
what to do with the findings. All arithmetic is exact (``Decimal``, RISK_MODEL §1).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from riskgov.core.subjects import Finding
from riskgov.parameters.strictness import (
    MarketTerms,
    finding,
    haircut_violations,
    maintenance_margin,
    stricter_only_violations,
)
from riskgov.parameters.validation import penalty_errors
from riskgov.presentation import fields, formats

__all__ = [
    "FieldDelta",
    "LintError",
    "MarketTerms",
    "effective_at_violations",
    "fast_track_violations",
    "haircut_violations",
    "lint_error",
    "maintenance_margin",
    "penalty_violations",
    "policy_errors",
    "policy_stricter_violations",
    "stricter_only_violations",
]


#: One failed check: ``where`` (e.g. ``"BTC-PERP bracket 2"``), ``rule`` (machine name),
#: ``message``, and the structure ``subject``/``bracket``/``field`` the web forms map to
#: their fields (:class:`riskgov.core.subjects.Finding`).
LintError = Finding
#: One validator error (:class:`riskgov.parameters.validation.ParameterError`) as a lint error.
lint_error = finding


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
                    f"{where}: {_shown(d.path, d.before)} → {_shown(d.path, d.after)} has no relative change"
                    " (added, removed or from zero)",
                )
            )
            continue
        rel = abs(d.after - d.before) / abs(d.before)
        if rel > max_relative_change:
            out.append(
                LintError(
                    where,
                    "ft_relative_change",
                    f"{where}: {_shown(d.path, d.before)} → {_shown(d.path, d.after)} moves {formats.percent(rel, 2)},"
                    f" above the fast-track bound {formats.percent(max_relative_change, 2)}",
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


def penalty_violations(subject: str, penalty: Decimal, mmf_1: Decimal) -> list[LintError]:
    """RISK_MODEL §8: the liquidation penalty must not exceed the first bracket's MMF
    (asked of the one validator, :func:`riskgov.parameters.validation.penalty_errors`)."""
    return [lint_error(e) for e in penalty_errors(subject=subject, liquidation_penalty=penalty, mmf_1=mmf_1)]


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
                field="effective_at",
            )
        ]
    return []


# --- the policy as a governed subject -----------------------------------------------------
#: Integer policy fields and their lower bound (RISK_MODEL §13; the model's CHECK constraints).
POLICY_INT_MIN = {
    "quorum": 1,
    "timelock_hours": 0,
    "expiry_days": 1,
    "fast_track_quorum": 1,
    "fast_track_timelock_hours": 0,
    "fast_track_min_days_since_change": 0,
    "emergency_ratification_hours": 1,
}
#: Largest value of each integer policy field (its column: small integer for quorums).
POLICY_INT_MAX = {f: 32767 if f.endswith("quorum") else 2147483647 for f in POLICY_INT_MIN}
#: For each policy field: +1 when a higher value is stricter, −1 when a lower value is.
#: Weakening = lower quorum, shorter timelock, wider fast-track bounds, longer expiry or
#: ratification window (issue 13: the policy is itself governed).
POLICY_STRICTER = {
    "quorum": +1,
    "timelock_hours": +1,
    "expiry_days": -1,
    "fast_track_quorum": +1,
    "fast_track_timelock_hours": +1,
    "fast_track_max_relative_change": -1,
    "fast_track_min_days_since_change": +1,
    "emergency_ratification_hours": -1,
}


def policy_errors(values: dict[str, Decimal]) -> list[LintError]:
    """The one validator of a policy version's values (the same rules as the model's CHECKs).

    Args:
        values: every field of :data:`POLICY_STRICTER` → exact Decimal.

    Returns:
        Findings with ``subject="policy"`` and ``field`` set (the policy form places them);
        empty when valid.
    """
    out: list[LintError] = []

    def err(field: str, rule: str, message: str) -> None:
        out.append(LintError(f"policy {field}", rule, f"policy {field}: {message}", subject="policy", field=field))

    for field, low in POLICY_INT_MIN.items():
        v = values[field]
        if v != v.to_integral_value():
            err(field, "policy_integer", f"{v} is not a whole number")
        elif v < low:
            err(field, "policy_minimum", f"{v} is not >= {low}")
        elif v > POLICY_INT_MAX[field]:
            err(field, "policy_maximum", f"{v} is not <= {POLICY_INT_MAX[field]}")
    if values["fast_track_quorum"] > values["quorum"]:
        err(
            "fast_track_quorum",
            "fast_track_quorum_above_quorum",
            f"{values['fast_track_quorum']} is not <= quorum {values['quorum']}",
        )
    if values["fast_track_timelock_hours"] > values["timelock_hours"]:
        err(
            "fast_track_timelock_hours",
            "fast_track_timelock_above_timelock",
            f"{values['fast_track_timelock_hours']} is not <= timelock_hours {values['timelock_hours']}",
        )
    bound = values["fast_track_max_relative_change"]
    if not Decimal(0) <= bound <= Decimal(1):
        err("fast_track_max_relative_change", "fast_track_bound_range", f"{bound} is not in [0, 1]")
    elif bound != bound.quantize(Decimal("0.000001")):
        err("fast_track_max_relative_change", "fast_track_bound_places", f"{bound} has more than 6 decimal places")
    return out


def policy_stricter_violations(old: dict[str, Decimal], new: dict[str, Decimal]) -> list[LintError]:
    """Why ``new`` weakens the policy ``old`` in some field (empty: at least as strict everywhere)."""
    out: list[LintError] = []
    for field, sign in POLICY_STRICTER.items():
        if (new[field] - old[field]) * sign < 0:
            out.append(
                LintError(
                    f"policy {field}",
                    "policy_weaker",
                    f"policy {field}: {old[field]} → {new[field]} weakens the policy",
                    subject="policy",
                    field=field,
                )
            )
    return out


def _shown(path: str, value: object) -> str:
    """A changed field's value in a lint message, by the presentation rule of its kind
    (``brackets[1].initial_margin_fraction`` 0.01 → ``1.000 %``); ``—`` when absent."""
    name = path.rsplit(".", 1)[-1].split("[", 1)[0]
    return fields.format_field(name, value) if fields.field(name).kind != fields.TEXT else formats.exact(value)

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

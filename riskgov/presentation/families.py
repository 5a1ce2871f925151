"""How figures name a scenario family, always with its horizon (RISK_MODEL §10).

Tails are per family and never pooled: "VaR 99 %, 1-day paths", "ES 99 %, 1-day gaps".
The stored tails (``HealthRun.tails``) carry their ``label``; pages, reports and alerts use
it, and these helpers for entries stored without one (older runs, the §15 comparison).
"""

from __future__ import annotations

from typing import Any

from riskgov.presentation import formats

#: the label of each standard family (its horizon, then what it is)
FAMILY_LABELS = {"gap": "1-day gaps", "trend": "1-day trends", "path_1d": "1-day paths", "path_3d": "3-day paths"}
#: the headline family (§10)
HEADLINE_FAMILY = "path_1d"


def horizon_text(minutes: float) -> str:
    """A horizon in words: ``1440`` → ``1-day``, ``4320`` → ``3-day``, ``240`` → ``4-hour``."""
    m = float(minutes)
    if m >= 1440 and m % 1440 == 0:
        return f"{m / 1440:g}-day"
    if m >= 60 and m % 60 == 0:
        return f"{m / 60:g}-hour"
    return f"{m:g}-minute"


def family_label(family: str, *, horizon_minutes: float | None = None, what: str | None = None) -> str:
    """The label of ``family``: its ``FAMILY_LABELS`` entry, else ``"<horizon> <what>"`` from
    ``horizon_minutes`` (``what`` defaults to the family name), e.g. ``"2-day paths"``."""
    if horizon_minutes is None and family in FAMILY_LABELS:
        return FAMILY_LABELS[family]
    if horizon_minutes is None:
        return family
    return f"{horizon_text(horizon_minutes)} {what or family}"


def tail_label(tail: dict[str, Any]) -> str:
    """The label of a stored tail entry (its ``label``, else from its ``family``)."""
    return str(tail.get("label") or family_label(str(tail.get("family", ""))))


def measure_label(measure: str, alpha: Any, label: str) -> str:
    """``"VaR 99 %, 1-day paths"``: a tail measure at level ``alpha`` named by its family."""
    return f"{measure} {formats.level(alpha)}, {label}"


def gap_horizon(kind: str, step_minutes: int | None) -> str:
    """The horizon of a gap scenario (§9, ``T = 1``): a dated window's span (``"1-day"``,
    ``"3-day"``), or ``"instant"`` for an undated uniform or per-asset shock."""
    if kind not in ("historical",):
        return "instant"
    return horizon_text(step_minutes or 1440)

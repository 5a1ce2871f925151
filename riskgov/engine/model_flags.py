"""The §12 model-health flags of a market, written once (RISK_MODEL §12).

A market is **flagged** when the Kupiec backtest of its first-bracket MMF rejects *with more
exceedances than expected* (a backtest that rejects because there are fewer exceedances
than expected says the margin is conservative: not a flag), or when ``MMF_1 < (1 − tol) ·
MMF_rec,1`` with ``tol`` :data:`DEFAULT_MMF_TOLERANCE` (0.25) by default.

Stored recommendations come in two editions (``HealthRun.recommendations`` items):

- **edition 2** (``"edition": 2``): at the market's liquidation horizon, one recommendation
  per bracket in ``brackets`` (``MMF_rec,1`` is ``brackets[0].mmf_rec``) and one
  ``backtest`` of MMF_1 (``n``, ``exceedances``, ``expected``, ``lr``, ``reject``,
  ``too_many``, ``flagged``);
- **edition 1** (no ``edition``, runs stored before the horizon): ``h1``/``h3``, 1- and 3-day
  windows of daily closes, each with ``mmf_rec`` and a ``backtest`` (``reject``,
  ``exceedances`` of ``n`` against the rate ``expected_rate``); the MMF check is against the
  highest of the two.

:func:`recommended_mmfs` and :func:`backtests` read either edition, :func:`mmf_check` and
:func:`backtest_fails` apply the rule; the dashboards, the reports (through
``riskgov.health.selectors.run_model_health``) and the alerts use them, so they agree.

Pure Python; fractions in, fractions and booleans out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from riskgov.engine.recommend import KUPIEC_CRITICAL

__all__ = [
    "DEFAULT_MMF_TOLERANCE",
    "KUPIEC_CRITICAL",
    "MmfCheck",
    "backtest_fails",
    "backtests",
    "edition",
    "mmf_check",
    "recommended_mmfs",
]

#: §12 tolerance of the MMF_1-below-recommendation flag (fraction of the recommendation):
#: flagged when ``MMF_1 < (1 − 0.25)·MMF_rec,1``; also the default alert rule's threshold.
DEFAULT_MMF_TOLERANCE = 0.25


@dataclass(frozen=True)
class MmfCheck:
    """The MMF-below-recommendation test of one market.

    Attributes:
        current: the current first-bracket MMF (fraction).
        recommended: the recommended MMF_1 (fraction; edition 1: the highest over horizons).
        line: ``(1 − tolerance) · recommended``, the flag's threshold (fraction).
        below: ``current < line``.
    """

    current: float
    recommended: float
    line: float
    below: bool


def mmf_check(
    current_mmf: float | None, mmf_recs: Iterable[float | None], *, tolerance: float = DEFAULT_MMF_TOLERANCE
) -> MmfCheck | None:
    """Whether ``current_mmf`` is below ``(1 − tolerance)`` × the highest known recommendation.

    Args:
        current_mmf: current first-bracket MMF (fraction), ``None`` if unknown.
        mmf_recs: recommended MMF_1 values (fractions; :func:`recommended_mmfs`); ``None``
            entries are skipped.
        tolerance: fraction of the recommendation tolerated below it (0 ≤ tol < 1).

    Returns:
        The check, or ``None`` when it is unknown (no current MMF or no recommendation).
    """
    recs = [float(r) for r in mmf_recs if r is not None]
    if current_mmf is None or not recs:
        return None
    recommended = max(recs)
    line = recommended * (1 - float(tolerance))
    return MmfCheck(float(current_mmf), recommended, line, float(current_mmf) < line)


def backtest_fails(backtest: Mapping[str, Any] | None) -> bool | None:
    """Whether a stored Kupiec backtest flags the market (RISK_MODEL §12): it rejects (LR
    above :data:`KUPIEC_CRITICAL`) **and** has more exceedances than expected. ``None`` when
    there is no backtest.

    Reads edition 2 (``too_many``, or ``reject`` with ``exceedances > expected``) and
    edition 1 (``reject`` with ``exceedances > n·expected_rate``).
    """
    if not backtest:
        return None
    if "too_many" in backtest:
        return bool(backtest["too_many"])
    if not backtest.get("reject"):
        return False
    x = backtest.get("exceedances")
    if "expected" in backtest:
        expected = backtest.get("expected")
    else:
        rate, n = backtest.get("expected_rate"), backtest.get("n")
        expected = None if rate is None or n is None else float(rate) * float(n)
    if x is None or expected is None:
        return True  # a rejection whose direction is unknown is not silenced
    return float(x) > float(expected)


def edition(rec: Mapping[str, Any]) -> int:
    """2 for a recommendation at the liquidation horizon, 1 for the first edition (h1/h3)."""
    return int(rec.get("edition", 1))


def recommended_mmfs(rec: Mapping[str, Any]) -> list[float | None]:
    """The recommended MMF_1 values of one stored recommendation, for :func:`mmf_check`
    (edition 2: ``[brackets[0].mmf_rec]``; edition 1: ``[h1.mmf_rec, h3.mmf_rec]``)."""
    if edition(rec) >= 2:
        rows = rec.get("brackets") or []
        return [rows[0].get("mmf_rec")] if rows else []
    return [(rec.get(h) or {}).get("mmf_rec") for h in ("h1", "h3")]


def backtests(rec: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """``(label, backtest)`` pairs of one stored recommendation, for :func:`backtest_fails`
    (edition 2: one, labelled with its horizon, e.g. ``"5 min"``; edition 1: ``"1 d"``,
    ``"3 d"``)."""
    if edition(rec) >= 2:
        bt = rec.get("backtest")
        return [(_minutes_label(rec.get("horizon_minutes")), bt)] if bt else []
    return [(f"{h[1:]} d", rec[h]["backtest"]) for h in ("h1", "h3") if (rec.get(h) or {}).get("backtest")]


def _minutes_label(m: Any) -> str:
    if m is None:
        return "—"
    m = float(m)
    if m >= 60 and m % 60 == 0:
        return f"{m / 60:g} h"
    return f"{m:g} min"

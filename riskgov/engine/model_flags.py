"""The §12 model-health flags of a market, written once (RISK_MODEL §12).

A market is flagged when its first-bracket MMF is below the recommendation,
``MMF_1 < (1 − tol) · MMF_rec,1`` — against the **highest** recommendation over the
horizons computed (1 and 3 days), so "below at any horizon" — or when the Kupiec backtest of
the current MMF rejects. The dashboards, the reports (through
``riskgov.health.selectors.run_model_health``) and the "MMF below recommendation" alert all
call :func:`mmf_check`; the alert passes its rule's threshold as the tolerance, the pages use
:data:`DEFAULT_MMF_TOLERANCE` (the default alert rule's threshold, so they agree).

Pure Python; fractions in, fractions and booleans out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from riskgov.engine.recommend import KUPIEC_CRITICAL

__all__ = ["DEFAULT_MMF_TOLERANCE", "KUPIEC_CRITICAL", "MmfCheck", "backtest_fails", "mmf_check"]

#: tolerance of the pages' flag and of the default "MMF below recommendation" alert rule
#: (fraction of the recommendation; 0 = strictly below the recommendation)
DEFAULT_MMF_TOLERANCE = 0.0


@dataclass(frozen=True)
class MmfCheck:
    """The MMF-below-recommendation test of one market.

    Attributes:
        current: the current first-bracket MMF (fraction).
        recommended: the highest recommended MMF over the horizons given (fraction).
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
        mmf_recs: recommended MMFs (fractions) of the horizons; ``None`` entries are skipped.
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
    """Whether a stored Kupiec backtest (``reject``, RISK_MODEL §12: LR above
    :data:`KUPIEC_CRITICAL`) fails; ``None`` when there is no backtest."""
    if not backtest:
        return None
    return bool(backtest.get("reject"))

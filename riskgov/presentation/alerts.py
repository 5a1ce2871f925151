"""Alert figures for people: the value and threshold of a rule or firing, in the unit of its
kind (``riskgov.alerts.models.AlertKind``; the kinds are named by their stored value, so this
module imports no app). A firing's threshold is the line it was judged against (for
``mmf_below_recommendation`` the MMF line, for ``backtest_fails`` the critical value); a
rule's threshold is what the admin set (for ``mmf_below_recommendation`` a relative tolerance).
"""

from __future__ import annotations

from typing import Any

from riskgov.presentation import formats

#: kinds whose figures are hours
HOURS = ("prices_stale", "run_overdue", "emergency_ratification_due")
#: kinds whose threshold is not used (shown as "—")
UNUSED_THRESHOLD = ("backtest_fails", "run_failed")


def alert_figure(value: Any, kind: str, *, rule_threshold: bool = False) -> str:
    """``value`` (a firing's observed value or threshold; with ``rule_threshold`` a rule's own
    threshold) formatted by the unit of ``kind``: coverage as a ratio in percent (RISK_MODEL
    §10), liquidatable shares as percent (§5), a bankrupt shortfall as money (USD, §5), MMF as
    percent (§12; a rule's tolerance as percent), Kupiec LR / critical as a number (§12), ages
    and deadlines in hours; ``—`` when missing or unused."""
    if value is None or value == "":
        return formats.MISSING
    if kind == "coverage_at_es_below":
        return formats.ratio(value)
    if kind in ("liquidatable_accounts_above", "liquidatable_oi_above"):
        return formats.share(value)
    if kind == "bankrupt_account_above":
        return formats.money(value)
    if kind == "mmf_below_recommendation":
        return formats.share(value) if rule_threshold else formats.fraction(value)
    if kind in HOURS:
        return f"{formats.number(value, 1)} h"
    if rule_threshold and kind in UNUSED_THRESHOLD:
        return formats.MISSING
    if kind == "run_failed":
        return "failed" if formats.to_float(value) else "not failed"
    return formats.number(value)

"""Impact analysis of a proposal: collect a finished impact run and freeze its comparison.

``proposal_impact_compute`` (services) starts a health run with the proposal's drafts
overlaid; ``governance.impact_collect`` (a retrying task) calls ``proposal_impact_collect``
until that run is published, then freezes the comparison with the current parameters on the
same snapshot onto the proposal (``proposal_record_impact``), which is what approvers sign.
"""

from __future__ import annotations

import logging
from typing import Any

from riskgov.core.exceptions import Conflict

log = logging.getLogger(__name__)

#: How many account ids of newly liquidatable accounts are frozen on the proposal.
SAMPLE = 50


def _summary(run: Any) -> dict[str, Any]:
    from riskgov.health.selectors import run_tail, run_totals

    return {"run": run.pk, "totals": run_totals(run), "tail": run_tail(run)}


def impact_document(*, current: Any, proposed: Any) -> dict[str, Any]:
    """The frozen impact: totals and tail of both runs, deltas, newly liquidatable accounts,
    every standard gap and trend scenario (uniform shocks, named crash days, trends) side by
    side, and the §15 ``cost``, ``protection`` per family and ``frontier`` per changed market.

    ``current`` may be ``None`` (no published run of the active parameters on that
    snapshot): then only the proposed figures are given, and the document says so.
    """
    from riskgov.health.selectors import run_comparison

    doc: dict[str, Any] = {
        "format": "riskgov.impact/1",
        "snapshot": proposed.snapshot_id,
        "proposed": _summary(proposed),
        "current": None,
    }
    if current is None:
        doc["note"] = "no published run of the active parameters on this snapshot: nothing to compare with"
        return doc
    cmp = run_comparison(current, proposed)
    doc.update(
        current=_summary(current),
        newly_liquidatable_accounts=cmp.newly_liquidatable_count,
        newly_liquidatable_sample=cmp.newly_liquidatable[:SAMPLE],
        no_longer_liquidatable_accounts=cmp.no_longer_liquidatable_count,
        delta_initial_margin_usd=cmp.delta_initial_margin_usd,
        delta_maintenance_margin_usd=cmp.delta_maintenance_margin_usd,
        delta_shortfall_usd=cmp.delta_shortfall_usd,
        scenarios=[row for row in cmp.scenarios if row["kind"] not in ("historical", "path")],
    )
    doc.update(_section_15(proposed))
    return doc


def _section_15(run: Any) -> dict[str, Any]:
    """RISK_MODEL §15 on the proposal's impact run: ``cost``, ``protection`` per family and
    ``frontier`` per changed market, ``changed_underlyings`` (PM, §14)
    (``health.services.impact_sections``), proposed minus the active set, PM accounts included; a comparison that cannot be made is stated in ``impact_note``."""
    from riskgov.core.exceptions import DomainError
    from riskgov.health.services import impact_sections

    try:
        sections = impact_sections(run=run)
    except (DomainError, Conflict) as exc:
        return {"impact_note": f"§15 comparison not available: {exc.message}"}
    keys = ("changed_markets", "changed_underlyings", "cost", "protection", "frontier")
    return {k: sections[k] for k in keys if k in sections}


def proposal_impact_collect(*, proposal_id: int, revision: int, run_id: int) -> str:
    """Freeze the impact of a finished impact run onto the proposal.

    Returns ``"pending"`` while the run is not finished (the task retries), ``"recorded"``,
    ``"failed"`` (the run failed: its error is frozen so approvers see it) or ``"stale"``
    (the proposal moved on; nothing is written).
    """
    from riskgov.governance.models import Proposal
    from riskgov.governance.services import proposal_record_impact
    from riskgov.health.models import HealthRun, RunKind, RunStatus
    from riskgov.health.selectors import published_runs

    run = HealthRun.objects.filter(pk=run_id).first()
    proposal = Proposal.objects.filter(pk=proposal_id).first()
    if run is None or proposal is None:
        return "stale"
    if run.status == RunStatus.FAILED:
        impact = {"format": "riskgov.impact/1", "proposed": {"run": run.pk}, "error": run.error or "impact run failed"}
        outcome = "failed"
    elif run.published_at is None:
        return "pending"
    else:
        current = published_runs(kinds=(RunKind.SCHEDULED, RunKind.MANUAL)).filter(snapshot=run.snapshot).first()
        impact = impact_document(current=current, proposed=run)
        outcome = "recorded"
    try:
        proposal_record_impact(proposal=proposal, impact=impact, revision=revision)
    except Conflict as exc:
        log.info("governance.impact_collect: %s", exc.message)
        return "stale"
    return outcome

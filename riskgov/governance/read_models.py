"""Read models of governance pages: a proposal's frozen impact as formatted sections.

The committee's proposal page (``web.governance_views.proposal_detail``) and the Dash impact
page (``dashboards.pages.impact``) both show :func:`proposal_impact`: the document frozen on
the proposal (``Proposal.impact``, ``riskgov.impact/1``, RISK_MODEL §15) through
``riskgov.presentation.impact.impact_view``; nothing is recomputed.
"""

from __future__ import annotations

from typing import Any

from riskgov.governance.models import Proposal, ProposalStatus
from riskgov.presentation.impact import ImpactView, impact_view

#: the Dash account page (``dashboards.pages.account``): one account of a run by dense index
ACCOUNT_PAGE = "/dash/account?run={run}&idx={idx}"
PENDING_DRAFT = "Impact analysis runs when the proposal is submitted."
PENDING = "Impact analysis pending: the impact run has not finished yet."


def _account_links(impact: Any) -> dict[str, str]:
    """Account page of each sampled newly liquidatable account (in the proposed run)."""
    from riskgov.health.selectors import run_account_indexes

    if not isinstance(impact, dict):
        return {}
    sample = [str(a) for a in impact.get("newly_liquidatable_sample") or []]
    run = (impact.get("proposed") or {}).get("run") if isinstance(impact.get("proposed"), dict) else None
    if not sample or not isinstance(run, int):
        return {}
    return {a: ACCOUNT_PAGE.format(run=run, idx=i) for a, i in run_account_indexes(run, sample).items()}


def proposal_impact(proposal: Proposal) -> ImpactView:
    """The frozen impact of ``proposal`` for people (:class:`~riskgov.presentation.impact.ImpactView`):
    both sides of §15 (cost to traders, protection per family, frontier per changed market),
    every figure formatted; ``state`` ``"pending"`` while there is none (a draft says when it
    runs), ``"failed"`` with the run's error. One query for the account links at most."""
    pending = PENDING_DRAFT if proposal.status == ProposalStatus.DRAFT else PENDING
    links = _account_links(proposal.impact)
    return impact_view(proposal.impact, pending=pending, account_url=lambda a: links.get(a, ""))

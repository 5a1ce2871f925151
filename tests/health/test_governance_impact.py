"""Submitting a proposal freezes its impact: the health run with the drafts overlaid,
compared with the current run on the same snapshot (issue 4 "impact analysis")."""

import pytest

from riskgov.governance.models import ProposalStatus

pytestmark = pytest.mark.django_db


def test_submitted_proposal_gets_its_impact_frozen(health_run, impact_proposal):
    current, proposal = health_run, impact_proposal  # BTC margins doubled (STRICTER_BTC), submitted
    assert proposal.status == ProposalStatus.SUBMITTED
    impact = proposal.impact
    assert impact is not None and proposal.impact_revision == proposal.revision
    assert impact["format"] == "riskgov.impact/1" and impact["current"]["run"] == current.pk
    assert impact["proposed"]["run"] != current.pk
    assert impact["delta_maintenance_margin_usd"] > 0 and impact["delta_initial_margin_usd"] > 0
    assert impact["newly_liquidatable_accounts"] >= 0
    assert impact["scenarios"] and {s["kind"] for s in impact["scenarios"]} <= {
        "uniform",
        "crash",
        "per_asset",
        "trend",
    }
    assert (
        impact["proposed"]["totals"]["maintenance_margin_usd"] > impact["current"]["totals"]["maintenance_margin_usd"]
    )

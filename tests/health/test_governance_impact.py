"""Submitting a proposal freezes its impact: the health run with the drafts overlaid,
compared with the current run on the same snapshot (issue 4 "impact analysis")."""

import pytest

from riskgov.governance.models import ProposalStatus
from riskgov.governance.services import proposal_create, proposal_submit
from tests.governance_fixtures import later
from tests.health.test_services import run_eager

pytestmark = pytest.mark.django_db


def test_submitted_proposal_gets_its_impact_frozen(venue, people, django_capture_on_commit_callbacks):
    current = run_eager(venue, django_capture_on_commit_callbacks)
    stricter = [
        {"notional_floor": "0", "initial_margin_fraction": "0.02", "maintenance_margin_fraction": "0.008"},
        {"notional_floor": "300000", "initial_margin_fraction": "0.04", "maintenance_margin_fraction": "0.01"},
    ]
    proposal = proposal_create(
        by=people["analyst"],
        title="Double BTC margins",
        rationale="stress",
        effective_at=later(days=3),
        changes=[{"market": "BTC-PERP", "brackets": stricter}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        proposal_submit(proposal=proposal, by=people["analyst"])
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.SUBMITTED
    impact = proposal.impact
    assert impact is not None and proposal.impact_revision == proposal.revision
    assert impact["format"] == "riskgov.impact/1" and impact["current"]["run"] == current.pk
    assert impact["proposed"]["run"] != current.pk
    assert impact["delta_maintenance_margin_usd"] > 0 and impact["delta_initial_margin_usd"] > 0
    assert impact["newly_liquidatable_accounts"] >= 0
    assert impact["scenarios"] and {s["kind"] for s in impact["scenarios"]} <= {"uniform", "crash", "per_asset"}
    assert (
        impact["proposed"]["totals"]["maintenance_margin_usd"] > impact["current"]["totals"]["maintenance_margin_usd"]
    )

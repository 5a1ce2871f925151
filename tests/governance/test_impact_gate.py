"""Votes wait for the impact (issue #16 item 7): a normal proposal's approve/reject is refused
until the impact of its current revision is frozen (recorded, or its failure with the
reason); the proposal page follows the impact run's progress (``proposal_impact_status``)."""

import pytest

from riskgov.core.exceptions import Conflict
from riskgov.governance import selectors
from riskgov.governance import services as gs
from riskgov.governance.models import Proposal
from riskgov.health.models import HealthRun, RunKind, RunStatus
from tests.governance_fixtures import later
from tests.venue_fixtures import STRICTER_BTC

pytestmark = pytest.mark.django_db


def test_a_vote_before_the_impact_is_refused_and_the_page_says_why(make_proposal, people):
    p = gs.proposal_submit(proposal=make_proposal(), by=people["analyst"])
    actions = selectors.proposal_allowed_actions(p, people["m1"])
    assert (actions.vote, actions.vote_reason) == (False, selectors.IMPACT_PENDING)
    with pytest.raises(Conflict, match="votes open when the impact analysis of this revision is recorded"):
        gs.proposal_vote(proposal=p, by=people["m1"], decision="approve", comment="too early")
    assert p.votes.count() == 0

    gs.proposal_record_impact(proposal=p, impact={"error": "impact not computed: no snapshot"}, revision=p.revision)
    p.refresh_from_db()
    assert selectors.proposal_allowed_actions(p, people["m1"]) == selectors.ProposalActions(
        is_author=False, edit=False, submit=False, withdraw=False, vote=True, vote_reason=""
    )
    vote = gs.proposal_vote(proposal=p, by=people["m1"], decision="reject", comment="no figures: no")
    assert vote.impact_revision == 1

    # an edit drops the frozen impact: the new revision waits for its own
    p = gs.proposal_update(proposal=p, by=people["analyst"], title="Raise BTC IMF (v2)")
    p = gs.proposal_submit(proposal=p, by=people["analyst"])
    assert selectors.proposal_allowed_actions(p, people["m1"]).vote is False
    with pytest.raises(Conflict, match="revision 2 has none yet"):
        gs.proposal_vote(proposal=p, by=people["m1"], decision="approve", comment="too early")


def test_the_status_follows_the_impact_run_until_it_is_frozen(venue, people):
    from riskgov.governance.impact import proposal_impact_collect
    from riskgov.governance.tasks import governance_impact

    p = gs.proposal_create(
        by=people["analyst"],
        title="Double BTC margins",
        rationale="stress",
        effective_at=later(days=3),
        changes=[{"market": "BTC-PERP", "brackets": STRICTER_BTC}],
    )
    assert selectors.proposal_impact_status(p).state == "draft"
    p = gs.proposal_submit(proposal=p, by=people["analyst"])  # a db test: the job has not left yet
    # the job, by hand: a db test never commits, so the run stays pending (no worker)
    assert (selectors.proposal_impact_status(p).state, selectors.proposal_impact_status(p).done) == ("queued", False)

    assert governance_impact.apply(args=(p.pk, p.revision)).get() == "started"
    run = HealthRun.objects.get(kind=RunKind.IMPACT)
    assert run.label == f"impact of proposal #{p.pk} rev 1"
    status = selectors.proposal_impact_status(p)
    assert (status.state, status.run_id, status.message) == (
        "running",
        run.pk,
        "the impact run is waiting for a worker",
    )

    HealthRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, chunks_total=5, chunks_done=2, progress=38)
    status = selectors.proposal_impact_status(p)
    assert (status.state, status.progress, status.chunks_done, status.chunks_total) == ("running", 38, 2, 5)
    assert status.message == "computing accounts" and not status.done

    HealthRun.objects.filter(pk=run.pk).update(status=RunStatus.FAILED, error="worker lost")
    assert proposal_impact_collect(proposal_id=p.pk, revision=p.revision, run_id=run.pk) == "failed"
    p = Proposal.objects.get(pk=p.pk)
    status = selectors.proposal_impact_status(p)
    assert (status.state, status.message, status.done) == ("failed", "worker lost", True)
    assert selectors.proposal_allowed_actions(p, people["m1"]).vote is True


def test_an_eager_submission_records_the_impact_and_names_its_run(impact_proposal):
    from riskgov.core.models import AuditEvent

    started = AuditEvent.objects.get(action="governance.proposal.impact_started", object_id=str(impact_proposal.pk))
    assert started.after["revision"] == 1 and HealthRun.objects.get(pk=started.after["run"]).kind == RunKind.IMPACT
    assert selectors.proposal_impact_status(impact_proposal).state == "recorded"

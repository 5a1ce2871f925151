"""Races on real PostgreSQL: parallel votes and parallel activation workers.

Each thread has its own database connection (Django connections are per thread) and
closes it at the end; a barrier releases the threads together.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from riskgov.core.exceptions import Conflict
from riskgov.core.models import AuditEvent
from riskgov.governance import services as gs
from riskgov.governance.models import Proposal, Vote
from riskgov.parameters.models import MarketParameterVersion, VersionStatus

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("transactional_db")]


def run_parallel(fns):
    barrier = threading.Barrier(len(fns))
    results: list = [None] * len(fns)

    def worker(i, fn):
        try:
            barrier.wait(timeout=10)
            results[i] = ("ok", fn())
        except Exception as exc:  # noqa: BLE001 — collected and asserted by the test
            results[i] = ("error", exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    return results


@pytest.mark.parametrize("extra_voters", [0, 1])
def test_parallel_votes_reach_quorum_exactly_once(people, make_proposal, extra_voters):
    k = 3
    gs.policy_update(by=people["admin"], quorum=k)
    p = gs.proposal_submit(proposal=make_proposal(), by=people["analyst"])
    voters = ["m1", "m2", "m3", "both"][: k + extra_voters]
    results = run_parallel(
        [
            (lambda m=m: gs.proposal_vote(proposal=p, by=people[m], decision="approve", comment=f"{m} approves"))
            for m in voters
        ]
    )
    ok = [r for r in results if r[0] == "ok"]
    errors = [r[1] for r in results if r[0] == "error"]
    assert len(ok) == k
    assert all(isinstance(e, Conflict) for e in errors) and len(errors) == extra_voters
    p = Proposal.objects.get(pk=p.pk)
    assert p.status == "scheduled"
    assert Vote.objects.filter(proposal=p, decision="approve").count() == k
    obj = {"object_type": "governance.proposal", "object_id": str(p.pk)}
    assert AuditEvent.objects.filter(action="governance.proposal.approve", **obj).count() == 1
    assert AuditEvent.objects.filter(action="governance.proposal.schedule", **obj).count() == 1
    assert AuditEvent.objects.filter(action="governance.vote.cast", **obj).count() == k


def test_two_workers_activate_exactly_once(people, make_proposal):
    p = gs.proposal_submit(proposal=make_proposal(), by=people["analyst"])
    for m in ("m1", "m2"):
        gs.proposal_vote(proposal=p, by=people[m], decision="approve", comment="ok")
    p = Proposal.objects.get(pk=p.pk)
    now = p.effective_at + timedelta(minutes=1)
    results = run_parallel([lambda: gs.proposals_activate_due(now=now), lambda: gs.proposals_activate_due(now=now)])
    assert all(r[0] == "ok" for r in results), results
    assert sorted(pk for r in results for pk in r[1]) == [p.pk]
    assert Proposal.objects.get(pk=p.pk).status == "active"
    assert MarketParameterVersion.objects.filter(market__symbol="BTC-PERP", status=VersionStatus.ACTIVE).count() == 1
    assert (
        AuditEvent.objects.filter(
            action="governance.proposal.activate", object_type="governance.proposal", object_id=str(p.pk)
        ).count()
        == 1
    )


def test_two_workers_two_competing_proposals_one_wins(people, make_proposal):
    ps = [
        make_proposal(),
        make_proposal(changes=[{"market": "BTC-PERP", "liquidation_penalty": "0.003"}], title="penalty"),
    ]
    for p in ps:
        gs.proposal_submit(proposal=p, by=people["analyst"])
        for m in ("m1", "m2"):
            gs.proposal_vote(proposal=p, by=people[m], decision="approve", comment="ok")
    now = max(Proposal.objects.get(pk=p.pk).effective_at for p in ps) + timedelta(minutes=1)
    results = run_parallel([lambda: gs.proposals_activate_due(now=now), lambda: gs.proposals_activate_due(now=now)])
    assert all(r[0] == "ok" for r in results), results
    activated = [pk for r in results for pk in r[1]]
    assert len(activated) == 1
    statuses = sorted(Proposal.objects.filter(pk__in=[p.pk for p in ps]).values_list("status", flat=True))
    assert statuses == ["active", "scheduled"]
    assert MarketParameterVersion.objects.filter(market__symbol="BTC-PERP", status=VersionStatus.ACTIVE).count() == 1
    loser = Proposal.objects.get(status="scheduled")
    assert "BTC-PERP" in loser.activation_error

"""A lost impact job never leaves a proposal "queued" forever (issue #16; the #14 lifecycle
pattern): the beat sweep sends it again, then freezes the reason; a finished impact run that
nobody froze is frozen by the sweep; the proposal page shows the reason once."""

from datetime import timedelta

import pytest
from django.utils import timezone

from riskgov.core.models import AuditEvent
from riskgov.governance.selectors import proposal_impact_status
from riskgov.governance.services import proposal_create, proposal_impacts_sweep, proposal_submit
from riskgov.health.models import HealthRun, RunStatus
from tests.governance_fixtures import later
from tests.venue_fixtures import STRICTER_BTC

pytestmark = pytest.mark.django_db


def _lost_submission(people, django_capture_on_commit_callbacks):
    """A submitted proposal whose impact job message was lost (the on-commit send dropped)."""
    p = proposal_create(
        by=people["analyst"],
        title="Double BTC margins",
        rationale="stress",
        effective_at=later(days=3),
        changes=[{"market": "BTC-PERP", "brackets": STRICTER_BTC}],
    )
    with django_capture_on_commit_callbacks(execute=False):  # the job never leaves
        proposal_submit(proposal=p, by=people["analyst"])
    p.refresh_from_db()
    assert proposal_impact_status(p).state == "queued"
    return p


def _redispatches(p):
    return AuditEvent.objects.filter(
        object_id=str(p.pk), action="governance.proposal.impact_redispatched", after__revision=p.revision
    ).count()


def test_a_lost_impact_job_is_sent_again_and_then_recorded(health_run, people, django_capture_on_commit_callbacks):
    p = _lost_submission(people, django_capture_on_commit_callbacks)
    now = timezone.now()
    assert proposal_impacts_sweep(now=now + timedelta(minutes=5)) == []  # not lost yet (900 s)
    with django_capture_on_commit_callbacks(execute=True):
        actions = proposal_impacts_sweep(now=now + timedelta(minutes=16))
    assert actions == [f"proposal {p.pk}: impact job sent again (1)"]
    assert _redispatches(p) == 1
    p.refresh_from_db()
    # the job ran again (eager): its run was published and the impact frozen
    assert p.impact is not None and "error" not in p.impact and p.impact_revision == p.revision
    assert proposal_impact_status(p).state == "recorded"
    assert proposal_impacts_sweep(now=now + timedelta(hours=2)) == []  # nothing more to do


def test_a_job_lost_every_time_freezes_the_reason(
    health_run, people, django_capture_on_commit_callbacks, settings, client
):
    settings.RISKGOV_IMPACT_MAX_REDISPATCH = 1
    p = _lost_submission(people, django_capture_on_commit_callbacks)
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=False):  # the re-sent message is lost too
        assert proposal_impacts_sweep(now=now + timedelta(minutes=16)) == [
            f"proposal {p.pk}: impact job sent again (1)"
        ]
    # the timeout counts from the re-send (its audit record is "now", the sweep runs later)
    with django_capture_on_commit_callbacks(execute=False):
        actions = proposal_impacts_sweep(now=timezone.now() + timedelta(minutes=16))
    assert len(actions) == 1 and "impact failed" in actions[0]
    p.refresh_from_db()
    assert "impact analysis lost" in p.impact["error"] and "1 re-dispatch included" in p.impact["error"]
    status = proposal_impact_status(p)
    assert status.state == "failed" and status.done
    # the proposal page shows the reason, once
    client.force_login(people["m1"])
    page = client.get(f"/proposals/{p.pk}/").content.decode()
    assert page.count("impact analysis lost") == 1
    assert 'id="impact-failed"' in page and 'id="impact-status-failed"' in page


def test_an_uncollected_finished_run_is_frozen_by_the_sweep(
    health_run, people, django_capture_on_commit_callbacks, monkeypatch
):
    from riskgov.governance import tasks

    # the collector's message is lost: the run finishes, nobody freezes its comparison
    monkeypatch.setattr(tasks.governance_impact_collect, "delay", lambda *a, **k: None)
    p = proposal_create(
        by=people["analyst"],
        title="Double BTC margins",
        rationale="stress",
        effective_at=later(days=3),
        changes=[{"market": "BTC-PERP", "brackets": STRICTER_BTC}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        proposal_submit(proposal=p, by=people["analyst"])
    p.refresh_from_db()
    assert p.impact is None and proposal_impact_status(p).state == "collecting"
    run = HealthRun.objects.get(pk=proposal_impact_status(p).run_id)
    assert run.status == RunStatus.SUCCEEDED
    assert proposal_impacts_sweep(now=timezone.now()) == []  # just finished: the collector's turn
    actions = proposal_impacts_sweep(now=timezone.now() + timedelta(minutes=3))
    assert actions == [f"proposal {p.pk}: impact of run {run.pk} frozen by the sweep (recorded)"]
    p.refresh_from_db()
    assert p.impact["proposed"]["run"] == run.pk and proposal_impact_status(p).state == "recorded"


def test_a_failed_uncollected_run_freezes_its_reason(
    health_run, people, django_capture_on_commit_callbacks, monkeypatch
):
    from riskgov.governance import tasks

    monkeypatch.setattr(tasks.governance_impact_collect, "delay", lambda *a, **k: None)
    p = proposal_create(
        by=people["analyst"],
        title="Double BTC margins",
        rationale="stress",
        effective_at=later(days=3),
        changes=[{"market": "BTC-PERP", "brackets": STRICTER_BTC}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        proposal_submit(proposal=p, by=people["analyst"])
    p.refresh_from_db()
    run = HealthRun.objects.get(pk=proposal_impact_status(p).run_id)
    HealthRun.objects.filter(pk=run.pk).update(
        status=RunStatus.FAILED, published_at=None, error="deadline passed", finished_at=timezone.now()
    )
    actions = proposal_impacts_sweep(now=timezone.now() + timedelta(minutes=3))
    assert actions == [f"proposal {p.pk}: impact of run {run.pk} frozen by the sweep (failed)"]
    p.refresh_from_db()
    assert p.impact["error"] == "deadline passed"
    assert proposal_impact_status(p).state == "failed"


def test_the_sweep_is_on_the_beat_schedule():
    from riskgov.core.schedules import SCHEDULES

    assert ("governance.impact_sweep", 1) in {(s.task, s.every_minutes) for s in SCHEDULES}

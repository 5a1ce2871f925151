"""Fixtures of the reports tests: archive in a temporary MEDIA_ROOT, SVG charts (one test
uses kaleido), people in each role, a published run of the tiny venue, constructed runs."""

import datetime as dt

import pytest
from django.utils import timezone

from riskgov.core.roles import ADMIN, ANALYST, COMMITTEE, VIEWER
from riskgov.health.models import HealthRun, RunKind, RunStatus
from riskgov.snapshots.models import Snapshot
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _reports_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RISKGOV_REPORT_CHARTS = "svg"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


@pytest.fixture
def people(db):
    """Two committee members, an admin, an analyst, a viewer, an inactive member, one without e-mail."""
    return {
        "m1": UserFactory(username="m1", roles=[COMMITTEE]),
        "m2": UserFactory(username="m2", roles=[COMMITTEE]),
        "adm": UserFactory(username="adm", roles=[ADMIN, COMMITTEE]),
        "ana": UserFactory(username="ana", roles=[ANALYST]),
        "vic": UserFactory(username="vic", roles=[VIEWER]),
        "gone": UserFactory(username="gone", roles=[COMMITTEE], is_active=False),
        "nomail": UserFactory(username="nomail", roles=[COMMITTEE], email=""),
    }


@pytest.fixture
def published_run(venue, django_capture_on_commit_callbacks):
    """A real health run of the tiny venue, run eagerly and published now."""
    from riskgov.health.services import health_run_create

    with django_capture_on_commit_callbacks(execute=True):
        run = health_run_create(snapshot=venue, kind=RunKind.SCHEDULED)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    # the tiny venue's prices are of 2020: make the snapshot fresh for "complete" reports
    Snapshot.objects.filter(pk=venue.pk).update(taken_at=timezone.now() - dt.timedelta(hours=1))
    run.snapshot.refresh_from_db()
    return run


def make_run(*, snapshot=None, age_hours=1.0, status=RunStatus.SUCCEEDED, kind=RunKind.MANUAL, **fields):
    """A constructed run (no engine): a snapshot of fresh prices and the given stored fields."""
    now = timezone.now()
    if snapshot is None:
        snapshot = Snapshot.objects.create(
            venue="Constructed", taken_at=now - dt.timedelta(hours=age_hours), insurance_fund_usd=1000, sha256="0" * 64
        )
    published = now - dt.timedelta(hours=age_hours) if status == RunStatus.SUCCEEDED else None
    values = {
        "n_accounts": 100,
        "n_positions": 150,
        "liquidatable_accounts": 0,
        "bankrupt_accounts": 0,
        "shortfall_usd": 0.0,
        "insurance_fund_usd": 1000.0,
        "es_usd": 100.0,
        "coverage_at_es": 10.0,
        "recommendations": [],
    }
    values.update(fields)
    run = HealthRun.objects.create(snapshot=snapshot, kind=kind, status=status, progress=100, **values)
    HealthRun.objects.filter(pk=run.pk).update(published_at=published, created_at=now - dt.timedelta(hours=age_hours))
    run.refresh_from_db()
    return run

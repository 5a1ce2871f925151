"""End to end with a REAL Celery worker (not eager): Redis broker and result backend, the
pytest-django test database on PostgreSQL, a subprocess ``celery worker``.

Isolation under ``pytest -n 2``: each xdist worker uses its own Redis database number
(13 for gw0 / no xdist, 12 for gw1, …) as broker and result backend, and its own queue
name (with the process id, so that another test session on this machine cannot consume
our tasks either): two workers never consume each other's tasks. Tests use ``transaction=True`` so that rows are committed and visible to the
worker process.
"""

import os
import time
from pathlib import Path

import pytest

from riskgov.health.models import AccountResult, HealthRun, RunStatus
from riskgov.health.selectors import latest_published_run
from tests import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def real_worker(django_db_setup, django_db_blocker):
    """Start ``celery worker`` on this test process's database; point our app at it."""
    with celery_worker.real_worker(
        redis_db=13, name="health", log_path=Path(os.environ.get("TMPDIR", "/tmp")) / "riskgov-celery-health.log"
    ) as proc:
        yield proc


def _wait(run_id: int, timeout: float = 120) -> HealthRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = HealthRun.objects.get(pk=run_id)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            return run
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} still {run.status} after {timeout} s")


def test_real_worker_runs_the_chunks_and_publishes(real_worker, venue):
    from riskgov.health.services import health_run_create

    run = health_run_create(snapshot=venue, chunk_accounts=4)  # autocommit: enqueued on commit
    run = _wait(run.pk)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert (run.chunks_total, run.chunks_done, run.progress) == (6, 6, 100)
    assert run.n_accounts == 21 and AccountResult.objects.filter(run=run).count() == 21
    assert latest_published_run() == run
    assert real_worker.poll() is None  # the worker is still alive


def test_real_worker_marks_a_failing_run_failed(real_worker, venue):
    from riskgov.health.services import health_run_create
    from riskgov.parameters.models import MarketParameterVersion

    run = health_run_create(snapshot=venue, chunk_accounts=10, enqueue=False)
    # make the recorded parameter set unreproducible: chunks refuse to compute (Conflict)
    HealthRun.objects.filter(pk=run.pk).update(
        market_versions={"BTC-PERP": MarketParameterVersion.objects.order_by("-pk").first().pk + 999}
    )
    from riskgov.health.tasks import health_run

    health_run.delay(run.pk)
    run = _wait(run.pk)
    assert run.status == RunStatus.FAILED and "parameter set changed" in run.error
    assert not AccountResult.objects.filter(run=run).exists()

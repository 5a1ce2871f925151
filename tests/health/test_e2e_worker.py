"""End to end with a REAL Celery worker (not eager): Redis broker and result backend, the
pytest-django test database on PostgreSQL, a subprocess ``celery worker``.

Isolation under ``pytest -n 2``: each xdist worker uses its own Redis database number
(13 for gw0 / no xdist, 12 for gw1, …) as broker and result backend, and its own queue
name (with the process id, so that another test session on this machine cannot consume
our tasks either): two workers never consume each other's tasks. Tests use ``transaction=True`` so that rows are committed and visible to the
worker process.
"""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import redis

from riskgov.health.models import AccountResult, HealthRun, RunStatus
from riskgov.health.selectors import latest_published_run

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
REPO = Path(__file__).resolve().parents[2]


def _reset_app_caches(app) -> None:
    """Forget connections, producer pool and backend made with the previous configuration."""
    from kombu import pools

    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    pools.reset()  # kombu's process-wide producer pools, keyed by connection, hold closed pools
    app.__dict__.pop("amqp", None)  # cached_property holding the producer pool
    app._backend_cache = None
    app._local = threading.local()


@pytest.fixture(scope="module")
def real_worker(django_db_setup, django_db_blocker):
    """Start ``celery worker`` on this test process's database; point our app at it."""
    from django.db import connection

    from riskgov.config.celery import app

    xdist = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    n = int(xdist[2:]) if xdist[2:].isdigit() else 0
    url = f"redis://127.0.0.1:6379/{13 - n}"
    queue = f"riskgov-health-test-{xdist}-{os.getpid()}"
    s = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "riskgov.config.settings_test",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
        "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}",
        "CONN_MAX_AGE": "0",
    }
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"riskgov-celery-{xdist}.log", "w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "riskgov.config.celery",
            "worker",
            "--pool=solo",
            "-Q",
            queue,
            "-n",
            f"riskgov-test-{xdist}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel=INFO",
        ],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # Celery reads CELERY_BROKER_URL / CELERY_RESULT_BACKEND from the environment first.
    saved_env = {k: os.environ.get(k) for k in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    saved_eager = app.conf.task_always_eager
    os.environ.update(CELERY_BROKER_URL=url, CELERY_RESULT_BACKEND=url)
    saved_queue = app.conf.task_default_queue
    app.conf.update(task_always_eager=False, broker_url=url, result_backend=url, task_default_queue=queue)
    _reset_app_caches(app)
    try:
        yield proc
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        app.conf.update(
            task_always_eager=saved_eager, broker_url=saved_env["CELERY_BROKER_URL"], task_default_queue=saved_queue
        )
        redis.Redis.from_url(url).delete(queue)
        _reset_app_caches(app)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _wait(run_id: int, timeout: float = 120) -> HealthRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = HealthRun.objects.get(pk=run_id)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            return run
        time.sleep(0.25)
    raise AssertionError(f"run {run_id} still {run.status} after {timeout} s")


def test_real_worker_runs_chunks_as_a_chord_and_publishes(real_worker, venue):
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

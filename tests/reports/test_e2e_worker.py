"""End to end with a REAL Celery worker on Redis and the PostgreSQL test database: a run
published by the worker triggers the alert evaluation (signal → task) and its e-mail; the
report task builds, archives and delivers once, and a redelivered message sends nothing new.

Isolation as in tests/health/test_e2e_worker.py: own Redis database (11 − xdist index) and a
queue named after this process, ``transaction=True`` so the worker sees committed rows.
"""

import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
import redis

from riskgov.reports.models import AlertFiring, AlertKind, AlertNotification, AlertRule, DeliveryStatus, Report

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
REPO = Path(__file__).resolve().parents[2]


def _reset(app) -> None:
    """Forget the app's pools and backend (not closed: kombu's global pools may share them)."""
    app._pool = None
    app.__dict__.pop("amqp", None)
    app._backend_cache = None
    app._local = threading.local()


@pytest.fixture
def worker(django_db_setup, tmp_path):
    from django.db import connection

    from riskgov.config.celery import app

    xdist = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    n = int(xdist[2:]) if xdist[2:].isdigit() else 0
    url = f"redis://127.0.0.1:6379/{11 - n}"
    queue = f"riskgov-reports-test-{xdist}-{os.getpid()}"
    s = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "riskgov.config.settings_test",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
        "DATABASE_URL": f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}",
        "CONN_MAX_AGE": "0",
        "RISKGOV_VAR_DIR": str(tmp_path),
        "RISKGOV_REPORT_CHARTS": "svg",
    }
    redis.Redis.from_url(url).delete("celery")  # our private database: nothing left from an earlier session
    log = open(tmp_path / "worker.log", "w")
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
            f"{queue},celery",  # tasks sent by the worker itself (signal → alerts) use the default queue
            "-n",
            f"riskgov-reports-{xdist}@%h",
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
    saved_env = {k: os.environ.get(k) for k in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    saved = (app.conf.task_always_eager, app.conf.task_default_queue)
    os.environ.update(CELERY_BROKER_URL=url, CELERY_RESULT_BACKEND=url)
    app.conf.update(task_always_eager=False, broker_url=url, result_backend=url, task_default_queue=queue)
    _reset(app)
    try:
        yield proc
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        app.conf.update(
            task_always_eager=saved[0], broker_url=saved_env["CELERY_BROKER_URL"], task_default_queue=saved[1]
        )
        redis.Redis.from_url(url).delete(queue, "celery")
        _reset(app)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _until(check, timeout=120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError("timed out")


def test_real_worker_alerts_after_publication_and_delivers_a_report_once(worker, venue, tmp_path):
    from riskgov.health.services import health_run_create
    from riskgov.reports.tasks import report_build_and_deliver
    from tests.factories import UserFactory

    for name in ("m1", "m2"):
        UserFactory(username=name, roles=["committee"])
    UserFactory(username="adm", roles=["admin"])
    rule = AlertRule.objects.create(name="any liquidatable", kind=AlertKind.LIQUIDATABLE_ACCOUNTS, threshold=0)

    run = health_run_create(snapshot=venue)  # autocommit: enqueued on commit, run by the worker
    firing = _until(lambda: AlertFiring.objects.filter(rule=rule).first())
    assert firing.run_id == run.pk
    n = _until(lambda: AlertNotification.objects.filter(firing=firing, status=DeliveryStatus.SENT).first())
    assert sorted(n.recipients) == ["adm@example.org", "m1@example.org", "m2@example.org"]  # default roles

    task_id = f"e2e-report-{uuid.uuid4()}"  # results outlive the test in Redis: never reuse an id
    out = report_build_and_deliver.apply_async(kwargs={"roles": ["committee", "admin"]}, task_id=task_id).get(120)
    report = Report.objects.get(pk=out["report"])
    assert out["sent"] == 3 and report.run_id == run.pk
    assert report.status == "incomplete" and "stale prices" in report.reasons[0]  # the tiny venue is of 2020
    media = tmp_path / "media"  # the worker's MEDIA_ROOT (RISKGOV_VAR_DIR)
    assert (media / report.pdf.name).read_bytes()[:5] == b"%PDF-" and (media / report.html.name).exists()
    # the broker redelivers the same message: same report, nobody gets it twice
    report_build_and_deliver.AsyncResult(task_id).forget()  # wait for the new execution's result
    again = report_build_and_deliver.apply_async(kwargs={"roles": ["committee", "admin"]}, task_id=task_id).get(120)
    assert again == {"report": report.pk, "sent": 0, "skipped": 3, "failed": 0}
    assert report.deliveries.filter(status=DeliveryStatus.SENT).count() == 3 and Report.objects.count() == 1
    assert worker.poll() is None

"""Issue 13.9: under a threaded server, ``POST /api/v1/health-runs/`` and report send-now failed
6/8 and 3/8 times with "'<task>' object has no attribute 'delay_on_commit'" (Celery's current
app is per thread). Here: the real WSGI app in a threaded werkzeug server (as ``runserver``
and ``gunicorn --threads``), eight parallel requests per route from eight threads, and a REAL
Celery worker (tests/celery_worker.py) that runs the health runs to the end."""

from __future__ import annotations

import json
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
PARALLEL = 8


@pytest.fixture
def worker(django_db_setup, tmp_path):
    with celery_worker.real_worker(
        redis_db=9,
        name="threaded",
        log_path=tmp_path / "worker.log",
        extra_env={"RISKGOV_VAR_DIR": str(tmp_path), "RISKGOV_REPORT_CHARTS": "svg"},
        default_queue_too=True,
    ) as proc:
        yield proc


def _post(url: str, token: str, body: dict) -> tuple[int, str]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_parallel_enqueueing_routes_under_a_threaded_server_with_a_real_worker(live_app, worker, venue, tmp_path):
    from rest_framework.authtoken.models import Token

    from riskgov.health.models import HealthRun, RunStatus
    from tests.factories import UserFactory

    admin = UserFactory(username="adm", roles=["admin"])
    token = Token.objects.create(user=admin).key
    with ThreadPoolExecutor(PARALLEL) as pool:
        runs = list(
            pool.map(lambda i: _post(f"{live_app}/api/v1/health-runs/", token, {"label": f"t{i}"}), range(PARALLEL))
        )
        sends = list(pool.map(lambda i: _post(f"{live_app}/api/v1/reports/send-now/", token, {}), range(PARALLEL)))
    assert [code for code, _ in runs] == [201] * PARALLEL or all(c in (201, 202) for c, _ in runs), runs
    assert all(code == 202 for code, _ in sends), sends
    assert not [t for _, t in runs + sends if "delay_on_commit" in t]

    ids = [json.loads(t)["id"] for _, t in runs]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        done = HealthRun.objects.filter(pk__in=ids, status__in=[RunStatus.SUCCEEDED, RunStatus.FAILED]).count()
        if done == PARALLEL:
            break
        time.sleep(0.5)
    statuses = dict(HealthRun.objects.filter(pk__in=ids).values_list("pk", "status"))
    assert set(statuses.values()) == {RunStatus.SUCCEEDED}, statuses
    assert worker.poll() is None
    assert "delay_on_commit" not in (tmp_path / "worker.log").read_text()

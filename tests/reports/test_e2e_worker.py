"""End to end with a REAL Celery worker on Redis and the PostgreSQL test database: a run
published by the worker triggers the alert evaluation (signal → task) and its e-mail; the
report task builds, archives and delivers once, and a redelivered message sends nothing new.

Isolation as in tests/health/test_e2e_worker.py: own Redis database (11 − xdist index) and a
queue named after this process, ``transaction=True`` so the worker sees committed rows.
"""

import time
import uuid

import pytest

from riskgov.alerts.models import AlertFiring, AlertKind, AlertNotification, AlertRule
from riskgov.reports.models import DeliveryStatus, Report
from tests import celery_worker

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(django_db_setup, tmp_path):
    with celery_worker.real_worker(
        redis_db=11,
        name="reports",
        log_path=tmp_path / "worker.log",
        extra_env={"RISKGOV_VAR_DIR": str(tmp_path), "RISKGOV_REPORT_CHARTS": "svg"},
        default_queue_too=True,  # tasks sent by the worker itself (signal → alerts) use the default queue
    ) as proc:
        yield proc


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
    n = _until(lambda: AlertNotification.objects.filter(items__firing=firing, status=DeliveryStatus.SENT).first())
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

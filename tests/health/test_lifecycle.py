"""Runs that always end (issue 14): deadline, heartbeats, the sweep, failure marking that
outlives the database, ``RISKGOV_HEALTH_CHUNK_ACCOUNTS``, and ``run_health``'s one line.

The sweep is driven with ``now=`` (no waiting); messages it sends are captured. The real
processes (killed workers, a restarted broker, a stopped database) are in ``test_faults.py``.
"""

import datetime as dt
import os
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.test import override_settings
from django.utils import timezone

from riskgov.core.schedules import SCHEDULES
from riskgov.health import tasks
from riskgov.health.models import AccountResult, HealthRun, PositionResult, RunChunk, RunStatus
from riskgov.health.selectors import latest_published_run
from riskgov.health.services import (
    health_chunk_compute,
    health_run_create,
    health_run_finalize_claim,
    health_run_start,
    health_runs_sweep,
    lifecycle,
)
from tests.celery_worker import REPO

pytestmark = pytest.mark.django_db
LIFECYCLE = dict(
    RISKGOV_HEALTH_STALE_SECONDS=10,
    RISKGOV_HEALTH_CHUNK_MAX_REDISPATCH=2,
    RISKGOV_HEALTH_CHUNK_BUDGET_SECONDS=100,
    RISKGOV_HEALTH_FINALIZE_BUDGET_SECONDS=50,
    RISKGOV_HEALTH_RUN_DEADLINE_SECONDS=0,
)


@pytest.fixture
def sent(monkeypatch):
    """The chunk and finalize messages the sweep sends (captured, not sent)."""
    out = []
    monkeypatch.setattr(lifecycle, "send_chunk", lambda **kw: out.append(("chunk", kw["first_account"])))
    monkeypatch.setattr(lifecycle, "send_finalize", lambda **kw: out.append(("finalize", kw["run_id"])))
    return out


def _started(venue, size=8):
    run = health_run_create(snapshot=venue, chunk_accounts=size, enqueue=False)
    ranges = health_run_start(run_id=run.pk, queue="q")
    run.refresh_from_db()
    return run, ranges


def _sweep(django_capture_on_commit_callbacks, **kw):
    with django_capture_on_commit_callbacks(execute=True):
        return health_runs_sweep(**kw)


@override_settings(**LIFECYCLE)
def test_start_sets_a_deadline_from_the_chunk_count_and_records_the_dispatch(venue):
    run, ranges = _started(venue)
    assert len(ranges) == 3 and run.queue == "q"
    assert (run.deadline_at - run.started_at).total_seconds() == pytest.approx(50 + 3 * 100)
    assert all(c.dispatches == 1 and c.dispatched_at == run.started_at for c in run.chunks.all())
    with override_settings(RISKGOV_HEALTH_RUN_DEADLINE_SECONDS=7):
        assert lifecycle.run_deadline_seconds(3) == 7


@override_settings(**LIFECYCLE)
def test_a_chunk_whose_worker_stopped_beating_is_sent_again_then_the_run_fails(
    venue, sent, django_capture_on_commit_callbacks
):
    run, ranges = _started(venue)
    for a, b in ranges[:2]:
        assert health_chunk_compute(run_id=run.pk, first_account=a, last_account=b)
    # the third chunk's worker started it, then died (no more heartbeats)
    RunChunk.objects.filter(run=run, first_account=16).update(
        status=RunChunk.Status.RUNNING, heartbeat_at=run.started_at, started_at=run.started_at, worker="w pid 1"
    )
    t = run.started_at
    assert _sweep(django_capture_on_commit_callbacks, now=t + dt.timedelta(seconds=5)) == []  # not stale yet
    actions = _sweep(django_capture_on_commit_callbacks, now=t + dt.timedelta(seconds=11))
    assert sent == [("chunk", 16)] and "sent again" in actions[0]
    chunk = RunChunk.objects.get(run=run, first_account=16)
    assert (chunk.status, chunk.dispatches) == (RunChunk.Status.PENDING, 2)
    # sent again, lost again (nothing busy: no beats anywhere) → once more, then the run fails
    _sweep(django_capture_on_commit_callbacks, now=t + dt.timedelta(seconds=22))
    assert RunChunk.objects.get(run=run, first_account=16).dispatches == 3
    assert AccountResult.objects.filter(run=run).exists()  # partial rows of the done chunks
    actions = _sweep(django_capture_on_commit_callbacks, now=t + dt.timedelta(seconds=33))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "chunk [16, 21) lost 3 times" in run.error, actions
    assert "gave up after 2 re-dispatches" in run.error
    assert not AccountResult.objects.filter(run=run).exists() and not PositionResult.objects.filter(run=run).exists()
    assert latest_published_run() is None
    assert len(sent) == 2


@override_settings(**LIFECYCLE)
def test_a_queued_chunk_is_not_lost_while_workers_are_busy(venue, sent, django_capture_on_commit_callbacks):
    run, _ = _started(venue)
    t = run.started_at + dt.timedelta(seconds=60)
    # another chunk beats: the queue is moving, the old messages are waiting, not lost
    RunChunk.objects.filter(run=run, first_account=0).update(status=RunChunk.Status.RUNNING, heartbeat_at=t)
    assert _sweep(django_capture_on_commit_callbacks, now=t) == [] and sent == []
    # nothing beats any more: the two pending messages were lost (e.g. a broker restart)
    RunChunk.objects.filter(run=run, first_account=0).update(status=RunChunk.Status.DONE)
    _sweep(django_capture_on_commit_callbacks, now=t + dt.timedelta(seconds=11))
    assert sorted(sent) == [("chunk", 8), ("chunk", 16)]


@override_settings(**LIFECYCLE)
def test_a_run_past_its_deadline_fails_with_the_reason_and_leaves_nothing(
    venue, sent, django_capture_on_commit_callbacks
):
    run, ranges = _started(venue)
    health_chunk_compute(run_id=run.pk, first_account=0, last_account=8)
    assert AccountResult.objects.filter(run=run).count() == 8
    _sweep(django_capture_on_commit_callbacks, now=run.deadline_at + dt.timedelta(seconds=1))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.published_at is None
    assert run.error.startswith("deadline passed (350 s after the start): 1 of 3 chunks done")
    assert not AccountResult.objects.filter(run=run).exists() and not PositionResult.objects.filter(run=run).exists()
    assert sent == []


@override_settings(**LIFECYCLE)
def test_a_lost_finalize_is_sent_again(venue, sent, django_capture_on_commit_callbacks):
    run, ranges = _started(venue)
    for a, b in ranges:
        health_chunk_compute(run_id=run.pk, first_account=a, last_account=b)
    assert health_run_finalize_claim(run_id=run.pk) is True
    assert health_run_finalize_claim(run_id=run.pk) is False  # exactly one sender
    run.refresh_from_db()
    t = run.finalize_dispatched_at
    assert _sweep(django_capture_on_commit_callbacks, now=t + dt.timedelta(seconds=5)) == []
    _sweep(django_capture_on_commit_callbacks, now=t + dt.timedelta(seconds=11))
    assert sent == [("finalize", run.pk)]
    # finalize started and beats: not lost
    HealthRun.objects.filter(pk=run.pk).update(heartbeat_at=t + dt.timedelta(seconds=20))
    assert _sweep(django_capture_on_commit_callbacks, now=t + dt.timedelta(seconds=25)) == []


@override_settings(RISKGOV_HEALTH_START_TIMEOUT_SECONDS=60)
def test_a_run_never_started_fails(venue, django_capture_on_commit_callbacks):
    run = health_run_create(snapshot=venue, enqueue=False)
    assert _sweep(django_capture_on_commit_callbacks, now=timezone.now()) == []
    _sweep(django_capture_on_commit_callbacks, now=timezone.now() + dt.timedelta(seconds=61))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and "never started" in run.error


def test_failure_marking_retries_while_the_database_is_away(venue, monkeypatch):
    """``health.fail`` retries on database errors with exponential backoff (a worker waits
    1, 2, 4 … 60 s; eager mode raises the retry), and marks the run once it can."""
    from celery.exceptions import Retry
    from django.db import Error

    from riskgov.health import services

    run = health_run_create(snapshot=venue, enqueue=False)
    health_run_start(run_id=run.pk)
    real = services.health_run_fail
    monkeypatch.setattr(services, "health_run_fail", lambda **kw: (_ for _ in ()).throw(OperationalError("down")))
    with pytest.raises(Retry):  # eager: the retry surfaces instead of waiting
        tasks.health_fail.apply(args=(run.pk, "RuntimeError: boom"))
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING
    monkeypatch.setattr(services, "health_run_fail", real)  # the database is back
    tasks.health_fail.apply(args=(run.pk, "RuntimeError: boom"))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.error == "RuntimeError: boom"
    t = tasks.health_fail
    assert t.autoretry_for == (Error,) and t.acks_late and (t.retry_backoff, t.retry_backoff_max) == (1, 60)
    assert t.max_retries == 30


def test_a_task_hands_failure_marking_to_health_fail_when_the_database_is_away(venue, monkeypatch):
    from riskgov.config.celery import app
    from riskgov.health import services

    sent = []
    monkeypatch.setattr(services, "health_run_fail", lambda **kw: (_ for _ in ()).throw(OperationalError("down")))
    monkeypatch.setattr(tasks.health_fail, "apply_async", lambda args, **kw: sent.append((args, kw)))
    app.conf.task_always_eager = False
    try:
        tasks._fail(7, RuntimeError("chunk write failed"), "q")
    finally:
        app.conf.task_always_eager = True
    assert sent == [((7, "RuntimeError: chunk write failed"), {"queue": "q"})]


def test_the_sweep_is_a_declared_schedule_and_task_names_are_kept():
    assert ("health.sweep", 1) in {(s.task, s.every_minutes) for s in SCHEDULES}
    assert {
        "health.run",
        "health.run_chunk",
        "health.finalize",
        "health.on_error",
        "health.run_scheduled",
        "health.sweep",
        "health.fail",
    } <= set(tasks.health_run.app.tasks)
    from django.conf import settings

    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > tasks.health_finalize.time_limit
    assert settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] > tasks.health_run_chunk.time_limit


# --------------------------------------------------------------------------- chunk size


def test_settings_read_chunk_accounts_from_the_environment():
    code = (
        "import django; django.setup(); from django.conf import settings; print(settings.RISKGOV_HEALTH_CHUNK_ACCOUNTS)"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "riskgov.config.settings_test",
        "RISKGOV_HEALTH_CHUNK_ACCOUNTS": "1234",
    }
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "1234"


@override_settings(RISKGOV_HEALTH_CHUNK_ACCOUNTS=6)
def test_api_scheduled_and_impact_runs_use_the_chunk_setting(
    venue, users, api, django_capture_on_commit_callbacks, monkeypatch
):
    from riskgov.core.roles import ANALYST
    from riskgov.health.services import health_impact_run, health_run_scheduled
    from riskgov.parameters.models import MarketParameterVersion

    api.force_authenticate(users[ANALYST])
    with django_capture_on_commit_callbacks(execute=False):
        r = api.post("/api/v1/health-runs/", {}, format="json")
        assert r.status_code == 202, r.content
        scheduled = health_run_scheduled()
        impact = health_impact_run(overrides=[MarketParameterVersion.objects.first()])
    assert HealthRun.objects.get(pk=r.json()["id"]).chunk_accounts == 6
    assert scheduled.chunk_accounts == 6 and impact.chunk_accounts == 6


# --------------------------------------------------------------------------- run_health


def test_run_health_reports_a_database_outage_in_one_line(venue, monkeypatch):
    from riskgov.health.management.commands import run_health

    def down(**kw):
        raise OperationalError('connection to server at "127.0.0.1", port 5999 failed: Connection refused\n\tIs it up?')

    monkeypatch.setattr(run_health, "health_run_create", down)
    with pytest.raises(CommandError) as e:
        call_command("run_health")
    assert str(e.value) == (
        'run_health failed: OperationalError: connection to server at "127.0.0.1", port 5999 failed: Connection refused'
    )


def test_run_health_without_a_database_prints_one_line_and_exits_non_zero(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "riskgov.config.settings",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:1/nothing",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "RISKGOV_VAR_DIR": str(tmp_path),
    }
    out = subprocess.run(
        [sys.executable, "manage.py", "run_health"], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode != 0
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "run_health failed: OperationalError" in lines[0], out.stderr


def _files(run_id):
    from django.core.files.storage import default_storage

    from riskgov.health.services import results_file

    try:
        return sorted(default_storage.listdir(results_file.run_folder(run_id))[1])
    except FileNotFoundError:
        return []


@override_settings(**LIFECYCLE)
def test_a_chunk_finishing_after_its_run_failed_leaves_no_result_files(
    venue, sent, django_capture_on_commit_callbacks, settings, tmp_path, monkeypatch
):
    """The reviewer's case: the run fails while a chunk computes; the chunk writes its Parquet
    files, its store is refused, and the files are removed (nothing orphaned)."""
    from riskgov.health.services import chunks, health_run_fail, results_file

    settings.MEDIA_ROOT = tmp_path
    run, ranges = _started(venue)
    with django_capture_on_commit_callbacks(execute=True):
        assert health_chunk_compute(run_id=run.pk, first_account=0, last_account=8)
    # the result files, and the chunk's copy of its venue for finalize (run_state)
    assert _files(run.pk) == ["accounts-0000000000.parquet", "positions-0000000000.parquet", "state-0000000000.npz"]
    real_write, real_store = results_file.write_chunk, chunks._store_chunk

    def fail_then_write(**kw):  # the run fails (another chunk's error) while this chunk computes
        with django_capture_on_commit_callbacks(execute=True):
            health_run_fail(run_id=run.pk, error="another chunk failed")
        assert _files(run.pk) == []  # the failure removed the run's folder…
        return real_write(**kw)  # …then the late chunk writes its files

    def store(**kw):  # (the chunk's venue copy, written first, went with the run's folder)
        assert _files(run.pk) == ["accounts-0000000008.parquet", "positions-0000000008.parquet"]
        return real_store(**kw)

    monkeypatch.setattr(results_file, "write_chunk", fail_then_write)
    monkeypatch.setattr(chunks, "_store_chunk", store)
    assert health_chunk_compute(run_id=run.pk, first_account=8, last_account=16) is False
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert _files(run.pk) == []  # neither the done chunk's nor the late chunk's files remain
    assert not (tmp_path / "health-runs" / str(run.pk)).exists()


@override_settings(**LIFECYCLE)
def test_the_sweep_removes_result_folders_of_failed_and_deleted_runs_only(
    venue, sent, django_capture_on_commit_callbacks, settings, tmp_path
):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from riskgov.health.services import results_file

    settings.MEDIA_ROOT = tmp_path
    live, _ = _started(venue)
    with django_capture_on_commit_callbacks(execute=True):
        assert health_chunk_compute(run_id=live.pk, first_account=0, last_account=8)
    failed = health_run_create(snapshot=venue, chunk_accounts=8, enqueue=False)
    HealthRun.objects.filter(pk=failed.pk).update(status=RunStatus.FAILED)
    gone = failed.pk + 1000  # a run id that no longer exists
    for rid in (failed.pk, gone):  # files a chunk wrote before its worker died
        for name in results_file.chunk_names(rid, 0):
            default_storage.save(name, ContentFile(b"x"))
    _sweep(django_capture_on_commit_callbacks)  # beat: the sweep cleans folders as well
    assert _files(failed.pk) == [] and _files(gone) == []
    assert not (tmp_path / "health-runs" / str(gone)).exists()
    running = ["accounts-0000000000.parquet", "positions-0000000000.parquet", "state-0000000000.npz"]
    assert _files(live.pk) == running  # running: kept
    assert lifecycle.clean_result_folders() == []  # idempotent

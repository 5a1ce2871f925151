"""The project's Celery app is bound by ``riskgov.config`` (cookiecutter-django's
``celery_app``): a thread that never imported a tasks module (a threaded server's request
thread) still reaches it, so ``delay_on_commit`` works there."""

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from unittest import mock

import celery
from django.db import connections

from riskgov.config import celery_app


def _in_fresh_thread(fn):
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 — re-raised in the test's thread
            out["error"] = exc
        finally:
            connections.close_all()

    t = threading.Thread(target=target)
    t.start()
    t.join(30)
    if "error" in out:
        raise out["error"]
    return out["value"]


def test_config_binds_the_project_app_as_the_default_of_every_thread():
    assert celery_app.main == "riskgov"
    assert _in_fresh_thread(lambda: celery.current_app._get_current_object()) is celery_app


def test_delay_on_commit_from_a_fresh_thread_reaches_the_configured_app(transactional_db):
    from riskgov.alerts.tasks import alerts_notify_task

    assert celery_app.conf.task_always_eager  # tests run tasks eagerly

    def call():
        task = alerts_notify_task._get_current_object()  # what the proxy resolves to in this thread
        with mock.patch("riskgov.alerts.outbox.alert_notification_send", return_value=3) as send:
            alerts_notify_task.delay_on_commit(41)  # autocommit: runs at once, eagerly
        return task.app, send.call_args_list

    app, calls = _in_fresh_thread(call)
    assert app is celery_app
    assert calls == [mock.call(notification_id=41)]


#: a fresh process like a threaded server's: Django set up in the main thread, a task module
#: imported and a task enqueued on commit from a request thread (no DB: the service is mocked)
FRESH_PROCESS = textwrap.dedent(
    """
    import threading
    from unittest import mock

    import django

    django.setup()
    out = {}

    def request_thread():
        from riskgov.alerts.tasks import alerts_notify_task

        with (
            mock.patch("django.db.transaction.on_commit", lambda fn, using=None, robust=False: fn()),
            mock.patch("riskgov.alerts.outbox.alert_notification_send", return_value=3) as send,
        ):
            alerts_notify_task.delay_on_commit(41)
        out["app"] = alerts_notify_task._get_current_object().app.main
        out["calls"] = send.call_args_list

    t = threading.Thread(target=request_thread)
    t.start()
    t.join(30)
    assert out == {"app": "riskgov", "calls": [mock.call(notification_id=41)]}, out
    print("ok")
    """
)


def test_delay_on_commit_from_a_request_thread_of_a_fresh_process():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "riskgov.config.settings_test", "CELERY_TASK_ALWAYS_EAGER": "1"}
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-2000:]

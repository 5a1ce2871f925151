"""``riskgov.core.background.dispatch``: eager tasks stay inline in tests; with
``RISKGOV_EAGER_BACKGROUND`` on they run in a daemon thread (the served embedded default)."""

import threading

import pytest

from riskgov.core.background import background_enabled, dispatch


class Task:
    name = "test.task"

    def __init__(self):
        self.calls = []

    def delay(self, *args):
        self.calls.append(("delay", args, threading.current_thread().name))

    def apply(self, *, args, throw):
        self.calls.append(("apply", args, threading.current_thread().name))

        class Result:
            def failed(self):
                return False

        return Result()


def test_tests_keep_eager_tasks_synchronous(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    assert background_enabled() is False
    task = Task()
    assert dispatch(task, 1, 2) is None
    assert task.calls == [("delay", (1, 2), threading.current_thread().name)]


@pytest.mark.django_db(transaction=True)
def test_background_runs_the_task_off_the_calling_thread(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.RISKGOV_EAGER_BACKGROUND = True
    task = Task()
    thread = dispatch(task, 7)
    thread.join(timeout=10)
    assert task.calls == [("apply", (7,), "riskgov-test.task")] and thread.daemon


def test_a_broker_sends_the_task_even_with_background_on(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.RISKGOV_EAGER_BACKGROUND = True
    task = Task()
    assert dispatch(task) is None and task.calls[0][0] == "delay"

"""Send a Celery task without holding the request: the broker when there is one, a daemon
thread when tasks run eagerly in a served process (the embedded default, DESIGN "Celery").

With ``CELERY_TASK_ALWAYS_EAGER`` a ``task.delay`` runs the whole task inside the caller,
so a page that starts a long job (a proposal's impact run) would wait for it. When
``RISKGOV_EAGER_BACKGROUND`` is on (the embedded default's served site; off in the tests
unless a test turns it on) ``dispatch`` runs ``task.apply`` in a daemon thread instead,
with its own database connection, closed when the task ends. SQLite tolerates the second
writer through WAL and a busy timeout (settings, ``DATABASES``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections

log = logging.getLogger(__name__)


def background_enabled() -> bool:
    """Tasks run eagerly and the served process runs them off the request thread."""
    return bool(getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)) and bool(
        getattr(settings, "RISKGOV_EAGER_BACKGROUND", False)
    )


def _run(task: Any, args: tuple[Any, ...]) -> None:
    close_old_connections()
    try:
        result = task.apply(args=args, throw=False)
        if result.failed():
            log.error("background task %s%r failed: %r", task.name, args, result.result)
    finally:
        connections.close_all()


def dispatch(task: Any, *args: Any) -> threading.Thread | None:
    """Send ``task(*args)``: ``task.delay`` (a worker, or inline when eager), or — eager with
    ``RISKGOV_EAGER_BACKGROUND`` on — a started daemon thread running ``task.apply``.

    Returns the thread (tests join it) or ``None`` when the task went through ``delay``.
    Call it after the transaction that wrote the task's input has committed
    (``transaction.on_commit``): the thread reads through its own connection.
    """
    if not background_enabled():
        task.delay(*args)
        return None
    thread = threading.Thread(target=_run, args=(task, args), name=f"riskgov-{task.name}", daemon=True)
    thread.start()
    return thread

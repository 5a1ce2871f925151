"""The Celery app of the fault tests' workers: the project's app, with each chunk held for
``RISKGOV_TEST_CHUNK_DELAY`` seconds after it computed and before it writes, so that a test
can kill the worker, restart the broker or stop the database while chunks are in flight.

Patched in each worker process at its first task (``task_prerun``: after Django is set up,
in the pool child too). Production code has no test hook.
"""

import os
import time

from celery.signals import task_prerun

from riskgov.config.celery import app

__all__ = ["app"]


@task_prerun.connect
def _slow_chunks(**_kw) -> None:
    from riskgov.health.services import chunks

    delay = float(os.environ.get("RISKGOV_TEST_CHUNK_DELAY", "0") or 0)
    if not delay or getattr(chunks._store_chunk, "slowed", False):
        return
    real = chunks._store_chunk

    def slow(**kw):
        time.sleep(delay)
        return real(**kw)

    slow.slowed = True
    chunks._store_chunk = slow

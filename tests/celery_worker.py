"""A REAL Celery worker for end-to-end tests: a ``celery worker`` subprocess on the pytest
test database (PostgreSQL) with Redis as broker and result backend, and this process's
Celery app pointed at it for the duration.

Isolation under ``pytest -n 2`` and beside other test sessions on the machine: each caller
passes its own Redis database base number (the xdist index is subtracted, so gw0 and gw1
never share one) and gets a queue named after the xdist worker and the process id.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import redis

REPO = Path(__file__).resolve().parents[1]


def reset_app_caches(app: Any) -> None:
    """Forget connections, producer pools and the result backend of the previous configuration."""
    from kombu import pools

    if app._pool is not None:
        app._pool.force_close_all()
    app._pool = None
    pools.reset()  # kombu's process-wide producer pools, keyed by connection, hold closed pools
    app.__dict__.pop("amqp", None)  # cached_property holding the producer pool
    app._backend_cache = None
    app._local = threading.local()


@contextlib.contextmanager
def real_worker(
    *,
    redis_db: int,
    name: str,
    log_path: Path,
    extra_env: dict[str, str] | None = None,
    default_queue_too: bool = False,
    broker_url: str | None = None,
    queue: str | None = None,
    pool: str = "solo",
    app_module: str = "riskgov.config.celery",
    database_url: str | None = None,
) -> Iterator[subprocess.Popen]:
    """Start a worker on the test database; yield its process; restore the app afterwards.

    Args:
        redis_db: Redis database number for gw0 (``redis_db − xdist index`` is used).
        name: a short name for the worker and its queue.
        log_path: where the worker's output goes.
        extra_env: more environment for the worker (settings it should see).
        default_queue_too: also consume the default ``celery`` queue (tasks the worker
            sends itself, e.g. from a signal receiver, go there).
        broker_url: broker and result backend instead of the shared Redis database (a
            throwaway Redis of a fault test).
        queue: the queue to consume (two workers of a fault test share one).
        pool: ``solo`` (one process) or ``prefork`` (a main process and one pool child).
        app_module: the ``-A`` module (a fault test's app that slows chunks down).
        database_url: the worker's database instead of the test database.
    """
    from django.db import connection

    from riskgov.config.celery import app

    xdist = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    n = int(xdist[2:]) if xdist[2:].isdigit() else 0
    url = broker_url or f"redis://127.0.0.1:6379/{redis_db - n}"
    queue = queue or f"riskgov-{name}-test-{xdist}-{os.getpid()}"
    s = connection.settings_dict
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "riskgov.config.settings_test",
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
        "DATABASE_URL": database_url
        or f"postgres://{s['USER']}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}",
        "CONN_MAX_AGE": "0",
        **(extra_env or {}),
    }
    queues = [queue, "celery"] if default_queue_too else [queue]
    redis.Redis.from_url(url).delete(*queues)  # our private database: nothing left from an earlier session
    log = open(log_path, "w")  # noqa: SIM115 — closed in finally
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            app_module,
            "worker",
            f"--pool={pool}",
            *(["--concurrency=1"] if pool == "prefork" else []),
            "-Q",
            ",".join(queues),
            "-n",
            f"riskgov-{name}-{xdist}-{os.getpid()}@%h",
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
    saved = (app.conf.task_always_eager, app.conf.task_default_queue)
    os.environ.update(CELERY_BROKER_URL=url, CELERY_RESULT_BACKEND=url)
    app.conf.update(task_always_eager=False, broker_url=url, result_backend=url, task_default_queue=queue)
    reset_app_caches(app)
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
        with contextlib.suppress(redis.RedisError):  # a fault test's broker may be gone
            redis.Redis.from_url(url).delete(*queues)
        reset_app_caches(app)
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

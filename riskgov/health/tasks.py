"""Celery interface of health runs (STYLE rule 9): thin tasks over ``health.services``.

Task graph of one run::

    health.run(run_id)                        start: pending → running, plan the chunks, set the deadline
      └─ health.run_chunk(run_id, first, last) for each account range     acks_late, heartbeats
           └─ (the chunk that completes the run) health.finalize(run_id)  acks_late, heartbeats
    health.sweep (beat, every minute)         lost chunk/finalize → sent again (≤ N), or the run
                                              failed with its reason; past its deadline → failed
    health.fail(run_id, error)                failure marking that outlives a database outage

The chunks are plain messages, not a chord: a chunk sent again by the sweep counts like the
original (the run's chunk rows, not a result-backend counter, say when the run is complete),
and finalize is sent by the chunk task whose write completed the run (``health_run_finalize_claim``
says which, once). ``health.on_error`` stays registered for chord messages sent before this change.

``health.run_scheduled`` (beat, django-celery-beat DatabaseScheduler) creates a run on the
latest snapshot, which enqueues ``health.run`` on commit.

Chunk and finalize tasks are idempotent (delete-then-insert of their own range, publication
guarded by status), so they are ``acks_late``: a worker killed mid-chunk gets the message
redelivered (at once when only the pool child dies; after the broker's visibility timeout,
or sooner by the sweep, when the whole worker dies). ``health.run`` is not (a second start is
a no-op anyway). Tasks catch their own errors only to mark the run failed before re-raising,
so eager mode fails the run too; when the database itself is away, the marking is handed to
``health.fail``, which retries with exponential backoff (and the sweep's deadline remains).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import Error as DatabaseError

log = logging.getLogger(__name__)

_CHUNK_BUDGET = int(getattr(settings, "RISKGOV_HEALTH_CHUNK_BUDGET_SECONDS", 600))
_FINALIZE_BUDGET = int(getattr(settings, "RISKGOV_HEALTH_FINALIZE_BUDGET_SECONDS", 1800))


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _fail(run_id: int, exc: BaseException, queue: str = "") -> None:
    """Mark the run failed; if the database is away, hand it to ``health.fail`` (retried)."""
    from riskgov.health.services import health_run_fail

    reason = _reason(exc)
    try:
        health_run_fail(run_id=run_id, error=reason)
    except DatabaseError as db_exc:
        log.warning("health run %s: cannot mark it failed now (%s); health.fail retries", run_id, db_exc)
        if health_fail.app.conf.task_always_eager:
            return  # no broker to retry through: the sweep fails the run at its deadline
        try:
            health_fail.apply_async((run_id, reason), **({"queue": queue} if queue else {}))
        except Exception as send_exc:  # the broker is away too: the sweep's deadline still ends the run
            log.error("health run %s: health.fail not sent (%s); the sweep fails it", run_id, send_exc)


def _queue(task) -> str:
    if task.request.is_eager:
        return ""
    return (task.request.delivery_info or {}).get("routing_key") or ""


@shared_task(name="health.run", bind=True, soft_time_limit=300, time_limit=360)
def health_run(self, run_id: int) -> None:
    """Start the run and send its chunks (one message each) to the queue this task came from,
    so a deployment (or a test session) that routes health runs to a dedicated queue keeps
    the whole run there."""
    from riskgov.health.services import health_run_start
    from riskgov.health.services.lifecycle import send_chunk, send_finalize

    try:
        queue = _queue(self)
        ranges = health_run_start(run_id=run_id, queue=queue)
        if ranges is None:  # not pending: a duplicate start does nothing
            return
        if not ranges:  # a snapshot without accounts: nothing to chunk
            send_finalize(run_id=run_id, queue=queue)
            return
        for a, b in ranges:
            send_chunk(run_id=run_id, first_account=a, last_account=b, queue=queue)
    except Exception as exc:
        _fail(run_id, exc)
        raise


@shared_task(
    name="health.run_chunk", bind=True, acks_late=True, soft_time_limit=_CHUNK_BUDGET, time_limit=_CHUNK_BUDGET + 60
)
def health_run_chunk(self, run_id: int, first_account: int, last_account: int) -> None:
    """Compute and store one account range (idempotent)."""
    from riskgov.health.services import health_chunk_compute, health_run_finalize_claim
    from riskgov.health.services.lifecycle import send_finalize

    try:
        stored = health_chunk_compute(run_id=run_id, first_account=first_account, last_account=last_account)
        if stored and health_run_finalize_claim(run_id=run_id):  # this chunk completed the run
            send_finalize(run_id=run_id, queue=_queue(self))
    except Exception as exc:
        _fail(run_id, exc, _queue(self))
        raise


@shared_task(
    name="health.finalize",
    bind=True,
    acks_late=True,
    soft_time_limit=_FINALIZE_BUDGET,
    time_limit=_FINALIZE_BUDGET + 60,
)
def health_finalize(self, run_id: int) -> None:
    """Combine the chunks and publish the run (idempotent)."""
    from riskgov.health.services import health_run_finalize

    try:
        health_run_finalize(run_id=run_id)
    except Exception as exc:
        _fail(run_id, exc, _queue(self))
        raise


@shared_task(
    name="health.fail",
    acks_late=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=1,
    retry_backoff_max=60,
    retry_jitter=False,
    max_retries=int(getattr(settings, "RISKGOV_HEALTH_FAIL_MAX_RETRIES", 30)),
    soft_time_limit=60,
    time_limit=90,
)
def health_fail(run_id: int, error: str) -> None:
    """Mark a run failed and remove its partial rows, retrying while the database is away
    (idempotent; a published run stays published)."""
    from riskgov.health.services import health_run_fail

    health_run_fail(run_id=run_id, error=error)


@shared_task(name="health.on_error", soft_time_limit=60, time_limit=90)
def health_on_error(request=None, exc=None, traceback=None, *, run_id: int) -> None:
    """Chord error callback of earlier versions: mark the run failed (idempotent)."""
    from riskgov.health.services import health_run_fail

    health_run_fail(run_id=run_id, error=_reason(exc) if exc is not None else "a chunk failed")


@shared_task(name="health.sweep", soft_time_limit=120, time_limit=180)
def health_sweep() -> list[str]:
    """Beat entry: re-send lost chunks and finalize, fail runs past their deadline."""
    from riskgov.health.services import health_runs_sweep

    return health_runs_sweep()


@shared_task(name="health.run_scheduled", soft_time_limit=120, time_limit=180)
def health_run_scheduled() -> int | None:
    """Beat entry: create a scheduled run on the latest snapshot (enqueued on commit)."""
    from riskgov.health.services import health_run_scheduled as scheduled

    run = scheduled()
    return run.pk if run else None

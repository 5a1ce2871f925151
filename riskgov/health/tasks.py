"""Celery interface of health runs (STYLE rule 9): thin tasks over ``health.services``.

Task graph of one run::

    health.run(run_id)                         start: pending → running, plan the chunks
      └─ chord( health.run_chunk(run_id, first, last) for each account range )   acks_late
           └─ health.finalize(run_id)          combine, tail/cascade/ADL/§12, publish  acks_late
              errback: health.on_error(run_id=…) → run failed, partial rows removed

``health.run_scheduled`` (beat, django-celery-beat DatabaseScheduler) creates a run on the
latest snapshot, which enqueues ``health.run`` on commit.

Chunk and finalize tasks are idempotent (delete-then-insert of their own range, publication
guarded by status), so they are ``acks_late``: a worker killed mid-chunk gets the message
redelivered. ``health.run`` is not (a second start is a no-op anyway, but it must not
dispatch the chord twice). Tasks catch their own errors only to mark the run failed before
re-raising, so eager mode (no errbacks on chords there) fails the run too.
"""

from __future__ import annotations

from celery import chord, shared_task


def _fail(run_id: int, exc: BaseException) -> None:
    from riskgov.health.services import health_run_fail

    health_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}")


@shared_task(name="health.run", bind=True, soft_time_limit=300, time_limit=360)
def health_run(self, run_id: int) -> None:
    """Start the run and dispatch its chunks as a chord with ``health.finalize`` as body.

    The chunks and finalize go to the queue this task came from, so a deployment (or a
    test session) that routes health runs to a dedicated queue keeps the whole run there.
    """
    from riskgov.health.services import health_run_start

    try:
        ranges = health_run_start(run_id=run_id)
        if ranges is None:  # not pending: a duplicate start does nothing
            return
        queue = None if self.request.is_eager else (self.request.delivery_info or {}).get("routing_key")
        opts = {"queue": queue} if queue else {}
        if not ranges:  # a snapshot without accounts: nothing to chunk
            health_finalize.apply_async((run_id,), **opts)
            return
        body = health_finalize.si(run_id).set(**opts).on_error(health_on_error.s(run_id=run_id).set(**opts))
        chord(health_run_chunk.si(run_id, a, b).set(**opts) for a, b in ranges)(body)
    except Exception as exc:
        _fail(run_id, exc)
        raise


@shared_task(name="health.run_chunk", acks_late=True, soft_time_limit=1800, time_limit=1900)
def health_run_chunk(run_id: int, first_account: int, last_account: int) -> None:
    """Compute and store one account range (idempotent)."""
    from riskgov.health.services import health_chunk_compute

    try:
        health_chunk_compute(run_id=run_id, first_account=first_account, last_account=last_account)
    except Exception as exc:
        _fail(run_id, exc)
        raise


@shared_task(name="health.finalize", acks_late=True, soft_time_limit=1800, time_limit=1900)
def health_finalize(run_id: int) -> None:
    """Combine the chunks and publish the run (idempotent)."""
    from riskgov.health.services import health_run_finalize

    try:
        health_run_finalize(run_id=run_id)
    except Exception as exc:
        _fail(run_id, exc)
        raise


@shared_task(name="health.on_error", soft_time_limit=60, time_limit=90)
def health_on_error(request=None, exc=None, traceback=None, *, run_id: int) -> None:
    """Chord error callback: mark the run failed (idempotent; a published run stays)."""
    from riskgov.health.services import health_run_fail

    health_run_fail(run_id=run_id, error=f"{type(exc).__name__}: {exc}" if exc is not None else "a chunk failed")


@shared_task(name="health.run_scheduled", soft_time_limit=120, time_limit=180)
def health_run_scheduled() -> int | None:
    """Beat entry: create a scheduled run on the latest snapshot (enqueued on commit)."""
    from riskgov.health.services import health_run_scheduled as scheduled

    run = scheduled()
    return run.pk if run else None

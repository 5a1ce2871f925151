"""The lifecycle of a run: deadlines, heartbeats, sending chunk and finalize messages, and the
sweep that makes every run end (DESIGN "Scale": published or failed with its reason, within a
deadline).

* **Deadline**: set when the run starts (``run_deadline_seconds``); past it the sweep fails
  the run with what was missing.
* **Heartbeats**: a worker computing a chunk (or finalizing) updates ``heartbeat_at`` every
  ``RISKGOV_HEALTH_HEARTBEAT_SECONDS`` from a thread of its own (``beating``), so a worker
  that died — main process and child killed, machine gone — stops beating.
* **Sweep** (``health_runs_sweep``, beat task ``health.sweep``): a chunk is *lost* when it
  is running and its heartbeat is older than ``RISKGOV_HEALTH_STALE_SECONDS`` (its worker
  died), or when it is pending, its message older than that, and no chunk or finalize of
  any run beats (nothing is busy, so the queue is not merely long: the message was lost, e.g.
  a broker restarted without persistence). A lost chunk is sent again (chunks are idempotent:
  delete-then-insert of their own range) up to ``RISKGOV_HEALTH_CHUNK_MAX_REDISPATCH`` times,
  then the run fails with the reason. Finalize is swept the same way once every chunk is done.
  A run still pending ``RISKGOV_HEALTH_START_TIMEOUT_SECONDS`` after creation is failed.
  The sweep also removes the result files of failed and deleted runs that are still in the
  media store (a chunk that wrote them and died before its store was refused).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import socket
import threading
from collections.abc import Iterator

from django.conf import settings
from django.db import Error as DatabaseError
from django.db import connection, transaction
from django.utils import timezone

from riskgov.health.models import HealthRun, RunChunk, RunStatus

log = logging.getLogger(__name__)


def run_deadline_seconds(chunks_total: int) -> float:
    """Seconds from a run's start to its deadline: ``RISKGOV_HEALTH_RUN_DEADLINE_SECONDS``, or
    (0 = derived) the finalize budget plus one chunk budget per chunk (one worker's worst case)."""
    fixed = float(getattr(settings, "RISKGOV_HEALTH_RUN_DEADLINE_SECONDS", 0) or 0)
    if fixed > 0:
        return fixed
    chunk = float(getattr(settings, "RISKGOV_HEALTH_CHUNK_BUDGET_SECONDS", 600))
    final = float(getattr(settings, "RISKGOV_HEALTH_FINALIZE_BUDGET_SECONDS", 1800))
    return final + max(int(chunks_total), 0) * chunk


def worker_name() -> str:
    """``host pid N``: who started a chunk (the fault tests and an operator read it)."""
    return f"{socket.gethostname()} pid {os.getpid()}"[:200]


def _stale() -> dt.timedelta:
    return dt.timedelta(seconds=float(getattr(settings, "RISKGOV_HEALTH_STALE_SECONDS", 120.0)))


def _max_redispatch() -> int:
    return int(getattr(settings, "RISKGOV_HEALTH_CHUNK_MAX_REDISPATCH", 3))


# --------------------------------------------------------------------------- heartbeats


@contextlib.contextmanager
def beating(model: type, pk: int) -> Iterator[None]:
    """Update ``model(pk).heartbeat_at`` every ``RISKGOV_HEALTH_HEARTBEAT_SECONDS`` while the
    block runs, from a daemon thread with its own database connection.

    No thread in eager mode (the run is in this process: no worker to lose; and the embedded
    SQLite file would take a second writer), inside an open transaction (its rows would not be
    visible to the thread's connection) or with a period ≤ 0. A failed beat (database away) is logged
    and the next one tried: the sweep decides what a missing beat means.
    """
    from celery import current_app as app  # the project's app (bound in riskgov.config)

    period = float(getattr(settings, "RISKGOV_HEALTH_HEARTBEAT_SECONDS", 30.0))
    if period <= 0 or connection.in_atomic_block or app.conf.task_always_eager:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(period):
                try:
                    model.objects.filter(pk=pk).update(heartbeat_at=timezone.now())
                except DatabaseError as exc:
                    log.warning("heartbeat of %s %s failed: %s", model.__name__, pk, exc)
                    with contextlib.suppress(DatabaseError):
                        connection.close()
        finally:
            with contextlib.suppress(DatabaseError):
                connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=period + 5)


# --------------------------------------------------------------------------- messages


def send_chunk(*, run_id: int, first_account: int, last_account: int, queue: str) -> None:
    """Send ``health.run_chunk`` to the run's queue (the default routing when it has none)."""
    from riskgov.health.tasks import health_run_chunk

    opts = {"queue": queue} if queue else {}
    health_run_chunk.apply_async((run_id, first_account, last_account), **opts)


def send_finalize(*, run_id: int, queue: str) -> None:
    """Send ``health.finalize`` to the run's queue."""
    from riskgov.health.tasks import health_finalize

    opts = {"queue": queue} if queue else {}
    health_finalize.apply_async((run_id,), **opts)


@transaction.atomic
def health_run_finalize_claim(*, run_id: int) -> bool:
    """``True`` for exactly one caller once every chunk of the running run is done: that caller
    sends ``health.finalize`` (the chunk task whose write completed the run). Records the
    dispatch, so the sweep can tell a lost finalize message from a queued one."""
    run = HealthRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.status != RunStatus.RUNNING or run.finalize_dispatched_at is not None:
        return False
    if RunChunk.objects.filter(run=run).exclude(status=RunChunk.Status.DONE).exists():
        return False
    run.finalize_dispatched_at, run.finalize_dispatches = timezone.now(), 1
    run.save(update_fields=["finalize_dispatched_at", "finalize_dispatches"])
    return True


# --------------------------------------------------------------------------- sweep


def _lost(*, running: bool, dispatched: dt.datetime | None, heartbeat: dt.datetime | None, cutoff, busy) -> bool:
    """Running: its worker stopped beating. Pending: its message is old and nothing is busy."""
    if running:
        return heartbeat is None or heartbeat < cutoff
    return dispatched is None or (dispatched < cutoff and not busy)


def _busy(cutoff: dt.datetime) -> bool:
    """Some chunk or finalize of some run beats: workers are working, queued messages wait."""
    return (
        RunChunk.objects.filter(status=RunChunk.Status.RUNNING, heartbeat_at__gte=cutoff).exists()
        or HealthRun.objects.filter(status=RunStatus.RUNNING, heartbeat_at__gte=cutoff).exists()
    )


def _fail(run: HealthRun, reason: str) -> str:
    from riskgov.health.services.runs import health_run_fail

    health_run_fail(run_id=run.pk, error=reason)
    log.warning("health run %s failed by the sweep: %s", run.pk, reason)
    return f"run {run.pk} failed: {reason}"


@transaction.atomic
def _sweep_one(run_id: int, *, now: dt.datetime, busy: bool) -> list[str]:
    run = HealthRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None:
        return []
    if run.status == RunStatus.PENDING:
        timeout = float(getattr(settings, "RISKGOV_HEALTH_START_TIMEOUT_SECONDS", 3600))
        if run.created_at < now - dt.timedelta(seconds=timeout):
            return [_fail(run, f"never started: no worker took its start message within {timeout:.0f} s")]
        return []
    if run.status != RunStatus.RUNNING:
        return []
    chunks = list(RunChunk.objects.select_for_update().filter(run=run).order_by("first_account"))
    open_ = [c for c in chunks if c.status != RunChunk.Status.DONE]
    if run.deadline_at is not None and now >= run.deadline_at:
        limit = (run.deadline_at - run.started_at).total_seconds() if run.started_at else 0.0
        running = sum(c.status == RunChunk.Status.RUNNING for c in open_)
        missing = (
            f"{len(chunks) - len(open_)} of {len(chunks)} chunks done ({running} running, "
            f"{len(open_) - running} waiting for a worker)"
            if open_
            else "every chunk done, finalize did not finish"
        )
        return [_fail(run, f"deadline passed ({limit:.0f} s after the start): {missing}")]
    cutoff = now - _stale()
    cap = _max_redispatch()
    if not open_:  # all chunks done: finalize must be running or queued
        fin_running = run.heartbeat_at is not None and (
            run.finalize_dispatched_at is None or run.heartbeat_at >= run.finalize_dispatched_at
        )
        if not _lost(
            running=fin_running,
            dispatched=run.finalize_dispatched_at,
            heartbeat=run.heartbeat_at,
            cutoff=cutoff,
            busy=busy,
        ):
            return []
        if run.finalize_dispatches > cap:
            return [_fail(run, f"finalize lost {run.finalize_dispatches} times (worker died or message lost); gave up")]
        run.finalize_dispatches += 1
        run.finalize_dispatched_at = now
        run.save(update_fields=["finalize_dispatches", "finalize_dispatched_at"])
        rid, queue = run.pk, run.queue
        transaction.on_commit(lambda: send_finalize(run_id=rid, queue=queue))
        return [f"run {run.pk}: finalize sent again"]
    actions = []
    lost = [
        c
        for c in open_
        if _lost(
            running=c.status == RunChunk.Status.RUNNING,
            dispatched=c.dispatched_at,
            heartbeat=c.heartbeat_at,
            cutoff=cutoff,
            busy=busy,
        )
    ]
    for c in lost:
        if c.dispatches > cap:
            how = f"its worker ({c.worker}) stopped" if c.status == RunChunk.Status.RUNNING else "its message was lost"
            return [
                _fail(
                    run,
                    f"chunk [{c.first_account}, {c.last_account}) lost {c.dispatches} times, last because {how}; "
                    f"gave up after {cap} re-dispatches",
                )
            ]
    for c in lost:
        c.status = RunChunk.Status.PENDING
        c.dispatches += 1
        c.dispatched_at = now
        c.save(update_fields=["status", "dispatches", "dispatched_at"])
        rid, a, b, queue = run.pk, c.first_account, c.last_account, run.queue
        transaction.on_commit(
            lambda rid=rid, a=a, b=b, queue=queue: send_chunk(run_id=rid, first_account=a, last_account=b, queue=queue)
        )
        actions.append(f"run {run.pk}: chunk [{a}, {b}) sent again ({c.dispatches})")
    return actions


def health_runs_sweep(*, run_id: int | None = None, now: dt.datetime | None = None) -> list[str]:
    """Make every unfinished run (or only ``run_id``) progress or end (idempotent; safe to run
    from several places at once: each run is handled under its row lock).

    Fails runs past their deadline or never started; sends lost chunks and finalize again,
    failing the run once one was lost more than ``RISKGOV_HEALTH_CHUNK_MAX_REDISPATCH`` times.

    Returns:
        One line per action taken.
    """
    now = now or timezone.now()
    busy = _busy(now - _stale())
    runs = HealthRun.objects.filter(status__in=[RunStatus.PENDING, RunStatus.RUNNING])
    if run_id is not None:
        runs = runs.filter(pk=run_id)
    actions: list[str] = []
    for pk in list(runs.order_by("pk").values_list("pk", flat=True)):
        actions.extend(_sweep_one(pk, now=now, busy=busy))
    if run_id is None:
        clean_result_folders()
    return actions


def clean_result_folders() -> list[int]:
    """Remove result folders left by failed or deleted runs (``results_file.delete_orphan_folders``;
    logged, not an action on a run; a storage error is logged and retried at the next sweep).
    Returns the run ids whose folder was removed."""
    from riskgov.health.services import results_file, run_state

    try:
        gone = results_file.delete_orphan_folders()
        stale = run_state.delete_stale_state()
    except OSError as exc:
        log.warning("health sweep: result folders not cleaned: %s", exc)
        return []
    if stale:
        log.info("health sweep: venue copies of published runs %s removed", stale)
    if gone:
        log.info("health sweep: result files of failed or deleted runs %s removed", gone)
    return gone

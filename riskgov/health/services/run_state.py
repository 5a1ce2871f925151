"""A run's own copy of the venue it evaluates: what each chunk read, kept until publication.

Finalize needs the whole venue once — the §11 cascade and the §8 ADL attribution of the worst
scenario and the replay of the headline family's worst path are venue-wide — and reading it
again from PostgreSQL costs the whole snapshot's rows a second time (seconds at 1M accounts,
minutes and the id strings' gigabytes at 10M). Each chunk already holds its account range's
engine arrays, so it writes them (``snapshots.adapters.state_arrays``: the portfolio's columns,
position ids, prices, open interest, the fund, options and marks; no account ids) as one
uncompressed ``.npz`` next to its result files — ``health-runs/<run>/state-<first>.npz`` in
the media store (``results_file``) — and finalize joins them in account order
(``snapshots.adapters.state_from_arrays``). The files are deleted once the run is published
(``delete_run_state``), with the run's folder when it fails (``results_file``), and a chunk
written again overwrites its own.

The copy is exact: the same float64 arrays the chunk computed with (a test compares it with a
fresh read of the snapshot). When a file is missing — a run whose chunks ran before this
existed, or a store that lost it — ``read_run_state`` returns ``None`` and finalize reads the
snapshot from PostgreSQL instead (``snapshot_venue_state(with_ids=False)``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import zipfile
from typing import Any

import numpy as np
from django.core.files.storage import default_storage

from riskgov.health.services.results_file import run_folder, save_bytes

log = logging.getLogger(__name__)


def state_name(run_id: int, first_account: int) -> str:
    """The storage name of a chunk's copy of its account range."""
    return f"{run_folder(run_id)}/state-{int(first_account):010d}.npz"


def write_chunk_state(*, run_id: int, first_account: int, snap: Any, snapshot: Any) -> int:
    """Store a chunk's ``SnapshotState`` (as read, before any PM split) with the identity of
    its ``snapshot`` (pk, ``sha256``, account count: ``read_run_state`` uses a copy only for
    that snapshot). Returns the bytes written (49 B a position and 24 B a balance).

    Raises:
        OSError: the media store refused the file (the chunk fails and is sent again).
    """
    from riskgov.snapshots.adapters import state_arrays

    buf = io.BytesIO()
    np.savez(buf, **state_arrays(snap), **_identity(snapshot))
    data = buf.getbuffer()
    save_bytes(state_name(run_id, first_account), bytes(data))
    return len(data)


def _identity(snapshot: Any) -> dict[str, np.ndarray]:
    return {
        "snapshot_id": np.asarray(snapshot.pk, dtype=np.int64),
        "snapshot_sha256": np.asarray(str(snapshot.sha256)),
        "snapshot_accounts": np.asarray(snapshot.n_accounts, dtype=np.int64),
    }


def _chunk_firsts(run_id: int) -> list[int]:
    from riskgov.health.models import RunChunk

    return list(
        RunChunk.objects.filter(run_id=run_id).order_by("first_account").values_list("first_account", flat=True)
    )


#: what a copy that cannot be read raises (missing, half-written by a redelivered chunk, not a zip)
_UNREADABLE = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)


def read_run_state(run: Any) -> Any:
    """The whole venue of ``run`` joined from its chunks' copies, a ``SnapshotState`` without
    account ids, or ``None`` — then finalize reads the snapshot — when the run has no chunk,
    a copy is missing or unreadable (a redelivered chunk rewriting it), is of another
    snapshot, or the copies do not cover the snapshot's accounts. Each column is read from
    every file and joined before the next (the venue is held once, plus one column).
    """
    from riskgov.snapshots.adapters import state_from_arrays

    names = [state_name(run.pk, f) for f in _chunk_firsts(run.pk)]
    if not names:
        return None
    want = _identity(run.snapshot)
    try:
        with contextlib.ExitStack() as stack:
            parts = []
            for name in names:
                npz = stack.enter_context(np.load(stack.enter_context(default_storage.open(name, "rb"))))
                if any(npz[k].tolist() != v.tolist() for k, v in want.items()):
                    log.warning("health run %s: %s is not a copy of snapshot %s", run.pk, name, run.snapshot.pk)
                    return None
                parts.append(npz)
            state = state_from_arrays(parts)
    except _UNREADABLE as exc:
        log.warning("health run %s: venue copies not usable (%s: %s)", run.pk, type(exc).__name__, exc)
        return None
    if state.first_account != 0 or state.state.portfolio.n_accounts != int(run.snapshot.n_accounts):
        log.warning("health run %s: the venue copies do not cover the snapshot's accounts", run.pk)
        return None
    return state


def delete_run_state(run_id: int) -> None:
    """Delete the run's venue copies (after publication; idempotent).

    Raises:
        OSError: the media store refused (the sweep's ``delete_stale_state`` retries).
    """
    for first in _chunk_firsts(run_id):
        default_storage.delete(state_name(run_id, first))


def delete_stale_state(*, within_hours: float = 24.0) -> list[int]:
    """Delete the venue copies still in the folders of runs published in the last
    ``within_hours`` (a copy whose delete failed at publication; idempotent). Returns the
    run ids cleaned."""
    from datetime import timedelta

    from django.utils import timezone

    from riskgov.health.models import HealthRun, RunStatus

    since = timezone.now() - timedelta(hours=within_hours)
    cleaned = []
    for run_id in HealthRun.objects.filter(status=RunStatus.SUCCEEDED, published_at__gte=since).values_list(
        "pk", flat=True
    ):
        try:
            _, files = default_storage.listdir(run_folder(run_id))
        except (FileNotFoundError, NotImplementedError):
            continue
        stale = [f for f in files if f.startswith("state-") and f.endswith(".npz")]
        for f in stale:
            default_storage.delete(f"{run_folder(run_id)}/{f}")
        if stale:
            cleaned.append(run_id)
    return cleaned

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

import io
from typing import Any

import numpy as np
from django.core.files.storage import default_storage

from riskgov.health.services.results_file import run_folder, save_bytes


def state_name(run_id: int, first_account: int) -> str:
    """The storage name of a chunk's copy of its account range."""
    return f"{run_folder(run_id)}/state-{int(first_account):010d}.npz"


def write_chunk_state(*, run_id: int, first_account: int, snap: Any) -> int:
    """Store a chunk's ``SnapshotState`` (as read, before any PM split). Returns the bytes written."""
    from riskgov.snapshots.adapters import state_arrays

    buf = io.BytesIO()
    np.savez(buf, **state_arrays(snap))
    data = buf.getbuffer()
    save_bytes(state_name(run_id, first_account), bytes(data))
    return len(data)


def _chunk_firsts(run_id: int) -> list[int]:
    from riskgov.health.models import RunChunk

    return list(
        RunChunk.objects.filter(run_id=run_id).order_by("first_account").values_list("first_account", flat=True)
    )


def read_run_state(run: Any) -> Any:
    """The whole venue of ``run`` joined from its chunks' copies, a ``SnapshotState`` without
    account ids; ``None`` when the run has no chunk or a copy is missing (read the snapshot).

    Raises:
        ValueError: the copies do not join (not consecutive ranges).
    """
    from riskgov.snapshots.adapters import state_from_arrays

    firsts = _chunk_firsts(run.pk)
    names = [state_name(run.pk, f) for f in firsts]
    if not names or not all(default_storage.exists(n) for n in names):
        return None
    parts = []
    for name in names:
        with default_storage.open(name, "rb") as fh, np.load(fh, allow_pickle=False) as npz:
            parts.append({k: npz[k] for k in npz.files})
    return state_from_arrays(parts)


def delete_run_state(run_id: int) -> None:
    """Delete the run's venue copies (after publication; idempotent)."""
    for first in _chunk_firsts(run_id):
        default_storage.delete(state_name(run_id, first))

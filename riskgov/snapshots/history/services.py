"""Write actions of the history replay and the liquidation backtest (Django side).

``history_replay_write`` writes the snapshots of a replay into a directory, all or nothing
(a temporary sibling directory renamed at the end); ``history_snapshots_import`` stores them
through the one snapshot import (:func:`riskgov.snapshots.services.snapshot_import`) in a
single transaction; ``backtest_run`` evaluates a parameter document, its MMF sensitivity
and stores a :class:`~riskgov.snapshots.models.LiquidationBacktest` with its audit event.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.db import transaction

from riskgov.core.services import audit_record
from riskgov.parameters.adapters import engine_parameters_from_document
from riskgov.snapshots.history.backtest import (
    SENSITIVITY_FACTORS,
    backtest_details,
    backtest_document,
    backtest_evaluate,
    scale_mmf,
)
from riskgov.snapshots.history.files import SnapshotWriter, iso
from riskgov.snapshots.history.replay import replay_at
from riskgov.snapshots.models import LiquidationBacktest, Snapshot
from riskgov.snapshots.services import snapshot_import

__all__ = ["backtest_run", "history_replay_write", "history_snapshots_import"]


def _stamp(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y%m%dT%H%M%SZ")


def history_replay_write(
    *,
    directory: str | Path,
    instants: Sequence[int],
    output: str | Path,
    venue: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[Path]:
    """Replay ``directory`` and write one ``riskgov.snapshot/1`` per instant under ``output``
    (``output/<YYYYMMDDTHHMMSSZ>/``). Nothing is left behind when the replay fails.

    Raises:
        HistoryError: a bad history row (one line: file, line, column).
    """
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    venue = venue or f"history:{Path(directory).name}"
    try:
        names = []
        writer = SnapshotWriter(venue=venue)
        for instant, book in replay_at(directory, instants):
            writer.write(book, instant, tmp / _stamp(instant))
            names.append(_stamp(instant))
            if progress is not None:
                progress(1)
        out.mkdir(exist_ok=True)
        for name in names:
            target = out / name
            if target.exists():
                shutil.rmtree(target)
            (tmp / name).rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [out / n for n in names]


def history_snapshots_import(*, paths: Sequence[Path], by: Any = None) -> list[Snapshot]:
    """Import replayed snapshot directories in one transaction (all or none).

    Raises:
        SnapshotInvalid: a snapshot does not validate (e.g. a market missing from the
            database: import the parameter document first); nothing is stored.
    """
    with transaction.atomic():
        return [snapshot_import(path=p, by=by, source=f"replay {p.name}") for p in paths]


def backtest_run(
    *,
    directory: str | Path,
    document: dict[str, Any],
    every: int = 3600,
    window_minutes: float = 60,
    since: int | None = None,
    factors: Sequence[float] = SENSITIVITY_FACTORS,
    store: bool = True,
    by: Any = None,
) -> tuple[dict[str, Any], dict[str, Any], LiquidationBacktest | None]:
    """Backtest ``document`` (and its MMF table scaled by each of ``factors``) on a history.

    Returns:
        ``(riskgov.liquidation_backtest/1 document, details, stored row or None)``; the
        document is that of the table as given (factor 1, added when absent).

    Raises:
        HistoryError: a bad history row or a coin the document has no market for.
        DomainError: the document is not usable by the engine.
    """
    factors = list(factors)
    if 1.0 not in factors:
        factors.append(1.0)
    base = factors.index(1.0)
    params = [engine_parameters_from_document(scale_mmf(document, k)) for k in factors]
    bt = backtest_evaluate(directory, params, every=every)
    doc = backtest_document(bt, s=base, window_minutes=window_minutes, since=since)
    details = backtest_details(bt, doc, factors=factors, base=base, window_minutes=window_minutes, since=since)
    if not store:
        return doc, details, None
    with transaction.atomic():
        row = LiquidationBacktest(
            source=Path(directory).name[:255],
            parameters_name=str(document.get("name", ""))[:255],
            parameters_sha256=hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest(),
            window_minutes=window_minutes,
            every_minutes=every / 60,
            since=None if since is None else datetime.fromtimestamp(since, UTC),
            rows=bt.rows,
            document=doc,
            details=details,
            created_by=by if getattr(by, "is_authenticated", False) else None,
        )
        row.full_clean()
        row.save()
        audit_record(
            actor=by,
            action="snapshots.liquidation_backtest",
            obj=row,
            after={"source": row.source, "parameters": row.parameters_name, "totals": doc["totals"]},
            comment=f"backtest of {row.source}" + (f" since {iso(since)}" if since is not None else ""),
        )
    return doc, details, row

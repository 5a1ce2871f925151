"""Per-account and per-position results of a run: a compressed Parquet file set in the media
store, and only the rows pages and the API query kept in PostgreSQL.

A 1M-account run has 1M account and ~1.5–3M position result rows. Nobody reads them row by
row from the database except the account page, the riskiest-accounts table, impact
comparisons (liquidatable accounts) and alerts (bankrupt accounts). So each chunk:

* writes **all** its rows to two Parquet files (zstd, row groups of ``ROW_GROUP`` rows, NaN
  stored as null) through Django's storage API (``default_storage``: the local media folder
  here, S3-compatible object storage with django-storages on several machines):
  ``health-runs/<run>/accounts-<first account>.parquet`` and ``…/positions-….parquet``;
  the run's file set is its chunks' files in account order (``run_files``); a chunk written
  again (redelivered) overwrites its own files, nothing else;
* keeps in PostgreSQL (``AccountResult`` / ``PositionResult``, binary COPY as before) the
  chunk's ``settings.RISKGOV_HEALTH_PG_TOP_ACCOUNTS`` riskiest accounts by each ranking the
  pages offer — margin ratio descending (∞ first), stress shortfall descending, notional
  descending — so the run's top N over all chunks is always there for each; every
  liquidatable or bankrupt account, and the positions of those accounts.

Readers: ``riskgov.health.export`` streams accounts/positions from the files by row group
(bounded memory) and the account page (``selectors.run_account``) falls back to
``account_from_file`` for an account not kept in the database. Runs stored before the files
existed have all their rows in PostgreSQL (``has_files`` is false) and are read from there.
Finalize never reads result rows: the chunk partials, and the venue copies of ``run_state``.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

#: rows per Parquet row group (the unit of streaming reads and of account look-ups)
ROW_GROUP = 65_536
COMPRESSION = "zstd"


def _top_n() -> int:
    return int(getattr(settings, "RISKGOV_HEALTH_PG_TOP_ACCOUNTS", 1000))


def run_folder(run_id: int) -> str:
    """The storage folder of a run's result files."""
    return f"health-runs/{int(run_id)}"


def chunk_names(run_id: int, first_account: int) -> tuple[str, str]:
    """The (accounts, positions) file names of a chunk."""
    base = run_folder(run_id)
    return f"{base}/accounts-{int(first_account):010d}.parquet", f"{base}/positions-{int(first_account):010d}.parquet"


def _table(frame: pd.DataFrame) -> pa.Table:
    """A frame as an Arrow table, float NaN as null (``null`` in the JSON export)."""
    return pa.Table.from_pandas(frame, preserve_index=False, nthreads=1)


def _save(name: str, table: pa.Table) -> None:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression=COMPRESSION, row_group_size=ROW_GROUP)
    save_bytes(name, buf.getvalue())


def save_bytes(name: str, data: bytes) -> None:
    """Store ``data`` as ``name`` in the media store, replacing a file of that name (a
    redelivered chunk rewrites its own files; a concurrent writer of the same chunk wrote the
    same content)."""
    if default_storage.exists(name):
        default_storage.delete(name)
    saved = default_storage.save(name, ContentFile(data))
    if saved != name:
        default_storage.delete(saved)


def riskiest_mask(margin_ratio: np.ndarray, n: int) -> np.ndarray:
    """``(A,)`` bool: the ``n`` riskiest accounts (margin ratio descending, NaN = ∞ first,
    then account order), the order of ``selectors.run_accounts``."""
    k = len(margin_ratio)
    out = np.zeros(k, dtype=bool)
    if k == 0 or n <= 0:
        return out
    if n >= k:
        out[:] = True
        return out
    inf = np.isnan(margin_ratio)
    key = np.where(inf, 0.0, -margin_ratio)  # ascending sort: ∞ (flag) first, then largest ratio
    order = np.lexsort((np.arange(k), key, ~inf))
    out[order[:n]] = True
    return out


def largest_mask(values: np.ndarray, n: int) -> np.ndarray:
    """``(A,)`` bool: the ``n`` accounts with the largest ``values`` (NaN = not computed:
    never kept for it; ties: account order), the order of ``selectors.run_riskiest_accounts``
    by stress shortfall or notional."""
    v = np.asarray(values, dtype=np.float64)
    out = np.zeros(v.size, dtype=bool)
    known = np.flatnonzero(~np.isnan(v))
    if n <= 0 or not known.size:
        return out
    if n >= known.size:
        out[known] = True
        return out
    order = np.lexsort((known, -v[known]))
    out[known[order[:n]]] = True
    return out


def write_chunk(
    *, run_id: int, first_account: int, accounts: pd.DataFrame, positions: pd.DataFrame, market_symbols: dict[int, str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write a chunk's full result files and return the rows to keep in PostgreSQL.

    Args:
        run_id, first_account: the chunk.
        accounts, positions: ``_store.account_frame`` / ``position_frame`` of the chunk.
        market_symbols: ``{Market pk: symbol}`` (the files carry the symbol).

    Returns:
        ``(accounts, positions)`` subsets for the database (see the module docstring).
    """
    acc_name, pos_name = chunk_names(run_id, first_account)
    a = accounts.drop(columns=["run_id"])
    if "stress_scenario_idx" in a:  # an index, NULL where none: a nullable integer in the file
        a["stress_scenario_idx"] = a["stress_scenario_idx"].astype("Int64")
    _save(acc_name, _table(a))
    p = positions.drop(columns=["run_id"])
    if len(p):
        order = np.lexsort((p["position_id"].to_numpy(), p["account_idx"].to_numpy()))
        p = p.iloc[order].reset_index(drop=True)
    local = p["account_idx"].to_numpy(dtype=np.int64) - int(first_account)
    p.insert(0, "account_id", a["account_id"].to_numpy(dtype=object)[local] if len(p) else np.zeros(0, dtype=object))
    sym = np.array([market_symbols.get(int(m), "") for m in np.unique(p["market_id"])] or [""], dtype=object)
    uniq = np.unique(p["market_id"].to_numpy())
    p.insert(2, "market", sym[np.searchsorted(uniq, p["market_id"].to_numpy())] if len(p) else sym[:0])
    _save(pos_name, _table(p))

    keep = riskiest_mask(accounts["margin_ratio"].to_numpy(dtype=np.float64), _top_n())
    for column in ("stress_shortfall_usd", "notional_usd"):  # the other rankings' top N too
        if column in accounts:
            keep |= largest_mask(accounts[column].to_numpy(dtype=np.float64), _top_n())
    keep |= accounts["liquidatable"].to_numpy(dtype=bool) | accounts["bankrupt"].to_numpy(dtype=bool)
    if keep.all():
        return accounts, positions
    kept_idx = accounts["account_idx"].to_numpy()[keep]
    pos_keep = np.isin(positions["account_idx"].to_numpy(), kept_idx)
    return accounts[keep].reset_index(drop=True), positions[pos_keep].reset_index(drop=True)


def _chunk_firsts(run: Any) -> list[int]:
    from riskgov.health.models import RunChunk

    return list(RunChunk.objects.filter(run=run).order_by("first_account").values_list("first_account", flat=True))


def has_files(run: Any) -> bool:
    """Whether the run's rows are in result files (runs before them: all rows in PostgreSQL)."""
    firsts = _chunk_firsts(run)
    return bool(firsts) and all(default_storage.exists(chunk_names(run.pk, f)[0]) for f in firsts)


def run_files(run: Any) -> list[tuple[str, str]]:
    """The run's (accounts, positions) file names in account order."""
    return [chunk_names(run.pk, f) for f in _chunk_firsts(run)]


def _batches(name: str, columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    with default_storage.open(name, "rb") as fh:
        pf = pq.ParquetFile(fh)
        for i in range(pf.num_row_groups):  # one row group in memory at a time
            yield from pf.read_row_group(i, columns=columns).to_batches()


def iter_rows(run: Any, which: str, columns: list[str]) -> Iterator[tuple]:
    """Rows (tuples of ``columns``) of the run's ``"accounts"`` or ``"positions"`` files, in
    account order (positions: then position id); nulls as ``None``."""
    pick = 0 if which == "accounts" else 1
    for names in run_files(run):
        for batch in _batches(names[pick], columns):
            cols = [batch.column(c).to_pylist() for c in columns]
            yield from zip(*cols, strict=True)


def account_from_file(run: Any, idx: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """One account's row and its positions from the files (``(None, [])`` if not found)."""
    from riskgov.health.models import RunChunk

    chunk = RunChunk.objects.filter(run=run, first_account__lte=idx, last_account__gt=idx).first()
    if chunk is None:
        return None, []
    acc_name, pos_name = chunk_names(run.pk, chunk.first_account)
    if not default_storage.exists(acc_name):
        return None, []
    flt = [("account_idx", "=", int(idx))]
    with default_storage.open(acc_name, "rb") as fh:
        rows = pq.read_table(fh, filters=flt).to_pylist()
    if not rows:
        return None, []
    with default_storage.open(pos_name, "rb") as fh:
        positions = pq.read_table(fh, filters=flt).to_pylist()
    return rows[0], positions


def delete_chunk_files(run_id: int, first_account: int) -> None:
    """Remove one chunk's result files and its copy of the venue (``run_state``) — a chunk
    that finished after its run failed: the store refused it, so its files are orphans.
    Idempotent."""
    from riskgov.health.services.run_state import state_name

    for name in (*chunk_names(run_id, first_account), state_name(run_id, first_account)):
        default_storage.delete(name)  # Django storages: deleting a missing name is a no-op
    _remove_empty_folder(run_folder(run_id))


def _remove_empty_folder(folder: str) -> None:
    """Local storage: remove the run's folder once empty (object storage has no folders)."""
    with contextlib.suppress(OSError, NotImplementedError, AttributeError):  # not empty, not local
        os.rmdir(default_storage.path(folder))


def delete_run_files(run_id: int) -> None:
    """Remove a run's whole result folder (a failed or deleted run). Idempotent."""
    folder = run_folder(run_id)
    try:
        _, files = default_storage.listdir(folder)
    except (FileNotFoundError, NotImplementedError):
        return
    for f in files:
        default_storage.delete(f"{folder}/{f}")
    _remove_empty_folder(folder)


def run_folder_ids() -> list[int]:
    """The run ids that have a result folder in the store (for the sweep's clean-up)."""
    try:
        folders, _ = default_storage.listdir("health-runs")
    except (FileNotFoundError, NotImplementedError):
        return []
    return sorted(int(f) for f in folders if f.isdigit())


def delete_orphan_folders() -> list[int]:
    """Remove the result folders of runs that failed or no longer exist (a chunk that wrote
    its files and died before the store refused it, a deleted run). Idempotent; folders of
    pending, running and published runs are kept. Returns the run ids cleaned."""
    from riskgov.health.models import HealthRun, RunStatus

    ids = run_folder_ids()
    if not ids:
        return []
    keep = set(HealthRun.objects.filter(pk__in=ids).exclude(status=RunStatus.FAILED).values_list("pk", flat=True))
    gone = [i for i in ids if i not in keep]
    for i in gone:
        delete_run_files(i)
    return gone

"""Write actions on snapshots: the all-or-nothing import (FORMATS.md ``riskgov.snapshot/1``).

``snapshot_import`` runs in one transaction, so nothing is visible before its commit and
any error (a bad row anywhere, the database refusing) rolls everything back:

1. the files are read and hashed; the hash's advisory lock is taken and an existing
   snapshot of the same files returned (unless ``force``);
2. :mod:`.validation` checks every table, and hands each bulk table (accounts, balances,
   positions) to ``_Stage`` as soon as it and every table before it is clean; a writer
   thread sharing this connection writes it while the next table is checked. PostgreSQL:
   a new table per bulk table and snapshot, without indexes, ``COPY … FROM STDIN`` (CSV
   blocks written by pyarrow) with ids reserved from the parent's sequence, then its keys
   and indexes built once while the next table is checked; the last table's (positions)
   once every table is validated, with a parallel worker on the core the validation used
   (``_Partitions``); other databases: ``executemany`` into the table;
3. once every check passed: the references are checked (and the referenced rows key-share
   locked) in SQL (``_lock_references``; the bulk tables have no foreign-key constraints),
   prices, counts and the exact long open interest are stored, and the new tables are
   attached as the snapshot's partitions (the "swap").

Decimal values are stored as the files' strings, so they are exact. Rows are written in
account order (a stable sort of the file order), so that reading an account range back is
an index range scan of one partition.
"""

from __future__ import annotations

import datetime as dt
import io
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from decimal import Context, Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from psycopg.copy import QueuedLibpqWriter

from riskgov.core.services import audit_record
from riskgov.markets.models import Asset, Market
from riskgov.snapshots.models import (
    Snapshot,
    SnapshotAccount,
    SnapshotBalance,
    SnapshotOption,
    SnapshotOptionMark,
    SnapshotPosition,
    SnapshotPrice,
)
from riskgov.snapshots.reading import Errors
from riskgov.snapshots.validation import SnapshotData, SnapshotInvalid, snapshot_read

__all__ = ["SnapshotInvalid", "snapshot_import"]

#: Rows per COPY write / executemany batch (and per progress report).
BLOCK_ROWS = 250_000
#: Parallel workers per key / index build (``max_parallel_maintenance_workers``), besides the backend.
PARALLEL_INDEX_WORKERS = 1


def snapshot_import(
    *,
    path: str | Path,
    by: Any = None,
    progress: Callable[[int], None] | None = None,
    generated: bool = False,
    source: str = "",
    force: bool = False,
) -> Snapshot:
    """Validate and store a snapshot directory or ``.zip`` (CSV or Parquet tables).

    Args:
        path: the snapshot folder or archive.
        by: the acting user (``None`` for the system / a command).
        progress: called with the number of rows just stored, once per block.
        generated: mark the snapshot as synthetic (the demo generator's output).
        source: free text stored on the snapshot (default: the path's name).
        force: store a new snapshot even when one with the same files (``sha256``) exists.

    Returns:
        The new ``Snapshot`` (counts, hash and ``long_open_interest`` set); or, unless
        ``force``, the existing snapshot with the same ``sha256`` (the oldest), nothing
        stored. ``snapshot.duplicate`` tells which. Concurrent imports of the same files are
        serialised by a transaction-scoped advisory lock on the hash (PostgreSQL), so only
        one of them stores it.

    Raises:
        SnapshotInvalid: any validation error (``extra["errors"]`` lists them); nothing is stored.
    """
    assets = dict(Asset.objects.values_list("symbol", "pk"))
    markets = {s: (pk, base) for s, pk, base in Market.objects.values_list("symbol", "pk", "base_asset_id")}
    with transaction.atomic():
        stage = _Stage(force=force, progress=progress, generated=generated, source=source or Path(path).name, by=by)
        t = time.perf_counter()
        try:
            data = snapshot_read(path, assets=assets, markets=markets, sink=stage)
            stage.timings["read_validate"] = time.perf_counter() - t
            stage.join()
        finally:
            stage.join(quiet=True)
        stage.timings["writer_wait"] = time.perf_counter() - t - stage.timings["read_validate"]
        if stage.parts is not None:  # every table loaded: their keys and indexes, on both cores
            stage.parts.index_all(stage.timings)
        if stage.existing is not None:
            stage.existing.duplicate = True
            return stage.existing
        t = time.perf_counter()
        snapshot = stage.finish(data)
        stage.timings["finish"] = time.perf_counter() - t
        snapshot.duplicate = False
        snapshot.import_timings = stage.timings
        return snapshot


#: First key of the advisory lock taken per snapshot hash (second key: ``hashtext(sha256)``).
_SHA_LOCK_CLASS = 0x5A4A


class _Stage:
    """The import's writes, made while the files are validated (``validation.Sink``), in the
    caller's transaction: nothing is visible before it commits, and any error rolls it all back.

    ``begin`` takes the hash's advisory lock (one importer per hash until commit) and looks
    for a snapshot with the same files; when there is none (or ``force``), it creates the
    ``Snapshot`` row and, on PostgreSQL, a writer thread sharing this connection: each bulk
    table validated is converted and written there (create the partition, ``COPY``, build
    its keys and indexes) while this thread reads and validates the next one; the last
    table's keys and indexes are built after the validation (``_Partitions.index_all``).
    ``finish`` checks the
    references, writes prices, counts and open interest, attaches the partitions and audits.
    """

    def __init__(self, *, force: bool, progress: Callable[[int], None] | None, generated: bool, source: str, by: Any):
        self.force, self.progress, self.generated, self.source, self.by = force, progress, generated, source, by
        self.existing: Snapshot | None = None
        self.snapshot: Snapshot | None = None
        self.parts: _Partitions | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.jobs: list[Future] = []
        self.open_interest: dict[int, Decimal] | None = None
        self.shared: Any = None
        #: wall seconds per step (``snapshot.import_timings``, for ``bench/pipeline.py``)
        self.timings: dict[str, float] = {}

    # validation.Sink
    def begin(self, sha256: str, meta: tuple[str, datetime, Decimal] | None) -> bool:
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_SHA_LOCK_CLASS, sha256])
        if not self.force:
            self.existing = Snapshot.objects.filter(sha256=sha256).order_by("pk").first()
        if self.existing is not None or meta is None:
            return False
        venue, taken_at, fund = meta
        self.snapshot = Snapshot(
            venue=venue,
            taken_at=taken_at,
            insurance_fund_usd=fund,
            source=self.source[:255],
            generated=self.generated,
            sha256=sha256,
            created_by=self.by if getattr(self.by, "is_authenticated", False) else None,
        )
        self.snapshot.full_clean()
        self.snapshot.save()
        self.parts = _Partitions.open(self.snapshot.pk)
        if connection.vendor == "postgresql":
            self.shared = connections[DEFAULT_DB_ALIAS]
            self.shared.inc_thread_sharing()
            self.pool = ThreadPoolExecutor(1, thread_name_prefix="snapshot-import")
        return True

    def table(self, name: str, columns: dict[str, Any]) -> None:
        model = {"accounts": SnapshotAccount, "balances": SnapshotBalance, "positions": SnapshotPosition}[name]
        if self.pool is None:
            self._write(model, columns)
        else:
            self.jobs.append(self.pool.submit(self._in_thread, model, columns))
        if model is SnapshotPosition:  # here, while the writer copies
            t = time.perf_counter()
            self.open_interest = _long_open_interest(columns)
            self.timings["open_interest"] = time.perf_counter() - t

    def _in_thread(self, model, columns: dict[str, Any]) -> None:
        connections[DEFAULT_DB_ALIAS] = self.shared  # this thread's queries join the import's transaction
        self._write(model, columns)

    def _write(self, model, columns: dict[str, Any]) -> None:
        assert self.snapshot is not None
        sid = self.snapshot.pk
        name = model.__name__.removeprefix("Snapshot").lower()
        t = time.perf_counter()
        table = _bulk_table(model, columns, sid)
        target = model._meta.db_table
        if self.parts is not None:
            table, target = self.parts.create(model, table)
        writer = _copy_rows if connection.vendor == "postgresql" else _insert_rows
        writer(model, table, self.progress, target)
        t, self.timings[f"copy_{name}"] = time.perf_counter(), time.perf_counter() - t
        if self.parts is not None and model is not SnapshotPosition:
            # while the next table is read and checked (one process: that uses the other core)
            self.parts.index(model, workers=0)
            self.timings[f"index_{name}"] = time.perf_counter() - t

    def join(self, *, quiet: bool = False) -> None:
        """Wait for the writer; re-raise its first error unless ``quiet``."""
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            if quiet:
                job.exception()
            else:
                job.result()
        if self.pool is not None and quiet:
            self.pool.shutdown()
            self.pool = None
            self.shared.dec_thread_sharing()

    def finish(self, data: SnapshotData) -> Snapshot:
        """Check references, store prices, counts and open interest, attach, audit."""
        snapshot = self.snapshot
        assert snapshot is not None
        _lock_references(data)
        SnapshotPrice.objects.bulk_create(
            SnapshotPrice(snapshot=snapshot, asset_id=int(a), price=Decimal(p))
            for a, p in zip(data.prices["asset_id"].tolist(), data.prices["price"].to_pylist(), strict=True)
        )
        snapshot.n_accounts = len(data.account_ids)
        snapshot.n_balances = len(data.balances["amount"])
        snapshot.n_positions = len(data.positions["size"])
        snapshot.n_options = len(data.options.get("size", ()))
        if data.options:  # options and marks are small next to positions: written here
            writer = _copy_rows if connection.vendor == "postgresql" else _insert_rows
            writer(
                SnapshotOption, _option_table(snapshot.pk, data.options), self.progress, SnapshotOption._meta.db_table
            )
        if data.option_marks:
            m = data.option_marks
            SnapshotOptionMark.objects.bulk_create(
                (
                    SnapshotOptionMark(
                        snapshot=snapshot,
                        underlying_id=int(u),
                        expiry=dt.datetime.fromtimestamp(int(e), tz=dt.UTC),
                        strike=Decimal(k),
                        is_call=bool(c),
                        mark_iv=Decimal(v),
                    )
                    for u, e, k, c, v in zip(
                        m["underlying_id"].tolist(),
                        m["expiry"].tolist(),
                        m["strike"].to_pylist(),
                        m["is_call"].tolist(),
                        m["mark_iv"].to_pylist(),
                        strict=True,
                    )
                ),
                batch_size=5000,
            )

        total = self.open_interest
        if total is None:  # sums that could overflow 38 digits: in SQL
            table = self.parts.table(SnapshotPosition) if self.parts is not None else SnapshotPosition._meta.db_table
            total = _long_open_interest_sql(snapshot.pk, table)
        symbols = dict(Market.objects.filter(pk__in=list(total)).values_list("pk", "symbol"))
        snapshot.long_open_interest = {
            symbols[m]: format(d.normalize(_EXACT), "f") if d else "0"
            for m, d in sorted(total.items(), key=lambda kv: symbols[kv[0]])
        }
        if self.parts is not None:
            self.parts.attach()
        snapshot.save(update_fields=["n_accounts", "n_balances", "n_positions", "n_options", "long_open_interest"])
        audit_record(
            actor=self.by,
            action="snapshots.import",
            obj=snapshot,
            after={
                "venue": snapshot.venue,
                "taken_at": snapshot.taken_at.isoformat(),
                "insurance_fund_usd": str(snapshot.insurance_fund_usd),
                "accounts": snapshot.n_accounts,
                "balances": snapshot.n_balances,
                "positions": snapshot.n_positions,
                "options": snapshot.n_options,
                "generated": self.generated,
                "sha256": snapshot.sha256,
                "files": data.files,
            },
            comment=f"imported from {self.source}",
        )
        return snapshot


def _bulk_table(model, columns: dict[str, Any], sid: int) -> pa.Table:
    """The rows of ``model`` (``SnapshotAccount``, ``SnapshotBalance`` or ``SnapshotPosition``)
    as a pyarrow table from the validated ``columns`` (``validation.Sink.table``); balances and
    positions in account order (a stable sort of the file order)."""
    if model is SnapshotAccount:
        acc = columns["account_ids"]
        n = len(acc)
        portfolio = columns.get("portfolio")
        return pa.table(
            {
                "snapshot_id": np.full(n, sid, dtype=np.int64),
                "idx": np.arange(n),
                "account_id": acc,
                "portfolio": np.zeros(n, dtype=bool) if portfolio is None else portfolio,
            }
        )
    order = np.argsort(columns["account_idx"], kind="stable")
    take = pa.array(order)
    out: dict[str, Any] = {"snapshot_id": np.full(len(order), sid, dtype=np.int64)}
    for name, values in columns.items():
        out[name] = values[order] if isinstance(values, np.ndarray) else values.take(take)
    return pa.table(out)


#: Wide enough that ``normalize`` only strips zeros (the default context rounds to 28 digits).
_EXACT = Context(prec=100)

#: Key of the session advisory lock held while a range of row ids is reserved.
_ID_LOCK_CLASS = 0x5A4B


class _Partitions:
    """PostgreSQL, bulk tables partitioned by ``snapshot_id`` (migration 0004): the rows of one
    snapshot go into fresh tables ``<table>_s<id>``, without indexes while they load; their
    keys and indexes are then built once, sorted, and the tables attached to the parents as
    the partition of ``snapshot_id = id`` in the import's transaction. The attach takes a
    ``SHARE UPDATE EXCLUSIVE`` lock on the parent (readers go on; concurrent attaches wait),
    and a ``CHECK`` of the partition's range on the new table spares the validating scan.

    Ids come from the parent's identity sequence: a range is reserved under a short session
    advisory lock, so the ``COPY`` carries them instead of a ``nextval`` per row.
    """

    def __init__(self, sid: int) -> None:
        self.sid = sid
        self.created: list[type] = []
        self.indexed: set[type] = set()

    @classmethod
    def open(cls, sid: int) -> _Partitions | None:
        """The partitions of snapshot ``sid``; ``None`` when the tables are not partitioned
        (another database, or tables made without migrations) or a table for ``sid`` is
        left from a deleted snapshot (its rows then go through the parent)."""
        if connection.vendor != "postgresql":
            return None
        names = [m._meta.db_table for m in (SnapshotAccount, SnapshotBalance, SnapshotPosition)]
        with connection.cursor() as cur:
            cur.execute(
                "SELECT count(*) FILTER (WHERE relkind = 'p'), count(*) FILTER (WHERE relname = ANY(%s))"
                " FROM pg_class WHERE relname = ANY(%s) AND relnamespace = current_schema()::regnamespace",
                [[f"{n}_s{sid}" for n in names], names + [f"{n}_s{sid}" for n in names]],
            )
            parted, left = cur.fetchone()
        return cls(sid) if parted == len(names) and not left else None

    def table(self, model) -> str:
        """The name of the partition of ``model`` for this snapshot."""
        return f"{model._meta.db_table}_s{self.sid}"

    def create(self, model, rows: pa.Table) -> tuple[pa.Table, str]:
        """Create the unindexed table of ``model``'s rows; returns ``rows`` with their reserved
        ids and the table's name."""
        parent, name, q = model._meta.db_table, self.table(model), connection.ops.quote_name
        n = rows.num_rows
        with connection.cursor() as cur:
            cur.execute(f"CREATE TABLE {q(name)} (LIKE {q(parent)} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
            cur.execute(
                f"ALTER TABLE {q(name)} ADD CONSTRAINT {q(name + '_range')} "
                f"CHECK (snapshot_id >= {self.sid} AND snapshot_id < {self.sid + 1})"
            )
            first = 1
            if n:
                cur.execute("SELECT pg_get_serial_sequence(%s, 'id')", [parent])
                seq = cur.fetchone()[0]
                cur.execute("SELECT pg_advisory_lock(%s, %s::regclass::oid::int)", [_ID_LOCK_CLASS, parent])
                try:
                    cur.execute("SELECT nextval(%s)", [seq])
                    first = cur.fetchone()[0]
                    cur.execute("SELECT setval(%s, %s)", [seq, first + n - 1])
                finally:
                    cur.execute("SELECT pg_advisory_unlock(%s, %s::regclass::oid::int)", [_ID_LOCK_CLASS, parent])
        self.created.append(model)
        return rows.add_column(0, "id", pa.array(np.arange(first, first + n, dtype=np.int64))), name

    def index_all(self, timings: dict[str, float]) -> None:
        """Build the keys and indexes of every table created and not indexed yet (``index``),
        once every table is loaded and validated: each build may use a parallel worker on
        the other core then."""
        for model in self.created:
            if model not in self.indexed:
                t = time.perf_counter()
                self.index(model, workers=PARALLEL_INDEX_WORKERS)
                timings[f"index_{model.__name__.removeprefix('Snapshot').lower()}"] = time.perf_counter() - t

    def index(self, model, *, workers: int) -> None:
        """Build the key, unique constraints and indexes the parent has (same columns, so the
        attach adopts them instead of building its own), with ``workers`` parallel workers
        at most (besides this backend)."""
        parent, name, q = model._meta.db_table, self.table(model), connection.ops.quote_name
        self.indexed.add(model)
        with connection.cursor() as cur:
            cur.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cur.execute(f"SET LOCAL max_parallel_maintenance_workers = {int(workers)}")
            cur.execute(
                "SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
                " WHERE conrelid = %s::regclass AND contype IN ('p', 'u') ORDER BY conname",
                [parent],
            )
            for i, (_name, kind, definition) in enumerate(cur.fetchall()):
                cur.execute(f"ALTER TABLE {q(name)} ADD CONSTRAINT {q(f'{name}_{kind}{i}')} {definition}")
            cur.execute(
                "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i WHERE i.indrelid = %s::regclass"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [parent],
            )
            for (definition,) in cur.fetchall():
                on = definition.index(" USING ")
                cur.execute(f"CREATE INDEX ON {q(name)}{definition[on:]}")

    def attach(self) -> None:
        """Attach every table created as its parent's partition of this snapshot."""
        with connection.cursor() as cur:
            for model in self.created:
                cur.execute(
                    f"ALTER TABLE {connection.ops.quote_name(model._meta.db_table)} ATTACH PARTITION "
                    f"{connection.ops.quote_name(self.table(model))} FOR VALUES FROM ({self.sid}) TO ({self.sid + 1})"
                )


def _option_table(sid: int, o: dict) -> pa.Table:
    """Option rows in account order (stable), as the COPY table."""
    order = np.argsort(o["account_idx"], kind="stable")
    take = pa.array(order)
    return pa.table(
        {
            "snapshot_id": pa.array(np.full(len(order), sid, dtype=np.int64)),
            "account_idx": pa.array(o["account_idx"][order]),
            "underlying_id": pa.array(o["underlying_id"][order]),
            "expiry": pa.array(o["expiry"][order], type=pa.int64()).cast(pa.timestamp("s", tz="UTC")),
            "strike": o["strike"].take(take),
            "is_call": pa.array(o["is_call"][order]),
            "size": o["size"].take(take),
            "entry_price": o["entry_price"].take(take),
        }
    )


def _lock_references(data: SnapshotData) -> None:
    """The bulk tables have no foreign-key constraints (see the models): check the references
    in SQL once, before any row is written, instead of a deferred trigger per row.

    The rows written are exactly the validated arrays, so their distinct asset and market
    ids are what the rows refer to: each is key-share locked until the import commits (what
    a foreign-key trigger does), so it cannot be deleted meanwhile, and must still exist.
    Account indices were checked against the account list by the validation.

    Raises:
        SnapshotInvalid: an asset or market was deleted after the files were validated;
            the transaction is rolled back, nothing is stored.
    """
    asset_ids = {*np.unique(data.balances["asset_id"]).tolist(), *data.prices["asset_id"].tolist()}
    if data.options:
        asset_ids |= set(np.unique(data.options["underlying_id"]).tolist())
    market_ids = set(np.unique(data.positions["market_id"]).tolist())
    errors = Errors()
    lock = " FOR KEY SHARE" if connection.vendor == "postgresql" else ""
    for model, ids, file, column in (
        (Asset, asset_ids, "balances", "asset"),
        (Market, market_ids, "positions", "market"),
    ):
        wanted = sorted(int(i) for i in ids)
        if not wanted:
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {connection.ops.quote_name(model._meta.db_table)} "
                f"WHERE id IN ({', '.join(['%s'] * len(wanted))}) ORDER BY id{lock}",
                wanted,
            )
            found = {r[0] for r in cursor.fetchall()}
        for gone in (i for i in wanted if i not in found):
            errors.add(file, None, column, f"{column} id {gone} was deleted during the import")
    errors.raise_if_any()


def _column_list(model, table: pa.Table) -> str:
    return ", ".join(connection.ops.quote_name(model._meta.get_field(c).column) for c in table.column_names)


def _copy_rows(model, table: pa.Table, progress: Callable[[int], None] | None, target: str) -> None:
    """PostgreSQL: ``COPY table (cols) FROM STDIN (FORMAT csv)`` in blocks of CSV text.

    pyarrow writes the CSV (strings quoted, nulls as empty unquoted fields = SQL NULL,
    booleans as ``true``/``false``); psycopg's queued writer sends each block from a thread of
    its own, so the next block is written while the server parses this one.
    """
    sql = f"COPY {connection.ops.quote_name(target)} ({_column_list(model, table)}) FROM STDIN WITH (FORMAT csv)"
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with connection.cursor() as cursor, cursor.cursor.copy(sql, writer=QueuedLibpqWriter(cursor.cursor)) as copy:
        for start in range(0, table.num_rows, BLOCK_ROWS):
            block = table.slice(start, BLOCK_ROWS)
            buf = io.BytesIO()
            pacsv.write_csv(block, buf, options)
            copy.write(buf.getbuffer())
            if progress is not None:
                progress(block.num_rows)


def _insert_rows(model, table: pa.Table, progress: Callable[[int], None] | None, target: str) -> None:
    """Other databases (SQLite): ``executemany`` of plain tuples in blocks."""
    cols = table.column_names
    sql = (
        f"INSERT INTO {connection.ops.quote_name(target)} ({_column_list(model, table)}) "
        f"VALUES ({', '.join(['%s'] * len(cols))})"
    )
    with connection.cursor() as cursor:
        for start in range(0, table.num_rows, BLOCK_ROWS):
            block = table.slice(start, BLOCK_ROWS)
            columns = [block.column(c).to_pylist() for c in cols]
            cursor.executemany(sql, list(zip(*columns, strict=True)))
            if progress is not None:
                progress(block.num_rows)


def _long_open_interest(positions: dict[str, Any]) -> dict[int, Decimal] | None:
    """``{market id: Σ max(size, 0)}`` exactly, over every market with a position (RISK_MODEL
    §3 open interest), from the validated columns (``size``: plain decimal strings of at most
    20 + 18 digits, so ``decimal128(38, 18)`` holds each exactly). ``None`` when a market's
    sum could pass 20 integer digits (then summed in SQL)."""
    size, market = positions["size"], positions["market_id"]
    if not len(size):
        return {}
    long = pc.invert(pc.starts_with(size, "-"))
    as_float = np.asarray(pc.cast(size, pa.float64()).to_numpy(zero_copy_only=False))
    bound = np.bincount(np.searchsorted(np.unique(market), market), weights=np.abs(as_float))
    if not np.all(bound < 1e19):
        return None
    exact = pc.cast(size, pa.decimal128(38, 18))
    zero = pa.scalar(Decimal(0), pa.decimal128(38, 18))
    table = pa.table({"m": pa.array(market), "s": pc.if_else(long, exact, zero)})
    sums = table.group_by("m").aggregate([("s", "sum")])
    return dict(zip(sums["m"].to_pylist(), sums["s_sum"].to_pylist(), strict=True))


def _long_open_interest_sql(snapshot_id: int, positions: str) -> dict[int, Decimal]:
    """``_long_open_interest`` in SQL on the table holding the snapshot's positions."""
    sql = (
        "SELECT market_id, SUM(CASE WHEN size > 0 THEN size ELSE 0 END) "
        f"FROM {connection.ops.quote_name(positions)} WHERE snapshot_id = %s GROUP BY market_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [snapshot_id])
        return {m: t if isinstance(t, Decimal) else Decimal(str(t or 0)) for m, t in cursor.fetchall()}

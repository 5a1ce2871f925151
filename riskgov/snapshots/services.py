"""Write actions on snapshots: the all-or-nothing import (FORMATS.md ``riskgov.snapshot/1``).

``snapshot_import`` validates the whole input first (:mod:`.validation`), then stores it in
one transaction: the ``Snapshot`` row and its prices through the ORM, accounts, balances and
positions in bulk — PostgreSQL ``COPY … FROM STDIN`` (CSV blocks written by pyarrow), other
databases ``executemany`` in batches. The bulk tables have no foreign-key constraints: the
references are checked (and the referenced rows key-share locked) once, in SQL, before the
rows are written (``_lock_references``), so nothing is visible until the one commit. Decimal values are stored as the files' strings, so
they are exact. Rows are written in account order (a stable sort of the file order), so that
reading an account range back is an index range scan.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from django.db import connection, transaction

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
    data = snapshot_read(path, assets=assets, markets=markets)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cur:  # one importer per hash at a time, until commit
                cur.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [_SHA_LOCK_CLASS, data.sha256])
        existing = None if force else Snapshot.objects.filter(sha256=data.sha256).order_by("pk").first()
        if existing is not None:
            existing.duplicate = True
            return existing
        snapshot = _store(data, by=by, progress=progress, generated=generated, source=source or Path(path).name)
        snapshot.duplicate = False
        return snapshot


#: First key of the advisory lock taken per snapshot hash (second key: ``hashtext(sha256)``).
_SHA_LOCK_CLASS = 0x5A4A


def _store(data: SnapshotData, *, by: Any, progress: Callable[[int], None] | None, generated: bool, source: str):
    _lock_references(data)
    snapshot = Snapshot(
        venue=data.venue,
        taken_at=data.taken_at,
        insurance_fund_usd=data.insurance_fund_usd,
        source=source[:255],
        generated=generated,
        sha256=data.sha256,
        n_accounts=len(data.account_ids),
        n_balances=len(data.balances["amount"]),
        n_positions=len(data.positions["size"]),
        n_options=len(data.options.get("size", ())),
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    snapshot.full_clean()
    snapshot.save()
    SnapshotPrice.objects.bulk_create(
        SnapshotPrice(snapshot=snapshot, asset_id=int(a), price=Decimal(p))
        for a, p in zip(data.prices["asset_id"].tolist(), data.prices["price"].to_pylist(), strict=True)
    )
    sid = snapshot.pk
    n_acc = len(data.account_ids)
    accounts = pa.table(
        {
            "snapshot_id": pa.array(np.full(n_acc, sid, dtype=np.int64)),
            "idx": pa.array(np.arange(n_acc)),
            "account_id": data.account_ids,
            "portfolio": pa.array(np.zeros(n_acc, dtype=bool) if data.portfolio_mode is None else data.portfolio_mode),
        }
    )
    b = data.balances
    b_order = np.argsort(b["account_idx"], kind="stable")
    balances = pa.table(
        {
            "snapshot_id": pa.array(np.full(len(b_order), sid, dtype=np.int64)),
            "account_idx": pa.array(b["account_idx"][b_order]),
            "asset_id": pa.array(b["asset_id"][b_order]),
            "amount": b["amount"].take(pa.array(b_order)),
        }
    )
    p = data.positions
    p_order = np.argsort(p["account_idx"], kind="stable")
    take = pa.array(p_order)
    positions = pa.table(
        {
            "snapshot_id": pa.array(np.full(len(p_order), sid, dtype=np.int64)),
            "account_idx": pa.array(p["account_idx"][p_order]),
            "market_id": pa.array(p["market_id"][p_order]),
            "size": p["size"].take(take),
            "entry_price": p["entry_price"].take(take),
            "isolated": pa.array(p["isolated"][p_order]),
            "isolated_margin": p["isolated_margin"].take(take),
        }
    )
    writer = _copy_rows if connection.vendor == "postgresql" else _insert_rows
    for model, table in ((SnapshotAccount, accounts), (SnapshotBalance, balances), (SnapshotPosition, positions)):
        writer(model, table, progress)
    if data.options:
        writer(SnapshotOption, _option_table(sid, data.options), progress)
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

    snapshot.long_open_interest = _long_open_interest(sid)
    snapshot.save(update_fields=["long_open_interest"])
    audit_record(
        actor=by,
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
            "generated": generated,
            "sha256": snapshot.sha256,
            "files": data.files,
        },
        comment=f"imported from {source}",
    )
    return snapshot


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


def _copy_rows(model, table: pa.Table, progress: Callable[[int], None] | None) -> None:
    """PostgreSQL: ``COPY table (cols) FROM STDIN (FORMAT csv)`` in blocks of CSV text.

    pyarrow writes the CSV (strings quoted, nulls as empty unquoted fields = SQL NULL,
    booleans as ``true``/``false``).
    """
    sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({_column_list(model, table)}) FROM STDIN WITH (FORMAT csv)"
    options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
    with connection.cursor() as cursor, cursor.copy(sql) as copy:
        for start in range(0, table.num_rows, BLOCK_ROWS):
            block = table.slice(start, BLOCK_ROWS)
            buf = io.BytesIO()
            pacsv.write_csv(block, buf, options)
            copy.write(buf.getbuffer())
            if progress is not None:
                progress(block.num_rows)


def _insert_rows(model, table: pa.Table, progress: Callable[[int], None] | None) -> None:
    """Other databases (SQLite): ``executemany`` of plain tuples in blocks."""
    cols = table.column_names
    sql = (
        f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({_column_list(model, table)}) "
        f"VALUES ({', '.join(['%s'] * len(cols))})"
    )
    with connection.cursor() as cursor:
        for start in range(0, table.num_rows, BLOCK_ROWS):
            block = table.slice(start, BLOCK_ROWS)
            columns = [block.column(c).to_pylist() for c in cols]
            cursor.executemany(sql, list(zip(*columns, strict=True)))
            if progress is not None:
                progress(block.num_rows)


def _long_open_interest(snapshot_id: int) -> dict[str, str]:
    """``{market symbol: Σ max(size, 0)}`` as exact decimal strings, every market with a position."""
    pos = connection.ops.quote_name(SnapshotPosition._meta.db_table)
    mkt = connection.ops.quote_name(Market._meta.db_table)
    sql = (
        f"SELECT m.symbol, SUM(CASE WHEN p.size > 0 THEN p.size ELSE 0 END) FROM {pos} p "
        f"JOIN {mkt} m ON m.id = p.market_id WHERE p.snapshot_id = %s GROUP BY m.symbol ORDER BY m.symbol"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [snapshot_id])
        rows = cursor.fetchall()
    out = {}
    for symbol, total in rows:
        d = total if isinstance(total, Decimal) else Decimal(str(total or 0))
        out[symbol] = format(d.normalize(), "f") if d else "0"
    return out

"""PostgreSQL binary ``COPY`` of numpy columns, built without a per-row Python loop.

The text (CSV) path costs twice: Python formats every float as text, then PostgreSQL parses
it back. The binary format carries the IEEE-754 bytes as they are, so values arrive exactly
(no round trip through decimal text) and both sides do less work.

Format (PostgreSQL docs, "COPY … Binary Format"): an 11-byte signature, a 32-bit flags
field and a 32-bit header-extension length; then per row a 16-bit field count and, per
field, a 32-bit byte length (−1 for NULL) followed by the value in network byte order; then
a 16-bit −1 trailer. Rows have different lengths when some fields are NULL or text, so every
field's position is computed with cumulative sums and written by fancy indexing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"

#: PostgreSQL type (``format_type``) → numpy big-endian dtype
FIXED = {
    "bigint": ">i8",
    "integer": ">i4",
    "smallint": ">i2",
    "double precision": ">f8",
    "real": ">f4",
    "boolean": "?",
}
TEXT = {"character varying", "text"}


def _put(buf: np.ndarray, starts: np.ndarray, data: np.ndarray, width: int) -> None:
    """Write ``data`` (``(k, width)`` uint8) at byte offsets ``starts`` (``(k,)``)."""
    if starts.size:
        buf[starts[:, None] + np.arange(width)] = data


def binary_copy_payload(columns: Sequence[tuple[np.ndarray, str]], n_rows: int) -> bytes:
    """The binary COPY stream of ``n_rows`` rows.

    Args:
        columns: per column ``(values, pg_type)``: ``values`` is ``(n_rows,)``; ``pg_type``
            a key of :data:`FIXED` or :data:`TEXT`. Float ``NaN`` and object ``None`` are
            written as NULL.
        n_rows: number of rows.

    Raises:
        ValueError: a column has another length, or a type is not supported.
    """
    sizes = np.full(n_rows, 2, dtype=np.int64)  # the field count
    prepared: list[tuple[str, Any, np.ndarray, int]] = []
    for values, pg_type in columns:
        arr = np.asarray(values)
        if arr.shape != (n_rows,):
            raise ValueError(f"column of shape {arr.shape}, expected ({n_rows},)")
        if pg_type in FIXED:
            dtype = np.dtype(FIXED[pg_type])
            null = np.isnan(arr) if arr.dtype.kind == "f" else np.zeros(n_rows, dtype=bool)
            width = dtype.itemsize
            data = np.ascontiguousarray(np.where(null, 0, arr).astype(dtype)).view(np.uint8).reshape(n_rows, width)
            field = np.where(null, 4, 4 + width)
            prepared.append(("fixed", data, null, width))
        elif pg_type in TEXT:
            null = np.array([v is None for v in arr], dtype=bool)
            encoded = [b"" if v is None else str(v).encode() for v in arr]
            lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=n_rows)
            field = 4 + lengths
            prepared.append(("text", (b"".join(encoded), lengths), null, 0))
        else:
            raise ValueError(f"binary COPY of PostgreSQL type {pg_type!r} is not supported")
        sizes += field
    ends = np.cumsum(sizes)
    row_start = ends - sizes + len(SIGNATURE)
    buf = np.zeros(len(SIGNATURE) + int(ends[-1] if n_rows else 0) + len(TRAILER), dtype=np.uint8)
    buf[: len(SIGNATURE)] = np.frombuffer(SIGNATURE, dtype=np.uint8)
    buf[len(buf) - 2 :] = 0xFF
    count = np.frombuffer(np.array(len(columns), dtype=">i2").tobytes(), dtype=np.uint8)
    _put(buf, row_start, np.broadcast_to(count, (n_rows, 2)), 2)
    pos = row_start + 2
    for kind, data, null, width in prepared:
        if kind == "fixed":
            length = np.where(null, -1, width).astype(">i4")
            _put(buf, pos, length.view(np.uint8).reshape(n_rows, 4), 4)
            keep = ~null
            _put(buf, pos[keep] + 4, data[keep], width)
            pos = pos + np.where(null, 4, 4 + width)
        else:
            joined, lengths = data
            length = np.where(null, -1, lengths).astype(">i4")
            _put(buf, pos, length.view(np.uint8).reshape(n_rows, 4), 4)
            if lengths.sum():
                starts = np.repeat(pos + 4 - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
                buf[starts + np.arange(int(lengths.sum()))] = np.frombuffer(joined, dtype=np.uint8)
            pos = pos + 4 + lengths
    return buf.tobytes()


def column_types(cursor: Any, table: str) -> dict[str, str]:
    """``{column: type name}`` of a table as the search path resolves it (temporary tables too)."""
    cursor.execute(
        "SELECT attname, format_type(atttypid, NULL) FROM pg_attribute"
        " WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
        [table],
    )
    return dict(cursor.fetchall())


def copy_binary(cursor: Any, table: str, columns: Mapping[str, np.ndarray], n_rows: int) -> None:
    """``COPY table (columns) FROM STDIN (FORMAT binary)`` with psycopg 3.

    Raises:
        ValueError: a column is unknown to the table or of an unsupported type.
    """
    types = column_types(cursor, table)
    missing = [c for c in columns if c not in types]
    if missing:
        raise ValueError(f"{table} has no column(s) {missing}")
    payload = binary_copy_payload([(v, types[c]) for c, v in columns.items()], n_rows)
    names = ", ".join(f'"{c}"' for c in columns)
    with cursor.copy(f"COPY {table} ({names}) FROM STDIN WITH (FORMAT binary)") as copy:
        copy.write(payload)


def copy_out_fixed(cursor: Any, sql: str, columns: Sequence[tuple[str, str]]) -> dict[str, np.ndarray]:
    """``COPY (sql) TO STDOUT (FORMAT binary)`` of fixed-width, non-NULL columns, parsed as one
    structured array (no per-row Python, no text round trip: floats arrive bit for bit).

    Args:
        cursor: a psycopg 3 cursor (Django's ``connection.cursor()`` on PostgreSQL).
        sql: a ``SELECT`` whose columns are, in order, ``columns`` — cast in SQL to exactly the
            PostgreSQL type given (``::int8``, ``::float8``, …) and never NULL (``COALESCE``).
        columns: ``(name, PostgreSQL type)`` pairs, types among ``FIXED``.

    Returns:
        ``{name: (n,) native-endian array}`` (``bool`` for ``boolean``).

    Raises:
        ValueError: the stream is not a binary COPY of those columns (bad signature, a NULL or a
            field of another width: the rows do not tile the payload).
    """
    fields: list[tuple[str, str]] = [("_n", ">i2")]
    for i, (name, pgtype) in enumerate(columns):
        fields += [(f"_l{i}", ">i4"), (name, FIXED[pgtype])]
    dtype = np.dtype(fields)
    buf = bytearray()
    with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT binary)") as copy:
        for block in copy:
            buf += block
    head, trailer = len(SIGNATURE), len(TRAILER)
    if bytes(buf[: len(SIGNATURE) - 8]) != SIGNATURE[:-8] or bytes(buf[-trailer:]) != TRAILER:
        raise ValueError("not a PostgreSQL binary COPY stream")
    ext = int.from_bytes(buf[head - 4 : head], "big")
    body = memoryview(buf)[head + ext : len(buf) - trailer]
    if len(body) % dtype.itemsize:
        raise ValueError(f"binary COPY rows are not {dtype.itemsize} bytes each (a NULL or a mistyped column)")
    rows = np.frombuffer(body, dtype=dtype)
    widths = {i: np.dtype(FIXED[t]).itemsize for i, (_, t) in enumerate(columns)}
    if rows.size and (
        np.any(rows["_n"] != len(columns)) or any(np.any(rows[f"_l{i}"] != w) for i, w in widths.items())
    ):
        raise ValueError("binary COPY row layout differs from the columns asked for")
    out = {name: rows[name].astype(np.dtype(FIXED[t]).newbyteorder("=")) for name, t in columns}
    del rows, body
    return out

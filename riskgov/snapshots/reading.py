"""Reading a ``riskgov.snapshot/1``'s files: the source (a folder or a ``.zip``), each table
as string columns, column checks (plain decimals, symbol lookups), ``snapshot.json`` and the
files' hash. The table rules are applied by ``riskgov.snapshots.validation`` (its docstring
states the format's rules); errors are collected by ``Errors`` and raised together as
``SnapshotInvalid``.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from riskgov.core import limits
from riskgov.core.exceptions import DomainError

FORMAT = "riskgov.snapshot/1"
#: Errors kept in ``SnapshotInvalid.extra["errors"]``; the rest are counted in ``more``.
MAX_ERRORS = 100
#: The tables and their exact columns.
TABLES: dict[str, tuple[str, ...]] = {
    "prices": ("asset", "price"),
    "accounts": ("account_id",),
    "balances": ("account_id", "asset", "amount"),
    "positions": ("account_id", "market", "size", "entry_price", "margin_mode", "isolated_margin"),
}
#: Optional tables (FORMATS.md "Options in a snapshot"): absent = no options.
OPTION_TABLES: dict[str, tuple[str, ...]] = {
    "options": ("account_id", "underlying", "expiry", "strike", "kind", "size", "entry_price"),
    "option_marks": ("underlying", "expiry", "strike", "kind", "mark_iv"),
}
#: Optional columns per table (absent = their default): ``accounts.margin_mode`` (``cross``).
OPTIONAL_COLUMNS: dict[str, tuple[str, ...]] = {"accounts": ("margin_mode",)}
META_FILE = "snapshot.json"
META_KEYS = ("format", "venue", "taken_at", "insurance_fund_usd")
#: (integer digits, fractional digits) that the NUMERIC columns hold exactly.
AMOUNT_DIGITS = (20, 18)
USD_DIGITS = (18, 10)
ACCOUNT_ID_MAX = 100
VENUE_MAX = 100
_PLAIN_DECIMAL = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"


def _fitting(digits: tuple[int, int]) -> str:
    """A regular expression that a plain decimal matches iff it has at most ``digits[0]``
    digits before the point (leading zeros not counted) and ``digits[1]`` after it."""
    return rf"^[+-]?0*[0-9]{{0,{digits[0]}}}(\.[0-9]{{0,{digits[1]}}})?$"


class SnapshotInvalid(DomainError):
    """The snapshot files break the format. ``extra["errors"]``: ``[{"file", "row", "column",
    "message"}]`` (at most ``MAX_ERRORS``), ``extra["more"]``: how many more were found,
    ``extra["total"]``: all errors found. The message is one line: the first error and the count."""


class Errors:
    """Collects errors in order; keeps the first ``MAX_ERRORS`` and counts the rest."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.total = 0

    def add(self, file: str, row: int | None, column: str | None, message: str) -> None:
        """One error (``row``: 1-based data row, ``None`` for the file)."""
        self.total += 1
        if len(self.items) < MAX_ERRORS:
            self.items.append({"file": file, "row": row, "column": column, "message": message})

    def add_mask(self, file: str, column: str, bad: np.ndarray, values: pa.Array | None, text: str) -> None:
        """One error per True row of ``bad``; ``text`` may use ``{value}``."""
        n = int(np.count_nonzero(bad))
        if not n:
            return
        room = max(0, MAX_ERRORS - len(self.items))
        rows = np.flatnonzero(bad)[:room]
        shown = values.take(pa.array(rows)).to_pylist() if values is not None and len(rows) else [None] * len(rows)
        for r, v in zip(rows.tolist(), shown, strict=True):
            value = "" if v is None else str(v)
            value = value if len(value) <= 40 else value[:37] + "..."
            self.items.append({"file": file, "row": r + 1, "column": column, "message": text.format(value=value)})
        self.total += n

    def raise_if_any(self) -> None:
        """Raise ``SnapshotInvalid`` with every error collected, if there is any."""
        if not self.total:
            return
        first = self.items[0]
        where = first["file"]
        if first["row"] is not None:
            where += f" data row {first['row']}"
        if first["column"]:
            where += f", column {first['column']}"
        more = self.total - 1
        tail = f" (and {more} more error{'s' if more != 1 else ''})" if more else ""
        raise SnapshotInvalid(
            f"invalid snapshot: {where}: {first['message']}{tail}",
            extra={"errors": self.items, "more": self.total - len(self.items), "total": self.total},
        )


# --------------------------------------------------------------------------- file access


class Source:
    """The snapshot's files, from a folder or a zip, read as streams (:meth:`open`).

    ``blobs``: the file names found (values unused); ``digests``: SHA-256 of each file read
    completely, for :func:`files_hash`.
    """

    def __init__(self, path: Path, errors: Errors) -> None:
        self.path = path
        self.blobs: dict[str, bytes] = {}
        self.digests: dict[str, bytes] = {}
        label = path.name
        self._dir, self._zip = None, None
        try:
            limits.check_dir(path) if path.is_dir() else limits.check_file(path) if path.is_file() else None
        except limits.InputTooLarge as exc:
            errors.add(label, None, None, str(exc).removeprefix(f"{label}: "))
            return
        if path.is_dir():
            for p in path.iterdir():
                if p.is_file():
                    self.blobs[p.name] = b""  # read lazily below
            self._dir = path
            self._zip: zipfile.ZipFile | None = None
        elif path.is_file() and zipfile.is_zipfile(path):
            self._dir = None
            self._zip = zipfile.ZipFile(path)
            try:
                limits.check_zip(self._zip, label=label)
            except limits.InputTooLarge as exc:
                errors.add(label, None, None, str(exc).removeprefix(f"{label}: "))
                return
            members = [m for m in self._zip.infolist() if not m.is_dir() and "__MACOSX" not in m.filename]
            by_name: dict[str, list[zipfile.ZipInfo]] = {}
            for m in members:
                by_name.setdefault(Path(m.filename).name, []).append(m)
            self._members = {}
            for name, found in by_name.items():
                if len(found) > 1:
                    errors.add(label, None, None, f"{name} appears {len(found)} times in the archive")
                self._members[name] = found[0]
                self.blobs[name] = b""
        elif path.exists():
            errors.add(label, None, None, "not a directory or a .zip file")
            self._dir = self._zip = None
        else:
            errors.add(label, None, None, "no such file or directory")
            self._dir = self._zip = None

    def has(self, name: str) -> bool:
        """Whether the source holds a file of that name."""
        return name in self.blobs

    def size(self, name: str) -> int:
        """The size of one file (a member's declared uncompressed size)."""
        if self._dir is not None:
            return (self._dir / name).stat().st_size
        assert self._zip is not None
        return self._members[name].file_size

    def open(self, name: str) -> Any:
        """One file as a binary stream, bounded by ``RISKGOV_MAX_FILE_BYTES`` (a folder's
        file) or by its declared size (a member, checked by :func:`limits.check_zip`)."""
        if self._dir is not None:
            lim = limits.limits()
            return limits.BoundedReader((self._dir / name).open("rb"), lim.file_bytes, name, "file_bytes")
        assert self._zip is not None
        return self._zip.open(self._members[name])

    def read(self, name: str, limit: int) -> bytes:
        """The bytes of one file, at most ``limit`` + 1 of them (the caller checks the size)."""
        with self.open(name) as fh:
            return fh.read(limit + 1)

    def close(self) -> None:
        """Close the archive (if any)."""
        if self._zip is not None:
            self._zip.close()


def _as_strings(arr: pa.ChunkedArray | pa.Array) -> pa.Array:
    """A column as a string array with nulls as ``""`` except where noted; floats exactly."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    t = arr.type
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        out = arr.cast(pa.string())
    elif pa.types.is_floating(t):
        out = pc.cast(arr, pa.string())
        exp = pc.fill_null(pc.match_substring_regex(out, "[eE]"), False).to_numpy(zero_copy_only=False)
        if exp.any():  # rare: large or tiny floats; write them as plain decimals
            idx = np.flatnonzero(exp)
            fixed = [format(Decimal(repr(float(v))), "f") for v in arr.take(pa.array(idx)).to_pylist()]
            values = out.to_pylist()
            for i, v in zip(idx.tolist(), fixed, strict=True):
                values[i] = v
            out = pa.array(values, type=pa.string())
    elif pa.types.is_boolean(t):
        out = pc.if_else(arr, "true", "false")
    else:
        out = pc.cast(arr, pa.string())
    return pc.fill_null(out, "") if out.null_count else out


def arrow_reader(data: bytes | bytearray | memoryview | pa.Buffer) -> pa.BufferReader:
    """A reader over an Arrow-owned copy of ``data``, for pyarrow's threaded readers.

    ``pacsv.read_csv`` (and ``pq.read_table``) finish on Arrow's CPU pool: a pool thread can
    drop the last reference to the input after the call returns. When the input is a Python
    object (``io.BytesIO``, or a buffer over Python ``bytes``) its destructor takes the GIL;
    if the interpreter is finalizing by then (a command exiting right after a failed read),
    CPython ends that thread with ``pthread_exit`` inside C++ frames and ``std::terminate``
    aborts the process (SIGABRT, exit 134) after the correct message. An Arrow-allocated
    buffer is released without the GIL, so the race cannot abort. A ``pa.Buffer`` from
    :class:`pa.BufferOutputStream` is used as is (no copy).
    """
    if isinstance(data, pa.Buffer):
        return pa.BufferReader(data)
    sink = pa.BufferOutputStream()
    sink.write(data)
    return pa.BufferReader(sink.getvalue())


#: pyarrow's ``block_size`` within a block of :func:`_read_csv` (its threads parse sub-blocks
#: in parallel); at least a row (``RISKGOV_MAX_CSV_ROW_BYTES`` + its line end).
_PARSE_BLOCK = 4 << 20


def _read_csv(stream: Any, file: str, types: dict[str, pa.DataType], digest: Any) -> pa.Table:
    """A CSV table parsed block by block (:func:`limits.csv_blocks`: every row within
    ``RISKGOV_MAX_CSV_ROW_BYTES``), so the text in memory is a few blocks, not the file.

    The blocks are those of ``pacsv.read_csv(..., block_size=CSV_BLOCK_BYTES)``, each parsed
    by pyarrow (threaded, in sub-blocks of :data:`_PARSE_BLOCK`, at least a row): the first
    with its header and ``types``, the others with the first's column names, ``types`` and
    every other column as binary (never a conversion error, as type inference never fails
    on the whole file); the tables are concatenated when the columns are the expected ones.
    ``digest`` gets every byte. A block is parsed on a helper thread while the next one is
    read and hashed (both release the GIL): at most three blocks in memory.

    Raises:
        limits.InputTooLarge: a row too long. pa.ArrowInvalid: pyarrow's parse errors
            (the same messages as on the whole file; an empty file is one).
    """
    lim = limits.limits()
    block = max(_PARSE_BLOCK, lim.csv_row_bytes + 2)
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False)
    tables: list[pa.Table] = []
    names: list[str] = []
    rest: pacsv.ConvertOptions | None = None
    with ThreadPoolExecutor(1, thread_name_prefix="csv-parse") as pool:
        pending: Future | None = None  # the block before, parsed while this one is read and hashed
        for segments in limits.csv_blocks(stream, file, lim, block_bytes=limits.CSV_BLOCK_BYTES):
            sink = pa.BufferOutputStream()  # Arrow-owned (see arrow_reader)
            for seg in segments:
                digest.update(seg)
                sink.write(seg)
            buf = sink.getvalue()
            if rest is None:
                first = pacsv.read_csv(
                    pa.BufferReader(buf), read_options=pacsv.ReadOptions(block_size=block), convert_options=convert
                )
                names = list(first.column_names)
                rest = pacsv.ConvertOptions(
                    column_types={c: types.get(c, pa.binary()) for c in names}, strings_can_be_null=False
                )
                tables.append(first)
                continue
            if pending is not None:
                tables.append(pending.result())
            pending = pool.submit(
                pacsv.read_csv,
                pa.BufferReader(buf),
                read_options=pacsv.ReadOptions(block_size=block, column_names=names),
                convert_options=rest,
            )
        if pending is not None:
            tables.append(pending.result())
    if rest is None:  # an empty file: pyarrow's own error
        return pacsv.read_csv(arrow_reader(b""), convert_options=convert)
    if not set(names) <= set(types):  # unexpected columns: the table is not used, only its columns
        return tables[0].schema.empty_table()
    return pa.concat_tables(tables)


def has_table(src: Source, name: str) -> bool:
    """Whether the source holds ``name.csv`` or ``name.parquet``."""
    return src.has(f"{name}.csv") or src.has(f"{name}.parquet")


def read_table(src: Source, name: str, errors: Errors) -> tuple[str, dict[str, pa.Array]] | None:
    """Read ``name.csv`` or ``name.parquet`` into ``{column: string array}``; check columns.

    ``OPTIONAL_COLUMNS`` of the table may be absent; they are then missing from the result.
    """
    wanted = TABLES.get(name) or OPTION_TABLES[name]
    optional = OPTIONAL_COLUMNS.get(name, ())
    csv_name, pq_name = f"{name}.csv", f"{name}.parquet"
    if src.has(csv_name) and src.has(pq_name):
        errors.add(csv_name, None, None, f"both {csv_name} and {pq_name} given; keep one")
        return None
    if not (src.has(csv_name) or src.has(pq_name)):
        errors.add(csv_name, None, None, f"missing file (expected {csv_name} or {pq_name})")
        return None
    file = csv_name if src.has(csv_name) else pq_name
    digest = hashlib.sha256()
    try:
        with src.open(file) as stream:
            if file.endswith(".csv"):
                table = _read_csv(stream, file, {c: pa.string() for c in (*wanted, *optional)}, digest)
            else:  # a Parquet file needs random access: read whole (within the file size limit)
                blob = stream.read()
                digest.update(blob)
                limits.check_parquet(blob, label=file)  # rows and uncompressed size, from the footer alone
                table = pq.read_table(arrow_reader(blob))
                del blob
    except limits.InputMalformed as exc:
        errors.add(file, None, None, exc.detail)
        return None
    except limits.InputTooLarge as exc:  # a row too long (line 1: the header) or a file too large
        header = exc.line == 1
        errors.add(
            file, exc.line - 1 if exc.line and not header else None, None, ("header " if header else "") + exc.detail
        )
        return None
    except (pa.ArrowInvalid, OSError) as exc:
        errors.add(file, None, None, f"cannot read: {str(exc).splitlines()[0]}")
        return None
    src.digests[file] = digest.digest()
    cols = list(table.column_names)
    missing = [c for c in wanted if c not in cols]
    extra = [c for c in cols if c not in wanted and c not in optional]
    for c in missing:
        errors.add(file, None, c, "missing column")
    for c in extra:
        expected = ", ".join(wanted) + (f" (optional {', '.join(optional)})" if optional else "")
        errors.add(file, None, c, f"unexpected column (expected {expected})")
    if len(set(cols)) != len(cols):
        errors.add(file, None, None, "repeated column names")
    if missing or extra or len(set(cols)) != len(cols):
        return None
    return file, {c: _as_strings(table.column(c)) for c in (*wanted, *optional) if c in cols}


def np_of(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """A pyarrow column as a numpy array (a copy when it has nulls or is not numeric)."""
    return np.asarray(arr.to_numpy(zero_copy_only=False))


def decimals(
    errors: Errors,
    file: str,
    column: str,
    values: pa.Array,
    *,
    digits: tuple[int, int],
    check: np.ndarray | None = None,
    floats: bool = True,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Check plain decimals fitting ``digits``; return ``(float64 values, ok mask)``.

    ``check`` limits the rows checked (others get NaN and ok=True); ``floats=False``: no
    values (``None``), only the checks. The common case, every row checked a fitting plain
    decimal, costs two regular expressions; the digit counts are computed only otherwise.
    """
    n = len(values)
    rows = np.ones(n, dtype=bool) if check is None else check
    plain = np_of(pc.match_substring_regex(values, _PLAIN_DECIMAL))
    if np.all(plain | ~rows) and np.all(np_of(pc.match_substring_regex(values, _fitting(digits))) | ~rows):
        if not floats:
            return None, np.ones(n, dtype=bool)
        if check is None:
            return np_of(pc.cast(values, pa.float64())), np.ones(n, dtype=bool)
        out = np.full(n, np.nan)
        idx = np.flatnonzero(rows)
        out[idx] = np_of(pc.cast(values.take(pa.array(idx)), pa.float64()))
        return out, np.ones(n, dtype=bool)
    empty = np_of(pc.equal(values, ""))
    bad_empty = rows & empty
    bad_form = rows & ~plain & ~empty
    errors.add_mask(file, column, bad_empty, None, "empty value (a number is required)")
    errors.add_mask(file, column, bad_form, values, "{value!s} is not a plain decimal number")
    ok = rows & plain
    body = pc.utf8_ltrim(pc.replace_substring_regex(values, "^[+-]", ""), "0")
    length = np_of(pc.utf8_length(body)).astype(np.int64)
    dot = np_of(pc.find_substring(body, ".")).astype(np.int64)
    int_digits = np.where(dot >= 0, dot, length)
    frac_digits = np.where(dot >= 0, length - dot - 1, 0)
    too_big = ok & (int_digits > digits[0])
    too_fine = ok & ~too_big & (frac_digits > digits[1])
    errors.add_mask(file, column, too_big, values, f"{{value}} has more than {digits[0]} digits before the point")
    errors.add_mask(file, column, too_fine, values, f"{{value}} has more than {digits[1]} decimal places")
    ok &= ~too_big & ~too_fine
    if not floats:
        return None, (ok | ~rows)
    out = np.full(n, np.nan)
    if ok.any():
        idx = np.flatnonzero(ok)
        out[idx] = np_of(pc.cast(values.take(pa.array(idx)), pa.float64()))
    return out, (ok | ~rows)


def lookup(
    errors: Errors, file: str, column: str, values: pa.Array, known: dict[str, int], what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Map symbols to database ids; unknown ones are errors. Returns ``(ids, found mask)``."""
    symbols = list(known)
    pos = pc.index_in(values, value_set=pa.array(symbols, type=pa.string()))
    found = np_of(pc.is_valid(pos))
    ids_of = np.array([known[s] for s in symbols] or [0], dtype=np.int64)
    ids = np.where(found, ids_of[np_of(pc.fill_null(pos, 0)).astype(np.int64)], -1)
    errors.add_mask(file, column, ~found, values, f"unknown {what} {{value!r}}")
    return ids, found


def iso_times(errors: Errors, file: str, column: str, values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """ISO 8601 times (UTC assumed without an offset) as int64 epoch seconds; returns
    ``(seconds, ok mask)``. Parsed once per distinct value (expiries repeat)."""
    distinct = pc.unique(values)
    parsed: list[int | None] = []
    for raw in distinct.to_pylist():
        try:
            t = datetime.fromisoformat(raw.replace("Z", "+00:00")) if raw else None
        except ValueError:
            t = None
        if t is not None and t.tzinfo is None:
            t = t.replace(tzinfo=UTC)
        parsed.append(None if t is None else int(t.timestamp()))
    pos = np_of(pc.index_in(values, value_set=distinct)).astype(np.int64)
    table = np.array([-(2**62) if p is None else p for p in parsed] or [0], dtype=np.int64)
    bad_table = np.array([p is None for p in parsed] or [False], dtype=bool)
    ok = ~bad_table[pos] if len(values) else np.zeros(0, dtype=bool)
    errors.add_mask(file, column, ~ok, values, "{value!r} is not an ISO 8601 time")
    return (table[pos] if len(values) else np.zeros(0, dtype=np.int64)), ok


def check_meta(src: Source, errors: Errors) -> tuple[str, datetime | None, Decimal | None]:
    """Check ``snapshot.json``; returns ``(venue, taken_at, insurance fund)`` (``None``: invalid)."""
    f = META_FILE
    if not src.has(f):
        errors.add(f, None, None, "missing file")
        return "", None, None
    lim = limits.limits()
    size = src.size(f)
    if size > lim.json_bytes:
        errors.add(f, None, None, limits.InputTooLarge(f, "JSON size", size, "json_bytes", lim.json_bytes).detail)
        return "", None, None
    blob = src.read(f, lim.json_bytes)
    src.digests[f] = hashlib.sha256(blob).digest()
    try:
        meta = limits.load_json(blob, lim, label=f)
    except limits.InputTooLarge as exc:
        errors.add(f, None, None, str(exc).removeprefix(f"{f}: "))
        return "", None, None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        errors.add(f, None, None, f"not valid JSON{f' (line {line})' if line else ''}: {exc}")
        return "", None, None
    if not isinstance(meta, dict):
        errors.add(f, None, None, "must be a JSON object")
        return "", None, None
    for k in meta:
        if k not in META_KEYS:
            errors.add(f, None, k, f"unknown key (expected {', '.join(META_KEYS)})")
    for k in META_KEYS:
        if k not in meta:
            errors.add(f, None, k, "missing key")
    if "format" in meta and meta["format"] != FORMAT:
        errors.add(f, None, "format", f"{meta['format']!r} is not {FORMAT!r}")
    venue = meta.get("venue", "")
    if "venue" in meta and (not isinstance(venue, str) or not venue.strip() or len(venue) > VENUE_MAX):
        errors.add(f, None, "venue", f"must be a non-empty string of at most {VENUE_MAX} characters")
        venue = ""
    taken_at = None
    if "taken_at" in meta:
        raw = meta["taken_at"]
        try:
            if not isinstance(raw, str):
                raise ValueError
            taken_at = datetime.fromisoformat(raw)
            if taken_at.tzinfo is None:
                taken_at = taken_at.replace(tzinfo=UTC)
        except ValueError:
            errors.add(f, None, "taken_at", f"{raw!r} is not an ISO 8601 time")
            taken_at = None
    fund = None
    if "insurance_fund_usd" in meta:
        raw = meta["insurance_fund_usd"]
        try:
            if isinstance(raw, bool) or not isinstance(raw, (str, int)):
                raise InvalidOperation
            fund = Decimal(str(raw).strip())
            if not fund.is_finite():
                raise InvalidOperation
        except InvalidOperation:
            errors.add(f, None, "insurance_fund_usd", f"{raw!r} is not a decimal string")
            fund = None
        if fund is not None:
            exp = fund.as_tuple().exponent
            places = -exp if isinstance(exp, int) and exp < 0 else 0
            if fund < 0:
                errors.add(f, None, "insurance_fund_usd", f"{raw!r} is negative")
                fund = None
            elif places > USD_DIGITS[1] or fund.adjusted() >= USD_DIGITS[0]:
                errors.add(f, None, "insurance_fund_usd", f"{raw!r} does not fit 18 digits and 10 decimal places")
                fund = None
    return venue, taken_at, fund


def files_hash(src: Source, names: list[str]) -> str:
    """SHA-256 over the files' names and contents' hashes, in name order (folder = its zip)."""
    h = hashlib.sha256()
    empty = hashlib.sha256(b"").digest()
    for name in sorted(names):
        h.update(name.encode() + b"\0" + src.digests.get(name, empty))
    return h.hexdigest()

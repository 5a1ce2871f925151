"""Bounds on every input file riskgov reads (pure Python: no Django at module level).

A file, an archive or a JSON document that breaks a bound is refused before it is read
whole, with :class:`InputTooLarge` — one line naming the file, the size found and the
setting that bounds it. The bounds are :class:`Limits`; :func:`limits` gives the configured
ones (``RISKGOV_MAX_*`` settings when Django is configured, else the defaults), and the pure
readers (price files, venue files, parameter documents) call it at read time.

- ``file_bytes``: the size of one file read from disk (a price file, a venue file, a
  parameter document, a snapshot archive or table);
- ``uncompressed_bytes``: the total uncompressed size of a snapshot archive's members, and
  of a gunzipped price file;
- ``zip_members``: the number of members of a snapshot archive;
- ``csv_field_bytes``: the longest CSV field (``csv.field_size_limit``) and the longest
  header line read;
- ``csv_row_bytes``: the longest CSV row (its bytes without the line end; a quoted value may
  span lines) of every CSV read: snapshot tables, price files, venue files, history files;
- ``json_bytes`` and ``json_depth``: the size and the nesting depth of a JSON document;
- ``parquet_rows``: the rows of a snapshot Parquet table (its footer's count, checked before
  the table is decoded: a few KB of run-length-encoded Parquet can hold millions of rows),
  whose uncompressed size (footer: the column chunks' ``total_uncompressed_size``) is also
  bounded by ``uncompressed_bytes``.

The readers: :func:`open_text` (a text file within the file size, a gunzipped file's
uncompressed size, and lines and rows within ``csv_row_bytes``), :func:`csv_reader` over it
(``csv.reader`` / ``csv.DictReader`` that bounds each row), :func:`csv_blocks` (binary CSV
text in line-aligned blocks, rows checked, for pyarrow; memory bounded by the block, not the
file), :func:`load_json` (JSON, from a path or bytes, within size and depth),
:func:`check_parquet` (a Parquet file's footer against the row and uncompressed-size bounds).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GiB = 1 << 30
MiB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """The bounds (bytes, counts, levels); see the module docstring."""

    file_bytes: int = 1 * GiB
    uncompressed_bytes: int = 1 * GiB
    zip_members: int = 64
    csv_field_bytes: int = 1 * MiB
    csv_row_bytes: int = 4 * MiB
    json_bytes: int = 64 * MiB
    json_depth: int = 64
    parquet_rows: int = 5_000_000


#: Setting name of each bound (for the messages and :func:`limits`).
SETTINGS = {
    "file_bytes": "RISKGOV_MAX_FILE_BYTES",
    "uncompressed_bytes": "RISKGOV_MAX_UNCOMPRESSED_BYTES",
    "zip_members": "RISKGOV_MAX_ZIP_MEMBERS",
    "csv_field_bytes": "RISKGOV_MAX_CSV_FIELD_BYTES",
    "csv_row_bytes": "RISKGOV_MAX_CSV_ROW_BYTES",
    "json_bytes": "RISKGOV_MAX_JSON_BYTES",
    "json_depth": "RISKGOV_MAX_JSON_DEPTH",
    "parquet_rows": "RISKGOV_MAX_PARQUET_ROWS",
}


class InputTooLarge(ValueError):
    """An input breaks one of the :class:`Limits` (the message is one line).

    ``str()``: ``"<label>[ line <line>]: <detail>"``; ``detail`` names what was found and the
    setting with its value; ``line`` (1-based line of the file) is set for a CSV row too long.
    ``found=None``: the size is only known to exceed the limit (reading stopped there).
    """

    def __init__(
        self, label: str, what: str, found: int | str | None, bound: str, limit: int, *, line: int | None = None
    ) -> None:
        self.label, self.bound, self.limit, self.line = label, bound, limit, line
        fmt = _size if bound.endswith("_bytes") else str
        shown = "" if found is None else f" {fmt(found)}"
        self.detail = f"{what}{shown} exceeds the limit {SETTINGS[bound]}={fmt(limit)}"
        where = label if line is None else f"{label} line {line}"
        super().__init__(f"{where}: {self.detail}")


class InputMalformed(ValueError):
    """An input whose structure is broken before any bound applies (one-line message:
    ``"<label>: <detail>"``), e.g. a Parquet footer longer than its file."""

    def __init__(self, label: str, detail: str) -> None:
        self.label, self.detail = label, detail
        super().__init__(f"{label}: {detail}")


def _size(n: int | str) -> str:
    if isinstance(n, str) or n < 10 * 1024:
        return str(n)
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit} ({n} bytes)"
    return str(n)  # pragma: no cover


def limits() -> Limits:
    """The configured limits: Django's ``RISKGOV_MAX_*`` settings when Django is loaded and
    configured (looked up in ``sys.modules``, so this module never imports Django), else the defaults."""
    conf = sys.modules.get("django.conf")
    settings = getattr(conf, "settings", None)
    if settings is None or not settings.configured:
        return Limits()
    return Limits(**{k: int(getattr(settings, s, getattr(Limits, k))) for k, s in SETTINGS.items()})


def check_file(path: str | Path, lim: Limits | None = None, *, label: str | None = None) -> int:
    """Refuse a file larger than ``file_bytes`` (its size on disk, sparse files included); return the size."""
    lim = lim or limits()
    p = Path(path)
    size = p.stat().st_size
    if size > lim.file_bytes:
        raise InputTooLarge(label or p.name, "file size", size, "file_bytes", lim.file_bytes)
    return size


def check_zip(zf: zipfile.ZipFile, lim: Limits | None = None, *, label: str = "archive") -> None:
    """Refuse an archive with too many members or too many uncompressed bytes (declared sizes).

    ``zipfile`` never inflates a member past its declared size, so the declared total bounds
    what reading the members can produce.
    """
    lim = lim or limits()
    infos = zf.infolist()
    if len(infos) > lim.zip_members:
        raise InputTooLarge(label, "member count", len(infos), "zip_members", lim.zip_members)
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > lim.uncompressed_bytes:
            raise InputTooLarge(
                f"{label}: {info.filename}",
                "uncompressed size",
                info.file_size,
                "uncompressed_bytes",
                lim.uncompressed_bytes,
            )
    if total > lim.uncompressed_bytes:
        raise InputTooLarge(label, "uncompressed size", total, "uncompressed_bytes", lim.uncompressed_bytes)


def check_dir(path: Path, lim: Limits | None = None) -> None:
    """A snapshot folder: every file within ``file_bytes``, all together within ``uncompressed_bytes``."""
    lim = lim or limits()
    total = 0
    for p in path.iterdir():
        if p.is_file():
            total += check_file(p, lim, label=f"{path.name}/{p.name}")
    if total > lim.uncompressed_bytes:
        raise InputTooLarge(path.name, "total size", total, "uncompressed_bytes", lim.uncompressed_bytes)


class BoundedReader(io.RawIOBase):
    """A binary stream that raises :class:`InputTooLarge` once more than ``limit`` bytes came
    out (``bound``: the setting named, ``uncompressed_bytes`` or ``file_bytes``)."""

    _WHAT = {"uncompressed_bytes": "uncompressed size", "file_bytes": "file size"}

    def __init__(self, raw: Any, limit: int, label: str, bound: str = "uncompressed_bytes") -> None:
        self._raw, self._limit, self._label, self._bound, self._seen = raw, limit, label, bound, 0

    def readable(self) -> bool:
        return True

    def _count(self, n: int) -> None:
        self._seen += n
        if self._seen > self._limit:
            raise InputTooLarge(self._label, self._WHAT.get(self._bound, "size"), None, self._bound, self._limit)

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all of them, up to the limit + 1, when ``size`` < 0)."""
        n = self._limit - self._seen + 1 if size is None or size < 0 else size
        data = self._raw.read(n)
        self._count(len(data))
        return data

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        n = len(data)
        self._count(n)
        b[:n] = data
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def csv_field_limit(lim: Limits | None = None) -> None:
    """Set ``csv.field_size_limit`` to ``csv_field_bytes`` (process-wide; idempotent)."""
    csv.field_size_limit((lim or limits()).csv_field_bytes)


def csv_error_text(exc: Exception) -> str:
    """A ``csv.Error``'s text, naming ``RISKGOV_MAX_CSV_FIELD_BYTES`` when a field is over it."""
    text = str(exc)
    if "field larger than field limit" in text:
        text += f" ({SETTINGS['csv_field_bytes']})"
    return text


def _row_too_long(label: str, lim: Limits, line: int) -> InputTooLarge:
    return InputTooLarge(label, "row length", None, "csv_row_bytes", lim.csv_row_bytes, line=line)


class BoundedText:
    """Text lines of a file, each line and each CSV row within ``csv_row_bytes``.

    ``readline`` never reads more than the row's remaining room (plus the line end), so a
    file without line ends is not read whole. A row is the lines read since :meth:`new_row`
    (:class:`CsvRows` calls it before each row; blank lines between rows are not counted).
    Lengths are UTF-8 bytes without the row's last line end. ``line``: lines read so far.

    Raises (from ``readline`` / iteration): :class:`InputTooLarge` with ``line`` set;
    ``UnicodeDecodeError`` from the underlying stream.
    """

    def __init__(self, fh: Any, label: str, lim: Limits) -> None:
        self._fh, self.label, self._lim, self._limit = fh, label, lim, lim.csv_row_bytes
        self.line = 0
        self._row = 0

    def new_row(self) -> None:
        """The next line read starts a new row."""
        self._row = 0

    def readline(self, size: int = -1) -> str:
        """One line (``""`` at the end); ``size`` bounds it further, as for a file."""
        cap = self._limit - self._row + 2
        text = self._fh.readline(cap if size < 0 else min(cap, size))
        if not text:
            return text
        self.line += 1
        end = text.endswith("\n")
        if self._row == 0 and end and not text.strip("\r\n"):
            return text  # a blank line between rows
        self._row += len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
        if self._row - end > self._limit:
            raise _row_too_long(self.label, self._lim, self.line)
        return text

    def __iter__(self) -> BoundedText:
        return self

    def __next__(self) -> str:
        text = self.readline()
        if not text:
            raise StopIteration
        return text

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> BoundedText:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_text(
    path: str | Path, lim: Limits | None = None, *, label: str | None = None, encoding: str = "utf-8"
) -> BoundedText:
    """Open a text (CSV) file within the limits: ``file_bytes`` on disk, a ``*.gz`` gunzipped
    within ``uncompressed_bytes``, lines and rows within ``csv_row_bytes``; sets
    ``csv.field_size_limit`` to ``csv_field_bytes``. Use as a context manager; wrap in
    :func:`csv_reader` for rows.

    Raises:
        InputTooLarge: the file is too large (here), or later a line, a row or the gunzipped
            text is. OSError: it cannot be opened. UnicodeDecodeError (while reading).
    """
    lim = lim or limits()
    p = Path(path)
    name = label or p.name
    check_file(p, lim, label=name)
    csv_field_limit(lim)
    if p.suffix == ".gz":
        import gzip

        raw = BoundedReader(gzip.open(p, "rb"), lim.uncompressed_bytes, name)
        fh: Any = io.TextIOWrapper(io.BufferedReader(raw), newline="", encoding=encoding)
    else:
        fh = p.open(newline="", encoding=encoding)
    return BoundedText(fh, name, lim)


class CsvRows:
    """``csv.reader`` (or ``csv.DictReader``, ``dict_reader=True``) over :class:`BoundedText`,
    each row within ``csv_row_bytes``. Iterate for rows; ``line_num`` and ``fieldnames`` as
    for the csv readers. The DictReader's header is read here (errors raise here)."""

    def __init__(self, text: BoundedText, *, dict_reader: bool = False, **kwargs: Any) -> None:
        self._text = text
        self._reader: Any = csv.DictReader(text, **kwargs) if dict_reader else csv.reader(text, **kwargs)
        if dict_reader:
            self._reader.fieldnames  # noqa: B018 - reads the header row now, as one row

    @property
    def line_num(self) -> int:
        return self._reader.line_num

    @property
    def fieldnames(self) -> Any:
        return self._reader.fieldnames

    def __iter__(self) -> CsvRows:
        return self

    def __next__(self) -> Any:
        self._text.new_row()
        return next(self._reader)


def csv_reader(text: BoundedText, *, dict_reader: bool = False, **kwargs: Any) -> CsvRows:
    """Rows of a file opened by :func:`open_text` (see :class:`CsvRows`)."""
    return CsvRows(text, dict_reader=dict_reader, **kwargs)


#: Block size of :func:`csv_blocks` (pyarrow's CSV ``block_size`` of the snapshot tables).
CSV_BLOCK_BYTES = 16 * MiB


def csv_blocks(
    stream: Any, label: str, lim: Limits | None = None, *, block_bytes: int = CSV_BLOCK_BYTES
) -> Iterator[list[bytes | memoryview]]:
    """Binary CSV text from ``stream`` in blocks that end at a line end (the last one at the
    end of the stream), each line checked within ``csv_row_bytes`` (its bytes before the
    ``\\n``) before its block is yielded.

    A block is the partial line left by the block before it followed by ``block_bytes``
    read from the stream (more when a line needs it) up to their last line end — the blocks
    of pyarrow's CSV reader with ``block_size=block_bytes``. Each is yielded as a list of
    segments to be concatenated (no copy is made here); a segment is valid until the next
    block is asked for. Memory: about two blocks, whatever the size of the stream.

    Raises:
        InputTooLarge: a line too long (``line`` set: the line's 1-based number).
    """
    lim = lim or limits()
    limit = lim.csv_row_bytes
    block_bytes = max(block_bytes, limit + 2)
    carry = b""
    line = 1  # the number of the first line not yet yielded (the one ``carry`` starts)
    while True:
        data = stream.read(block_bytes)
        if not data:
            break
        first = data.find(b"\n")
        if first < 0:
            carry += data
            if len(carry) > limit:
                raise _row_too_long(label, lim, line)
            continue
        if len(carry) + first > limit:
            raise _row_too_long(label, lim, line)
        cut = data.rfind(b"\n") + 1
        _check_lines(data, first + 1, cut, label, lim, line + 1)
        segments: list[bytes | memoryview] = [carry, memoryview(data)[:cut]] if carry else [memoryview(data)[:cut]]
        line += data.count(b"\n", 0, cut)
        carry = data[cut:]
        if len(carry) > limit:
            raise _row_too_long(label, lim, line)
        yield segments
    if carry:
        yield [carry]


def _check_lines(block: bytes, start: int, end: int, label: str, lim: Limits, line: int) -> None:
    """Every line of ``block[start:end]`` (which ends with a line end) within
    ``csv_row_bytes``, at C speed: one ``rfind`` per ``csv_row_bytes`` of text. ``line``: the
    number of the line at ``start``."""
    limit, p = lim.csv_row_bytes, start
    while end - p > limit + 1:
        q = block.rfind(b"\n", p, p + limit + 1)
        if q < 0:
            raise _row_too_long(label, lim, line + block.count(b"\n", start, p))
        p = q + 1


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth(blob: bytes) -> int:
    """The deepest nesting of arrays and objects in a JSON text (strings ignored; linear time)."""
    depth = deepest = 0
    for m in _BRACKET.finditer(_STRING.sub(b"", blob)):
        if m.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def load_json(
    source: str | Path | bytes,
    lim: Limits | None = None,
    *,
    label: str | None = None,
    parse_float: Callable[[str], Any] | None = None,
    parse_constant: Callable[[str], Any] | None = None,
) -> Any:
    """Parse JSON from a path or bytes within ``json_bytes`` and ``json_depth``.

    Raises:
        InputTooLarge: too big or too deep. OSError: cannot read the path.
        UnicodeDecodeError, json.JSONDecodeError: not UTF-8 JSON (an integer too long for
        Python's ``int`` is a JSONDecodeError too).
    """
    lim = lim or limits()
    if isinstance(source, bytes):
        blob, name = source, label or "<json>"
        if len(blob) > lim.json_bytes:
            raise InputTooLarge(name, "JSON size", len(blob), "json_bytes", lim.json_bytes)
    else:
        p = Path(source)
        name = label or p.name
        size = p.stat().st_size
        if size > lim.json_bytes:
            raise InputTooLarge(name, "JSON size", size, "json_bytes", lim.json_bytes)
        blob = p.read_bytes()
    depth = json_depth(blob)
    if depth > lim.json_depth:
        raise InputTooLarge(name, "JSON nesting depth", depth, "json_depth", lim.json_depth)
    text = blob.decode("utf-8")
    try:
        return json.loads(text, parse_float=parse_float, parse_constant=parse_constant)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise InputTooLarge(name, "JSON nesting depth", "too deep", "json_depth", lim.json_depth) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # an integer of more than sys.get_int_max_str_digits() digits
        raise json.JSONDecodeError(f"number too long ({str(exc).split(':')[0]})", text, 0) from None


#: A Parquet file: ``PAR1`` magic, …, footer (Thrift ``FileMetaData``), footer length
#: (4 bytes little-endian), ``PAR1``.
PARQUET_MAGIC = b"PAR1"


def check_parquet(data: bytes, lim: Limits | None = None, *, label: str = "parquet file") -> Any:
    """Check a Parquet file (its bytes, already within ``file_bytes``) by its footer alone,
    before any column is decoded, and return its ``pyarrow.parquet.FileMetaData``.

    The footer length (the 4 bytes before the trailing magic) must fit in the file, so the
    metadata read is bounded by the file; then the row count must be within ``parquet_rows``
    and the uncompressed size (the largest of the column chunks' ``total_uncompressed_size``
    summed and the row groups' ``total_byte_size`` summed) within ``uncompressed_bytes``.

    Raises:
        InputMalformed: not a Parquet file, footer longer than the file, unreadable footer,
            negative counts.
        InputTooLarge: too many rows, too many uncompressed bytes.
    """
    lim = lim or limits()
    n = len(data)
    if n < 12 or data[:4] != PARQUET_MAGIC or data[-4:] != PARQUET_MAGIC:
        raise InputMalformed(label, "not a Parquet file (no PAR1 magic at its start and end)")
    footer = int.from_bytes(data[-8:-4], "little")
    if footer + 12 > n:
        raise InputMalformed(label, f"Parquet footer length {footer} exceeds the file size {n} bytes")
    import pyarrow as pa  # here: the pure readers of this module never need pyarrow
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise InputMalformed(label, f"cannot read the Parquet footer: {str(exc).splitlines()[0]}") from None
    rows = int(meta.num_rows)
    if rows < 0:
        raise InputMalformed(label, f"Parquet footer claims {rows} rows")
    if rows > lim.parquet_rows:
        raise InputTooLarge(label, "row count", rows, "parquet_rows", lim.parquet_rows)
    columns = groups = 0
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        groups += max(int(rg.total_byte_size), 0)
        columns += sum(max(int(rg.column(j).total_uncompressed_size), 0) for j in range(rg.num_columns))
    size = max(columns, groups)
    if size > lim.uncompressed_bytes:
        raise InputTooLarge(label, "uncompressed size", size, "uncompressed_bytes", lim.uncompressed_bytes)
    return meta

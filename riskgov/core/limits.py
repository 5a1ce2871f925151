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
- ``json_bytes`` and ``json_depth``: the size and the nesting depth of a JSON document.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import zipfile
from collections.abc import Callable
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
    json_bytes: int = 64 * MiB
    json_depth: int = 64


#: Setting name of each bound (for the messages and :func:`limits`).
SETTINGS = {
    "file_bytes": "RISKGOV_MAX_FILE_BYTES",
    "uncompressed_bytes": "RISKGOV_MAX_UNCOMPRESSED_BYTES",
    "zip_members": "RISKGOV_MAX_ZIP_MEMBERS",
    "csv_field_bytes": "RISKGOV_MAX_CSV_FIELD_BYTES",
    "json_bytes": "RISKGOV_MAX_JSON_BYTES",
    "json_depth": "RISKGOV_MAX_JSON_DEPTH",
}


class InputTooLarge(ValueError):
    """An input breaks one of the :class:`Limits` (the message is one line)."""

    def __init__(self, label: str, what: str, found: int | str, bound: str, limit: int) -> None:
        self.label, self.bound, self.limit = label, bound, limit
        fmt = _size if bound.endswith("_bytes") else str
        super().__init__(f"{label}: {what} {fmt(found)} exceeds the limit {SETTINGS[bound]}={fmt(limit)}")


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
    """A binary stream that raises :class:`InputTooLarge` once more than ``limit`` bytes came out."""

    def __init__(self, raw: Any, limit: int, label: str, bound: str = "uncompressed_bytes") -> None:
        self._raw, self._limit, self._label, self._bound, self._seen = raw, limit, label, bound, 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        n = len(data)
        self._seen += n
        if self._seen > self._limit:
            raise InputTooLarge(self._label, "uncompressed size over", self._limit, self._bound, self._limit)
        b[:n] = data
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def csv_field_limit(lim: Limits | None = None) -> None:
    """Set ``csv.field_size_limit`` to ``csv_field_bytes`` (process-wide; idempotent)."""
    csv.field_size_limit((lim or limits()).csv_field_bytes)


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
) -> Any:
    """Parse JSON from a path or bytes within ``json_bytes`` and ``json_depth``.

    Raises:
        InputTooLarge: too big or too deep. OSError: cannot read the path.
        UnicodeDecodeError, json.JSONDecodeError: not UTF-8 JSON.
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
        return json.loads(text, parse_float=parse_float)
    except RecursionError:  # pragma: no cover - the depth check comes first
        raise InputTooLarge(name, "JSON nesting depth", "too deep", "json_depth", lim.json_depth) from None

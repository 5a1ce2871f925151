"""Reading and validating a ``riskgov.snapshot/1`` (FORMATS.md) — complete, vectorized, no writes.

``snapshot_read(path)`` reads a directory or a ``.zip`` of one (files at the archive's root
or inside one folder), CSV or Parquet per table, and checks *everything* before the
services write anything. Every problem found becomes one error
``{"file", "row", "column", "message"}``; ``row`` is the **1-based data row** (the header
is not counted, so data row 1 is line 2 of a CSV file), ``None`` for a file-level problem.
All errors are collected (the list is capped at ``MAX_ERRORS``; ``more`` counts the rest)
and raised together as ``SnapshotInvalid``.

Values stay the exact decimal strings of the file: they are checked with pyarrow compute
kernels (regular expressions, lengths, ``index_in`` lookups) over whole columns, and only
the offending rows are turned into Python strings, to format messages. Rules:

* numbers are plain decimals (``-12.5``, ``.5``, ``3``; no exponent, ``NaN`` or ``inf``) that
  fit the database columns exactly: sizes, amounts and prices at most 20 integer and 18
  fractional digits, USD amounts (isolated margin, insurance fund) 18 and 10;
* ``accounts.csv``: ``account_id`` non-empty, at most 100 characters, unique;
* ``balances.csv``: known account, an ``Asset`` symbol of the database, at most one row per
  (account, asset); the amount may be negative (a liability, RISK_MODEL §4);
* ``positions.csv``: known account, a ``Market`` symbol of the database, ``entry_price > 0``,
  ``margin_mode`` ``cross`` or ``isolated``; isolated positions need ``isolated_margin ≥ 0``,
  cross positions must leave it empty (RISK_MODEL §6);
* ``prices.csv``: an ``Asset`` symbol, once, ``price > 0``; every asset held as a balance and
  the base asset of every market with a position must have a price;
* ``snapshot.json``: the exact format string, a non-empty ``venue`` (≤ 100 characters),
  ``taken_at`` ISO 8601 (UTC assumed when no offset is given), ``insurance_fund_usd`` a
  decimal string (or integer) ``≥ 0``; unknown keys are refused.

Extra or missing columns are errors (strict format). Parquet columns may be strings,
integers, decimals or floats; floats are written as their shortest exact decimal.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

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
META_FILE = "snapshot.json"
META_KEYS = ("format", "venue", "taken_at", "insurance_fund_usd")
#: (integer digits, fractional digits) that the NUMERIC columns hold exactly.
AMOUNT_DIGITS = (20, 18)
USD_DIGITS = (18, 10)
ACCOUNT_ID_MAX = 100
VENUE_MAX = 100
_PLAIN_DECIMAL = r"^[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+)$"


class SnapshotInvalid(DomainError):
    """The snapshot files break the format. ``extra["errors"]``: ``[{"file", "row", "column",
    "message"}]`` (at most ``MAX_ERRORS``), ``extra["more"]``: how many more were found,
    ``extra["total"]``: all errors found. The message is one line: the first error and the count."""


@dataclass
class SnapshotData:
    """A validated snapshot, ready to store. Column values are the files' decimal strings.

    Attributes:
        venue, taken_at, insurance_fund_usd: from ``snapshot.json``.
        prices: ``asset_id`` (int64 Asset pk) and ``price`` (string) arrays.
        account_ids: ``(A,)`` pyarrow string array in file order (index = ``idx``).
        balances: ``account_idx``, ``asset_id``, ``amount``.
        positions: ``account_idx``, ``market_id``, ``size``, ``entry_price``, ``isolated``
            (bool), ``isolated_margin`` (string, null for cross).
        sha256: hash over the five files' names and bytes (same for a folder and its zip).
        files: the file names read, e.g. ``["accounts.csv", ...]``.
    """

    venue: str
    taken_at: datetime
    insurance_fund_usd: Decimal
    prices: dict[str, Any]
    account_ids: pa.Array
    balances: dict[str, Any]
    positions: dict[str, Any]
    sha256: str
    files: list[str] = field(default_factory=list)


class _Errors:
    """Collects errors in order; keeps the first ``MAX_ERRORS`` and counts the rest."""

    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []
        self.total = 0

    def add(self, file: str, row: int | None, column: str | None, message: str) -> None:
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


class _Source:
    """The snapshot's files, from a folder or a zip: ``name -> bytes``."""

    def __init__(self, path: Path, errors: _Errors) -> None:
        self.path = path
        self.blobs: dict[str, bytes] = {}
        label = path.name
        if path.is_dir():
            for p in path.iterdir():
                if p.is_file():
                    self.blobs[p.name] = b""  # read lazily below
            self._dir = path
            self._zip: zipfile.ZipFile | None = None
        elif path.is_file() and zipfile.is_zipfile(path):
            self._dir = None
            self._zip = zipfile.ZipFile(path)
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
        return name in self.blobs

    def read(self, name: str) -> bytes:
        if self._dir is not None:
            return (self._dir / name).read_bytes()
        assert self._zip is not None
        return self._zip.read(self._members[name])

    def close(self) -> None:
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
    return pc.fill_null(out, "")


def _read_table(src: _Source, name: str, errors: _Errors) -> tuple[str, dict[str, pa.Array]] | None:
    """Read ``name.csv`` or ``name.parquet`` into ``{column: string array}``; check columns."""
    wanted = TABLES[name]
    csv_name, pq_name = f"{name}.csv", f"{name}.parquet"
    if src.has(csv_name) and src.has(pq_name):
        errors.add(csv_name, None, None, f"both {csv_name} and {pq_name} given; keep one")
        return None
    if not (src.has(csv_name) or src.has(pq_name)):
        errors.add(csv_name, None, None, f"missing file (expected {csv_name} or {pq_name})")
        return None
    file = csv_name if src.has(csv_name) else pq_name
    blob = src.read(file)
    try:
        if file.endswith(".csv"):
            table = pacsv.read_csv(
                io.BytesIO(blob),
                read_options=pacsv.ReadOptions(block_size=1 << 24),
                convert_options=pacsv.ConvertOptions(
                    column_types={c: pa.string() for c in wanted}, strings_can_be_null=False
                ),
            )
        else:
            table = pq.read_table(io.BytesIO(blob))
    except (pa.ArrowInvalid, OSError) as exc:
        errors.add(file, None, None, f"cannot read: {str(exc).splitlines()[0]}")
        return None
    src.blobs[file] = blob
    cols = list(table.column_names)
    missing = [c for c in wanted if c not in cols]
    extra = [c for c in cols if c not in wanted]
    for c in missing:
        errors.add(file, None, c, "missing column")
    for c in extra:
        errors.add(file, None, c, f"unexpected column (expected {', '.join(wanted)})")
    if len(set(cols)) != len(cols):
        errors.add(file, None, None, "repeated column names")
    if missing or extra or len(set(cols)) != len(cols):
        return None
    return file, {c: _as_strings(table.column(c)) for c in wanted}


def _np(arr: pa.Array | pa.ChunkedArray) -> np.ndarray:
    return np.asarray(arr.to_numpy(zero_copy_only=False))


def _decimals(
    errors: _Errors,
    file: str,
    column: str,
    values: pa.Array,
    *,
    digits: tuple[int, int],
    check: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Check plain decimals fitting ``digits``; return ``(float64 values, ok mask)``.

    ``check`` limits the rows checked (others get NaN and ok=True).
    """
    n = len(values)
    rows = np.ones(n, dtype=bool) if check is None else check
    plain = _np(pc.match_substring_regex(values, _PLAIN_DECIMAL))
    empty = _np(pc.equal(values, ""))
    bad_empty = rows & empty
    bad_form = rows & ~plain & ~empty
    errors.add_mask(file, column, bad_empty, None, "empty value (a number is required)")
    errors.add_mask(file, column, bad_form, values, "{value!s} is not a plain decimal number")
    ok = rows & plain
    body = pc.utf8_ltrim(pc.replace_substring_regex(values, "^[+-]", ""), "0")
    length = _np(pc.utf8_length(body)).astype(np.int64)
    dot = _np(pc.find_substring(body, ".")).astype(np.int64)
    int_digits = np.where(dot >= 0, dot, length)
    frac_digits = np.where(dot >= 0, length - dot - 1, 0)
    too_big = ok & (int_digits > digits[0])
    too_fine = ok & ~too_big & (frac_digits > digits[1])
    errors.add_mask(file, column, too_big, values, f"{{value}} has more than {digits[0]} digits before the point")
    errors.add_mask(file, column, too_fine, values, f"{{value}} has more than {digits[1]} decimal places")
    ok &= ~too_big & ~too_fine
    out = np.full(n, np.nan)
    if ok.any():
        idx = np.flatnonzero(ok)
        out[idx] = _np(pc.cast(values.take(pa.array(idx)), pa.float64()))
    return out, (ok | ~rows)


def _lookup(
    errors: _Errors, file: str, column: str, values: pa.Array, known: dict[str, int], what: str
) -> tuple[np.ndarray, np.ndarray]:
    """Map symbols to database ids; unknown ones are errors. Returns ``(ids, found mask)``."""
    symbols = list(known)
    pos = pc.index_in(values, value_set=pa.array(symbols, type=pa.string()))
    found = _np(pc.is_valid(pos))
    ids_of = np.array([known[s] for s in symbols] or [0], dtype=np.int64)
    ids = np.where(found, ids_of[_np(pc.fill_null(pos, 0)).astype(np.int64)], -1)
    errors.add_mask(file, column, ~found, values, f"unknown {what} {{value!r}}")
    return ids, found


# --------------------------------------------------------------------------- tables


def _check_meta(src: _Source, errors: _Errors) -> tuple[str, datetime | None, Decimal | None]:
    f = META_FILE
    if not src.has(f):
        errors.add(f, None, None, "missing file")
        return "", None, None
    blob = src.read(f)
    src.blobs[f] = blob
    try:
        meta = json.loads(blob.decode("utf-8"))
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


def _hash(src: _Source, names: list[str]) -> str:
    h = hashlib.sha256()
    for name in sorted(names):
        blob = src.blobs.get(name) or b""
        h.update(name.encode() + b"\0" + hashlib.sha256(blob).digest())
    return h.hexdigest()


def snapshot_read(path: str | Path, *, assets: dict[str, int], markets: dict[str, tuple[int, int]]) -> SnapshotData:
    """Read and validate a snapshot completely (see the module docstring).

    Args:
        path: a directory or a ``.zip``.
        assets: ``{asset symbol: Asset pk}`` of the database.
        markets: ``{market symbol: (Market pk, base Asset pk)}`` of the database.

    Raises:
        SnapshotInvalid: with every error found (capped).
    """
    errors = _Errors()
    src = _Source(Path(path), errors)
    try:
        errors.raise_if_any()
        venue, taken_at, fund = _check_meta(src, errors)
        tables = {name: _read_table(src, name, errors) for name in TABLES}
        # Files or columns missing: the row checks cannot run meaningfully.
        if any(t is None for t in tables.values()):
            errors.raise_if_any()
        assert all(t is not None for t in tables.values())
        files = {name: t[0] for name, t in tables.items() if t is not None}
        cols = {name: t[1] for name, t in tables.items() if t is not None}

        # accounts
        f, acc = files["accounts"], cols["accounts"]["account_id"]
        n_acc = len(acc)
        lengths = _np(pc.utf8_length(acc)).astype(np.int64)
        errors.add_mask(f, "account_id", lengths == 0, None, "empty account id")
        errors.add_mask(
            f, "account_id", lengths > ACCOUNT_ID_MAX, acc, f"account id longer than {ACCOUNT_ID_MAX} characters"
        )
        first = _np(pc.index_in(acc, value_set=acc)).astype(np.int64) if n_acc else np.zeros(0, np.int64)
        dup = first != np.arange(n_acc)
        errors.add_mask(f, "account_id", dup, acc, "duplicate account id {value!r}")

        def account_index(file: str, values: pa.Array) -> np.ndarray:
            pos = pc.index_in(values, value_set=acc)
            found = _np(pc.is_valid(pos))
            errors.add_mask(file, "account_id", ~found, values, "unknown account {value!r} (not in accounts)")
            # index_in gives the first occurrence: duplicates map to one idx (already an error)
            return np.where(found, _np(pc.fill_null(pos, 0)).astype(np.int64), -1)

        # prices
        f, pr = files["prices"], cols["prices"]
        price_asset, price_found = _lookup(errors, f, "asset", pr["asset"], assets, "asset")
        price_val, price_ok = _decimals(errors, f, "price", pr["price"], digits=AMOUNT_DIGITS)
        errors.add_mask(f, "price", price_ok & ~(price_val > 0), pr["price"], "price {value} must be > 0")
        seen = price_asset[price_found]
        _, first_seen = np.unique(seen, return_index=True)
        dup_price = np.zeros(len(price_asset), dtype=bool)
        dup_idx = np.flatnonzero(price_found)
        keep = np.zeros(len(seen), dtype=bool)
        keep[first_seen] = True
        dup_price[dup_idx[~keep]] = True
        errors.add_mask(f, "asset", dup_price, pr["asset"], "second price for asset {value!r}")
        priced = set(seen.tolist())

        # balances
        f, bal = files["balances"], cols["balances"]
        bal_acc = account_index(f, bal["account_id"])
        bal_asset, bal_found = _lookup(errors, f, "asset", bal["asset"], assets, "asset")
        _decimals(errors, f, "amount", bal["amount"], digits=AMOUNT_DIGITS)
        both = (bal_acc >= 0) & bal_found
        key = bal_acc * (max(assets.values(), default=0) + 1) + bal_asset
        order = np.flatnonzero(both)
        _, first_key = np.unique(key[order], return_index=True)
        keep = np.zeros(len(order), dtype=bool)
        keep[first_key] = True
        dup_bal = np.zeros(len(key), dtype=bool)
        dup_bal[order[~keep]] = True
        errors.add_mask(f, "asset", dup_bal, bal["asset"], "second balance of asset {value!r} for this account")
        need_price = {int(a): f"{files['balances']} (collateral)" for a in np.unique(bal_asset[bal_found])}

        # positions
        f, pos = files["positions"], cols["positions"]
        pos_acc = account_index(f, pos["account_id"])
        market_ids = {s: v[0] for s, v in markets.items()}
        pos_market, pos_found = _lookup(errors, f, "market", pos["market"], market_ids, "market")
        _decimals(errors, f, "size", pos["size"], digits=AMOUNT_DIGITS)
        entry, entry_ok = _decimals(errors, f, "entry_price", pos["entry_price"], digits=AMOUNT_DIGITS)
        errors.add_mask(
            f, "entry_price", entry_ok & ~(entry > 0), pos["entry_price"], "entry price {value} must be > 0"
        )
        mode = pos["margin_mode"]
        isolated = _np(pc.equal(mode, "isolated"))
        cross = _np(pc.equal(mode, "cross"))
        errors.add_mask(f, "margin_mode", ~isolated & ~cross, mode, "{value!r} is not 'cross' or 'isolated'")
        im = pos["isolated_margin"]
        im_empty = _np(pc.equal(im, ""))
        errors.add_mask(f, "isolated_margin", isolated & im_empty, None, "isolated position without isolated_margin")
        errors.add_mask(
            f,
            "isolated_margin",
            cross & ~im_empty,
            im,
            "cross position with an isolated_margin ({value}); leave it empty",
        )
        im_val, im_ok = _decimals(errors, f, "isolated_margin", im, digits=USD_DIGITS, check=isolated & ~im_empty)
        errors.add_mask(
            f, "isolated_margin", isolated & ~im_empty & im_ok & (im_val < 0), im, "isolated margin {value} is negative"
        )
        base_of = {v[0]: v[1] for v in markets.values()}
        for m in np.unique(pos_market[pos_found]).tolist():
            need_price.setdefault(base_of[int(m)], f"{files['positions']} (base asset)")

        # every used asset has a price
        symbol_of = {v: s for s, v in assets.items()}
        for a, why in sorted(need_price.items(), key=lambda kv: symbol_of[kv[0]]):
            if a not in priced:
                errors.add(files["prices"], None, "asset", f"no price for {symbol_of[a]} (used in {why})")

        errors.raise_if_any()
        assert taken_at is not None and fund is not None
        return SnapshotData(
            venue=venue.strip(),
            taken_at=taken_at,
            insurance_fund_usd=fund,
            prices={"asset_id": price_asset, "price": pr["price"]},
            account_ids=acc,
            balances={"account_idx": bal_acc, "asset_id": bal_asset, "amount": bal["amount"]},
            positions={
                "account_idx": pos_acc,
                "market_id": pos_market,
                "size": pos["size"],
                "entry_price": pos["entry_price"],
                "isolated": isolated,
                "isolated_margin": pc.if_else(pa.array(isolated), im, pa.scalar(None, pa.string())),
            },
            sha256=_hash(src, [META_FILE, *files.values()]),
            files=[META_FILE, *files.values()],
        )
    finally:
        src.close()

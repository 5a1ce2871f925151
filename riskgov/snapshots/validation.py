"""Reading and validating a ``riskgov.snapshot/1`` (FORMATS.md) — complete, vectorized, no writes.

``snapshot_read(path)`` reads a directory or a ``.zip`` of one (files at the archive's root
or inside one folder), CSV or Parquet per table, and checks *everything* before anything the
services write becomes visible (they write each table, once it and every table before it
passed, while the next is read, in a transaction a later error rolls back). Every problem
found becomes one error
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

Options (FORMATS.md "Options in a snapshot"): ``accounts.csv`` may carry ``margin_mode``
(``cross`` or ``portfolio``), and the optional ``options.csv`` and ``option_marks.csv`` are
checked by :mod:`riskgov.snapshots.option_checks` (its docstring states the rules); the
underlying of every option held must have a price like any base asset.

Extra or missing columns are errors (strict format). Parquet columns may be strings,
integers, decimals or floats; floats are written as their shortest exact decimal.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from riskgov.core import limits
from riskgov.snapshots.option_checks import check_account_modes, check_options, check_portfolio_positions
from riskgov.snapshots.reading import (
    ACCOUNT_ID_MAX,
    AMOUNT_DIGITS,
    FORMAT,
    MAX_ERRORS,
    META_FILE,
    META_KEYS,
    OPTION_TABLES,
    TABLES,
    USD_DIGITS,
    VENUE_MAX,
    Errors,
    SnapshotInvalid,
    Source,
    check_meta,
    decimals,
    files_hash,
    has_table,
    lookup,
    np_of,
    read_table,
)

__all__ = [
    "ACCOUNT_ID_MAX",
    "AMOUNT_DIGITS",
    "FORMAT",
    "MAX_ERRORS",
    "META_FILE",
    "META_KEYS",
    "TABLES",
    "USD_DIGITS",
    "VENUE_MAX",
    "SnapshotData",
    "SnapshotInvalid",
    "snapshot_read",
]


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
        sha256: hash over the files' names and bytes (same for a folder and its zip).
        files: the file names read, e.g. ``["accounts.csv", ...]``.
        portfolio_mode: ``(A,)`` bool, accounts in ``portfolio`` margin mode (RISK_MODEL §14).
        options: ``account_idx``, ``underlying_id``, ``expiry`` (int64 epoch seconds),
            ``strike``, ``is_call``, ``size``, ``entry_price`` (strings); empty arrays when the
            snapshot has no ``options.csv``.
        option_marks: ``underlying_id``, ``expiry``, ``strike``, ``is_call``, ``mark_iv``.
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
    portfolio_mode: np.ndarray | None = None
    options: dict[str, Any] = field(default_factory=dict)
    option_marks: dict[str, Any] = field(default_factory=dict)


class Sink(Protocol):
    """Receives a snapshot's tables while it is validated (the import streams them to the
    database; nothing becomes visible before ``snapshot_read`` returns and the caller commits)."""

    def begin(self, sha256: str, meta: tuple[str, datetime, Decimal] | None) -> bool:
        """The files are read: their hash, and ``(venue, taken_at, insurance fund)`` when
        ``snapshot.json`` is valid (else ``None``). Returns whether to receive the tables."""

    def table(self, name: str, columns: dict[str, Any]) -> None:
        """``name`` (``accounts``, ``balances``, ``positions``) passed every check, and so did
        every table before it: its columns as in ``SnapshotData``."""


def snapshot_read(
    path: str | Path, *, assets: dict[str, int], markets: dict[str, tuple[int, int]], sink: Sink | None = None
) -> SnapshotData:
    """Read and validate a snapshot completely (see the module docstring).

    Args:
        path: a directory or a ``.zip``.
        assets: ``{asset symbol: Asset pk}`` of the database.
        markets: ``{market symbol: (Market pk, base Asset pk)}`` of the database.
        sink: gets the files' hash first (when ``snapshot.json`` is valid and each table has
            one file; they are hashed before they are parsed), then each bulk table as soon
            as it and every table before it passed its checks (none after the first error),
            while the next table is read. A later error (a file that cannot be read, a
            check) is raised as usual: the caller rolls back.

    Raises:
        SnapshotInvalid: with every error found (capped).
    """
    errors = Errors()
    src = Source(Path(path), errors)
    try:
        errors.raise_if_any()
        venue, taken_at, fund = check_meta(src, errors)
        given = [n for n in OPTION_TABLES if has_table(src, n)]
        order = [*TABLES, *given]
        # The files' hash first (hashing is fast next to parsing), so that the sink can begin
        # and write each table while the next one is read: when snapshot.json is valid and
        # every table has one file (else an error is certain and nothing is written).
        single = {n: _file_of(src, n) for n in order}
        early = None
        if not errors.total and taken_at is not None and fund is not None and all(single.values()):
            early = _files_sha256(src, [META_FILE, *single.values()])  # type: ignore[list-item]
        streaming = sink is not None and early is not None and sink.begin(early, (venue.strip(), taken_at, fund))
        # Row checks go to ``checks``: they count only when every file could be read (else the
        # file errors are raised alone, as the rows cannot be checked meaningfully).
        checks = Errors()
        tables: dict[str, tuple[str, dict[str, pa.Array]] | None] = {}

        def read(name: str) -> bool:
            tables[name] = read_table(src, name, errors)
            return all(t is not None for t in tables.values())

        def send(name: str, columns: dict[str, Any]) -> None:
            if streaming and not errors.total and not checks.total:
                sink.table(name, columns)

        files: dict[str, str] = {}
        cols: dict[str, dict[str, pa.Array]] = {}

        def take(*names: str) -> None:
            for name in names:
                t = tables[name]
                assert t is not None
                files[name], cols[name] = t

        ok = read("prices") & read("accounts")
        if ok:
            take("prices", "accounts")
            acc = _check_accounts(checks, files["accounts"], cols["accounts"]["account_id"])
            portfolio = check_account_modes(checks, files["accounts"], cols["accounts"])
            send("accounts", {"account_ids": acc, "portfolio": portfolio})
            price_asset, priced = _check_prices(checks, files["prices"], cols["prices"], assets)
        if read("balances") and ok:
            take("balances")
            bal_acc, bal_asset = _check_balances(checks, files["balances"], cols["balances"], acc, assets)
            bal = cols["balances"]
            balances = {"account_idx": bal_acc, "asset_id": bal_asset, "amount": bal["amount"]}
            send("balances", balances)
        ok = read("positions") and ok
        if ok:
            take("positions")
            pos_acc, pos_market, isolated = _check_positions(
                checks, files["positions"], cols["positions"], acc, markets
            )
            pos = cols["positions"]
            positions = {
                "account_idx": pos_acc,
                "market_id": pos_market,
                "size": pos["size"],
                "entry_price": pos["entry_price"],
                "isolated": isolated,
                "isolated_margin": pc.if_else(pa.array(isolated), pos["isolated_margin"], pa.scalar(None, pa.string())),
            }
            check_portfolio_positions(checks, files["positions"], pos_acc, isolated, portfolio)
            send("positions", positions)
        for name in given:
            ok = read(name) and ok
        # Files or columns missing: the row checks cannot run meaningfully.
        if not ok:
            errors.raise_if_any()
        take(*given)
        opts = None
        if "options" in cols:
            opts = check_options(
                checks,
                (files["options"], files.get("option_marks")),
                cols["options"],
                cols.get("option_marks"),
                account_index=lambda file, values: _account_index(checks, acc, file, values),
                portfolio=portfolio,
                assets=assets,
                taken_at=taken_at,
            )
        elif "option_marks" in cols:  # marks alone: checked like any table, no option to price
            opts = check_options(
                checks,
                ("options.csv", files["option_marks"]),
                {c: pa.array([], pa.string()) for c in OPTION_TABLES["options"]},
                cols["option_marks"],
                account_index=lambda file, values: _account_index(checks, acc, file, values),
                portfolio=portfolio,
                assets=assets,
                taken_at=taken_at,
            )
        opt_und = opts.options["underlying_id"] if opts is not None else np.zeros(0, dtype=np.int64)
        _check_priced(
            checks, files, assets, markets, priced, bal_asset=bal_asset, pos_market=pos_market, opt_underlying=opt_und
        )

        names = [META_FILE, *files.values()]
        sha256 = files_hash(src, names)
        if early is not None and early != sha256:
            errors.add(src.path.name, None, None, "a file changed while the snapshot was being read; import it again")
            errors.raise_if_any()
        if early is None:  # as when streaming: the lock, and a duplicate looked for (an error follows)
            clean = not errors.total and taken_at is not None and fund is not None
            streaming = sink is not None and sink.begin(sha256, (venue.strip(), taken_at, fund) if clean else None)
        errors.items += checks.items[: max(0, MAX_ERRORS - len(errors.items))]
        errors.total += checks.total
        errors.raise_if_any()
        assert taken_at is not None and fund is not None
        return SnapshotData(
            venue=venue.strip(),
            taken_at=taken_at,
            insurance_fund_usd=fund,
            prices={"asset_id": price_asset, "price": cols["prices"]["price"]},
            account_ids=acc,
            balances=balances,
            positions=positions,
            sha256=sha256,
            files=names,
            portfolio_mode=portfolio,
            options=opts.options if opts is not None else {},
            option_marks=opts.marks if opts is not None else {},
        )
    finally:
        src.close()


def _file_of(src: Source, name: str) -> str | None:
    """The one file of table ``name`` (``.csv`` or ``.parquet``); ``None`` for none or both
    (``read_table`` says which)."""
    given = [f for f in (f"{name}.csv", f"{name}.parquet") if src.has(f)]
    return given[0] if len(given) == 1 else None


def _files_sha256(src: Source, names: list[str]) -> str | None:
    """``files_hash`` of ``names``, before the tables are parsed: each file is streamed once
    through SHA-256 here (memory: one read buffer, whatever the file's size) and streamed
    again when ``read_table`` parses it; ``read_table`` hashes what it parses and
    ``snapshot_read`` refuses the snapshot if the two passes differ (a file that changed
    while being read), so the bytes hashed are the bytes parsed. ``None`` when a file cannot
    be read through (``read_table`` then reports it, and nothing is written early)."""
    h = hashlib.sha256()
    try:
        for name in sorted(names):
            d = hashlib.sha256()
            with src.open(name) as fh:
                while block := fh.read(1 << 20):
                    d.update(block)
            h.update(name.encode() + b"\0" + d.digest())
    except (limits.InputTooLarge, OSError, zipfile.BadZipFile):
        return None
    return h.hexdigest()


# --------------------------------------------------------------------------- tables
def _check_accounts(errors: Errors, f: str, acc: pa.Array) -> pa.Array:
    """``account_id``: non-empty, at most ``ACCOUNT_ID_MAX`` characters, unique."""
    n_acc = len(acc)
    lengths = np_of(pc.utf8_length(acc)).astype(np.int64)
    errors.add_mask(f, "account_id", lengths == 0, None, "empty account id")
    errors.add_mask(
        f, "account_id", lengths > ACCOUNT_ID_MAX, acc, f"account id longer than {ACCOUNT_ID_MAX} characters"
    )
    first = np_of(pc.index_in(acc, value_set=acc)).astype(np.int64) if n_acc else np.zeros(0, np.int64)
    dup = first != np.arange(n_acc)
    errors.add_mask(f, "account_id", dup, acc, "duplicate account id {value!r}")
    return acc


def _account_index(errors: Errors, acc: pa.Array, file: str, values: pa.Array) -> np.ndarray:
    """Row index in ``accounts`` of each value (-1: unknown, an error)."""
    pos = pc.index_in(values, value_set=acc)
    found = np_of(pc.is_valid(pos))
    errors.add_mask(file, "account_id", ~found, values, "unknown account {value!r} (not in accounts)")
    # index_in gives the first occurrence: duplicates map to one idx (already an error)
    return np.where(found, np_of(pc.fill_null(pos, 0)).astype(np.int64), -1)


def _check_prices(
    errors: Errors, f: str, pr: dict[str, pa.Array], assets: dict[str, int]
) -> tuple[np.ndarray, set[int]]:
    """A known asset, once, ``price > 0``. Returns the asset ids (-1: unknown) and the priced ids."""
    price_asset, price_found = lookup(errors, f, "asset", pr["asset"], assets, "asset")
    price_val, price_ok = decimals(errors, f, "price", pr["price"], digits=AMOUNT_DIGITS)
    errors.add_mask(f, "price", price_ok & ~(price_val > 0), pr["price"], "price {value} must be > 0")
    seen = price_asset[price_found]
    _, first_seen = np.unique(seen, return_index=True)
    dup_price = np.zeros(len(price_asset), dtype=bool)
    dup_idx = np.flatnonzero(price_found)
    keep = np.zeros(len(seen), dtype=bool)
    keep[first_seen] = True
    dup_price[dup_idx[~keep]] = True
    errors.add_mask(f, "asset", dup_price, pr["asset"], "second price for asset {value!r}")
    return price_asset, set(seen.tolist())


def _check_balances(
    errors: Errors, f: str, bal: dict[str, pa.Array], acc: pa.Array, assets: dict[str, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Known account and asset, a plain amount, one row per (account, asset). Returns
    ``(account index, asset id)`` per row (-1: unknown)."""
    bal_acc = _account_index(errors, acc, f, bal["account_id"])
    bal_asset, bal_found = lookup(errors, f, "asset", bal["asset"], assets, "asset")
    decimals(errors, f, "amount", bal["amount"], digits=AMOUNT_DIGITS, floats=False)
    both = (bal_acc >= 0) & bal_found
    key = bal_acc * (max(assets.values(), default=0) + 1) + bal_asset
    order = np.flatnonzero(both)
    _, first_key = np.unique(key[order], return_index=True)
    keep = np.zeros(len(order), dtype=bool)
    keep[first_key] = True
    dup_bal = np.zeros(len(key), dtype=bool)
    dup_bal[order[~keep]] = True
    errors.add_mask(f, "asset", dup_bal, bal["asset"], "second balance of asset {value!r} for this account")
    return bal_acc, bal_asset


def _check_positions(
    errors: Errors, f: str, pos: dict[str, pa.Array], acc: pa.Array, markets: dict[str, tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Known account and market, plain size, ``entry_price > 0``, the margin mode and its
    isolated margin. Returns ``(account index, market id, isolated)`` per row."""
    pos_acc = _account_index(errors, acc, f, pos["account_id"])
    market_ids = {s: v[0] for s, v in markets.items()}
    pos_market, _ = lookup(errors, f, "market", pos["market"], market_ids, "market")
    decimals(errors, f, "size", pos["size"], digits=AMOUNT_DIGITS, floats=False)
    entry, entry_ok = decimals(errors, f, "entry_price", pos["entry_price"], digits=AMOUNT_DIGITS)
    errors.add_mask(f, "entry_price", entry_ok & ~(entry > 0), pos["entry_price"], "entry price {value} must be > 0")
    mode = pos["margin_mode"]
    isolated = np_of(pc.equal(mode, "isolated"))
    cross = np_of(pc.equal(mode, "cross"))
    errors.add_mask(f, "margin_mode", ~isolated & ~cross, mode, "{value!r} is not 'cross' or 'isolated'")
    im = pos["isolated_margin"]
    im_empty = np_of(pc.equal(im, ""))
    errors.add_mask(f, "isolated_margin", isolated & im_empty, None, "isolated position without isolated_margin")
    errors.add_mask(
        f,
        "isolated_margin",
        cross & ~im_empty,
        im,
        "cross position with an isolated_margin ({value}); leave it empty",
    )
    im_val, im_ok = decimals(errors, f, "isolated_margin", im, digits=USD_DIGITS, check=isolated & ~im_empty)
    errors.add_mask(
        f, "isolated_margin", isolated & ~im_empty & im_ok & (im_val < 0), im, "isolated margin {value} is negative"
    )
    return pos_acc, pos_market, isolated


def _check_priced(
    errors: Errors,
    files: dict[str, str],
    assets: dict[str, int],
    markets: dict[str, tuple[int, int]],
    priced: set[int],
    *,
    bal_asset: np.ndarray,
    pos_market: np.ndarray,
    opt_underlying: np.ndarray,
) -> None:
    """Every asset held as a balance, the base asset of every market with a position and the
    underlying of every option held has a price."""
    need_price = {int(a): f"{files['balances']} (collateral)" for a in np.unique(bal_asset[bal_asset >= 0])}
    base_of = {v[0]: v[1] for v in markets.values()}
    for m in np.unique(pos_market[pos_market >= 0]).tolist():
        need_price.setdefault(base_of[int(m)], f"{files['positions']} (base asset)")
    for u in np.unique(opt_underlying[opt_underlying >= 0]).tolist():
        need_price.setdefault(int(u), f"{files.get('options', 'options.csv')} (underlying)")
    symbol_of = {v: s for s, v in assets.items()}
    for a, why in sorted(need_price.items(), key=lambda kv: symbol_of[kv[0]]):
        if a not in priced:
            errors.add(files["prices"], None, "asset", f"no price for {symbol_of[a]} (used in {why})")

"""Streaming readers of Hyperliquid's public history files (FORMATS.md "Venue history").

Each reader yields one plain tuple per data row, in file order, and checks every field as it
goes; the first bad row raises :class:`HistoryError` with a one-line message naming the
file, the line and the column. A file, a line, a row or a field over its input limit
(:func:`riskgov.core.limits.open_text`) raises it too, naming the setting. Rows must be in
non-decreasing time order within a file (the replay merges the files by time without
sorting them, so memory does not grow with the file). No Django, no pandas: the csv module and ``Decimal``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

from riskgov.core import limits

__all__ = [
    "LEDGER_FILE",
    "LIQUIDATIONS_FILE",
    "TRADES_FILE",
    "HistoryError",
    "iter_ledger",
    "iter_liquidations",
    "iter_trades",
    "parse_time",
]

TRADES_FILE = "non_mm_trades.csv"
LEDGER_FILE = "non_mm_ledger_updates.csv"
LIQUIDATIONS_FILE = "liquidations.csv"

TRADE_COLUMNS = ("time", "user", "coin", "side", "px", "sz", "crossed")
LEDGER_COLUMNS = ("time", "user", "delta_usd")
LIQUIDATION_COLUMNS = ("time", "user", "liquidated_ntl_pos", "liquidated_account_value", "leverage_type")

#: Longest user or coin text accepted (account ids are at most 100 characters in a snapshot).
MAX_ID = 100


class HistoryError(ValueError):
    """A history file cannot be replayed; ``str()`` is one line naming file, row and field."""


def parse_time(text: str) -> int:
    """ISO 8601 time (``Z`` or an offset; UTC when none) → integer epoch seconds.

    Raises:
        ValueError: not an ISO 8601 time.
    """
    t = datetime.fromisoformat(text.strip())
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp())


def _rows(path: Path, columns: tuple[str, ...]) -> Iterator[tuple[int, list[str]]]:
    """(line number, row) per data row, after checking the header is exactly ``columns``."""
    try:
        with limits.open_text(path) as fh:
            reader = limits.csv_reader(fh)
            header = next(reader, None)
            if header is None or tuple(c.strip() for c in header) != columns:
                raise HistoryError(f"{path.name} line 1: header must be {','.join(columns)}, found {header}")
            width = len(columns)
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                if len(row) != width:
                    raise HistoryError(f"{path.name} line {line}: expected {width} fields, found {len(row)}")
                yield line, row
    except limits.InputTooLarge as exc:
        raise HistoryError(str(exc)) from None
    except csv.Error as exc:
        raise HistoryError(f"{path.name} line {fh.line}: malformed CSV: {limits.csv_error_text(exc)}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryError(f"{path.name}: cannot read: {exc}") from None


class _Row:
    """Field checks of one file, with the last time seen (for the ordering check)."""

    def __init__(self, path: Path) -> None:
        self.name = path.name
        self.last = None

    def fail(self, line: int, column: str, why: str, value: str) -> HistoryError:
        return HistoryError(f"{self.name} line {line} column {column}: {why}: {value!r}")

    def time(self, line: int, text: str) -> int:
        try:
            t = parse_time(text)
        except ValueError:
            raise self.fail(line, "time", "not an ISO 8601 time", text) from None
        if self.last is not None and t < self.last:
            raise self.fail(line, "time", "rows must be in time order (earlier than the row before)", text)
        self.last = t
        return t

    def ident(self, line: int, column: str, text: str) -> str:
        s = text.strip()
        if not s or len(s) > MAX_ID or "," in s:
            raise self.fail(line, column, f"must be 1 to {MAX_ID} characters", text)
        return s

    def decimal(self, line: int, column: str, text: str, *, positive: bool = False) -> Decimal:
        try:
            d = Decimal(text.strip())
        except InvalidOperation:
            raise self.fail(line, column, "not a decimal number", text) from None
        if not d.is_finite():
            raise self.fail(line, column, "not a finite number", text)
        if positive and d <= 0:
            raise self.fail(line, column, "must be > 0", text)
        return d


def iter_trades(path: str | Path) -> Iterator[tuple[int, str, str, Decimal, Decimal]]:
    """``(time, user, coin, signed size, price)`` per fill of ``non_mm_trades.csv``.

    ``side`` ``Bid`` buys (size > 0), ``Ask`` sells (size < 0); ``crossed`` must be
    ``true``/``false`` (checked, not used). The good-row path is inlined (the replay of a
    million fills spends most of its time here); any doubt goes to the per-field checks,
    which raise the one-line error.

    Raises:
        HistoryError: the first bad row (file, line, column).
    """
    p = Path(path)
    chk = _Row(p)
    times: dict[str, int] = {}
    last = None
    for line, row in _rows(p, TRADE_COLUMNS):
        time, user, coin, side, px, sz, crossed = row
        t = times.get(time)
        if t is None or t < last:
            t = chk.time(line, time)
            if len(times) > 4096:
                times.clear()
            times[time] = t
        chk.last = last = t
        if not user or not coin or len(user) > MAX_ID or len(coin) > MAX_ID:
            chk.ident(line, "user", user)
            chk.ident(line, "coin", coin)
        try:
            price = Decimal(px)
            size = Decimal(sz)
            good = price.is_finite() and size.is_finite() and price > 0 and size > 0
        except InvalidOperation:
            good = False
        if not good:
            price = chk.decimal(line, "px", px, positive=True)
            size = chk.decimal(line, "sz", sz, positive=True)
        if side == "Ask":
            size = -size
        elif side != "Bid":
            raise chk.fail(line, "side", "must be Bid or Ask", side)
        if crossed != "true" and crossed != "false":
            raise chk.fail(line, "crossed", "must be true or false", crossed)
        yield t, user.strip(), coin.strip(), size, price


def iter_ledger(path: str | Path) -> Iterator[tuple[int, str, Decimal]]:
    """``(time, user, delta USD)`` per row of ``non_mm_ledger_updates.csv`` (deposits +).

    Raises:
        HistoryError: the first bad row.
    """
    p = Path(path)
    chk = _Row(p)
    for line, (time, user, delta) in _rows(p, LEDGER_COLUMNS):
        yield chk.time(line, time), chk.ident(line, "user", user), chk.decimal(line, "delta_usd", delta)


def iter_liquidations(path: str | Path) -> Iterator[tuple[int, str, Decimal, Decimal, str]]:
    """``(time, user, liquidated notional USD, account value USD, leverage type)`` per row.

    ``leverage_type`` is ``Cross`` or ``Isolated``.

    Raises:
        HistoryError: the first bad row.
    """
    p = Path(path)
    chk = _Row(p)
    for line, (time, user, ntl, value, kind) in _rows(p, LIQUIDATION_COLUMNS):
        t = chk.time(line, time)
        u = chk.ident(line, "user", user)
        n = chk.decimal(line, "liquidated_ntl_pos", ntl)
        v = chk.decimal(line, "liquidated_account_value", value)
        if kind not in ("Cross", "Isolated"):
            raise chk.fail(line, "leverage_type", "must be Cross or Isolated", kind)
        yield t, u, n, v, kind

"""Rebuilding account state from a fill + ledger history (FORMATS.md "Venue history").

Pure and streaming: the history files are merged by time (ledger rows before fills of the
same second) and applied one row at a time to a :class:`Book`; memory grows with the
number of (user, coin) pairs, never with the number of rows. At each requested instant the
replay hands out the book as it stands after every row *at or before* that instant.

Per user (exact ``Decimal`` arithmetic):

* **cash** = Σ ledger ``delta_usd`` (deposits +, withdrawals −) + realised PnL;
* per coin the **net size** (Σ signed fill sizes) and the **average entry price**: a fill
  that adds to the position (or opens one) moves the entry to the size-weighted average; a
  fill that reduces it realises ``closed · (px − entry) · sign(size)`` and keeps the entry
  (kept as a cost basis, so a round trip realises exactly Σ sells − Σ buys);
  a fill that crosses zero closes the old position (realising its PnL) and opens the rest at
  the fill price (the entry is reset);
* **marks** are each coin's last fill price (any user) at or before the instant.

What the data lacks, and what that does to equity (RISK_MODEL §5 ``E = cash + Σ uPnL``):

* **trading fees** are not in the files: the replayed cash is too high by the fees paid.
  Bounded above by ``FEE_RATE_BOUND`` × the user's traded notional (``Account.traded``);
* **funding payments** are not in the files: unbounded by the data itself (sign unknown);
  at a typical 0.01 % per 8 h a position pays ~0.03 % of its notional a day;
* **the liquidator's side** of a liquidation is not in the files (it is a market maker);
  the liquidated user's own closing fill is, so the user's state stays right;
* **isolated margin** is not recorded: every position is replayed as cross.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from riskgov.snapshots.history.reading import LEDGER_FILE, TRADES_FILE, HistoryError, iter_ledger, iter_trades

__all__ = ["FEE_RATE_BOUND", "Account", "Book", "Position", "history_events", "replay_at"]

#: Assumed upper bound on Hyperliquid's taker fee in 2023, as a fraction of the traded
#: notional (its published taker rates then were a few basis points); used only to bound
#: the equity error of the missing fees.
FEE_RATE_BOUND = Decimal("0.0005")

ZERO = Decimal(0)


@dataclass
class Position:
    """A user's net position in one coin.

    Attributes:
        size: signed size in coin units.
        cost: USD cost basis ``|size| · entry``, kept instead of the entry price so that a
            position opened and closed in pieces realises exactly Σ closed · px − Σ opened · px.
    """

    size: Decimal = ZERO
    cost: Decimal = ZERO

    @property
    def entry(self) -> Decimal:
        """Average entry price (USD per coin), ``cost / |size|``."""
        return self.cost / abs(self.size)


@dataclass
class Account:
    """One user's replayed state.

    Attributes:
        cash: USD, deposits − withdrawals + realised PnL (no fees, no funding).
        deposits: USD, Σ ledger deltas alone.
        realised: USD, realised PnL alone.
        traded: USD, Σ |size| · price over the user's fills (for the fee bound).
        positions: coin → :class:`Position` (flat positions are removed).
        version: bumped on every change (lets a writer reuse the text of unchanged accounts).
    """

    cash: Decimal = ZERO
    deposits: Decimal = ZERO
    realised: Decimal = ZERO
    traded: Decimal = ZERO
    positions: dict[str, Position] = field(default_factory=dict)
    version: int = 0


@dataclass
class Book:
    """Every user's state and every coin's mark (last fill price) at one point of the replay.

    Attributes:
        accounts: user → :class:`Account`, users in order of first appearance.
        marks: coin → last fill price (USD).
        mark_times: coin → epoch seconds of that fill.
        traded: USD, Σ |size| · price over every fill (all users).
        rows: history rows applied so far.
        time: epoch seconds of the last row applied (``None`` before the first).
    """

    accounts: dict[str, Account] = field(default_factory=dict)
    marks: dict[str, Decimal] = field(default_factory=dict)
    mark_times: dict[str, int] = field(default_factory=dict)
    traded: Decimal = ZERO
    rows: int = 0
    time: int | None = None

    def account(self, user: str) -> Account:
        """The user's account, created empty on first sight."""
        acc = self.accounts.get(user)
        if acc is None:
            acc = self.accounts[user] = Account()
        return acc

    def ledger(self, user: str, delta: Decimal) -> None:
        """A deposit (``delta > 0``) or withdrawal (``< 0``) in USD."""
        acc = self.account(user)
        acc.version += 1
        acc.cash += delta
        acc.deposits += delta

    def fill(self, user: str, coin: str, size: Decimal, price: Decimal, time: int = 0) -> None:
        """One fill of ``size`` coin units (signed: > 0 buys) at ``price`` USD at ``time``."""
        acc = self.account(user)
        acc.version += 1
        self.marks[coin] = price
        self.mark_times[coin] = time
        notional = abs(size) * price
        acc.traded += notional
        self.traded += notional
        pos = acc.positions.get(coin)
        if pos is None:
            acc.positions[coin] = Position(size, abs(size) * price)
            return
        q = pos.size
        if (q > 0) == (size > 0):  # adds to the position
            pos.size = q + size
            pos.cost += abs(size) * price
            return
        closed = min(abs(size), abs(q))
        portion = pos.cost if closed == abs(q) else pos.cost * closed / abs(q)
        pnl = closed * price - portion if q > 0 else portion - closed * price
        acc.cash += pnl
        acc.realised += pnl
        new = q + size
        if new == 0:
            del acc.positions[coin]
        elif (new > 0) != (q > 0):  # crossed zero: the rest opens at the fill price
            pos.size, pos.cost = new, abs(new) * price
        else:
            pos.size, pos.cost = new, pos.cost - portion


def history_events(directory: str | Path) -> Iterator[tuple]:
    """Ledger rows and fills of ``directory`` merged by time (ledger rows first at the same
    second): a ledger row is ``(time, user, delta)``, a fill ``(time, user, coin, size,
    price)``. A directory without a ledger file replays fills alone.

    Raises:
        HistoryError: the trades file is missing, or a bad row (see ``reading``).
    """
    d = Path(directory)
    trades = d / TRADES_FILE
    if not trades.is_file():
        raise HistoryError(f"{d}: no {TRADES_FILE}")
    ledger = d / LEDGER_FILE
    return _merge(iter_trades(trades), iter_ledger(ledger) if ledger.is_file() else iter(()))


def _merge(trades: Iterator[tuple], ledger: Iterator[tuple]) -> Iterator[tuple]:
    """Two time-ordered streams as one; the ledger row wins a tie."""
    nxt = next(ledger, None)
    for fill in trades:
        t = fill[0]
        while nxt is not None and nxt[0] <= t:
            yield nxt
            nxt = next(ledger, None)
        yield fill
    while nxt is not None:
        yield nxt
        nxt = next(ledger, None)


def replay_at(directory: str | Path, instants: Iterable[int]) -> Iterator[tuple[int, Book]]:
    """Replay the history and yield ``(instant, book)`` at each instant (epoch seconds).

    ``instants`` must be non-decreasing. The book is the live replay state after every row
    at or before the instant: read it before asking for the next one (it keeps changing).
    The whole history is read, also after the last instant, so that a bad row anywhere
    fails the replay (all or nothing).

    Raises:
        HistoryError: a bad row, or instants out of order.
    """
    book = Book()
    events = history_events(directory)
    pending = None
    last = None
    for instant in instants:
        if last is not None and instant < last:
            raise HistoryError(f"instants must be in time order ({instant} after {last})")
        last = instant
        while True:
            if pending is None:
                pending = next(events, None)
                if pending is None:
                    break
            if pending[0] > instant:
                break
            _apply(book, pending)
            pending = None
        yield instant, book
    if pending is not None:
        _apply(book, pending)
    for e in events:
        _apply(book, e)


def _apply(book: Book, row: tuple) -> None:
    if len(row) == 3:
        book.ledger(row[1], row[2])
    else:
        book.fill(row[1], row[2], row[3], row[4], row[0])
    book.rows += 1
    book.time = row[0]

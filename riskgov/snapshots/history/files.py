"""Writing a replayed :class:`~riskgov.snapshots.history.replay.Book` as a ``riskgov.snapshot/1``.

Coin ``X`` becomes market ``X-PERP`` on base asset ``X``; cash is a ``USDC`` balance
(FORMATS.md "Venue history"). Values are exact decimal strings, rounded to
``PLACES`` decimals (the snapshot format allows 18) — the average entry price is the only
value that is not already a short decimal. The layout is the generator's (header line,
unquoted values), and a replayed snapshot goes through the one snapshot validation
(``riskgov.snapshots.validation``) when it is imported. A ``NOTES.md`` beside the tables states what the history
lacks (fees, funding, the liquidator's side, isolated margin); the snapshot reader ignores
files it does not know.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

from riskgov.snapshots.history.replay import FEE_RATE_BOUND, Book

__all__ = ["CASH_ASSET", "NOTES", "PLACES", "SnapshotWriter", "iso", "market_of", "snapshot_write"]

CASH_ASSET = "USDC"
#: Decimal places kept in the files (≤ 18, the snapshot format's limit).
PLACES = 12
_Q = Decimal(1).scaleb(-PLACES)

NOTES = """# Replayed from a venue history (riskgov replay_history)

Rebuilt from public fills and ledger updates, not reported by the venue:
- cash = deposits - withdrawals + realised PnL; **trading fees are not in the data** (cash is
  too high by the fees paid; at most {fee_rate} of the traded notional, {fee_bound} USD for all
  accounts to this instant);
- **funding payments are not in the data** (not guessed; sign and size unknown);
- marks are each coin's last fill price at or before the instant (may be stale);
- the liquidator's side of liquidations is not in the data; isolated margin is not recorded,
  so every position is cross;
- the insurance fund is not in the data (written as 0).
"""


def iso(t: int) -> str:
    """Epoch seconds → ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def market_of(coin: str) -> str:
    """Coin ``X`` → market symbol ``X-PERP``."""
    return f"{coin}-PERP"


def _plain(d: Decimal) -> str:
    """Exact plain decimal text rounded to ``PLACES`` decimals, no exponent, no trailing zeros."""
    q = d.quantize(_Q, rounding=ROUND_HALF_EVEN)
    if q == 0:
        return "0"
    text = format(q, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


class SnapshotWriter:
    """Writes successive snapshots of one replay, re-formatting only the accounts that
    changed since the previous snapshot (their ``Account.version``): an hourly grid over a
    month of a busy venue formats each account a few times, not once per hour.

    The files are CSV with a header line and unquoted values — the layout of the
    generator's ``table_write`` (user ids and coins cannot contain a comma, the reader
    refuses them).
    """

    def __init__(self, *, venue: str) -> None:
        self.venue = venue
        self._cache: dict[str, tuple[int, str, list[str], frozenset[str]]] = {}

    def _lines(self, user: str, acc) -> tuple[str, list[str], frozenset[str]]:
        cached = self._cache.get(user)
        if cached is not None and cached[0] == acc.version:
            return cached[1], cached[2], cached[3]
        balance = f"{user},{CASH_ASSET},{_plain(acc.cash)}\n"
        positions = [
            f"{user},{market_of(c)},{_plain(p.size)},{_plain(p.entry)},cross,\n" for c, p in acc.positions.items()
        ]
        coins = frozenset(acc.positions)
        self._cache[user] = (acc.version, balance, positions, coins)
        return balance, positions, coins

    def write(self, book: Book, instant: int, out: Path) -> Path:
        """Write the book at ``instant`` as a ``riskgov.snapshot/1`` directory ``out``."""
        out.mkdir(parents=True, exist_ok=True)
        accounts, balances, positions = ["account_id\n"], ["account_id,asset,amount\n"], [POSITIONS_HEADER]
        coins: set[str] = set()
        for user, acc in book.accounts.items():
            b, ps, cs = self._lines(user, acc)
            accounts.append(user + "\n")
            balances.append(b)
            positions.extend(ps)
            coins |= cs
        prices = ["asset,price\n", f"{CASH_ASSET},1\n", *(f"{c},{_plain(book.marks[c])}\n" for c in sorted(coins))]
        for name, lines in (
            ("accounts", accounts),
            ("balances", balances),
            ("positions", positions),
            ("prices", prices),
        ):
            (out / f"{name}.csv").write_text("".join(lines), encoding="utf-8")
        meta = {
            "format": "riskgov.snapshot/1",
            "venue": self.venue,
            "taken_at": iso(instant),
            "insurance_fund_usd": "0",
        }
        (out / "snapshot.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        fee_bound = book.traded * FEE_RATE_BOUND
        (out / "NOTES.md").write_text(
            NOTES.format(fee_rate=f"{FEE_RATE_BOUND * 100:f} %", fee_bound=_plain(fee_bound.quantize(Decimal("0.01")))),
            encoding="utf-8",
        )
        return out


POSITIONS_HEADER = "account_id,market,size,entry_price,margin_mode,isolated_margin\n"


def snapshot_write(book: Book, instant: int, out: Path, *, venue: str) -> Path:
    """Write one snapshot of ``book`` (see :class:`SnapshotWriter`). Returns ``out``."""
    return SnapshotWriter(venue=venue).write(book, instant, out)

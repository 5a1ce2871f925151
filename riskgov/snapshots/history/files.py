"""Writing a replayed :class:`~riskgov.snapshots.history.replay.Book` as a ``riskgov.snapshot/1``.

Coin ``X`` becomes market ``X-PERP`` on base asset ``X``; cash is a ``USDC`` balance
(FORMATS.md "Venue history"). Values are exact decimal strings, rounded to
``PLACES`` decimals (the snapshot format allows 18) — the average entry price is the only
value that is not already a short decimal. The tables go through the generator's writer
(:func:`riskgov.snapshots.generator_files.table_write`), so a replayed snapshot is laid out
exactly like a generated one. A ``NOTES.md`` beside the tables states what the history
lacks (fees, funding, the liquidator's side, isolated margin); the snapshot reader ignores
files it does not know.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pyarrow as pa

from riskgov.snapshots.generator_files import table_write
from riskgov.snapshots.history.replay import FEE_RATE_BOUND, Book

__all__ = ["CASH_ASSET", "NOTES", "PLACES", "book_tables", "iso", "market_of", "snapshot_write"]

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


def book_tables(book: Book) -> dict[str, pa.Table]:
    """The four tables of the book as string columns, accounts in first-seen order."""
    users = list(book.accounts)
    b_user, b_amount = [], []
    p_user, p_market, p_size, p_entry = [], [], [], []
    coins: set[str] = set()
    for user in users:
        acc = book.accounts[user]
        b_user.append(user)
        b_amount.append(_plain(acc.cash))
        for coin, pos in acc.positions.items():
            p_user.append(user)
            p_market.append(market_of(coin))
            p_size.append(_plain(pos.size))
            p_entry.append(_plain(pos.entry))
            coins.add(coin)
    assets = [CASH_ASSET, *sorted(coins)]
    prices = ["1", *(_plain(book.marks[c]) for c in sorted(coins))]
    n = len(p_user)
    none = pa.array([None] * n, pa.string())
    return {
        "prices": pa.table({"asset": pa.array(assets), "price": pa.array(prices)}),
        "accounts": pa.table({"account_id": pa.array(users, pa.string())}),
        "balances": pa.table(
            {
                "account_id": pa.array(b_user, pa.string()),
                "asset": pa.array([CASH_ASSET] * len(b_user), pa.string()),
                "amount": pa.array(b_amount, pa.string()),
            }
        ),
        "positions": pa.table(
            {
                "account_id": pa.array(p_user, pa.string()),
                "market": pa.array(p_market, pa.string()),
                "size": pa.array(p_size, pa.string()),
                "entry_price": pa.array(p_entry, pa.string()),
                "margin_mode": pa.array(["cross"] * n, pa.string()),
                "isolated_margin": none,
            }
        ),
    }


def snapshot_write(book: Book, instant: int, out: Path, *, venue: str) -> Path:
    """Write the book at ``instant`` as a ``riskgov.snapshot/1`` directory ``out`` (created).

    Returns:
        ``out``.
    """
    out.mkdir(parents=True, exist_ok=True)
    meta = {"format": "riskgov.snapshot/1", "venue": venue, "taken_at": iso(instant), "insurance_fund_usd": "0"}
    (out / "snapshot.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    for name, table in book_tables(book).items():
        table_write(table, out, name, "csv")
    fee_bound = sum((a.traded for a in book.accounts.values()), Decimal(0)) * FEE_RATE_BOUND
    (out / "NOTES.md").write_text(
        NOTES.format(fee_rate=f"{FEE_RATE_BOUND * 100:f} %", fee_bound=_plain(fee_bound.quantize(Decimal("0.01")))),
        encoding="utf-8",
    )
    return out

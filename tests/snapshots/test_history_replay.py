"""The history replay on the shipped Hyperliquid month, checked by hand (no database).

Every expected number below is worked out from the rows of
``data/history/hyperliquid_2023`` quoted in the comments.
"""

from decimal import Decimal as D

import pytest

from riskgov.snapshots.history.reading import HistoryError, parse_time
from riskgov.snapshots.history.replay import Book, replay_at
from tests.conftest import DATA

HISTORY = DATA / "history" / "hyperliquid_2023"
U677 = "0x677d831aef5328190852e24f13c46cac05f984e7"
UC12 = "0xc12899141fde243c1f6a1e77f285aafdcb50afc8"
U648 = "0x6482a07ec9b8ed76cf7989d19d39d508cfb5e875"


def states(*times: str):
    """(instant, snapshot of every account and the marks) at each time."""
    out = {}
    for t, book in replay_at(HISTORY, [parse_time(x) for x in times]):
        out[t] = (
            {u: (a.cash, {c: (p.size, p.entry) for c, p in a.positions.items()}) for u, a in book.accounts.items()},
            dict(book.marks),
            book.rows,
        )
    return [out[parse_time(x)] for x in times]


def test_user_677d_before_its_first_liquidation():
    # ledger +4, +2, -1.1, +10 = 14.9; ETH: Ask 0.1291 @1638 then Bids 0.0378 @1638.3,
    # 0.0554 @1638.3, 0.0359 @1640 close it: -0.01134 - 0.01662 - 0.0718 = -0.09976.
    # ATOM Bids 17.17 @12.571, 5.53 @12.357, 6.51 @12.357 (entry = 364.62235 / 29.21).
    [(accounts, marks, _)] = states("2023-02-28T21:10:22Z")
    cash, pos = accounts[U677]
    assert cash == D("14.9") - D("0.09976")
    assert set(pos) == {"ATOM"}
    size, entry = pos["ATOM"]
    assert size == D("29.21")
    assert entry == D("364.62235") / D("29.21")
    assert marks["ATOM"] == D("12.357")  # the last ATOM fill before the instant


def test_user_c128_short_eth_then_liquidated():
    # +15; ETH Ask 0.4316 @1633.5; liquidation fill Bid 0.4316 @1668.41 at 22:27:37:
    # realised 0.4316 * (1633.5 - 1668.41) = -15.067156.
    before, after = states("2023-03-02T22:27:36Z", "2023-03-02T22:27:37Z")
    assert before[0][UC12] == (D("15"), {"ETH": (D("-0.4316"), D("1633.5"))})
    assert after[0][UC12] == (D("15") - D("15.067156"), {})


def test_user_6482_line_by_line():
    # +15; AVAX Ask 4.74 @15.789; SOL Bid 2.07 @18.773; SOL Ask 2.07 @16.949 realises
    # 2.07 * -1.824 = -3.77568; SOL Asks 4.43 @17.367, 4.76 @17.384, 6.86 @17.384 open a
    # short of 16.05 at (76.93581 + 202.00208) / 16.05.
    t1, t2, t3 = states("2023-03-12T00:00:00Z", "2023-03-12T17:37:00Z", "2023-04-01T00:00:00Z")
    cash, pos = t1[0][U648]
    assert cash == D("15") - D("3.77568")
    assert pos["AVAX"] == (D("-4.74"), D("15.789"))
    assert pos["SOL"][0] == D("-16.05")
    assert pos["SOL"][1] == D("278.93789") / D("16.05")
    # liquidation: AVAX Bid 4.74 @14.634 (+5.4747), SOL Bid 16.05 @18.4288 (-16.84435);
    # ledger +9.112918; SOL Asks 0.79 + 4.3 @17.884 then Bids 0.84 + 4.25 @18.352 close
    # them (5.09 * -0.468 = -2.38212); SOL Bid 7.3 @18.42 opens a long.
    cash2, pos2 = t2[0][U648]
    expected2 = D("11.22432") + D("5.4747") - (D("295.78224") - D("278.93789")) + D("9.112918") - D("2.38212")
    assert cash2 == expected2
    assert pos2 == {"SOL": (D("7.3"), D("18.42"))}
    # SOL Ask 7.3 @20.138 closes it: +7.3 * 1.718 = 12.5414; flat to the end of the month.
    cash3, pos3 = t3[0][U648]
    assert cash3 == expected2 + D("12.5414")
    assert pos3 == {}
    assert t3[2] == 854 + 84  # every fill and ledger row replayed


def test_entry_resets_when_the_position_crosses_zero():
    book = Book()
    book.fill("u", "BTC", D("1"), D("100"))
    book.fill("u", "BTC", D("1"), D("110"))  # entry 105
    book.fill("u", "BTC", D("-3"), D("120"))  # closes 2 (+30), opens -1 at 120
    acc = book.accounts["u"]
    assert acc.cash == D("30")
    assert (acc.positions["BTC"].size, acc.positions["BTC"].entry) == (D("-1"), D("120"))
    book.fill("u", "BTC", D("0.5"), D("100"))  # reduces: +10, entry kept
    assert acc.cash == D("40") and acc.positions["BTC"].entry == D("120")


def write_history(tmp_path, trades, ledger="time,user,delta_usd\n2023-01-01T00:00:00Z,u,100\n"):
    (tmp_path / "non_mm_trades.csv").write_text(trades)
    (tmp_path / "non_mm_ledger_updates.csv").write_text(ledger)
    return tmp_path


HEAD = "time,user,coin,side,px,sz,crossed\n"


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            "2023-01-01T01:00:00Z,u,BTC,Bid,abc,1,true",
            "non_mm_trades.csv line 3 column px: not a decimal number: 'abc'",
        ),
        ("2023-01-01T01:00:00Z,u,BTC,Buy,1,1,true", "non_mm_trades.csv line 3 column side: must be Bid or Ask"),
        ("2023-01-01T01:00:00Z,u,BTC,Bid,1,-1,true", "non_mm_trades.csv line 3 column sz: must be > 0"),
        ("2022-12-31T00:00:00Z,u,BTC,Bid,1,1,true", "non_mm_trades.csv line 3 column time: rows must be in time order"),
        ("2023-01-01T01:00:00Z,u,BTC,Bid,1,1", "non_mm_trades.csv line 3: expected 7 fields, found 6"),
        ("yesterday,u,BTC,Bid,1,1,true", "non_mm_trades.csv line 3 column time: not an ISO 8601 time"),
    ],
)
def test_a_bad_row_fails_the_whole_replay_with_one_line(tmp_path, row, message):
    d = write_history(tmp_path, HEAD + "2023-01-01T00:30:00Z,u,BTC,Bid,100,1,true\n" + row + "\n")
    with pytest.raises(HistoryError) as exc:
        list(replay_at(d, [parse_time("2023-01-01T00:45:00Z")]))  # the bad row is after the instant
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_bad_header_and_missing_file(tmp_path):
    d = write_history(tmp_path, "time,user,coin\n")
    with pytest.raises(HistoryError, match="line 1: header must be"):
        list(replay_at(d, [0]))
    (tmp_path / "non_mm_trades.csv").unlink()
    with pytest.raises(HistoryError, match="no non_mm_trades.csv"):
        list(replay_at(d, [0]))

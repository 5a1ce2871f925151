"""Snapshots with options (FORMATS.md "Options in a snapshot"): import, each rule, all-or-nothing."""

import datetime as dt
from decimal import Decimal

import pytest

from riskgov.snapshots.models import Snapshot, SnapshotAccount, SnapshotOption, SnapshotOptionMark
from riskgov.snapshots.services import snapshot_import
from riskgov.snapshots.validation import SnapshotInvalid
from tests.snapshots.conftest import FILES, write_snapshot

pytestmark = pytest.mark.django_db

OPTION_FILES = {
    **FILES,
    "accounts.csv": "account_id,margin_mode\na1,cross\npm1,portfolio\npm2,portfolio\n",
    "balances.csv": "account_id,asset,amount\na1,USDT,10000\npm1,USDT,5000\npm1,BTC,1\npm2,USDT,20000\n",
    "positions.csv": (
        "account_id,market,size,entry_price,margin_mode,isolated_margin\n"
        "a1,BTC-PERP,0.1,90000,cross,\n"
        "pm2,BTC-PERP,-0.5,96000,cross,\n"
    ),
    "options.csv": (
        "account_id,underlying,expiry,strike,kind,size,entry_price\n"
        "pm1,BTC,2025-03-28T08:00:00Z,100000,call,-1,2500\n"
        "pm2,BTC,2025-03-28T08:00:00Z,90000,put,1,1800.5\n"
        "pm2,BTC,2025-02-19T08:00:00Z,95000,call,0.5,100\n"
    ),
    "option_marks.csv": (
        "underlying,expiry,strike,kind,mark_iv\n"
        "BTC,2025-03-28T08:00:00Z,100000,call,0.55\n"
        "BTC,2025-03-28T08:00:00Z,90000.0,put,0.6\n"
        "BTC,2025-02-19T08:00:00Z,95000,call,0.5\n"
        "BTC,2025-03-28T08:00:00Z,110000,call,0.52\n"
    ),
}


def counts():
    return tuple(m.objects.count() for m in (Snapshot, SnapshotAccount, SnapshotOption, SnapshotOptionMark))


def test_import_with_options_exact(tmp_path, small_params):
    s = snapshot_import(path=write_snapshot(tmp_path / "s", OPTION_FILES))
    assert s.n_options == 3
    modes = list(s.accounts.order_by("idx").values_list("account_id", "portfolio"))
    assert modes == [("a1", False), ("pm1", True), ("pm2", True)]
    rows = sorted(s.options.values_list("account_idx", "underlying__symbol", "expiry", "strike", "is_call", "size"))
    exp = dt.datetime(2025, 3, 28, 8, tzinfo=dt.UTC)
    assert (1, "BTC", exp, Decimal("100000"), True, Decimal("-1")) in rows
    assert (2, "BTC", exp, Decimal("90000"), False, Decimal("1")) in rows
    assert s.option_marks.count() == 4
    assert s.option_marks.get(strike=Decimal("90000"), is_call=False).mark_iv == Decimal("0.6")


def test_snapshot_without_options_keeps_its_hash(tmp_path, small_params):
    """The optional files change nothing for a snapshot that does not have them."""
    a = snapshot_import(path=write_snapshot(tmp_path / "a"))
    assert a.n_options == 0 and not a.accounts.filter(portfolio=True).exists()


def _opt(files_patch):
    files = dict(OPTION_FILES)
    files.update(files_patch)
    return files


def _replace(name, old, new):
    return {name: OPTION_FILES[name].replace(old, new)}


CASES = [
    (_replace("options.csv", "100000,call,-1", "0,call,-1"), "options.csv", 1, "strike", "must be > 0"),
    (_replace("option_marks.csv", "call,0.55", "call,0"), "option_marks.csv", 1, "mark_iv", "must be > 0"),
    (
        _replace("options.csv", "2025-02-19T08:00:00Z,95000", "2025-02-18T08:00:00Z,95000"),
        "options.csv",
        3,
        "expiry",
        "before taken_at",
    ),
    (_replace("options.csv", "pm1,BTC,", "pm1,DOGE,"), "options.csv", 1, "underlying", "unknown underlying 'DOGE'"),
    (
        _replace("option_marks.csv", "BTC,2025-03-28T08:00:00Z,90000.0,put,0.6\n", ""),
        "options.csv",
        2,
        "strike",
        "no mark in option_marks",
    ),
    (_replace("options.csv", "call,-1", "straddle,-1"), "options.csv", 1, "kind", "is not 'call' or 'put'"),
    (_replace("options.csv", "2025-03-28T08:00:00Z,100000", "next friday,100000"), "options.csv", 1, "expiry", "ISO"),
    (_replace("options.csv", "pm1,BTC", "a1,BTC"), "options.csv", 1, "account_id", "not in portfolio mode"),
    (_replace("accounts.csv", "pm2,portfolio", "pm2,spot"), "accounts.csv", 3, "margin_mode", "'cross' or 'portfolio'"),
    (
        _replace("positions.csv", "pm2,BTC-PERP,-0.5,96000,cross,", "pm2,BTC-PERP,-0.5,96000,isolated,10"),
        "positions.csv",
        2,
        "margin_mode",
        "isolated position in a portfolio-margin account",
    ),
    (
        _replace(
            "option_marks.csv", "BTC,2025-03-28T08:00:00Z,110000,call,0.52", "BTC,2025-03-28T08:00:00Z,1e5,call,1"
        ),
        "option_marks.csv",
        4,
        "strike",
        "not a plain decimal",
    ),
    (
        _replace("option_marks.csv", "110000,call,0.52", "100000.00,call,0.52"),
        "option_marks.csv",
        4,
        "strike",
        "second mark",
    ),
    (_replace("options.csv", "1800.5", "-3"), "options.csv", 2, "entry_price", "negative"),
]


@pytest.mark.parametrize(("patch", "file", "row", "column", "text"), CASES)
def test_option_rules_one_line_nothing_stored(tmp_path, small_params, patch, file, row, column, text):
    before = counts()
    path = write_snapshot(tmp_path / "bad", _opt(patch))
    with pytest.raises(SnapshotInvalid) as info:
        snapshot_import(path=path)
    first = info.value.extra["errors"][0]
    assert (first["file"], first["row"], first["column"]) == (file, row, column), info.value.extra["errors"]
    assert text in first["message"]
    msg = str(info.value)
    assert "\n" not in msg and msg.startswith(f"invalid snapshot: {file} data row {row}, column {column}: ")
    assert counts() == before


def test_options_without_marks_file(tmp_path, small_params):
    files = dict(OPTION_FILES)
    del files["option_marks.csv"]
    with pytest.raises(SnapshotInvalid, match="option_marks.csv: missing file"):
        snapshot_import(path=write_snapshot(tmp_path / "bad", files))
    assert not Snapshot.objects.exists()


def test_option_underlying_needs_a_price(tmp_path, small_params):
    files = _opt(_replace("options.csv", "pm1,BTC,", "pm1,ETH,"))
    files["option_marks.csv"] += "ETH,2025-03-28T08:00:00Z,100000,call,0.7\n"
    files["prices.csv"] = "asset,price\nBTC,95000\nUSDT,1\n"
    with pytest.raises(SnapshotInvalid) as info:
        snapshot_import(path=write_snapshot(tmp_path / "bad", files))
    messages = [e["message"] for e in info.value.extra["errors"]]
    assert "no price for ETH (used in options.csv (underlying))" in messages

"""snapshot_import: formats (CSV, Parquet, zip), exact decimals, every validation rule, atomicity."""

import json
import shutil
import zipfile
from decimal import Decimal

import pandas as pd
import pytest
from django.core.management import CommandError, call_command

from riskgov.core.models import AuditEvent
from riskgov.snapshots import services
from riskgov.snapshots.models import Snapshot, SnapshotAccount, SnapshotBalance, SnapshotPosition, SnapshotPrice
from riskgov.snapshots.selectors import latest_snapshot, snapshots_list
from riskgov.snapshots.services import snapshot_import
from riskgov.snapshots.validation import SnapshotInvalid
from tests.snapshots.conftest import FILES, META, write_snapshot

pytestmark = pytest.mark.django_db


def counts():
    return tuple(
        m.objects.count() for m in (Snapshot, SnapshotAccount, SnapshotBalance, SnapshotPosition, SnapshotPrice)
    )


def rows(snapshot):
    return (
        list(snapshot.accounts.order_by("idx").values_list("idx", "account_id")),
        sorted(snapshot.balances.values_list("account_idx", "asset__symbol", "amount")),
        sorted(
            snapshot.positions.values_list(
                "account_idx", "market__symbol", "size", "entry_price", "isolated", "isolated_margin"
            )
        ),
        sorted(snapshot.prices.values_list("asset__symbol", "price")),
    )


def test_csv_import_exact(snap_dir):
    s = snapshot_import(path=snap_dir)
    assert (s.n_accounts, s.n_balances, s.n_positions) == (3, 4, 4)
    assert s.venue == "Test venue" and s.insurance_fund_usd == Decimal("1000000.5") and not s.generated
    accounts, balances, positions, prices = rows(s)
    assert accounts == [(0, "a1"), (1, "a,2"), (2, "a3")]
    assert (0, "USDT", Decimal("10000.000000000000000001")) in balances
    assert ("BTC", Decimal("95000.123456789012345678")) in prices
    assert (1, "ETH-PERP", Decimal("-2"), Decimal("2800"), True, Decimal("500.25")) in positions
    assert (2, "BTC-PERP", Decimal("0.1"), Decimal("90000"), False, None) in positions
    assert s.long_open_interest == {"BTC-PERP": "0.1", "ETH-PERP": "1.5"}
    assert len(s.sha256) == 64
    assert AuditEvent.objects.filter(action="snapshots.import", object_id=str(s.pk)).exists()
    assert latest_snapshot() == s and list(snapshots_list()) == [s]


def test_parquet_and_zip_give_identical_rows(snap_dir, tmp_path):
    base = snapshot_import(path=snap_dir)
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    shutil.copy(snap_dir / "snapshot.json", pq_dir / "snapshot.json")
    for name in FILES:
        frame = pd.read_csv(snap_dir / name, dtype=str, keep_default_na=False)
        if name == "positions.csv":  # a real null for cross positions, numbers as floats where exact
            frame["isolated_margin"] = frame["isolated_margin"].replace("", None)
        frame.to_parquet(pq_dir / name.replace(".csv", ".parquet"), index=False)
    archive = tmp_path / "snap.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in snap_dir.iterdir():
            zf.write(p, f"snap/{p.name}")
    from_pq = snapshot_import(path=pq_dir)
    from_zip = snapshot_import(path=archive)
    assert rows(base) == rows(from_pq) == rows(from_zip)
    assert from_zip.sha256 == base.sha256


def test_parquet_float_columns(snap_dir, tmp_path):
    d = tmp_path / "pqf"
    shutil.copytree(snap_dir, d)
    (d / "prices.csv").unlink()
    pd.DataFrame({"asset": ["BTC", "USDT", "ETH"], "price": [95000.5, 1.0, 2700.25]}).to_parquet(d / "prices.parquet")
    s = snapshot_import(path=d)
    assert ("BTC", Decimal("95000.5")) in rows(s)[3]


def test_copy_path_used_on_postgresql(snap_dir, monkeypatch):
    calls = []
    real = services._copy_rows
    monkeypatch.setattr(services, "_copy_rows", lambda *a: (calls.append(a[0].__name__), real(*a)))
    monkeypatch.setattr(services, "_insert_rows", lambda *a: pytest.fail("executemany path used on PostgreSQL"))
    progress = []
    snapshot_import(path=snap_dir, progress=progress.append)
    assert calls == ["SnapshotAccount", "SnapshotBalance", "SnapshotPosition"]
    assert sum(progress) == 3 + 4 + 4


def test_executemany_path_gives_same_rows(snap_dir, monkeypatch):
    base = snapshot_import(path=snap_dir)
    monkeypatch.setattr(services, "_copy_rows", services._insert_rows)
    other = snapshot_import(path=snap_dir)
    assert rows(base) == rows(other)


def _expect(tmp_path, files=None, meta=None, *, file, row, column, text):
    before = counts()
    path = write_snapshot(tmp_path / "bad", {**FILES, **(files or {})}, meta)
    with pytest.raises(SnapshotInvalid) as info:
        snapshot_import(path=path)
    assert counts() == before
    errors = info.value.extra["errors"]
    hit = [e for e in errors if e["file"] == file and e["row"] == row and e["column"] == column]
    assert hit, errors
    assert text in hit[0]["message"], hit[0]
    assert "\n" not in info.value.message
    return info.value


POS_HEADER = "account_id,market,size,entry_price,margin_mode,isolated_margin\n"


@pytest.mark.parametrize(
    ("files", "file", "row", "column", "text"),
    [
        ({"accounts.csv": 'account_id\na1\na1\na3\n"a,2"\n'}, "accounts.csv", 2, "account_id", "duplicate"),
        ({"accounts.csv": 'account_id\na1\n\n"a,2"\na3\n'}, "accounts.csv", None, None, ""),
        ({"balances.csv": "account_id,asset,amount\nzz,USDT,1\n"}, "balances.csv", 1, "account_id", "unknown account"),
        ({"balances.csv": "account_id,asset,amount\na1,DOGE,1\n"}, "balances.csv", 1, "asset", "unknown asset"),
        (
            {"balances.csv": "account_id,asset,amount\na1,USDT,abc\n"},
            "balances.csv",
            1,
            "amount",
            "not a plain decimal",
        ),
        (
            {"balances.csv": "account_id,asset,amount\na1,USDT,NaN\n"},
            "balances.csv",
            1,
            "amount",
            "not a plain decimal",
        ),
        (
            {"balances.csv": "account_id,asset,amount\na1,USDT,inf\n"},
            "balances.csv",
            1,
            "amount",
            "not a plain decimal",
        ),
        (
            {"balances.csv": "account_id,asset,amount\na1,USDT,1e5\n"},
            "balances.csv",
            1,
            "amount",
            "not a plain decimal",
        ),
        ({"balances.csv": "account_id,asset,amount\na1,USDT,\n"}, "balances.csv", 1, "amount", "empty"),
        (
            {"balances.csv": "account_id,asset,amount\na1,USDT,1\na1,USDT,2\n"},
            "balances.csv",
            2,
            "asset",
            "second balance",
        ),
        (
            {"balances.csv": "account_id,asset,amount\na1,USDT,0.1234567890123456789\n"},
            "balances.csv",
            1,
            "amount",
            "decimal places",
        ),
        ({"positions.csv": POS_HEADER + "a1,DOGE-PERP,1,1,cross,\n"}, "positions.csv", 1, "market", "unknown market"),
        (
            {"positions.csv": POS_HEADER + "nobody,BTC-PERP,1,1,cross,\n"},
            "positions.csv",
            1,
            "account_id",
            "unknown account",
        ),
        ({"positions.csv": POS_HEADER + "a1,BTC-PERP,x,1,cross,\n"}, "positions.csv", 1, "size", "not a plain decimal"),
        ({"positions.csv": POS_HEADER + "a1,BTC-PERP,1,0,cross,\n"}, "positions.csv", 1, "entry_price", "must be > 0"),
        ({"positions.csv": POS_HEADER + "a1,BTC-PERP,1,-5,cross,\n"}, "positions.csv", 1, "entry_price", "must be > 0"),
        ({"positions.csv": POS_HEADER + "a1,BTC-PERP,1,1,hedge,\n"}, "positions.csv", 1, "margin_mode", "'hedge'"),
        (
            {"positions.csv": POS_HEADER + "a1,BTC-PERP,1,1,isolated,\n"},
            "positions.csv",
            1,
            "isolated_margin",
            "without",
        ),
        (
            {"positions.csv": POS_HEADER + "a1,BTC-PERP,1,1,isolated,-1\n"},
            "positions.csv",
            1,
            "isolated_margin",
            "negative",
        ),
        (
            {"positions.csv": POS_HEADER + "a1,BTC-PERP,1,1,cross,5\n"},
            "positions.csv",
            1,
            "isolated_margin",
            "cross position",
        ),
        ({"prices.csv": "asset,price\nBTC,0\nUSDT,1\nETH,1\n"}, "prices.csv", 1, "price", "must be > 0"),
        ({"prices.csv": "asset,price\nBTC,-3\nUSDT,1\nETH,1\n"}, "prices.csv", 1, "price", "must be > 0"),
        ({"prices.csv": "asset,price\nBTC,1\nBTC,2\nUSDT,1\nETH,1\n"}, "prices.csv", 2, "asset", "second price"),
        ({"prices.csv": "asset,price\nBTC,1\nUSDT,1\n"}, "prices.csv", None, "asset", "no price for ETH"),
        ({"prices.csv": "asset,price\nETH,1\nBTC,1\n"}, "prices.csv", None, "asset", "no price for USDT"),
        ({"prices.csv": "asset,px\nBTC,1\n"}, "prices.csv", None, "price", "missing column"),
        ({"prices.csv": "asset,price,x\nBTC,1,2\n"}, "prices.csv", None, "x", "unexpected column"),
    ],
)
def test_validation_rules(tmp_path, small_params, files, file, row, column, text):
    if files.get("accounts.csv", "").startswith("account_id\na1\n\n"):  # an empty line is skipped by CSV readers
        files = {"accounts.csv": 'account_id\na1\n""\n"a,2"\na3\n'}
        row, column, text = 2, "account_id", "empty account id"
    _expect(tmp_path, files, file=file, row=row, column=column, text=text)


def test_missing_file(tmp_path, small_params):
    path = write_snapshot(tmp_path / "bad")
    (path / "balances.csv").unlink()
    with pytest.raises(SnapshotInvalid) as info:
        snapshot_import(path=path)
    assert info.value.extra["errors"][0] == {
        "file": "balances.csv",
        "row": None,
        "column": None,
        "message": "missing file (expected balances.csv or balances.parquet)",
    }


@pytest.mark.parametrize(
    ("meta", "column", "text"),
    [
        ({**META, "format": "riskgov.snapshot/2"}, "format", "is not"),
        ({**META, "taken_at": "yesterday"}, "taken_at", "ISO 8601"),
        ({**META, "insurance_fund_usd": "-1"}, "insurance_fund_usd", "negative"),
        ({**META, "insurance_fund_usd": "lots"}, "insurance_fund_usd", "decimal string"),
        ({**META, "insurance_fund_usd": 1.5}, "insurance_fund_usd", "decimal string"),
        ({**META, "venue": ""}, "venue", "non-empty"),
        ({**META, "extra": 1}, "extra", "unknown key"),
        ({k: v for k, v in META.items() if k != "taken_at"}, "taken_at", "missing key"),
    ],
)
def test_bad_snapshot_json(tmp_path, small_params, meta, column, text):
    _expect(tmp_path, meta=meta, file="snapshot.json", row=None, column=column, text=text)


def test_invalid_json_and_many_errors_capped(tmp_path, small_params):
    path = write_snapshot(tmp_path / "bad")
    (path / "snapshot.json").write_text("{not json")
    with pytest.raises(SnapshotInvalid, match="snapshot.json: not valid JSON"):
        snapshot_import(path=path)
    lines = "".join(f"a1,BTC-PERP,x{i},1,cross,\n" for i in range(250))
    path = write_snapshot(tmp_path / "many", {**FILES, "positions.csv": POS_HEADER + lines})
    with pytest.raises(SnapshotInvalid) as info:
        snapshot_import(path=path)
    extra = info.value.extra
    assert len(extra["errors"]) == 100 and extra["total"] == 250 and extra["more"] == 150
    assert info.value.message.startswith("invalid snapshot: positions.csv data row 1, column size:")
    assert "(and 249 more errors)" in info.value.message


def test_all_or_nothing_when_the_database_refuses(snap_dir, monkeypatch):
    before = counts()

    def boom(*args):
        raise RuntimeError("disk full")

    real = services._copy_rows
    monkeypatch.setattr(services, "_copy_rows", lambda m, *a: boom() if m is SnapshotPosition else real(m, *a))
    with pytest.raises(RuntimeError):
        snapshot_import(path=snap_dir)
    assert counts() == before


def test_commands(snap_dir, tmp_path, capsys):
    call_command("import_snapshot", str(snap_dir))
    out = capsys.readouterr().out.strip().splitlines()
    s = Snapshot.objects.get()
    assert out[0].startswith(f"snapshot {s.pk}: 'Test venue'") and out[-1] == str(s.pk)
    bad = write_snapshot(tmp_path / "bad", {**FILES, "positions.csv": POS_HEADER + "a1,BTC-PERP,1,0,cross,\n"})
    with pytest.raises(CommandError) as info:
        call_command("import_snapshot", str(bad))
    assert "positions.csv data row 1, column entry_price" in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_snapshot", str(tmp_path / "nowhere"))
    assert Snapshot.objects.count() == 1
    json.dumps(info.value.args)


def test_reference_deleted_after_validation_stores_nothing(snap_dir, monkeypatch):
    """The bulk tables have no FK constraints: the import checks references in SQL itself."""
    real = services.snapshot_read

    def read_then_delete(*args, **kwargs):  # as if the market were deleted after the file checks
        data = real(*args, **kwargs)
        data.positions["market_id"][0] = 987654
        return data

    monkeypatch.setattr(services, "snapshot_read", read_then_delete)
    before = counts()
    with pytest.raises(SnapshotInvalid, match=r"positions, column market: market id 987654 was deleted"):
        snapshot_import(path=snap_dir)
    assert counts() == before

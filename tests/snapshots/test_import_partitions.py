"""The import's storage on PostgreSQL: one attached partition per snapshot, the exact open
interest computed from the validated columns (and in SQL when a sum could overflow)."""

from decimal import Decimal

import numpy as np
import pyarrow as pa
import pytest
from django.db import connection

from riskgov.snapshots import services
from riskgov.snapshots.models import SnapshotPosition
from riskgov.snapshots.services import snapshot_import
from riskgov.snapshots.validation import SnapshotInvalid
from tests.snapshots.conftest import FILES, write_snapshot

pytestmark = pytest.mark.django_db
POS_HEADER = "account_id,market,size,entry_price,margin_mode,isolated_margin\n"


def partitions():
    with connection.cursor() as cur:
        cur.execute(
            "SELECT c.relname, p.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
            " JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent"
            " WHERE p.relname LIKE 'snapshots_snapshot%%' ORDER BY 1"
        )
        return cur.fetchall()


@pytest.fixture(autouse=True)
def postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("partitions are PostgreSQL's")


def test_each_import_is_one_attached_partition_per_bulk_table(snap_dir):
    s = snapshot_import(path=snap_dir)
    mine = [p for p in partitions() if p[0].endswith(f"_s{s.pk}")]
    assert [(c, p) for c, p, _ in mine] == [
        (f"snapshots_snapshotaccount_s{s.pk}", "snapshots_snapshotaccount"),
        (f"snapshots_snapshotbalance_s{s.pk}", "snapshots_snapshotbalance"),
        (f"snapshots_snapshotposition_s{s.pk}", "snapshots_snapshotposition"),
    ]
    assert all(bound == f"FOR VALUES FROM ('{s.pk}') TO ('{s.pk + 1}')" for _, _, bound in mine)
    ids = list(SnapshotPosition.objects.filter(snapshot=s).order_by("account_idx", "id").values_list("id", flat=True))
    assert len(set(ids)) == 4 and ids == sorted(ids)  # reserved from the parent's sequence, in account order
    other = snapshot_import(path=snap_dir, force=True)
    assert min(SnapshotPosition.objects.filter(snapshot=other).values_list("id", flat=True)) > max(ids)
    with connection.cursor() as cur:  # the parent's keys and indexes cover the partition
        cur.execute("SELECT count(*) FROM pg_indexes WHERE tablename = %s", [f"snapshots_snapshotaccount_s{s.pk}"])
        assert cur.fetchone()[0] == 3


def test_a_bad_file_leaves_no_table_behind(snap_dir, tmp_path):
    before = partitions()
    bad = write_snapshot(tmp_path / "bad", {**FILES, "positions.csv": POS_HEADER + "a1,BTC-PERP,1,0,cross,\n"})
    with pytest.raises(SnapshotInvalid, match="entry_price"):
        snapshot_import(path=bad)
    assert partitions() == before
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relname ~ '^snapshots_snapshot[a-z]+_s[0-9]+$'")
        assert cur.fetchone()[0] == len(before)


@pytest.mark.parametrize("force_sql", [False, True])
def test_open_interest_is_exact_for_every_spelling(snap_dir, tmp_path, monkeypatch, force_sql):
    if force_sql:  # as when a sum could pass 20 integer digits
        monkeypatch.setattr(services, "_long_open_interest", lambda positions: None)
    positions = POS_HEADER + (
        "a1,BTC-PERP,+.5,90000,cross,\n"
        "a1,ETH-PERP,-0,2800,cross,\n"
        "a3,ETH-PERP,-3.25,2800,cross,\n"
        "a3,BTC-PERP,5.,90000,cross,\n"
        "a3,BTC-PERP,0.000000000000000001,90000,cross,\n"
        '"a,2",BTC-PERP,12345678901234.123456789012345678,90000,cross,\n'
    )
    s = snapshot_import(path=write_snapshot(tmp_path / "oi", {**FILES, "positions.csv": positions}))
    assert s.long_open_interest == {"BTC-PERP": "12345678901239.623456789012345679", "ETH-PERP": "0"}


def test_sums_near_the_column_limit_go_to_sql(snap_dir, tmp_path):
    size = "99999999999999999999"
    positions = POS_HEADER + "".join(f"{a},BTC-PERP,{size},90000,cross,\n" for a in ("a1", '"a,2"', "a3"))
    cols = {"size": pa.array([size] * 3), "market_id": np.array([7, 7, 7])}
    assert services._long_open_interest(cols) is None
    s = snapshot_import(path=write_snapshot(tmp_path / "big", {**FILES, "positions.csv": positions}))
    assert Decimal(s.long_open_interest["BTC-PERP"]) == 3 * Decimal(size)


def test_a_table_unreadable_after_earlier_ones_were_written_stores_nothing(snap_dir, tmp_path, monkeypatch):
    """The accounts are written while the positions are read: positions.csv missing a column
    then rolls them back, and only the file errors are reported (the row checks of the
    tables read before are not, as when every file was read first)."""
    before = partitions()
    sent = []
    real = services._Stage.table
    monkeypatch.setattr(services._Stage, "table", lambda self, name, cols: (sent.append(name), real(self, name, cols)))
    bad = write_snapshot(
        tmp_path / "bad",
        {
            **FILES,
            "balances.csv": "account_id,asset,amount\na1,USDT,abc\n",  # a row error: not reported
            "positions.csv": "account_id,market,size,entry_price,margin_mode\na1,BTC-PERP,1,90000,cross\n",
        },
    )
    with pytest.raises(SnapshotInvalid) as info:
        snapshot_import(path=bad)
    assert sent == ["accounts"]
    assert [(e["file"], e["column"], e["message"]) for e in info.value.extra["errors"]] == [
        ("positions.csv", "isolated_margin", "missing column")
    ]
    assert partitions() == before
    with connection.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_class WHERE relname ~ '^snapshots_snapshot[a-z]+_s[0-9]+$'")
        assert cur.fetchone()[0] == len(before)

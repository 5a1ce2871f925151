"""Bounded inputs (issue #14 item 3): zip bombs, huge files and deep JSON are refused early."""

from __future__ import annotations

import json
import zipfile
from decimal import Decimal

import pytest

from riskgov.core import limits
from riskgov.markets.price_files import PriceFileError, iter_price_bars
from riskgov.parameters.document import ParameterDocumentError, load_document
from riskgov.parameters.venues import parse_hyperliquid
from riskgov.parameters.venues.common import VenueFileError
from riskgov.snapshots.validation import SnapshotInvalid, snapshot_read

GiB = 1 << 30


def _zip_bomb(path, size=int(1.5 * GiB)):
    """A small zip holding a ``size``-byte positions.csv of zeros, written streaming."""
    chunk = b"0" * (1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("snapshot.json", json.dumps({"format": "riskgov.snapshot/1"}))
        with zf.open("positions.csv", "w", force_zip64=True) as fh:
            left = size
            while left > 0:
                fh.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory):
    return _zip_bomb(tmp_path_factory.mktemp("bomb") / "bomb.zip")


def test_zip_bomb_is_refused_by_uncompressed_size(bomb):
    assert bomb.stat().st_size < 2 << 20  # about 1.5 MB on disk
    with pytest.raises(SnapshotInvalid) as exc:
        snapshot_read(bomb, assets={}, markets={})
    msg = exc.value.message
    assert "\n" not in msg
    assert "bomb.zip" in msg and "positions.csv" in msg and "RISKGOV_MAX_UNCOMPRESSED_BYTES" in msg


def test_zip_member_count_is_bounded(tmp_path):
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(limits.Limits().zip_members + 1):
            zf.writestr(f"f{i}.csv", "x")
    with pytest.raises(SnapshotInvalid, match="member count 65 exceeds the limit RISKGOV_MAX_ZIP_MEMBERS=64"):
        snapshot_read(path, assets={}, markets={})


def test_settings_override_the_limits(settings, tmp_path):
    settings.RISKGOV_MAX_FILE_BYTES = 10
    p = tmp_path / "x.csv"
    p.write_text("timestamp_utc,open,high,low,close,volume\n")
    with pytest.raises(limits.InputTooLarge, match="RISKGOV_MAX_FILE_BYTES=10"):
        limits.check_file(p)


def test_sparse_2gib_price_file_is_refused_by_size(tmp_path):
    p = tmp_path / "binance_BTCUSDT_1h_2024-01-01_2024-12-31.csv"
    with p.open("wb") as fh:
        fh.truncate(2 * GiB)
    with pytest.raises(PriceFileError) as exc:
        list(iter_price_bars(p))
    msg = str(exc.value)
    assert "\n" not in msg and p.name in msg and "RISKGOV_MAX_FILE_BYTES" in msg and "2.0 GiB" in msg


def test_long_csv_field_is_one_line_error(settings, tmp_path):
    settings.RISKGOV_MAX_CSV_FIELD_BYTES = 1000
    p = tmp_path / "binance_BTCUSDT_1h_2024-01-01_2024-01-02.csv"
    head = "timestamp_utc,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,1,1,1,1\n"
    p.write_text(head + "2024-01-01T01:00:00Z,1,1,1," + "9" * 5000 + ",1\n")
    with pytest.raises(PriceFileError, match="malformed CSV: field larger than field limit"):
        list(iter_price_bars(p))
    p.write_text("timestamp_utc,open,high,low,close,volume\n" + "9" * 5000 + "\n")
    with pytest.raises(PriceFileError, match="line 2: line longer than RISKGOV_MAX_CSV_FIELD_BYTES=1000"):
        list(iter_price_bars(p))


def test_gzip_price_file_uncompressed_size_is_bounded(settings, tmp_path):
    import gzip

    settings.RISKGOV_MAX_UNCOMPRESSED_BYTES = 10_000
    p = tmp_path / "binance_BTCUSDT_1h_2024-01-01_2024-12-31.csv.gz"
    with gzip.open(p, "wt") as fh:
        fh.write("timestamp_utc,open,high,low,close,volume\n")
        for h in range(1000):
            fh.write(f"2024-01-{1 + h // 24:02d}T{h % 24:02d}:00:00Z,1,1,1,1,1\n")
    with pytest.raises(PriceFileError, match="RISKGOV_MAX_UNCOMPRESSED_BYTES=10000"):
        list(iter_price_bars(p))


def _deep(n=100_000):
    return "[" * n + "]" * n


def test_deep_json_is_refused_by_depth(tmp_path):
    assert limits.json_depth(b'{"a": "[[[[", "b": [[1]]}') == 3
    with pytest.raises(
        limits.InputTooLarge, match="JSON nesting depth 100000 exceeds the limit RISKGOV_MAX_JSON_DEPTH=64"
    ):
        limits.load_json(_deep().encode())
    p = tmp_path / "deep.json"
    p.write_text(_deep())
    with pytest.raises(ParameterDocumentError, match="deep.json: JSON nesting depth"):
        load_document(p)
    with pytest.raises(VenueFileError, match="deep.json: JSON nesting depth"):
        parse_hyperliquid(p)


def test_json_size_is_bounded(settings, tmp_path):
    settings.RISKGOV_MAX_JSON_BYTES = 100
    p = tmp_path / "big.json"
    p.write_text(json.dumps({"x": "y" * 200}))
    with pytest.raises(
        limits.InputTooLarge, match="big.json: JSON size 209 exceeds the limit RISKGOV_MAX_JSON_BYTES=100"
    ):
        limits.load_json(p, parse_float=Decimal)


# --- the row limit, the streaming readers ------------------------------------------------------
MiB = 1 << 20


def test_csv_blocks_are_the_text_cut_at_line_ends_and_every_line_is_checked():
    import io
    import random

    rng = random.Random(5)
    for _ in range(500):
        limit = rng.randint(1, 40)
        lim = limits.Limits(csv_row_bytes=limit)
        lines = [b"x" * rng.randint(0, 45) for _ in range(rng.randint(0, 30))]
        text = b"\n".join(lines) + (b"\n" if rng.random() < 0.5 else b"")
        body = text.split(b"\n")[: -1 if text.endswith(b"\n") else None]
        first_bad = next((i + 1 for i, line in enumerate(body) if len(line) > limit), None)
        size = rng.randint(1, 100)
        try:
            blocks = [
                b"".join(bytes(s) for s in segs)
                for segs in limits.csv_blocks(io.BytesIO(text), "f", lim, block_bytes=size)
            ]
        except limits.InputTooLarge as exc:
            assert exc.line == first_bad
            assert str(exc) == f"f line {first_bad}: row length exceeds the limit RISKGOV_MAX_CSV_ROW_BYTES={limit}"
            continue
        assert first_bad is None
        assert b"".join(blocks) == text
        assert all(b.endswith(b"\n") for b in blocks[:-1])


def test_bounded_text_bounds_lines_and_multi_line_rows(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text('a,b\n"12345\n678",x\n\n\n"1234\n5678\n90",y\n')
    lim = limits.Limits(csv_row_bytes=14)
    with limits.open_text(p, lim) as fh:
        rows = limits.csv_reader(fh)
        assert next(rows) == ["a", "b"]
        assert next(rows) == ["12345\n678", "x"]  # 13 bytes (blank lines between rows not counted)
        assert next(rows) == next(rows) == []
        with pytest.raises(limits.InputTooLarge, match="t.csv line 8: row length exceeds .*=14$"):
            next(rows)
    # a file without line ends is read no further than the limit
    p.write_bytes(b"x" * (3 * MiB))
    with limits.open_text(p, limits.Limits(csv_row_bytes=MiB)) as fh:
        with pytest.raises(limits.InputTooLarge, match="line 1: row length"):
            fh.readline()
        assert fh._fh.tell() <= MiB + 2


def test_row_limit_setting_applies_to_snapshot_price_venue_and_history_files(settings, tmp_path):
    from riskgov.snapshots.history.reading import HistoryError, iter_ledger
    from tests.snapshots.conftest import FILES, write_snapshot

    settings.RISKGOV_MAX_CSV_ROW_BYTES = 100
    long = "1" * 150
    snap = write_snapshot(tmp_path / "snap", {**FILES, "balances.csv": FILES["balances.csv"] + f"a1,USDT,{long}\n"})
    with pytest.raises(
        SnapshotInvalid, match=r"balances.csv data row 5: row length exceeds the limit RISKGOV_MAX_CSV_ROW_BYTES=100$"
    ):
        snapshot_read(snap, assets={}, markets={})
    prices = tmp_path / "binance_BTCUSDT_1h_2024-01-01_2024-01-02.csv"
    prices.write_text(
        "timestamp_utc,open,high,low,close,volume\n2024-01-01T00:00:00Z,1,1,1,1,1\n2024-01-01T01:00:00Z,1,1,1,1,1\n"
        f"2024-01-01T02:00:00Z,1,1,1,{long},1\n"
    )
    with pytest.raises(PriceFileError, match=r", line 4: row length exceeds the limit RISKGOV_MAX_CSV_ROW_BYTES=100$"):
        list(iter_price_bars(prices))
    venue = tmp_path / "meta.csv"
    venue.write_text(f"coin,is_delisted,open_interest_usd_at_mark,dayNtlVlm,markPx\nBTC,{long}\n")
    with pytest.raises(VenueFileError, match=r"meta.csv line 2: row length exceeds the limit"):
        parse_hyperliquid(tmp_path / "deep.json", snapshot=venue)
    hist = tmp_path / "non_mm_ledger_updates.csv"
    hist.write_text(f"time,user,delta_usd\n2023-03-01T00:00:00Z,u,{long}\n")
    with pytest.raises(HistoryError, match=r"non_mm_ledger_updates.csv line 2: row length exceeds"):
        list(iter_ledger(hist))


def test_streamed_snapshot_table_equals_the_whole_file_parse(monkeypatch, settings, tmp_path):
    """Parsing block by block gives pyarrow's table of the whole file, the same hash, and the
    same parse error for a bad row in a later block."""
    import hashlib
    import random

    import pyarrow as pa
    import pyarrow.csv as pacsv

    from riskgov.snapshots import reading

    settings.RISKGOV_MAX_CSV_ROW_BYTES = 300
    monkeypatch.setattr(limits, "CSV_BLOCK_BYTES", 4096)
    monkeypatch.setattr(reading, "_PARSE_BLOCK", 1024)
    rng = random.Random(3)
    cols = reading.TABLES["positions"]
    rows = [
        f'"a,{i}",BTC-PERP,{rng.uniform(-5, 5):.6f},{rng.uniform(1, 1e5):.2f},'
        + ("cross," if rng.random() < 0.8 else f"isolated,{rng.uniform(0, 999):.2f}")
        for i in range(5000)
    ]
    text = (",".join(cols) + "\n" + "\n".join(rows) + "\n").encode()
    d = tmp_path / "snap"
    d.mkdir()
    (d / "positions.csv").write_bytes(text)
    errors = reading.Errors()
    src = reading.Source(d, errors)
    file, got = reading.read_table(src, "positions", errors)
    assert not errors.total and file == "positions.csv"
    whole = pacsv.read_csv(
        pa.BufferReader(text), convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(cols, pa.string()))
    )
    for c in cols:
        assert got[c].equals(reading._as_strings(whole.column(c))), c
    assert src.digests["positions.csv"] == hashlib.sha256(text).digest()
    # a row with a missing field far into the file: pyarrow's message, as for the whole file
    bad = text.replace(rows[4000].encode(), rows[4000].rsplit(",", 1)[0].encode())
    (d / "positions.csv").write_bytes(bad)
    with pytest.raises(pa.ArrowInvalid) as whole_error:
        pacsv.read_csv(pa.BufferReader(bad))
    errors = reading.Errors()
    assert reading.read_table(reading.Source(d, errors), "positions", errors) is None
    assert errors.items[0]["message"] == f"cannot read: {str(whole_error.value).splitlines()[0]}"
    # an unexpected column whose values change type between blocks: the column error, no conversion error
    extra = text.replace(b"isolated_margin\n", b"isolated_margin,note\n", 1).replace(b"\n", b",1\n")
    extra = extra.replace(b"isolated_margin,note,1\n", b"isolated_margin,note\n", 1)
    extra = extra[:-3] + b",x\n"
    (d / "positions.csv").write_bytes(extra)
    errors = reading.Errors()
    assert reading.read_table(reading.Source(d, errors), "positions", errors) is None
    assert errors.items[0]["column"] == "note" and "unexpected column" in errors.items[0]["message"]


def test_deribit_margin_request_and_scenario_json_are_bounded(tmp_path):
    from riskgov.core.exceptions import DomainError
    from riskgov.health.scenarios import parse_spec
    from riskgov.portfolio.venues.deribit import DeribitPMEError, read_deribit_pme

    p = tmp_path / "pm.json"
    p.write_text(_deep())
    with pytest.raises(
        DeribitPMEError, match="^JSON nesting depth 100000 exceeds the limit RISKGOV_MAX_JSON_DEPTH=64$"
    ):
        read_deribit_pme(p)
    with pytest.raises(DeribitPMEError, match="JSON nesting depth"):
        read_deribit_pme(_deep())
    p.write_bytes(b'{"a": "\xff"}')
    with pytest.raises(DeribitPMEError, match="not UTF-8 text"):
        read_deribit_pme(p)
    with pytest.raises(DomainError, match="--scenarios: JSON nesting depth 100001 exceeds the limit"):
        parse_spec("{" + _deep())


def test_long_json_integer_is_a_json_error():
    with pytest.raises(json.JSONDecodeError, match="number too long"):
        limits.load_json(b"[" + b"7" * 5000 + b"]")

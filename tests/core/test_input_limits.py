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

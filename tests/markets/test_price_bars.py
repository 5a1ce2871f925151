"""Price history at its own resolution: riskgov.prices/1 import, hourly matrix, return series."""

from __future__ import annotations

import datetime as dt
import gzip
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from riskgov.markets.models import Asset, DailyClose, PriceBar
from riskgov.markets.price_files import PriceFileError, iter_price_bars, parse_series_name, read_price_bars
from riskgov.markets.selectors import finest_return_series, hourly_price_matrix, price_matrix, return_series
from riskgov.markets.services import price_bars_import

FILES = Path(__file__).resolve().parent / "files"
BTC_1H = FILES / "binance_BTCUSDT_1h_2024-08-04_2024-08-05.csv"
HEADER = "timestamp_utc,open,high,low,close,volume\n"
UTC = dt.UTC


def write(tmp_path: Path, name: str, body: str, header: str = HEADER) -> Path:
    p = tmp_path / name
    p.write_text(header + body)
    return p


# --- parsers (no database) -----------------------------------------------------------


def test_series_names():
    assert parse_series_name("binance_BTCUSDT_1h_2017-08_2026-02.csv") == ("binance", "BTC", "1h")
    assert parse_series_name("binance_SUIUSDT_5m_2025-10-06_2025-10-15.csv.gz") == ("binance", "SUI", "5m")
    assert parse_series_name("binanceusdm_ETHUSDT-PERP_1h_x.csv") == ("binanceusdm_perp", "ETH", "1h")
    assert parse_series_name("binanceusdm_ETHUSDT-MARK_5m_x.csv") == ("binanceusdm_mark", "ETH", "5m")
    assert parse_series_name("yahoo_daily_closes.csv") is None


def test_reads_the_file_at_its_own_resolution(tmp_path):
    bars = list(iter_price_bars(BTC_1H))
    assert len(bars) == 8 and {b.resolution for b in bars} == {"1h"} and bars[0].asset == "BTC"
    assert bars[2].timestamp == dt.datetime(2024, 8, 5, tzinfo=UTC) and bars[2].close_str == "56174.02"
    gz = tmp_path / "binance_BTCUSDT_1h_a_b.csv.gz"
    gz.write_bytes(gzip.compress(BTC_1H.read_bytes()))
    assert list(iter_price_bars(gz)) == bars
    df = read_price_bars(BTC_1H)
    assert df["close"].iloc[-1] == 52718.0 and str(df["timestamp"].dt.tz) == "UTC"
    # only close is required; the overrides name what the file name does not
    p = write(tmp_path, "mine.csv", "2024-08-05T00:05:00Z,,,,1.5,\n")
    assert list(iter_price_bars(p, asset="X", resolution="5m", source="own"))[0][:3] == ("X", "own", "5m")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "2024-08-05T00:00:00Z,1,1,1,1,1\n2024-08-05T01:00:00Z,1,1,1,-2,1\n",
            "binance_XUSDT_1h_bad.csv, line 3, column 'close': price -2 is not positive",
        ),
        (
            "2024-08-05T00:00:00Z,1,1,1,1,1\n2024-08-05T00:00:00Z,1,1,1,1,1\n",
            "binance_XUSDT_1h_bad.csv, line 3, column 'timestamp_utc': 2024-08-05T00:00:00+00:00 repeats "
            "the previous bar (line 2); rows must ascend",
        ),
        (
            "2024-08-05T01:00:00Z,1,1,1,1,1\n2024-08-05T00:00:00Z,1,1,1,1,1\n",
            "binance_XUSDT_1h_bad.csv, line 3, column 'timestamp_utc': 2024-08-05T00:00:00+00:00 is before "
            "the previous bar (line 2); rows must ascend",
        ),
        (
            "2024-08-05T00:30:00Z,1,1,1,1,1\n",
            "binance_XUSDT_1h_bad.csv, line 2, column 'timestamp_utc': 2024-08-05T00:30:00+00:00 is not on the 1h grid",
        ),
        (
            "yesterday,1,1,1,1,1\n",
            "binance_XUSDT_1h_bad.csv, line 2, column 'timestamp_utc': 'yesterday' is not a timestamp",
        ),
        (
            "2024-08-05T00:00:00Z,1,1,1,nan,1\n",
            "binance_XUSDT_1h_bad.csv, line 2, column 'close': 'nan' is not a finite number",
        ),
        ("2024-08-05T00:00:00Z,1,1,1,,1\n", "binance_XUSDT_1h_bad.csv, line 2, column 'close': '' is not a number"),
        ("2024-08-05T00:00:00Z,1,x,1,1,1\n", "binance_XUSDT_1h_bad.csv, line 2, column 'high': 'x' is not a number"),
    ],
)
def test_bad_rows_name_file_line_and_column(tmp_path, body, message):
    p = write(tmp_path, "binance_XUSDT_1h_bad.csv", body)
    with pytest.raises(PriceFileError) as exc:
        list(iter_price_bars(p))
    assert str(exc.value) == message and "\n" not in str(exc.value)


def test_whole_file_problems(tmp_path):
    p = write(
        tmp_path, "binance_XUSDT_1h_a.csv", "2024-08-05T00:00:00Z,1,1,1,1\n", "timestamp_utc,open,high,low,close\n"
    )
    with pytest.raises(PriceFileError, match=r"line 1: header must be"):
        list(iter_price_bars(p))
    p = write(tmp_path, "prices.csv", "2024-08-05T00:00:00Z,1,1,1,1,1\n")
    with pytest.raises(PriceFileError, match="cannot tell the asset, resolution and source"):
        list(iter_price_bars(p))
    p = write(
        tmp_path, "binanceusdm_XUSDT_funding_a.csv", "2024-08-05T00:00:00Z,0.0001\n", "timestamp_utc,funding_rate\n"
    )
    with pytest.raises(PriceFileError, match="funding-rate file holds no prices"):
        list(iter_price_bars(p))


# --- import (database) ---------------------------------------------------------------


@pytest.mark.django_db
def test_import_command_stores_each_resolution_and_reimport_is_a_no_op(tmp_path):
    five = write(
        tmp_path,
        "binance_BTCUSDT_5m_2024-08-05_2024-08-05.csv",
        "2024-08-05T00:00:00Z,,,,56000.5,\n2024-08-05T00:05:00Z,,,,55900,\n",
    )
    call_command("import_prices", str(BTC_1H), str(five))
    assert PriceBar.objects.filter(resolution="1h", source="binance").count() == 8
    assert PriceBar.objects.filter(resolution="5m").count() == 2
    bar = PriceBar.objects.get(resolution="1h", timestamp=dt.datetime(2024, 8, 5, 5, tzinfo=UTC))
    assert bar.close == Decimal("52718.0") and bar.date == dt.date(2024, 8, 5) and bar.resolution_minutes == 60
    assert DailyClose.objects.count() == 0  # intraday bars are not daily closes
    call_command("import_prices", str(BTC_1H))
    assert PriceBar.objects.count() == 10


@pytest.mark.django_db
def test_a_bad_row_anywhere_stores_nothing(tmp_path):
    rows = "".join(f"2024-01-01T{h:02d}:00:00Z,,,,{100 + h},\n" for h in range(24))
    bad = write(tmp_path, "binance_ETHUSDT_1h_bad.csv", rows + "2024-01-02T00:00:00Z,,,,0,\n")
    with pytest.raises(CommandError) as exc:
        call_command("import_prices", str(BTC_1H), str(bad))
    assert str(exc.value) == (
        "binance_ETHUSDT_1h_bad.csv, line 26, column 'close': price 0 is not positive (nothing imported)"
    )
    assert PriceBar.objects.count() == 0 and not Asset.objects.filter(symbol="ETH").exists()
    # the service alone, batch by batch: an error after the first batches rolls them back
    with pytest.raises(PriceFileError):
        price_bars_import(bars=iter_price_bars(bad), file_name=bad.name, batch=5)
    assert PriceBar.objects.count() == 0


@pytest.mark.django_db
def test_vendor_intraday_files_keep_their_resolution():
    data = Path(__file__).resolve().parents[2] / "data" / "prices"
    call_command(
        "import_prices",
        str(data / "binance_BTCUSDT_4h_2020-03.csv"),
        str(data / "cryptodatadownload_ETHUSDC_1h_2020-03.csv"),
        str(data / "coinmetrics_LUNA_reference_rate.csv"),
    )
    assert set(PriceBar.objects.values_list("asset__symbol", "resolution").distinct()) == {
        ("BTC", "4h"),
        ("ETH", "1h"),
        ("LUNA", "1d"),
    }
    assert PriceBar.objects.filter(resolution="4h").count() == 186
    assert price_matrix(symbols=["LUNA"]).closes.shape == (38, 1)


# --- selectors -----------------------------------------------------------------------


def bars(symbol: str, resolution: str, start: dt.datetime, closes: list[float | None], source: str = "binance"):
    step = {
        "1h": dt.timedelta(hours=1),
        "4h": dt.timedelta(hours=4),
        "1d": dt.timedelta(days=1),
        "5m": dt.timedelta(minutes=5),
    }[resolution]
    asset, _ = Asset.objects.get_or_create(symbol=symbol)
    PriceBar.objects.bulk_create(
        PriceBar(
            asset=asset,
            source=source,
            resolution=resolution,
            timestamp=start + i * step,
            date=(start + i * step).date(),
            close=Decimal(str(c)),
        )
        for i, c in enumerate(closes)
        if c is not None
    )


@pytest.mark.django_db
def test_hourly_matrix_interpolates_only_where_no_finer_series_exists():
    d0 = dt.datetime(2024, 1, 1, tzinfo=UTC)
    # A: hourly for the first 12 hours of 2024-01-02 only, daily closes around it
    bars("A", "1d", d0, [100.0, 124.0, 148.0], source="yahoo")  # prices at 01-02, 01-03, 01-04 00:00
    bars("A", "1h", d0 + dt.timedelta(days=1), [101.0 + h for h in range(12)])  # ends 01-02 01:00..12:00
    # B: 4-hour bars with a hole (the bar ending 08:00 is missing)
    bars("B", "4h", d0 + dt.timedelta(hours=20), [10.0, 20.0, None, 40.0, 50.0])  # ends 00,04,(08),12,16
    m = hourly_price_matrix(symbols=["A", "B", "C"], start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 2))
    assert m.times.shape == (25,) and m.times[0] == np.datetime64("2024-01-02T00:00")
    assert m.times[-1] == np.datetime64("2024-01-03T00:00")
    assert m.symbols == ("A", "B") and m.missing == ("C",)
    a, b = m.prices[:, 0], m.prices[:, 1]
    ia, ib = m.interpolated[:, 0], m.interpolated[:, 1]
    assert a[0] == 100.0 and not ia[0]  # the daily close is a real observation at 00:00
    np.testing.assert_array_equal(a[1:13], [101.0 + h for h in range(12)])
    assert not ia[:13].any()
    # after the hourly bars end: linear between the daily closes 100 (00:00) and 124 (24:00)
    np.testing.assert_allclose(a[13:24], [100.0 + h for h in range(13, 24)])
    assert ia[13:24].all() and a[24] == 124.0 and not ia[24]
    assert m.resolutions == (60, 240) and m.sources[0] == "binance/1h+yahoo/1d"
    # B: real at 00, 04, 12, 16; interpolated 01-03, 13-15; never across its own hole (05-11)
    assert b[0] == 10.0 and b[4] == 20.0 and b[12] == 40.0 and b[16] == 50.0
    np.testing.assert_allclose(b[1:4], [12.5, 15.0, 17.5])
    assert np.isnan(b[5:12]).all() and np.isnan(b[17:]).all()
    assert ib[1:4].all() and not ib[[0, 4, 12, 16]].any() and not ib[5:12].any()
    assert m.interpolated_share() == pytest.approx((11 + 6) / (25 + 10))


@pytest.mark.django_db
def test_finest_return_series_prefers_long_fine_series_and_skips_holes():
    d0 = dt.datetime(2023, 1, 1, tzinfo=UTC)
    hourly = [100.0 * (1.001 ** (i % 7)) for i in range(24 * 400)]
    hourly[50] = None  # a hole: the two returns around it are dropped, not stretched
    bars("BTC", "1h", d0, hourly)
    bars("BTC", "5m", d0 + dt.timedelta(days=100), [100.0, 101.0, 99.99])  # two short crash windows,
    bars("BTC", "5m", d0 + dt.timedelta(days=390), [100.0, 100.5])  # more than 365 days apart
    bars("BTC", "1d", d0, [100.0 + i for i in range(400)], source="yahoo")
    series = finest_return_series(symbols=["BTC", "NOPE"])
    s = series["BTC"]
    assert set(series) == {"BTC"} and (s.resolution, s.source, s.resolution_minutes) == ("1h", "binance", 60)
    assert len(s.returns) == 24 * 400 - 1 - 2
    assert s.times[0] == np.datetime64("2023-01-01T02:00")  # end of the second bar
    np.testing.assert_allclose(s.returns[:6], 0.001, rtol=1e-9)
    five = return_series(symbol="BTC", resolution="5m", source="binance")
    np.testing.assert_allclose(five.returns, [0.01, 99.99 / 101 - 1, 0.005])  # not across the windows
    # without a long enough series the one covering most is used (1d: 400 days; 1h: 400 less an hour)
    assert finest_return_series(symbols=["BTC"], min_days=1e6)["BTC"].resolution == "1d"
    assert finest_return_series(symbols=["BTC"], min_days=1e6, sources=("binance",))["BTC"].resolution == "1h"


@pytest.mark.django_db(transaction=True)
def test_migration_keeps_existing_daily_closes_as_1d_bars():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate([("markets", "0001_initial")])
    old = executor.loader.project_state([("markets", "0001_initial")]).apps
    asset = old.get_model("markets", "Asset").objects.create(symbol="BTC")
    old.get_model("markets", "DailyClose").objects.create(
        asset=asset, source="yahoo", date=dt.date(2020, 3, 12), close=Decimal("4970.79")
    )
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    bar = PriceBar.objects.get()
    assert (bar.resolution, bar.timestamp, bar.date) == (
        "1d",
        dt.datetime(2020, 3, 12, tzinfo=UTC),
        dt.date(2020, 3, 12),
    )
    assert DailyClose.objects.get().close == Decimal("4970.79")


@pytest.mark.django_db
def test_daily_close_is_the_1d_bars():
    btc = Asset.objects.create(symbol="BTC")
    DailyClose.objects.bulk_create(
        [DailyClose(asset=btc, source="yahoo", date=dt.date(2020, 3, 12), close=Decimal("1"))]
    )
    bars("BTC", "1h", dt.datetime(2020, 3, 12, tzinfo=UTC), [2.0, 3.0])
    row = PriceBar.objects.get(resolution="1d")
    assert (row.timestamp, row.source) == (dt.datetime(2020, 3, 12, tzinfo=UTC), "yahoo")
    assert DailyClose.objects.count() == 1 and PriceBar.objects.count() == 3
    assert str(DailyClose.objects.get()) == "BTC 2020-03-12 1.000000000000 (yahoo)"

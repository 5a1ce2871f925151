"""Price-file parsers on the real files (no Django, no DB).

Every test reads the product's own trimmed copies in ``data/prices/`` (provenance and the
originals' SHA-256 in ``data/README.md``; ``data/make_demo_data.py --check`` proves the copies
equal a fresh trim of the originals). Nothing here reads a folder outside the repository;
the parsers' edge cases of the full files are rebuilt from the copies in ``tmp_path``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from riskgov.markets.price_files import (
    COLUMNS,
    PriceFileError,
    detect_price_file,
    read_binance_4h,
    read_cryptodatadownload_hourly,
    read_price_file,
)

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "prices"

YAHOO = {"data": DATA / "yahoo_daily_closes.csv"}
BINANCE_1D = {"data": DATA / "binance_BTCUSDT_1d.csv"}
BINANCE_4H = {
    "data": DATA / "binance_BTCUSDT_4h_2020-03.csv",
}
CDD_1H = {
    "data": DATA / "cryptodatadownload_ETHUSDC_1h_2020-03.csv",
}
LUNA = {
    "data": DATA / "coinmetrics_LUNA_reference_rate.csv",
}
VARIANTS = [pytest.param("data", id="data")]
D = dt.date


def close_on(df, asset: str, day: dt.date):
    row = df[(df["asset"] == asset) & (df["date"] == day)]
    assert len(row) == 1, (asset, day)
    return row.iloc[0]


def check_shape(df, source: str) -> None:
    assert list(df.columns) == COLUMNS
    assert str(df["close"].dtype) == "float64"
    assert (df["source"] == source).all()
    assert all(isinstance(d, dt.date) for d in df["date"].head())
    assert not df.duplicated(["asset", "date"]).any()
    assert (df["close"] > 0).all()
    # close_str is exact and agrees with the float column
    assert (df["close_str"].map(float) == df["close"]).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_yahoo(variant):
    df = read_price_file(YAHOO[variant])
    check_shape(df, "yahoo")
    assert len(df) == 52160
    assert df["asset"].nunique() == 22 and "BTC" in set(df["asset"])
    btc = close_on(df, "BTC", D(2020, 3, 12))
    assert round(btc["close"], 2) == 4970.79
    assert btc["close_str"] == "4970.788086"
    assert df[df["asset"] == "BTC"]["date"].min() == D(2014, 9, 17)
    assert df["date"].max() == D(2025, 2, 20)
    assert close_on(df, "ETH", D(2020, 3, 12))["close_str"] == "112.3471222"


@pytest.mark.parametrize("variant", VARIANTS)
def test_binance_daily_klines(variant):
    df = read_price_file(BINANCE_1D[variant])
    check_shape(df, "binance_klines_1d")
    assert len(df) == 2608 and set(df["asset"]) == {"BTC"}
    assert close_on(df, "BTC", D(2020, 3, 12))["close"] == 4800.00
    assert (df["date"].iloc[0], df["date"].iloc[-1]) == (D(2018, 1, 1), D(2025, 2, 20))


@pytest.mark.parametrize("variant", VARIANTS)
def test_binance_4h_daily_close_is_last_bar_and_matches_daily_klines(variant):
    df = read_price_file(BINANCE_4H[variant])
    check_shape(df, "binance_4h")
    assert close_on(df, "BTC", D(2020, 3, 12))["close_str"] == "4800.0"
    daily = read_price_file(BINANCE_1D["data"]).set_index("date")["close"]
    march = df[(df["date"] >= D(2020, 3, 1)) & (df["date"] <= D(2020, 3, 31))]
    assert len(march) == 31
    assert (march.set_index("date")["close"] == daily.loc[march["date"]]).all()


def test_binance_4h_drops_only_a_cut_final_day(tmp_path):
    # The full original ends on a day with only its 00:00 bar: rebuild that ending from the copy.
    text = BINANCE_4H["data"].read_text()
    cut = tmp_path / "binance_BTCUSDT_4h_cut.csv"
    cut.write_text(text.rstrip("\n") + "\n2020-04-01 00:00:00+00:00,6424.35,6505.0,6400.0,6410.44,1000.0\n")
    df = read_binance_4h(cut)
    assert len(df) == 31 and df["date"].max() == D(2020, 3, 31)  # 2020-04-01 has only 00:00
    assert (
        close_on(df, "BTC", D(2020, 3, 12))["close_str"]
        == read_binance_4h(BINANCE_4H["data"]).pipe(close_on, "BTC", D(2020, 3, 12))["close_str"]
    )


@pytest.mark.parametrize("variant", VARIANTS)
def test_cryptodatadownload_hourly(variant):
    df = read_price_file(CDD_1H[variant])
    check_shape(df, "cryptodatadownload_1h")
    assert set(df["asset"]) == {"ETH"}
    # the 23:00 bar of 2020-03-12 closes at 107.59 (rows run newest first in the file)
    assert close_on(df, "ETH", D(2020, 3, 12))["close_str"] == "107.59"
    assert df["date"].is_monotonic_increasing


def test_cryptodatadownload_drops_a_final_day_without_its_23h_bar(tmp_path):
    # The full original ends at 02:00 of its last day (rows newest first): rebuild that from the copy.
    banner, header, *rows = CDD_1H["data"].read_text().splitlines()
    extra = "1585706400000,2020-04-01 02:00:00,ETHUSDC,134.0,134.5,133.5,134.2,100.0,13420.0,50"
    cut = tmp_path / "cdd_cut.csv"
    cut.write_text("\n".join([banner, header, extra, *rows]) + "\n")
    df = read_cryptodatadownload_hourly(cut)
    assert len(df) == 31 and df["date"].min() == D(2020, 3, 1)
    assert df["date"].max() == D(2020, 3, 31)  # 2020-04-01 ends at 02:00, dropped
    assert close_on(df, "ETH", D(2020, 3, 31))["close_str"] == "133.14"


@pytest.mark.parametrize("variant", VARIANTS)
def test_coinmetrics_luna(variant):
    df = read_price_file(LUNA[variant])
    check_shape(df, "coinmetrics")
    assert len(df) == 38 and set(df["asset"]) == {"LUNA"}
    assert close_on(df, "LUNA", D(2022, 4, 24))["close_str"] == "89.7224292689567"
    assert close_on(df, "LUNA", D(2022, 5, 31))["close_str"] == "0.000133866548217417"
    assert Decimal(df["close_str"].iloc[-1]) / Decimal(df["close_str"].iloc[0]) < Decimal("0.000002")


@pytest.mark.parametrize(
    ("files", "kind"),
    [
        (YAHOO, "yahoo"),
        (BINANCE_1D, "binance_klines_1d"),
        (BINANCE_4H, "binance_4h"),
        (CDD_1H, "cryptodatadownload_1h"),
        (LUNA, "coinmetrics"),
    ],
)
@pytest.mark.parametrize("variant", VARIANTS)
def test_detect(files, kind, variant):
    assert detect_price_file(files[variant]) == kind


# ------------------------------------------------------------------ bad input, small files


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("close", "message"),
    [
        ("abc", "'abc' is not a number"),
        ("", "'' is not a number"),
        ("NaN", "'NaN' is not a finite number"),
        ("inf", "'inf' is not a finite number"),
        ("0", "price 0 is not positive"),
        ("-5.2", "price -5.2 is not positive"),
    ],
)
def test_bad_close_names_file_line_and_column(tmp_path, close, message):
    path = write(tmp_path, "y.csv", f"symbol,date,close\nBTC-USD,2020-03-11,7911.43\nBTC-USD,2020-03-12,{close}\n")
    with pytest.raises(PriceFileError) as exc:
        read_price_file(path)
    err = exc.value
    assert (err.filename, err.line, err.column) == ("y.csv", 3, "close")
    assert str(err) == f"y.csv, line 3, column 'close': {message}"


def test_bad_date_and_duplicate_rows(tmp_path):
    path = write(tmp_path, "y.csv", "symbol,date,close\nBTC-USD,12/03/2020,1\n")
    with pytest.raises(PriceFileError, match=r"y\.csv, line 2, column 'date': '12/03/2020' is not a date"):
        read_price_file(path)
    path = write(tmp_path, "y.csv", "symbol,date,close\nBTC-USD,2020-03-12,1\nBTC-USD,2020-03-12,2\n")
    with pytest.raises(PriceFileError, match=r"line 3: second row for BTC-USD 2020-03-12 \(first on line 2\)"):
        read_price_file(path)


def test_unrecognised_file(tmp_path):
    path = write(tmp_path, "x.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(PriceFileError, match=r"x\.csv, line 1: unrecognised price file"):
        read_price_file(path)


def test_cdd_banner_newest_first_and_bad_row(tmp_path):
    text = (
        "https://www.CryptoDataDownload.com\n"
        "Unix,Date,Symbol,Open,High,Low,Close,Volume ETH,Volume USDC,tradecount\n"
        "1584140400000,2020-03-13 23:00:00,ETHUSDC,1,1,1,133.1,1,1,1\n"
        "1584054000000,2020-03-12 23:00:00,ETHUSDC,1,1,1,107.59,1,1,1\n"
        "1584050400000,2020-03-12 22:00:00,ETHUSDC,1,1,1,126.35,1,1,1\n"
    )
    df = read_price_file(write(tmp_path, "eth.csv", text))
    assert df[["date", "close_str"]].values.tolist() == [[D(2020, 3, 12), "107.59"], [D(2020, 3, 13), "133.1"]]
    bad = text.replace("126.35", "n/a")
    with pytest.raises(PriceFileError, match=r"eth\.csv, line 5, column 'Close': 'n/a' is not a number"):
        read_price_file(write(tmp_path, "eth.csv", bad))


def test_4h_asset_from_name_or_keyword(tmp_path):
    text = "Date,Close,High,Low,Open,Volume\n2020-03-12 20:00:00+00:00,4800.0,1,1,1,1\n"
    assert read_price_file(write(tmp_path, "binance_ETHUSDT_4h.csv", text))["asset"].tolist() == ["ETH"]
    with pytest.raises(PriceFileError, match="cannot tell the asset"):
        read_price_file(write(tmp_path, "fourhour.csv", text))
    assert read_price_file(tmp_path / "fourhour.csv", asset="BTC")["asset"].tolist() == ["BTC"]

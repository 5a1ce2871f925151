"""Parsers for the real daily-price files riskgov ships or is given (no Django).

Every reader returns a :class:`pandas.DataFrame` with one row per (asset, UTC day), sorted by
``asset`` then ``date``, and the columns :data:`COLUMNS`:

- ``asset`` — base asset symbol (``"BTC"``), str;
- ``date`` — the UTC calendar day, :class:`datetime.date`;
- ``close`` — the day's closing price in USD per unit (float64, for computation);
- ``close_str`` — the same close exactly as written in the file (str), so the database can
  store it as an exact ``NUMERIC``;
- ``source`` — a label naming the file kind (:data:`SOURCES`).

USD-stablecoin quotes (USDT, USDC) are taken as USD, as RISK_MODEL §4 prices the settlement
asset at 1. Supported files (see ``data/README.md``):

============================  =========================================================
``yahoo``                     Yahoo Finance long format ``symbol,date,...,close,...``
                              (``BTC-USD`` → ``BTC``); riskgov's trimmed copy keeps only
                              ``symbol,date,close``.
``binance_klines_1d``         Binance spot daily klines ``datetime,open,high,low,close,...``
                              (asset from the file name, ``..._BTCUSDT_1d...`` → ``BTC``).
``binance_4h``                Binance 4-hour bars ``Date,Close,High,Low,Open,Volume``; the
                              daily close is the close of the day's last 4 h bar.
``cryptodatadownload_1h``     CryptoDataDownload hourly (first line a banner, newest row
                              first); the daily close is the close of the day's last hour.
``coinmetrics``               Coin Metrics ``time,...,ReferenceRateUSD`` (asset from the
                              file name, ``coinmetrics_LUNA_...`` → ``LUNA``).
============================  =========================================================

For the intraday files, a UTC day whose last bar is missing gets the close of the last bar
it has (Binance's 2018-02-08 outage leaves only the 00:00 4 h bar), except the file's final
day, which is dropped when the file ends before 24:00 UTC (the 4 h file's 2025-02-05, the
hourly file's 2022-09-29). Bad input raises :class:`PriceFileError`, naming the file, the 1-based line number
and the column: non-numeric, NaN/infinite or non-positive closes, unparsable dates, and a
second row for the same asset and timestamp.

**Bars at their own resolution** (FORMATS ``riskgov.prices/1``). :func:`iter_price_bars`
streams any supported file as :class:`Bar` tuples at the file's own resolution, never
resampled: ``riskgov.prices/1`` files (``timestamp_utc,open,high,low,close,volume``, plain
or ``.csv.gz``; asset, resolution and source from the name
``<source>_<PAIR>_<resolution>_<from>_<to>.csv``), Binance 4 h bars as ``4h``,
CryptoDataDownload hourly as ``1h`` and the daily files as ``1d`` (open time 00:00 UTC).
``riskgov.prices/1`` rows are checked one at a time in O(1) memory: ascending open times, no
repeat, on the resolution's grid, a positive close, numeric ``open/high/low/volume`` when
given. The first bad row raises :class:`PriceFileError` (one line: file, line, column).
USD-M perpetual and mark-price files (``binanceusdm_BTCUSDT-PERP_1h_…``) keep the base asset
and get the source ``binanceusdm_perp`` / ``binanceusdm_mark``, so they never mix with spot;
funding-rate files are refused (they hold no prices).
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import NamedTuple

import pandas as pd

from riskgov.core import limits as input_limits

COLUMNS = ["asset", "date", "close", "close_str", "source"]
SOURCES = ("yahoo", "binance_klines_1d", "binance_4h", "cryptodatadownload_1h", "coinmetrics")
#: File kinds :func:`detect_price_file` knows: :data:`SOURCES` plus ``riskgov.prices/1``.
KINDS = (*SOURCES, "riskgov_prices")
#: Bar resolutions of ``riskgov.prices/1`` (label → minutes), finest first.
RESOLUTION_MINUTES: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "4h": 240, "1d": 1440}
#: (integer digits, fractional digits) of the stored close (``PriceBar.close``, NUMERIC(30,12)).
CLOSE_DIGITS = (18, 12)
#: The ``riskgov.prices/1`` header, exactly.
PRICES_HEADER = ("timestamp_utc", "open", "high", "low", "close", "volume")
_SERIES_NAME_RE = re.compile(
    r"^(?P<source>[a-z0-9]+)_(?P<pair>[A-Za-z0-9]+?)(?:-(?P<kind>PERP|MARK))?_(?P<res>1m|5m|15m|1h|4h|1d)_"
)

#: Quote currencies stripped from exchange pair names (``BTCUSDT`` → ``BTC``).
_QUOTES = ("USDT", "USDC", "BUSD", "FDUSD", "TUSD", "USD")
_PAIR_RE = re.compile(r"(?:^|_)([A-Z0-9]+?)(?:" + "|".join(_QUOTES) + r")(?:_|$)")
_COINMETRICS_RE = re.compile(r"coinmetrics_([A-Za-z0-9]+)_", re.IGNORECASE)


class PriceFileError(ValueError):
    """A price file is unrecognised or has a bad row.

    Attributes:
        filename: the file's name. line: 1-based line number (None for whole-file problems).
        column: the offending column (None for whole-file problems).
    """

    def __init__(self, filename: str, message: str, *, line: int | None = None, column: str | None = None) -> None:
        self.filename, self.line, self.column = filename, line, column
        where = filename
        if line is not None:
            where += f", line {line}"
        if column is not None:
            where += f", column {column!r}"
        super().__init__(f"{where}: {message}")


def _open(path: Path) -> input_limits.BoundedText:
    """Open a text CSV within the input limits (:func:`riskgov.core.limits.open_text`), gunzipping ``*.gz``.

    The file's size on disk, a gunzipped file's uncompressed bytes, every line and row and
    every CSV field are bounded; breaking a bound raises :class:`~riskgov.core.limits.InputTooLarge`.
    """
    return input_limits.open_text(path, encoding="utf-8-sig")


def _refusing(path: str | Path, exc: Exception) -> PriceFileError:
    """A read failure (size limit, undecodable bytes, malformed CSV) as one-line :class:`PriceFileError`."""
    name = Path(path).name
    if isinstance(exc, input_limits.InputTooLarge):
        return PriceFileError(name, exc.detail, line=exc.line)
    if isinstance(exc, UnicodeDecodeError):
        return PriceFileError(name, f"not UTF-8 text (byte {exc.start}: {exc.reason})")
    return PriceFileError(name, f"malformed CSV: {input_limits.csv_error_text(exc)}")


#: What reading a file can raise besides :class:`PriceFileError` that :func:`_refusing` turns into one.
_READ_ERRORS = (input_limits.InputTooLarge, UnicodeDecodeError, csv.Error)


def _rows(path: Path, *, skip_lines: int = 0) -> Iterator[tuple[int, dict[str, str]]]:
    """(1-based line number, row dict) for every data row; header after ``skip_lines``."""
    with _open(path) as fh:
        for _ in range(skip_lines):
            fh.readline()
        reader = input_limits.csv_reader(fh, dict_reader=True)
        for row in reader:
            yield reader.line_num + skip_lines, row


def _close(path: Path, line: int, column: str, text: str | None) -> str:
    """Validate a close price and return its exact text."""
    raw = (text or "").strip()
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise PriceFileError(path.name, f"{raw!r} is not a number", line=line, column=column) from None
    if not value.is_finite():
        raise PriceFileError(path.name, f"{raw!r} is not a finite number", line=line, column=column)
    if value <= 0:
        raise PriceFileError(path.name, f"price {raw} is not positive", line=line, column=column)
    if value.adjusted() >= CLOSE_DIGITS[0]:
        raise PriceFileError(
            path.name,
            f"price {raw[:40]} has more than {CLOSE_DIGITS[0]} digits before the point "
            f"(the close column is NUMERIC({sum(CLOSE_DIGITS)},{CLOSE_DIGITS[1]}))",
            line=line,
            column=column,
        )
    return raw


def _day(path: Path, line: int, column: str, text: str | None) -> dt.date:
    raw = (text or "").strip()
    try:
        return dt.date.fromisoformat(raw[:10])
    except ValueError:
        raise PriceFileError(path.name, f"{raw!r} is not a date", line=line, column=column) from None


def _timestamp(path: Path, line: int, column: str, text: str | None) -> dt.datetime:
    """An ISO timestamp as aware UTC (naive timestamps are taken as UTC)."""
    raw = (text or "").strip()
    try:
        ts = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise PriceFileError(path.name, f"{raw!r} is not a timestamp", line=line, column=column) from None
    return ts.replace(tzinfo=dt.UTC) if ts.tzinfo is None else ts.astimezone(dt.UTC)


def _require(path: Path, header: list[str] | None, columns: tuple[str, ...], line: int = 1) -> None:
    missing = [c for c in columns if c not in (header or [])]
    if missing:
        raise PriceFileError(path.name, f"missing columns {missing}", line=line)


def _header(path: Path, skip_lines: int = 0) -> list[str]:
    with _open(path) as fh:
        for _ in range(skip_lines):
            fh.readline()
        return next(input_limits.csv_reader(fh), [])


def _frame(records: list[tuple[str, dt.date, str]], source: str) -> pd.DataFrame:
    df = pd.DataFrame(records, columns=["asset", "date", "close_str"])
    df["close"] = df["close_str"].astype("float64")
    df["source"] = source
    return df.sort_values(["asset", "date"], kind="stable").reset_index(drop=True)[COLUMNS]


def _asset_from_name(path: Path, asset: str | None, pattern: re.Pattern[str]) -> str:
    if asset:
        return asset
    m = pattern.search(path.stem)
    if not m:
        raise PriceFileError(path.name, "cannot tell the asset from the file name; pass asset=")
    return m.group(1).upper() if pattern is _PAIR_RE else m.group(1)


def _refuse_repeated_bars(path: Path, bars: list[tuple[int, dt.datetime, str]]) -> None:
    """Raise on the first bar (in file order) whose open time an earlier bar already has.

    ``bars`` are (1-based line, open time aware UTC, close text) as the vendor readers give them.
    """
    seen: dict[dt.datetime, int] = {}
    for line, ts, _ in bars:
        if ts in seen:
            raise PriceFileError(path.name, f"second bar for {ts.isoformat()} (first on line {seen[ts]})", line=line)
        seen[ts] = line


def _binance_4h_bars(p: Path, asset: str | None) -> tuple[str, list[tuple[int, dt.datetime, str]]]:
    """Base asset and (line, open time UTC, close text) of every row of a Binance 4 h file.

    ``Date`` is the bar's open time, ``Close`` the close in USD per unit; the asset comes
    from ``asset`` or the file name (``..._BTCUSDT_4h...`` → ``BTC``). Rows in file order.
    """
    _require(p, _header(p), ("Date", "Close"))
    base = _asset_from_name(p, asset, _PAIR_RE)
    bars = [
        (line, _timestamp(p, line, "Date", row["Date"]), _close(p, line, "Close", row["Close"]))
        for line, row in _rows(p)
    ]
    return base, bars


def _cryptodatadownload_bars(p: Path, asset: str | None) -> tuple[str, list[tuple[int, dt.datetime, str]]]:
    """Base asset and (line, open time UTC, close text) of every row of a CryptoDataDownload hourly file.

    The banner line is skipped; ``Unix`` (epoch ms, seconds accepted) wins over ``Date`` when
    present and non-empty. The asset is ``asset`` or, from the first row, the ``Symbol``
    column (``ETHUSDC`` → ``ETH``); ``""`` for a file without rows. Rows in file order
    (newest first, as the vendor writes them).
    """
    _require(p, _header(p, 1), ("Date", "Symbol", "Close"), line=2)
    has_unix = "Unix" in _header(p, 1)
    bars = []
    base = asset
    for line, row in _rows(p, skip_lines=1):
        if has_unix and (row["Unix"] or "").strip():
            try:
                epoch = int(row["Unix"].strip())
            except ValueError:
                raise PriceFileError(p.name, f"{row['Unix']!r} is not an epoch", line=line, column="Unix") from None
            ts = dt.datetime.fromtimestamp(epoch / 1000 if epoch > 10**11 else epoch, tz=dt.UTC)
        else:
            ts = _timestamp(p, line, "Date", row["Date"])
        if base is None:
            m = _PAIR_RE.search((row["Symbol"] or "").strip().upper())
            if not m:
                raise PriceFileError(
                    p.name, f"cannot tell the asset from {row['Symbol']!r}", line=line, column="Symbol"
                )
            base = m.group(1)
        bars.append((line, ts, _close(p, line, "Close", row["Close"])))
    return base or "", bars


def _daily_from_intraday(
    path: Path,
    bars: list[tuple[int, dt.datetime, str]],
    asset: str,
    source: str,
    bar: dt.timedelta,
) -> pd.DataFrame:
    """Daily close = the close of the latest bar of each UTC day; duplicates are errors.

    The file's last day is dropped when its latest bar (open time + ``bar``) ends before
    24:00 UTC: the file was cut mid-day and that close is not a daily close.
    """
    _refuse_repeated_bars(path, bars)
    last: dict[dt.date, tuple[dt.datetime, str]] = {}
    for _line, ts, close in bars:
        day = ts.date()
        if day not in last or ts > last[day][0]:
            last[day] = (ts, close)
    if last:
        final = max(last)
        if last[final][0] + bar < dt.datetime.combine(final + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC):
            del last[final]
    return _frame([(asset, day, close) for day, (_, close) in last.items()], source)


def _single_asset_daily(p: Path, base: str, day_column: str, close_column: str, source: str) -> pd.DataFrame:
    """Daily closes of a one-asset daily file: one row per UTC day, a repeated day is an error.

    ``day_column`` holds the UTC day (an ISO date or timestamp, first 10 characters),
    ``close_column`` the close in USD per unit; every row belongs to asset ``base``.
    """
    records: list[tuple[str, dt.date, str]] = []
    seen: dict[dt.date, int] = {}
    for line, row in _rows(p):
        day = _day(p, line, day_column, row[day_column])
        if day in seen:
            raise PriceFileError(p.name, f"second row for {day} (first on line {seen[day]})", line=line)
        seen[day] = line
        records.append((base, day, _close(p, line, close_column, row[close_column])))
    return _frame(records, source)


def read_yahoo_daily(path: str | Path) -> pd.DataFrame:
    """Yahoo Finance daily closes in long format (``symbol,date,...,close``).

    ``symbol`` ``BTC-USD`` → asset ``BTC``; ``date`` is the UTC day (Yahoo's crypto bars run
    00:00–24:00 UTC). Works on the 22-coin original and riskgov's ``symbol,date,close`` copy.

    Raises:
        PriceFileError: missing column, bad date or close, or a repeated (symbol, date).
    """
    p = Path(path)
    _require(p, _header(p), ("symbol", "date", "close"))
    records: list[tuple[str, dt.date, str]] = []
    seen: dict[tuple[str, dt.date], int] = {}
    for line, row in _rows(p):
        symbol = (row["symbol"] or "").strip()
        asset = symbol[:-4] if symbol.upper().endswith("-USD") else symbol
        if not asset:
            raise PriceFileError(p.name, "empty symbol", line=line, column="symbol")
        day = _day(p, line, "date", row["date"])
        if (asset, day) in seen:
            raise PriceFileError(p.name, f"second row for {symbol} {day} (first on line {seen[asset, day]})", line=line)
        seen[asset, day] = line
        records.append((asset, day, _close(p, line, "close", row["close"])))
    return _frame(records, "yahoo")


def read_binance_klines_1d(path: str | Path, *, asset: str | None = None) -> pd.DataFrame:
    """Binance spot daily klines (``datetime,open,high,low,close,...``), one row per UTC day.

    Args:
        asset: base asset; default from the file name (``..._BTCUSDT_1d...`` → ``BTC``).

    Raises:
        PriceFileError: missing column, unknown asset, bad date or close, repeated day.
    """
    p = Path(path)
    _require(p, _header(p), ("datetime", "close"))
    return _single_asset_daily(p, _asset_from_name(p, asset, _PAIR_RE), "datetime", "close", "binance_klines_1d")


def read_binance_4h(path: str | Path, *, asset: str | None = None) -> pd.DataFrame:
    """Binance 4-hour bars (``Date,Close,High,Low,Open,Volume``) aggregated to daily closes.

    ``Date`` is the bar's open time (``2018-01-01 20:00:00+00:00``); the daily close is the
    close of the last bar opened that UTC day (normally 20:00, closing at 24:00). The file's
    final day is dropped when its last bar ends before 24:00 UTC.

    Args:
        asset: base asset; default from the file name (``..._BTCUSDT_4h...`` → ``BTC``).

    Raises:
        PriceFileError: missing column, unknown asset, bad timestamp or close, repeated bar.
    """
    p = Path(path)
    base, bars = _binance_4h_bars(p, asset)
    return _daily_from_intraday(p, bars, base, "binance_4h", dt.timedelta(hours=4))


def read_cryptodatadownload_hourly(path: str | Path, *, asset: str | None = None) -> pd.DataFrame:
    """CryptoDataDownload hourly bars aggregated to daily closes.

    The first line is a banner (skipped); rows run newest first; ``Unix`` is the bar's open
    time in epoch milliseconds (seconds accepted), ``Date`` the same in UTC. The daily close is
    the ``Close`` of the last hour of each UTC day; the file's final day is dropped when its
    last hour is not 23:00.

    Args:
        asset: base asset; default from the ``Symbol`` column (``ETHUSDC`` → ``ETH``).

    Raises:
        PriceFileError: missing column, bad timestamp or close, repeated hour.
    """
    p = Path(path)
    base, bars = _cryptodatadownload_bars(p, asset)
    return _daily_from_intraday(p, bars, base, "cryptodatadownload_1h", dt.timedelta(hours=1))


def read_coinmetrics_reference_rate(path: str | Path, *, asset: str | None = None) -> pd.DataFrame:
    """Coin Metrics community daily reference rate (``time,...,ReferenceRateUSD``).

    The close is ``ReferenceRateUSD`` at the UTC day in ``time``.

    Args:
        asset: base asset; default from the file name (``coinmetrics_LUNA_...`` → ``LUNA``).

    Raises:
        PriceFileError: missing column, unknown asset, bad date or rate, repeated day.
    """
    p = Path(path)
    _require(p, _header(p), ("time", "ReferenceRateUSD"))
    return _single_asset_daily(
        p, _asset_from_name(p, asset, _COINMETRICS_RE), "time", "ReferenceRateUSD", "coinmetrics"
    )


def detect_price_file(path: str | Path) -> str:
    """Which of :data:`KINDS` a file is, from its first two lines.

    Raises:
        PriceFileError: the file is empty or none of the known kinds.
    """
    p = Path(path)
    try:
        cap = input_limits.limits().csv_field_bytes
        with _open(p) as fh:
            first = fh.readline(cap + 1)
            second = fh.readline(cap + 1)
        if "\0" in first or "\0" in second:
            raise PriceFileError(p.name, "binary data (NUL bytes), not a CSV text file", line=1)
        for line, text in ((1, first), (2, second)):
            if len(text) > cap:
                raise PriceFileError(p.name, f"line longer than RISKGOV_MAX_CSV_FIELD_BYTES={cap}", line=line)
    except _READ_ERRORS as exc:
        raise _refusing(p, exc) from None
    if not first.strip():
        raise PriceFileError(p.name, "empty file")
    if "cryptodatadownload" in first.lower():
        return "cryptodatadownload_1h"
    cols = next(csv.reader([first]))
    if cols[:1] == ["timestamp_utc"]:
        if "funding_rate" in cols:
            raise PriceFileError(p.name, "a funding-rate file holds no prices", line=1)
        return "riskgov_prices"
    if {"symbol", "date", "close"} <= set(cols):
        return "yahoo"
    if cols[:1] == ["datetime"] and "close" in cols:
        return "binance_klines_1d"
    if cols[:2] == ["Date", "Close"]:
        return "binance_4h"
    if "time" in cols and "ReferenceRateUSD" in cols:
        return "coinmetrics"
    if {"Unix", "Date", "Symbol", "Close"} <= set(next(csv.reader([second]), [])):
        return "cryptodatadownload_1h"
    raise PriceFileError(p.name, f"unrecognised price file (header {first.strip()[:80]!r})", line=1)


_READERS: dict[str, Callable[..., pd.DataFrame]] = {
    "yahoo": read_yahoo_daily,
    "binance_klines_1d": read_binance_klines_1d,
    "binance_4h": read_binance_4h,
    "cryptodatadownload_1h": read_cryptodatadownload_hourly,
    "coinmetrics": read_coinmetrics_reference_rate,
}


def read_price_file(path: str | Path, *, asset: str | None = None) -> pd.DataFrame:
    """Detect the kind of a price file (:func:`detect_price_file`) and read its daily closes.

    Args:
        asset: override the asset for single-asset files (ignored for Yahoo long format).

    Returns:
        DataFrame with :data:`COLUMNS` (see the module docstring).

    Raises:
        PriceFileError: unrecognised file or a bad row (file, line, column named).
        OSError: the file cannot be opened.
    """
    kind = detect_price_file(path)
    try:
        if kind == "yahoo":
            return read_yahoo_daily(path)
        if kind == "riskgov_prices":
            raise PriceFileError(
                Path(path).name, "an intraday riskgov.prices/1 file: read it with iter_price_bars (never resampled)"
            )
        return _READERS[kind](path, asset=asset)
    except _READ_ERRORS as exc:
        raise _refusing(path, exc) from None


# ---------------------------------------------------------------------------------------
# Bars at their own resolution (riskgov.prices/1 and the vendor files, never resampled).


class Bar(NamedTuple):
    """One price bar as imported.

    ``timestamp`` is the bar's open time (aware UTC); the close is the price at
    ``timestamp + resolution``. ``close_str`` is the close exactly as written.
    """

    asset: str
    source: str
    resolution: str
    timestamp: dt.datetime
    close_str: str


class SeriesName(NamedTuple):
    """What a ``riskgov.prices/1`` file name says: ``source``, ``asset``, ``resolution``."""

    source: str
    asset: str
    resolution: str


def parse_series_name(name: str) -> SeriesName | None:
    """Read ``<source>_<PAIR>[-PERP|-MARK]_<resolution>_<from>_<to>.csv[.gz]``, or None.

    ``binance_BTCUSDT_1h_…`` → (``binance``, ``BTC``, ``1h``);
    ``binanceusdm_ETHUSDT-MARK_1h_…`` → (``binanceusdm_mark``, ``ETH``, ``1h``).
    """
    m = _SERIES_NAME_RE.match(Path(name).name)
    if not m:
        return None
    pair = m.group("pair").upper()
    base = next((pair[: -len(q)] for q in _QUOTES if pair.endswith(q) and len(pair) > len(q)), pair)
    source = m.group("source") + (f"_{m.group('kind').lower()}" if m.group("kind") else "")
    return SeriesName(source=source, asset=base, resolution=m.group("res"))


def _number(path: Path, line: int, column: str, text: str | None) -> None:
    raw = (text or "").strip()
    if not raw:
        return
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise PriceFileError(path.name, f"{raw!r} is not a number", line=line, column=column) from None
    if not value.is_finite() or value < 0:
        raise PriceFileError(path.name, f"{raw!r} is not a finite non-negative number", line=line, column=column)


def _iter_riskgov_prices(p: Path, *, asset: str | None, resolution: str | None, source: str | None) -> Iterator[Bar]:
    header = _header(p)
    if tuple(header) != PRICES_HEADER:
        raise PriceFileError(p.name, f"header must be {','.join(PRICES_HEADER)!r} (got {','.join(header)!r})", line=1)
    named = parse_series_name(p.name)
    base = asset or (named.asset if named else None)
    res = resolution or (named.resolution if named else None)
    src = source or (named.source if named else None)
    if not base or not res or not src:
        raise PriceFileError(
            p.name, "cannot tell the asset, resolution and source from the file name; pass asset=, resolution="
        )
    if res not in RESOLUTION_MINUTES:
        raise PriceFileError(p.name, f"unknown resolution {res!r} (one of {', '.join(RESOLUTION_MINUTES)})")
    step = RESOLUTION_MINUTES[res] * 60
    previous: tuple[dt.datetime, int] | None = None
    for line, row in _rows(p):
        ts = _timestamp(p, line, "timestamp_utc", row["timestamp_utc"])
        if int(ts.timestamp()) % step or ts.microsecond:
            raise PriceFileError(
                p.name, f"{ts.isoformat()} is not on the {res} grid", line=line, column="timestamp_utc"
            )
        if previous is not None and ts <= previous[0]:
            what = "repeats" if ts == previous[0] else "is before"
            raise PriceFileError(
                p.name,
                f"{ts.isoformat()} {what} the previous bar (line {previous[1]}); rows must ascend",
                line=line,
                column="timestamp_utc",
            )
        previous = (ts, line)
        for column in ("open", "high", "low", "volume"):
            _number(p, line, column, row[column])
        yield Bar(base, src, res, ts, _close(p, line, "close", row["close"]))


def _iter_vendor_intraday(p: Path, kind: str, asset: str | None) -> Iterator[Bar]:
    """Binance 4 h / CryptoDataDownload 1 h bars at their own resolution, ascending."""
    if kind == "binance_4h":
        (base, bars), res = _binance_4h_bars(p, asset), "4h"
    else:
        (base, bars), res = _cryptodatadownload_bars(p, asset), "1h"
    _refuse_repeated_bars(p, bars)
    for _, ts, close in sorted(bars, key=lambda b: b[1]):
        yield Bar(base, kind, res, ts, close)


def iter_price_bars(
    path: str | Path, *, asset: str | None = None, resolution: str | None = None, source: str | None = None
) -> Iterator[Bar]:
    """Every bar of a price file at its own resolution, ascending per asset (lazy).

    ``riskgov.prices/1`` files are streamed row by row (bounded memory); the vendor files
    are small and read whole (CryptoDataDownload runs newest first). Daily files give ``1d``
    bars with open time 00:00 UTC of their date.

    Args:
        asset, resolution, source: override what the ``riskgov.prices/1`` file name says
            (``asset`` also overrides single-asset vendor files).

    Raises:
        PriceFileError: unrecognised file or the first bad row (file, line, column named),
            raised while iterating.
    """
    p = Path(path)
    kind = detect_price_file(p)
    try:
        if kind == "riskgov_prices":
            yield from _iter_riskgov_prices(p, asset=asset, resolution=resolution, source=source)
        elif kind in ("binance_4h", "cryptodatadownload_1h"):
            yield from _iter_vendor_intraday(p, kind, asset)
        else:
            frame = read_price_file(p, asset=asset)
            for a, d, c, s in zip(frame["asset"], frame["date"], frame["close_str"], frame["source"], strict=True):
                yield Bar(a, s, "1d", dt.datetime.combine(d, dt.time(), tzinfo=dt.UTC), c)
    except _READ_ERRORS as exc:
        raise _refusing(p, exc) from None


def chunked(bars: Iterable[Bar], size: int = 5000) -> Iterator[list[Bar]]:
    """Lists of at most ``size`` bars, in order (for batched writes)."""
    batch: list[Bar] = []
    for bar in bars:
        batch.append(bar)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def read_price_bars(path: str | Path, **overrides: str | None) -> pd.DataFrame:
    """All bars of a file as a frame ``asset, source, resolution, timestamp, close, close_str``.

    ``timestamp`` is the open time (``datetime64[ns, UTC]``), ``close`` float64. For analysis
    scripts and tests; imports stream with :func:`iter_price_bars`.
    """
    df = pd.DataFrame(list(iter_price_bars(path, **overrides)), columns=list(Bar._fields))
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    df["close"] = df["close_str"].astype("float64")
    return df[["asset", "source", "resolution", "timestamp", "close", "close_str"]]

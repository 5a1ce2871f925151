"""Markets selectors: the daily close matrix (one source per asset, dates × assets, NaN gaps),
the hourly price matrix (finest real series, source order at equal resolution, interpolation
mask, the date range), and return series (holes dropped, the finest long-enough series)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest

from riskgov.markets import selectors
from riskgov.markets.models import Asset
from tests.factories import AssetFactory, PriceBarFactory

pytestmark = pytest.mark.django_db

UTC = dt.UTC
STEP = {
    "5m": dt.timedelta(minutes=5),
    "1h": dt.timedelta(hours=1),
    "4h": dt.timedelta(hours=4),
    "1d": dt.timedelta(days=1),
}


def series(symbol: str, resolution: str, opened: dt.datetime, closes, source: str = "binance") -> None:
    """Bars opening at ``opened`` + i·resolution; a ``None`` close is a hole (no bar)."""
    asset = AssetFactory(symbol=symbol)
    for i, c in enumerate(closes):
        if c is not None:
            PriceBarFactory(
                asset=asset,
                source=source,
                resolution=resolution,
                timestamp=opened + i * STEP[resolution],
                close=Decimal(str(c)),
            )


def day(d: int) -> dt.datetime:
    return dt.datetime(2020, 1, d, tzinfo=UTC)


# --- price_matrix ---------------------------------------------------------------------------
@pytest.fixture
def closes(db):
    """BTC: yahoo 01-01..03 and binance 01-01..05; ETH: binance 01-02, 01-04 only; SOL: only a
    source that is not a daily-close source; BTC also has hourly bars (not daily closes)."""
    series("BTC", "1d", day(1), [100, 101, 102.5], source="yahoo")
    series("BTC", "1d", day(1), [90, 91, 92, 93, 94], source="binance_klines_1d")
    series("ETH", "1d", day(2), [10, None, 12], source="binance_klines_1d")
    series("SOL", "1d", day(1), [1, 2], source="binance")
    series("BTC", "1h", day(7), [500, 501], source="yahoo")


def test_price_matrix_every_asset_one_source_each_dates_union_nan_gaps(closes):
    m = selectors.price_matrix()
    assert m.symbols == ("BTC", "ETH") and m.missing == ()  # SOL's source is not a default one
    assert m.sources == ("yahoo", "binance_klines_1d")
    assert m.dates.dtype == np.dtype("datetime64[D]") and m.closes.dtype == np.float64
    # BTC's binance-only dates (01-04, 01-05) and its hourly bars (01-07) bring no rows: no mixing
    np.testing.assert_array_equal(
        m.dates, np.array(["2020-01-01", "2020-01-02", "2020-01-03", "2020-01-04"], "datetime64[D]")
    )
    assert m.closes.shape == (4, 2)
    np.testing.assert_array_equal(m.closes[:, 0], [100.0, 101.0, 102.5, np.nan])
    np.testing.assert_array_equal(m.closes[:, 1], [np.nan, 10.0, np.nan, 12.0])


def test_price_matrix_keeps_the_asked_order_and_names_the_missing(closes):
    m = selectors.price_matrix(symbols=["ETH", "NOPE", "BTC", "ETH", "SOL"])
    assert m.symbols == ("ETH", "BTC") and m.missing == ("NOPE", "SOL")
    assert m.sources == ("binance_klines_1d", "yahoo")
    np.testing.assert_array_equal(m.closes[:, 1], [100.0, 101.0, 102.5, np.nan])


def test_price_matrix_source_preference_is_the_order_given(closes):
    m = selectors.price_matrix(symbols=["BTC", "SOL"], sources=("binance_klines_1d", "binance", "yahoo"))
    assert m.symbols == ("BTC", "SOL") and m.sources == ("binance_klines_1d", "binance")
    assert len(m.dates) == 5
    np.testing.assert_array_equal(m.closes[:, 0], [90.0, 91.0, 92.0, 93.0, 94.0])
    np.testing.assert_array_equal(m.closes[:, 1], [1.0, 2.0, np.nan, np.nan, np.nan])


def test_price_matrix_is_one_query(closes, django_assert_num_queries):
    with django_assert_num_queries(1):
        selectors.price_matrix(symbols=["BTC", "ETH"])


@pytest.mark.parametrize("symbols,missing", [(None, ()), (["BTC", "NOPE", "BTC"], ("BTC", "NOPE"))])
def test_price_matrix_without_history_is_empty(db, symbols, missing):
    AssetFactory(symbol="BTC")
    m = selectors.price_matrix(symbols=symbols)
    assert m.symbols == () and m.sources == () and m.missing == missing
    assert m.closes.shape == (0, 0) and m.dates.shape == (0,) and m.dates.dtype == np.dtype("datetime64[D]")


# --- hourly_price_matrix --------------------------------------------------------------------
JAN2 = dt.datetime(2024, 1, 2, tzinfo=UTC)


def test_hourly_matrix_shape_and_range_of_several_days(db):
    series("BTC", "1h", JAN2 - dt.timedelta(hours=1), [100 + h for h in range(49)])  # ends 01-02 00:00 .. 01-04 00:00
    series("ETH", "1h", dt.datetime(2024, 2, 1, tzinfo=UTC), [5, 6])  # outside the range
    m = selectors.hourly_price_matrix(symbols=["BTC", "ETH", "BTC"], start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 3))
    assert m.times.shape == (49,) and m.times.dtype == np.dtype("datetime64[m]")  # 24·2 + 1
    assert (m.times[0], m.times[-1]) == (np.datetime64("2024-01-02T00:00"), np.datetime64("2024-01-04T00:00"))
    assert np.all(np.diff(m.times) == np.timedelta64(60, "m"))
    assert m.symbols == ("BTC",) and m.missing == ("ETH",)
    assert m.prices.shape == m.interpolated.shape == (49, 1)
    np.testing.assert_array_equal(m.prices[:, 0], [100.0 + h for h in range(49)])  # close = price at the bar's end
    assert not m.interpolated.any() and m.interpolated_share() == 0.0
    assert (m.resolutions, m.sources) == ((60,), ("binance/1h",))


def test_hourly_matrix_without_prices_is_empty(db):
    AssetFactory(symbol="BTC")
    m = selectors.hourly_price_matrix(symbols=["BTC", "NOPE"], start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 2))
    assert m.times.shape == (25,) and m.symbols == () and m.missing == ("BTC", "NOPE")
    assert m.prices.shape == m.interpolated.shape == (25, 0)
    assert m.resolutions == () and m.sources == ()
    assert m.interpolated_share() == 0.0  # no known point


def test_hourly_matrix_source_order_at_equal_resolution_fills_holes_exactly(db):
    opened = JAN2 - dt.timedelta(hours=1)
    binance = [100.0 + h for h in range(25)]
    binance[5] = None  # the bar ending 05:00 is missing: the next source's real price is used
    series("BTC", "1h", opened, binance, source="binance")
    series("BTC", "1h", opened, [200.0 + h for h in range(25)], source="cryptodatadownload_1h")
    series("BTC", "1h", opened, [300.0 + h for h in range(25)], source="binanceusdm_perp")  # a market's own prices
    m = selectors.hourly_price_matrix(symbols=["BTC"], start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 2))
    expected = [100.0 + h for h in range(25)]
    expected[5] = 205.0
    np.testing.assert_array_equal(m.prices[:, 0], expected)
    assert not m.interpolated.any()
    assert m.sources == ("binance/1h+cryptodatadownload_1h/1h",) and m.resolutions == (60,)
    flipped = selectors.hourly_price_matrix(
        symbols=["BTC"],
        start=dt.date(2024, 1, 2),
        end=dt.date(2024, 1, 2),
        sources=("cryptodatadownload_1h", "binance"),
    )
    np.testing.assert_array_equal(flipped.prices[:, 0], [200.0 + h for h in range(25)])
    assert flipped.sources == ("cryptodatadownload_1h/1h",)  # binance adds nothing: not named
    perp = selectors.hourly_price_matrix(
        symbols=["BTC"], start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 2), sources=("binanceusdm_perp",)
    )
    assert perp.prices[0, 0] == 300.0 and perp.sources == ("binanceusdm_perp/1h",)


def test_hourly_matrix_interpolation_mask_and_share(db):
    # BTC: daily closes only (ends 01-02 00:00 = 100, 01-03 00:00 = 148): linear in between
    series("BTC", "1d", JAN2 - dt.timedelta(days=1), [100, 148], source="yahoo")
    # ETH: 4-hour bars ending 00:00 .. 24:00, the one ending 12:00 missing (a hole of 8 h)
    series("ETH", "4h", JAN2 - dt.timedelta(hours=4), [10, 14, 18, None, 26, 30, 34])
    m = selectors.hourly_price_matrix(symbols=["BTC", "ETH"], start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 2))
    btc, eth = m.prices[:, 0], m.prices[:, 1]
    np.testing.assert_allclose(btc, [100.0 + 2 * h for h in range(25)])
    np.testing.assert_array_equal(m.interpolated[:, 0], [h not in (0, 24) for h in range(25)])
    np.testing.assert_allclose(eth[:9], [10 + h for h in range(9)])  # 10 @ 00:00 .. 18 @ 08:00
    assert np.isnan(eth[9:16]).all()  # never across the series' own hole (08:00 → 16:00)
    np.testing.assert_allclose(eth[16:], [26 + (h - 16) for h in range(16, 25)])
    exact_eth = {0, 4, 8, 16, 20, 24}
    np.testing.assert_array_equal(m.interpolated[:, 1], [h not in exact_eth and not 8 < h < 16 for h in range(25)])
    assert m.resolutions == (1440, 240) and m.sources == ("yahoo/1d", "binance/4h")
    known = 25 + 18
    assert m.interpolated_share() == pytest.approx((23 + 12) / known)
    assert m.interpolated_share(slice(0, 1)) == 0.0  # 00:00 is exact for both
    assert m.interpolated_share(slice(1, 2)) == 1.0


def test_hourly_matrix_real_price_beats_a_coarser_interpolation(db):
    # hourly bars for the first 6 hours; 4-hour bars all day: exact 1h first, exact 4h at 08:00,
    # the 4-hour interpolation only where no real price exists
    series("BTC", "1h", JAN2 - dt.timedelta(hours=1), [1000.0 + h for h in range(7)])  # ends 00:00..06:00
    series("BTC", "4h", JAN2 - dt.timedelta(hours=4), [10, 14, 18, 22, 26, 30, 34])
    m = selectors.hourly_price_matrix(symbols=["BTC"], start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 2))
    p, mask = m.prices[:, 0], m.interpolated[:, 0]
    np.testing.assert_array_equal(p[:7], [1000.0 + h for h in range(7)])  # not the 4-hour 10, 14 at 00, 04
    assert not mask[:7].any()
    assert p[7] == pytest.approx(17.0) and mask[7]  # between 14 (04:00) and 18 (08:00)
    assert p[8] == 18.0 and not mask[8]
    assert m.resolutions == (60,) and m.sources == ("binance/1h+binance/4h",)


def test_hourly_matrix_is_one_query(db, django_assert_num_queries):
    series("BTC", "1h", JAN2, [1, 2, 3])
    series("ETH", "4h", JAN2, [1, 2, 3])
    with django_assert_num_queries(1):
        selectors.hourly_price_matrix(symbols=["BTC", "ETH"], start=dt.date(2024, 1, 2), end=dt.date(2024, 1, 2))


# --- return series ----------------------------------------------------------------------------
def test_return_series_of_one_series_drops_returns_across_holes(db):
    series("BTC", "1h", JAN2, [100, 110, None, 121, 133.1])  # opened 00:00 .. 04:00, the 02:00 bar missing
    series("BTC", "4h", JAN2, [1, 2])  # another resolution of the same source
    series("BTC", "1h", JAN2, [5, 50, 500], source="cryptodatadownload_1h")  # another source
    r = selectors.return_series(symbol="BTC", resolution="1h", source="binance")
    assert (r.symbol, r.source, r.resolution, r.resolution_minutes) == ("BTC", "binance", "1h", 60)
    np.testing.assert_allclose(r.returns, [0.1, 0.1])
    np.testing.assert_array_equal(r.times, np.array(["2024-01-02T02:00", "2024-01-02T05:00"], "datetime64[m]"))
    four = selectors.return_series(symbol="BTC", resolution="4h", source="binance")
    np.testing.assert_allclose(four.returns, [1.0])
    assert four.resolution_minutes == 240


def test_return_series_is_empty_when_nothing_is_stored(db):
    series("BTC", "1h", JAN2, [100, 110])
    for kwargs in ({"symbol": "NOPE", "source": "binance"}, {"symbol": "BTC", "source": "yahoo"}):
        r = selectors.return_series(resolution="1h", **kwargs)
        assert r.returns.shape == (0,) and r.times.shape == (0,) and r.resolution_minutes == 60
    assert len(selectors.return_series(symbol="BTC", resolution="5m", source="binance").returns) == 0


def test_finest_return_series_equal_resolution_takes_the_first_source(db):
    series("BTC", "1h", JAN2, [100, 110, 121])
    series("BTC", "1h", JAN2, [100, 50, 25], source="cryptodatadownload_1h")
    assert selectors.finest_return_series(symbols=[]) == {}
    assert selectors.finest_return_series(symbols=["NOPE"]) == {}
    got = selectors.finest_return_series(symbols=["BTC", "NOPE"], min_days=0)
    assert set(got) == {"BTC"} and got["BTC"].source == "binance"
    np.testing.assert_allclose(got["BTC"].returns, [0.1, 0.1])
    other = selectors.finest_return_series(symbols=["BTC"], sources=("cryptodatadownload_1h", "binance"), min_days=0)
    assert other["BTC"].source == "cryptodatadownload_1h"
    np.testing.assert_allclose(other["BTC"].returns, [-0.5, -0.5])


def test_finest_return_series_finest_long_enough_else_the_longest(db):
    series("BTC", "5m", JAN2, [100.0 + i for i in range(300)])  # 300·5 min = 1.04 days
    series("BTC", "1h", JAN2, [100.0 + i for i in range(48)])  # 2 days
    series("BTC", "1d", JAN2, [100.0, 101.0], source="yahoo")  # 2 days
    Asset.objects.get_or_create(symbol="ETH")

    def pick(min_days):
        return selectors.finest_return_series(symbols=["BTC", "ETH"], min_days=min_days)

    assert set(pick(1.0)) == {"BTC"}  # ETH has no series
    assert pick(1.0)["BTC"].resolution == "5m"  # the finest that covers a day
    assert pick(1.5)["BTC"].resolution == "1h"  # 5 m is too short, 1 h covers 2 days
    assert pick(365)["BTC"].resolution == "1h"  # none covers a year: most coverage, finest at equal coverage
    assert len(pick(1.0)["BTC"].returns) == 299 and len(pick(365)["BTC"].returns) == 47


def test_return_series_reads_only_bars_opened_inside_the_window():
    """``start``/``end`` bound the bars read: no day of lead (that is the hourly matrix's)."""
    import datetime as _dt

    from riskgov.markets.selectors import return_series

    asset = AssetFactory(symbol="BTC")
    t0 = _dt.datetime(2024, 1, 2, tzinfo=_dt.UTC)
    for h in range(48):
        PriceBarFactory(
            asset=asset, source="binance", resolution="1h", timestamp=t0 + _dt.timedelta(hours=h), close=100 + h
        )
    out = return_series(
        symbol="BTC",
        resolution="1h",
        source="binance",
        start=_dt.datetime(2024, 1, 3, tzinfo=_dt.UTC),
        end=_dt.datetime(2024, 1, 3, 5, tzinfo=_dt.UTC),
    )
    assert len(out.returns) == 5

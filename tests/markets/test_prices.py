"""Daily closes: import from the real files, stored exactly, read back as a matrix."""

import datetime as dt
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from riskgov.markets.models import DailyClose
from riskgov.markets.selectors import price_matrix
from tests.conftest import DATA

pytestmark = pytest.mark.django_db


def test_import_real_files_and_build_the_matrix():
    call_command(
        "import_prices",
        str(DATA / "prices" / "yahoo_daily_closes.csv"),
        str(DATA / "prices" / "binance_BTCUSDT_1d.csv"),
    )
    btc = DailyClose.objects.get(asset__symbol="BTC", source="yahoo", date=dt.date(2020, 3, 12))
    assert btc.close.quantize(Decimal("0.01")) == Decimal("4970.79")
    m = price_matrix(symbols=["BTC", "ETH", "NOPE"])
    assert m.symbols == ("BTC", "ETH") and m.missing == ("NOPE",)
    assert m.sources == ("yahoo", "yahoo")  # preferred source, no mixing
    i = int(np.searchsorted(m.dates, np.datetime64("2020-03-12")))
    assert m.closes[i, 0] == pytest.approx(4970.79, abs=0.01)
    assert np.isnan(m.closes[0, 1])  # ETH has no close on BTC's first date (2014)
    assert m.closes.shape == (len(m.dates), 2)
    # binance only when asked for it first
    b = price_matrix(symbols=["BTC"], sources=("binance_klines_1d", "yahoo"))
    j = int(np.searchsorted(b.dates, np.datetime64("2020-03-12")))
    assert b.closes[j, 0] == pytest.approx(4800.0)


def test_reimport_is_a_no_op_and_bad_files_store_nothing(tmp_path):
    f = DATA / "prices" / "coinmetrics_LUNA_reference_rate.csv"
    call_command("import_prices", str(f))
    n = DailyClose.objects.count()
    call_command("import_prices", str(f))
    assert DailyClose.objects.count() == n == 38
    bad = tmp_path / "yahoo_bad.csv"
    bad.write_text("symbol,date,close\nBTC-USD,2020-01-01,7200.1\nBTC-USD,2020-01-02,-1\n")
    with pytest.raises(CommandError, match="line 3"):
        call_command("import_prices", str(bad))
    assert DailyClose.objects.count() == n

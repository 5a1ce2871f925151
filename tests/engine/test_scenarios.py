"""Scenario builders (RISK_MODEL §9): uniform, per-asset, historical joint windows."""

import numpy as np
import pytest

from riskgov.engine.brackets import build_parameter_set
from riskgov.engine.scenarios import (
    concat,
    historical_scenarios,
    per_asset_scenario,
    uniform_scenarios,
    zero_scenario,
)
from riskgov.engine.types import AssetSpec, EngineInputError, MarketSpec, PriceError, UnknownSymbolError


def _assets(with_sol: bool = False):
    specs = [AssetSpec("USDT", 0.0, True), AssetSpec("BTC", 0.1), AssetSpec("ETH", 0.2)]
    if with_sol:
        specs.append(AssetSpec("SOL", 0.3))
    m = MarketSpec("BTC-PERP", "BTC", (0.0,), (0.1,), (0.05,))
    return build_parameter_set(assets=specs, markets=[m]).assets


# 3 history columns; ETH has no close on 01-03 (NaN) and there is no row at all for 01-07.
DATES = ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-06", "2024-01-08"]
BTC = [100.0, 110.0, 99.0, 120.0, 90.0, 100.0, 80.0]
ETH = [10.0, 12.0, np.nan, 12.0, 6.0, 9.0, 8.0]
DOGE = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
CLOSES = np.array([BTC, ETH, DOGE]).T
HIST = ["BTC", "ETH", "DOGE"]


def test_uniform_leaves_stables_alone():
    sc = uniform_scenarios(_assets(), [-0.1, 0.2])
    np.testing.assert_array_equal(sc.shocks, [[0.0, -0.1, -0.1], [0.0, 0.2, 0.2]])
    assert sc.kinds == ("uniform", "uniform")
    assert sc.names[0] == "uniform -10.0%"


def test_per_asset_depeg_names_the_stable():
    sc = per_asset_scenario(_assets(), "USDT depeg", {"USDT": -0.05, "ETH": -0.3})
    np.testing.assert_array_equal(sc.shocks, [[-0.05, 0.0, -0.3]])
    with pytest.raises(UnknownSymbolError):
        per_asset_scenario(_assets(), "x", {"XRP": -0.1})
    with pytest.raises(PriceError):
        per_asset_scenario(_assets(), "x", {"BTC": -1.0})


def test_historical_one_day_windows_by_hand():
    sc = historical_scenarios(_assets(), CLOSES, HIST, DATES, 1)
    # shared dates: 01-01, 01-02, 01-04, 01-05, 01-06, 01-08 (01-03: ETH missing).
    # 1-day windows whose both ends are shared: 01-01→02, 01-04→05, 01-05→06.
    assert sc.start_date == ("2024-01-01", "2024-01-04", "2024-01-05")
    assert sc.end_date == ("2024-01-02", "2024-01-05", "2024-01-06")
    expect = [
        [0.0, 110 / 100 - 1, 12 / 10 - 1],
        [0.0, 90 / 120 - 1, 6 / 12 - 1],
        [0.0, 100 / 90 - 1, 9 / 6 - 1],
    ]
    np.testing.assert_allclose(sc.shocks, expect, rtol=1e-15)
    assert set(sc.kinds) == {"historical"}


def test_historical_three_day_windows_by_hand():
    sc = historical_scenarios(_assets(), CLOSES, HIST, DATES, 3)
    # 01-01→04, 01-02→05, 01-05→08 (01-03→06 starts on a dropped date; 01-04→07 and 01-06→09
    # end on dates without a row)
    assert sc.start_date == ("2024-01-01", "2024-01-02", "2024-01-05")
    expect = [
        [0.0, 120 / 100 - 1, 12 / 10 - 1],
        [0.0, 90 / 110 - 1, 6 / 12 - 1],
        [0.0, 80 / 90 - 1, 8 / 6 - 1],
    ]
    np.testing.assert_allclose(sc.shocks, expect, rtol=1e-15)


def test_historical_missing_history_needs_explicit_proxy():
    with pytest.raises(UnknownSymbolError, match="SOL"):
        historical_scenarios(_assets(with_sol=True), CLOSES, HIST, DATES, 1)
    sc = historical_scenarios(_assets(with_sol=True), CLOSES, HIST, DATES, 1, {"SOL": "ETH"})
    np.testing.assert_array_equal(sc.shocks[:, 3], sc.shocks[:, 2])
    with pytest.raises(UnknownSymbolError, match="XRP"):
        historical_scenarios(_assets(with_sol=True), CLOSES, HIST, DATES, 1, {"SOL": "XRP"})


def test_historical_does_not_need_unused_history_and_drops_its_gaps():
    # DOGE is not an asset: its column never restricts the shared dates
    closes = CLOSES.copy()
    closes[0, 2] = np.nan
    sc = historical_scenarios(_assets(), closes, HIST, DATES, 1)
    assert sc.n == 3


def test_historical_input_errors():
    with pytest.raises(EngineInputError):
        historical_scenarios(_assets(), CLOSES, HIST, DATES, 0)
    with pytest.raises(EngineInputError):
        historical_scenarios(_assets(), CLOSES, HIST, DATES[::-1], 1)
    with pytest.raises(EngineInputError):
        historical_scenarios(_assets(), CLOSES, HIST, DATES, 30)
    bad = CLOSES.copy()
    bad[0, 0] = -1.0
    with pytest.raises(PriceError):
        historical_scenarios(_assets(), bad, HIST, DATES, 1)


def test_concat_and_zero():
    a = _assets()
    sc = concat(zero_scenario(a), uniform_scenarios(a, [-0.5]))
    assert sc.n == 2 and sc.names[0] == "base"
    np.testing.assert_array_equal(sc.shocks[0], 0.0)
    with pytest.raises(EngineInputError):
        concat(zero_scenario(a), zero_scenario(_assets(with_sol=True)))

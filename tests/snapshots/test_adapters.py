"""snapshot_venue_state: arrays match the rows, ranges rebase, whole-snapshot OI, missing symbols."""

import numpy as np
import pytest

from riskgov.core.exceptions import DomainError
from riskgov.engine.brackets import build_parameter_set
from riskgov.engine.margin import open_interest
from riskgov.engine.types import AssetSpec, MarketSpec
from riskgov.parameters.adapters import engine_parameters
from riskgov.snapshots.adapters import snapshot_account_count, snapshot_venue_state
from riskgov.snapshots.services import snapshot_import

pytestmark = pytest.mark.django_db


@pytest.fixture
def imported(snap_dir):
    return snapshot_import(path=snap_dir)


def test_full_state_matches_rows(imported):
    params = engine_parameters().params
    st = snapshot_venue_state(snapshot=imported, params=params)
    pf = st.state.portfolio
    assert snapshot_account_count(imported) == pf.n_accounts == 3
    assert list(st.account_ids) == ["a1", "a,2", "a3"]
    assert list(pf.position_account) == [0, 0, 1, 2]  # sorted by account, then row id
    mk = params.markets
    assert [mk.symbols[i] for i in pf.position_market] == ["ETH-PERP", "BTC-PERP", "ETH-PERP", "BTC-PERP"]
    np.testing.assert_array_equal(pf.size, [1.5, -0.05, -2.0, 0.1])
    np.testing.assert_array_equal(pf.entry_price, [2600, 99000.5, 2800, 90000])
    np.testing.assert_array_equal(pf.isolated, [False, False, True, False])
    np.testing.assert_array_equal(pf.isolated_margin, [0, 0, 500.25, 0])
    assert sorted(st.position_ids.tolist()) == sorted(imported.positions.values_list("id", flat=True))
    ids = dict(imported.positions.values_list("id", "size"))
    np.testing.assert_array_equal([float(ids[i]) for i in st.position_ids], pf.size)
    assets = params.assets
    got = sorted(
        zip(
            pf.balance_account.tolist(),
            [assets.symbols[i] for i in pf.balance_asset],
            pf.balance_amount.tolist(),
            strict=True,
        )
    )
    assert got == [(0, "USDT", 10000.0), (1, "BTC", 0.5), (2, "ETH", 3.0), (2, "USDT", -5.0)]
    prices = dict(zip(assets.symbols, st.state.asset_prices, strict=True))
    assert prices["BTC"] == pytest.approx(95000.123456789) and prices["USDT"] == 1.0
    assert st.state.insurance_fund == 1000000.5
    expected = open_interest(params, pf, st.state.asset_prices)
    np.testing.assert_allclose(st.open_interest, expected, rtol=1e-12)
    assert st.state.open_interest is st.open_interest


def test_range_rebases_and_keeps_whole_snapshot_oi(imported):
    params = engine_parameters().params
    whole = snapshot_venue_state(snapshot=imported, params=params)
    part = snapshot_venue_state(snapshot=imported, params=params, first_account=1, last_account=3)
    pf = part.state.portfolio
    assert pf.n_accounts == 2 and part.first_account == 1
    assert list(part.account_ids) == ["a,2", "a3"]
    assert list(pf.position_account) == [0, 1] and list(pf.balance_account) == [0, 1, 1]
    np.testing.assert_array_equal(part.position_ids, whole.position_ids[2:])
    np.testing.assert_array_equal(part.open_interest, whole.open_interest)  # not just this range's longs
    empty = snapshot_venue_state(snapshot=imported, params=params, first_account=3, last_account=3)
    assert empty.state.portfolio.n_accounts == 0 and empty.state.portfolio.n_positions == 0
    with pytest.raises(DomainError):
        snapshot_venue_state(snapshot=imported, params=params, first_account=2, last_account=9)


def test_missing_symbols_named(imported):
    params = build_parameter_set(
        assets=[AssetSpec("USDT", stable=True), AssetSpec("BTC")],
        markets=[MarketSpec("BTC-PERP", "BTC", floors=[0], imf=[0.1], mmf=[0.05])],
    )
    with pytest.raises(DomainError) as info:
        snapshot_venue_state(snapshot=imported, params=params)
    assert "markets ETH-PERP" in info.value.message and "assets ETH" in info.value.message


def test_unused_asset_prices(imported):
    params = build_parameter_set(
        assets=[
            AssetSpec("USDT", stable=True),
            AssetSpec("USDC", stable=True),
            AssetSpec("BTC"),
            AssetSpec("ETH"),
            AssetSpec("XYZ"),
        ],
        markets=[
            MarketSpec("BTC-PERP", "BTC", floors=[0], imf=[0.1], mmf=[0.05]),
            MarketSpec("ETH-PERP", "ETH", floors=[0], imf=[0.1], mmf=[0.05]),
        ],
    )
    with pytest.raises(DomainError, match="no price for XYZ"):
        snapshot_venue_state(snapshot=imported, params=params)
    params = build_parameter_set(
        assets=[AssetSpec("USDT", stable=True), AssetSpec("USDC", stable=True), AssetSpec("BTC"), AssetSpec("ETH")],
        markets=[
            MarketSpec("BTC-PERP", "BTC", floors=[0], imf=[0.1], mmf=[0.05]),
            MarketSpec("ETH-PERP", "ETH", floors=[0], imf=[0.1], mmf=[0.05]),
        ],
    )
    st = snapshot_venue_state(snapshot=imported, params=params)
    assert st.state.asset_prices[1] == 1.0 and st.price_source[1] == "stable"


def test_whole_snapshot_facts_are_read_once_per_snapshot(imported, django_assert_num_queries):
    """The whole-snapshot scans (assets held, portfolio-mode accounts) run once per process and
    snapshot, not once per chunk; another snapshot key (sha256) reads them again."""
    from riskgov.snapshots import adapters

    adapters._FACTS.clear()
    first = adapters._facts(imported)
    with django_assert_num_queries(0):
        assert adapters._facts(imported) is first
    imported.sha256 = "f" * 64
    with django_assert_num_queries(2):
        adapters._facts(imported)

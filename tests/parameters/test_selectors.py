"""Parameter selectors: versions in market/number order with their brackets, the one active
version of each market and asset, reference tables newest first per venue, field-by-field
diffs, the ``riskgov.parameters/1`` export and the bracket curves of the Parameters page."""

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from riskgov.parameters import selectors
from riskgov.parameters.models import ParameterImport, VersionStatus
from riskgov.parameters.services import (
    asset_version_create,
    market_version_set_status,
    parameters_import_document,
)
from tests.factories import AssetFactory, MarketFactory, market_version, parameter_document

pytestmark = pytest.mark.django_db

ETH_BRACKETS = ((0, "0.02", "0.01"), (100000, "0.05", "0.025"))


def _activate(version, *, replacing=None):
    """Move a draft to active (superseding ``replacing``), as governance activation does."""
    if replacing is not None:
        market_version_set_status(version=replacing, status=VersionStatus.SUPERSEDED)
    market_version_set_status(version=version, status=VersionStatus.APPROVED)
    return market_version_set_status(version=version, status=VersionStatus.ACTIVE)


@pytest.fixture
def two_markets(db):
    """BTC-PERP: v1 superseded, v2 active, v3 draft. ETH-PERP: v1 active. USDT (stable), BTC and
    ETH with an active haircut; BTC also has a draft haircut."""
    usdt = AssetFactory(symbol="USDT", stable=True)
    btc, eth = AssetFactory(symbol="BTC"), AssetFactory(symbol="ETH")
    btc_perp = MarketFactory(symbol="BTC-PERP", base_asset=btc)
    eth_perp = MarketFactory(symbol="ETH-PERP", base_asset=eth)
    b1 = market_version(btc_perp, status=VersionStatus.ACTIVE)
    b2 = _activate(market_version(btc_perp, liquidation_penalty=Decimal("0.003")), replacing=b1)
    b3 = market_version(btc_perp, rows=((0, "0.01", "0.004"), (500000, "0.03", "0.006")))
    e1 = market_version(eth_perp, rows=ETH_BRACKETS, status=VersionStatus.ACTIVE, depth_usd_per_1pct=Decimal("2e6"))
    for asset, haircut in ((usdt, "0"), (btc, "0.05"), (eth, "0.1")):
        asset_version_create(asset=asset, haircut=Decimal(haircut), status=VersionStatus.ACTIVE)
    asset_version_create(asset=btc, haircut=Decimal("0.07"))
    return {"b1": b1, "b2": b2, "b3": b3, "e1": e1}


# --- versions -------------------------------------------------------------------------------
def test_market_versions_in_market_then_newest_number_order(two_markets):
    v = two_markets
    assert [x.pk for x in selectors.market_versions()] == [v["b3"].pk, v["b2"].pk, v["b1"].pk, v["e1"].pk]
    assert [x.pk for x in selectors.market_versions(status=VersionStatus.DRAFT)] == [v["b3"].pk]
    assert [x.pk for x in selectors.market_versions(status=VersionStatus.SUPERSEDED)] == [v["b1"].pk]
    assert [x.pk for x in selectors.market_versions(markets=["ETH-PERP", "NOPE-PERP"])] == [v["e1"].pk]
    assert list(selectors.market_versions(markets=["NOPE-PERP"])) == []


def test_market_versions_load_market_asset_and_ordered_brackets_in_bulk(two_markets, django_assert_max_num_queries):
    # at most the docstring's 3 queries for 4 versions (no query per version or per bracket)
    with django_assert_max_num_queries(3):
        rows = [
            (v.market.symbol, v.market.base_asset.symbol, v.number, [b.index for b in v.brackets.all()])
            for v in selectors.market_versions()
        ]
    assert rows == [
        ("BTC-PERP", "BTC", 3, [1, 2]),
        ("BTC-PERP", "BTC", 2, [1, 2, 3]),
        ("BTC-PERP", "BTC", 1, [1, 2, 3]),
        ("ETH-PERP", "ETH", 1, [1, 2]),
    ]


def test_active_market_versions_are_one_per_market(two_markets):
    v = two_markets
    active = list(selectors.active_market_versions())
    assert [(x.market.symbol, x.pk) for x in active] == [("BTC-PERP", v["b2"].pk), ("ETH-PERP", v["e1"].pk)]
    assert all(x.status == VersionStatus.ACTIVE for x in active)
    assert [x.pk for x in selectors.active_market_versions(markets=["BTC-PERP"])] == [v["b2"].pk]


def test_active_market_versions_empty_without_parameters(db):
    assert list(selectors.active_market_versions()) == []
    assert list(selectors.active_asset_versions()) == []


def test_active_asset_versions_only_active_in_symbol_order(two_markets):
    rows = [(a.asset.symbol, a.haircut) for a in selectors.active_asset_versions()]
    assert rows == [("BTC", Decimal("0.05")), ("ETH", Decimal("0.1")), ("USDT", Decimal("0"))]


def test_reference_imports_only_references_by_venue_newest_first(db):
    def ref(venue, name, hours_ago):
        doc = parameter_document(name=name)
        r = parameters_import_document(document=doc, venue=venue, reference=True).parameter_import
        ParameterImport.objects.filter(pk=r.pk).update(created_at=timezone.now() - dt.timedelta(hours=hours_ago))
        return r.pk

    old_binance = ref("binance", "old", 5)
    dydx = ref("dydx", "d", 1)
    new_binance = ref("binance", "new", 1)
    parameters_import_document(document=parameter_document(name="ours"))  # not a reference
    assert [r.pk for r in selectors.reference_imports()] == [new_binance, old_binance, dydx]


# --- diffs ----------------------------------------------------------------------------------
def test_field_change_relative_and_decimal_strings():
    assert selectors.field_change("x", Decimal("0.004"), Decimal("0.0040")) is None
    up = selectors.field_change("x", Decimal("0.0040"), Decimal("0.005"))
    assert (up.path, up.before, up.after, up.relative) == ("x", "0.004", "0.005", Decimal("0.25"))
    assert selectors.field_change("x", Decimal(3), Decimal(2)).relative == Decimal("-0.333333")
    assert selectors.field_change("x", Decimal(-2), Decimal(-1)).relative == Decimal("0.5")  # over |before|
    assert selectors.field_change("x", Decimal(0), Decimal(5)).relative is None  # from zero
    added = selectors.field_change("x", None, Decimal("5E+7"))
    assert (added.before, added.after, added.relative) == (None, "50000000", None)
    assert selectors.field_change("x", Decimal(1), None).as_dict() == {
        "field": "x",
        "before": "1",
        "after": None,
        "relative_change": None,
    }
    assert up.as_dict()["relative_change"] == "0.250000"


def test_market_version_diff_fields_and_brackets_by_position(two_markets):
    b2, b3 = two_markets["b2"], two_markets["b3"]
    diff = {c.path: (c.before, c.after) for c in selectors.market_version_diff(b2, b3)}
    assert diff == {
        "liquidation_penalty": ("0.003", "0.002"),
        "brackets[2].notional_floor": ("300000", "500000"),
        "brackets[2].initial_margin_fraction": ("0.02", "0.03"),
        "brackets[2].maintenance_margin_fraction": ("0.005", "0.006"),
        "brackets[2].maintenance_amount": ("300", "1000"),  # 300000·0.001, 500000·0.002
        "brackets[3].notional_floor": ("1000000", None),  # a bracket on one side only
        "brackets[3].initial_margin_fraction": ("0.05", None),
        "brackets[3].maintenance_margin_fraction": ("0.01", None),
        "brackets[3].maintenance_amount": ("5300", None),
    }
    back = selectors.market_version_diff(b3, b2)
    assert [c.path for c in back] == list(diff)
    assert all(c.before is None for c in back if c.path.startswith("brackets[3]"))


def test_market_version_diff_of_equal_versions_is_empty(two_markets):
    v = two_markets
    assert selectors.market_version_diff(v["b1"], v["b1"]) == []
    liq = selectors.market_version_diff(v["b1"], v["b2"])
    assert [(c.path, c.relative) for c in liq] == [("liquidation_penalty", Decimal("0.5"))]


def test_market_version_diff_from_nothing_lists_every_field_as_added(two_markets):
    e1 = two_markets["e1"]
    diff = selectors.market_version_diff(None, e1)
    assert all(c.before is None and c.relative is None for c in diff)
    paths = [c.path for c in diff]
    # max_position_notional_usd is None on both sides: not a change
    assert paths[:5] == [
        "liquidation_penalty",
        "depth_usd_per_1pct",
        "oi_cap_lower_usd",
        "oi_cap_upper_usd",
        "liquidation_horizon_minutes",
    ]
    assert "max_position_notional_usd" not in paths
    assert paths[5:] == [
        f"brackets[{i}].{f}"
        for i in (1, 2)
        for f in ("notional_floor", "initial_margin_fraction", "maintenance_margin_fraction", "maintenance_amount")
    ]
    assert {c.path: c.after for c in diff}["depth_usd_per_1pct"] == "2000000"


def test_market_version_diff_refuses_two_markets(two_markets):
    with pytest.raises(ValueError, match="BTC-PERP with ETH-PERP"):
        selectors.market_version_diff(two_markets["b2"], two_markets["e1"])


def test_asset_version_diff(two_markets):
    from riskgov.parameters.models import AssetParameterVersion

    btc = AssetParameterVersion.objects.filter(asset__symbol="BTC").order_by("number")
    active, draft = btc
    (c,) = selectors.asset_version_diff(active, draft)
    assert (c.path, c.before, c.after, c.relative) == ("haircut", "0.05", "0.07", Decimal("0.4"))
    assert selectors.asset_version_diff(active, active) == []
    (new,) = selectors.asset_version_diff(None, active)
    assert (new.before, new.after) == (None, "0.05")
    usdt = AssetParameterVersion.objects.get(asset__symbol="USDT")
    (zero,) = selectors.asset_version_diff(None, usdt)
    assert zero.after == "0"


# --- export ---------------------------------------------------------------------------------
def test_parameters_document_sorted_plain_decimals_and_stable_flag(two_markets):
    v = two_markets
    assets = list(selectors.active_asset_versions())
    doc = selectors.parameters_document(
        market_versions_=[v["e1"], v["b2"]], asset_versions=assets[::-1], name="n", source="s"
    )
    assert (doc["format"], doc["name"], doc["source"]) == ("riskgov.parameters/1", "n", "s")
    assert [m["symbol"] for m in doc["markets"]] == ["BTC-PERP", "ETH-PERP"]
    assert doc["assets"] == [
        {"symbol": "BTC", "haircut": "0.05"},
        {"symbol": "ETH", "haircut": "0.1"},
        {"symbol": "USDT", "haircut": "0", "stable": True},
    ]
    btc = doc["markets"][0]
    assert btc == {
        "symbol": "BTC-PERP",
        "base_asset": "BTC",
        "liquidation_penalty": "0.003",
        "depth_usd_per_1pct": "50000000",
        "oi_cap_lower_usd": "0",
        "oi_cap_upper_usd": "0",
        "max_position_notional_usd": None,
        "liquidation_horizon_minutes": "5",
        "brackets": [
            {"notional_floor": "0", "initial_margin_fraction": "0.01", "maintenance_margin_fraction": "0.004"},
            {"notional_floor": "300000", "initial_margin_fraction": "0.02", "maintenance_margin_fraction": "0.005"},
            {"notional_floor": "1000000", "initial_margin_fraction": "0.05", "maintenance_margin_fraction": "0.01"},
        ],
    }
    assert doc["markets"][1]["depth_usd_per_1pct"] == "2000000"


def test_parameters_document_default_source_and_empty(db):
    doc = selectors.parameters_document(market_versions_=[], asset_versions=[], name="empty")
    assert doc == {
        "format": "riskgov.parameters/1",
        "name": "empty",
        "source": "exported from riskgov",
        "assets": [],
        "markets": [],
    }


def test_active_parameters_document_of_some_markets_keeps_their_assets_and_stables(two_markets):
    whole = selectors.active_parameters_document()
    assert whole["name"] == "riskgov active parameters"
    assert [m["symbol"] for m in whole["markets"]] == ["BTC-PERP", "ETH-PERP"]
    assert whole["markets"][0]["liquidation_penalty"] == "0.003"  # the active v2, not the draft v3
    assert [a["symbol"] for a in whole["assets"]] == ["BTC", "ETH", "USDT"]
    assert {a["symbol"]: a["haircut"] for a in whole["assets"]}["BTC"] == "0.05"  # not the draft 0.07
    eth = selectors.active_parameters_document(markets=["ETH-PERP"], name="eth")
    assert [m["symbol"] for m in eth["markets"]] == ["ETH-PERP"]
    assert [a["symbol"] for a in eth["assets"]] == ["ETH", "USDT"]  # base asset + stablecoins
    assert eth["name"] == "eth"


def test_active_parameters_document_round_trips_through_the_validator(two_markets):
    from riskgov.parameters.document import validate_document

    assert validate_document(selectors.active_parameters_document()) == []


# --- curves ---------------------------------------------------------------------------------
def test_market_version_curve(two_markets):
    b2 = two_markets["b2"]
    curve = selectors.market_version_curve(b2)
    assert curve.label == "riskgov v2 (active)"
    assert curve.floors == (Decimal(0), Decimal(300000), Decimal(1000000))
    assert curve.imf == (Decimal("0.01"), Decimal("0.02"), Decimal("0.05"))
    assert curve.mmf == (Decimal("0.004"), Decimal("0.005"), Decimal("0.01"))
    assert curve.maintenance_amounts == (Decimal(0), Decimal(300), Decimal(5300))
    assert selectors.market_version_curve(b2, label="ours").label == "ours"


def test_reference_curves_newest_table_per_venue_in_venue_order(db):
    def ref(venue, imf2, hours_ago, market="BTC-PERP"):
        doc = parameter_document(name=f"{venue} {imf2}")
        doc["markets"][0]["symbol"] = market
        doc["markets"][0]["brackets"][1]["initial_margin_fraction"] = imf2
        r = parameters_import_document(document=doc, venue=venue, reference=True).parameter_import
        ParameterImport.objects.filter(pk=r.pk).update(created_at=timezone.now() - dt.timedelta(hours=hours_ago))

    ref("hyperliquid", "0.03", 2)
    ref("binance", "0.025", 1)
    ref("binance", "0.04", 9)  # an older binance table: ignored
    ref("dydx", "0.02", 1, market="ETH-PERP")  # dydx has no BTC-PERP
    curves = selectors.reference_curves(market="BTC-PERP")
    assert [c.label for c in curves] == ["binance (reference)", "hyperliquid (reference)"]
    assert [c.imf[1] for c in curves] == [Decimal("0.025"), Decimal("0.03")]
    assert curves[0].floors == (Decimal(0), Decimal(300000))
    assert curves[0].mmf == (Decimal("0.004"), Decimal("0.005"))
    assert curves[0].maintenance_amounts == (Decimal(0), Decimal(300))  # derived, 300000·(0.005 − 0.004)
    assert [c.label for c in selectors.reference_curves(market="ETH-PERP")] == ["dydx (reference)"]
    assert selectors.reference_curves(market="NOPE-PERP") == []


def test_reference_curves_empty_without_references(two_markets):
    assert selectors.reference_curves(market="BTC-PERP") == []

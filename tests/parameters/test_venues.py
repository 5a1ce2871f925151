"""Venue importers and the parameter document, on the real venue files (no Django, no DB).

Every test reads the product's own copies in ``data/margin/`` (provenance and the originals'
SHA-256 in ``data/README.md``; ``data/make_demo_data.py --check`` proves the copies equal a
fresh trim of the originals, so no test reads a folder outside the repository).
"""

from __future__ import annotations

import copy
import csv
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest

from riskgov.parameters.document import (
    FORMAT,
    ParameterDocumentError,
    decimal_str,
    derive_maintenance_amounts,
    dump_document,
    load_document,
    validate_document,
)
from riskgov.parameters.venues import (
    Finding,
    VenueFileError,
    hyperliquid_day_volume,
    hyperliquid_depth_by_base,
    hyperliquid_open_interest,
    parse_binance,
    parse_dydx,
    parse_hyperliquid,
)
from riskgov.parameters.venues.common import fraction_of

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "data" / "margin"

BINANCE_JSON = {
    "data": DATA / "binance_usdm_leverage_tiers.json",
}
BINANCE_CSV = {
    "data": DATA / "binance_usdm_leverage_tiers_flat.csv",
}
HL_META = {
    "data": DATA / "hyperliquid_meta_universe_marginTables.json",
}
HL_CSV = {
    "data": DATA / "hyperliquid_margin_tiers_by_coin.csv",
}
HL_SNAPSHOT = {
    "data": DATA / "hyperliquid_perp_meta_snapshot.csv",
}
DYDX_GENESIS = {
    "data": DATA / "dydx_v4_genesis_perpetuals.json",
}
DYDX_CSV = {
    "data": DATA / "dydx_v4_genesis_perp_margin_params.csv",
}
VARIANTS = [pytest.param("data", id="data")]


def market(doc: dict, symbol: str) -> dict:
    return next(m for m in doc["markets"] if m["symbol"] == symbol)


def kinds(findings: list[Finding]) -> Counter:
    return Counter(f.kind for f in findings)


def brackets(m: dict) -> list[tuple[str, str, str]]:
    return [
        (b["notional_floor"], b["initial_margin_fraction"], b["maintenance_margin_fraction"]) for b in m["brackets"]
    ]


# --------------------------------------------------------------------------- Binance


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("files", [BINANCE_JSON, BINANCE_CSV], ids=["json", "flat_csv"])
def test_binance_btc_brackets_match_file(files, variant):
    doc, findings = parse_binance(files[variant])
    assert validate_document(doc) == []
    btc = market(doc, "BTC-PERP")
    assert btc["base_asset"] == "BTC"
    assert len(btc["brackets"]) == 12
    # tier 1: maxLeverage 150 (IMF 1/150 rounded up at 10 places), maintenanceMarginRate 0.004
    assert btc["brackets"][0] == {
        "notional_floor": "0",
        "initial_margin_fraction": "0.0066666667",
        "maintenance_margin_fraction": "0.004",
    }
    # tier 12: minNotional 1.2e9, maxLeverage 1, rate 0.5; maxNotional 1.8e9
    assert btc["brackets"][-1] == {
        "notional_floor": "1200000000",
        "initial_margin_fraction": "1",
        "maintenance_margin_fraction": "0.5",
    }
    assert btc["max_position_notional_usd"] == "1800000000"
    assert btc["liquidation_penalty"] == "0.002"  # MMF_1 / 2
    assert btc["oi_cap_lower_usd"] == btc["oi_cap_upper_usd"] == "0"
    assert kinds(findings)["maintenance_amount_mismatch"] == 0


def test_binance_demo_copy_counts():
    doc, findings = parse_binance(BINANCE_JSON["data"])
    assert len(doc["markets"]) == 75
    assert kinds(findings) == Counter({"out_of_scope": 5, "market_skipped": 1})
    skipped = next(f for f in findings if f.kind == "market_skipped")
    assert skipped.market == "币安人生/USDT:USDT"
    out = {f.market for f in findings if f.kind == "out_of_scope"}
    assert out == {"BTC/USDC:USDC", "BTC/USD1:USD1", "BTC/U:U", "BTC/USDT:USDT-260925", "ETH/BTC:BTC"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_binance_json_and_flat_csv_agree(variant):
    a, fa = parse_binance(BINANCE_JSON[variant])
    b, fb = parse_binance(BINANCE_CSV[variant])
    assert a["markets"] == b["markets"] and a["assets"] == b["assets"]
    assert [str(f) for f in fa] == [str(f) for f in fb]


@pytest.mark.parametrize("variant", VARIANTS)
def test_binance_derived_maintenance_amounts_equal_venue_cum(variant):
    raw = json.loads(BINANCE_JSON[variant].read_text(encoding="utf-8"), parse_float=Decimal)
    compared = 0
    for symbol, tiers in raw.items():
        if not symbol.endswith("/USDT:USDT"):
            continue
        derived = derive_maintenance_amounts(
            [t["minNotional"] for t in tiers], [t["maintenanceMarginRate"] for t in tiers]
        )
        assert derived == [Decimal(t["info"]["cum"]) for t in tiers], symbol
        compared += len(tiers)
    assert compared > 0
    btc = raw["BTC/USDT:USDT"]
    cum = derive_maintenance_amounts([t["minNotional"] for t in btc], [t["maintenanceMarginRate"] for t in btc])
    assert cum[1] == Decimal("300") and cum[-1] == Decimal("421482000")


def _write_json(path: Path, obj) -> Path:
    path.write_text(json.dumps(obj), encoding="utf-8")
    return path


def _btc_tiers() -> list[dict]:
    raw = json.loads(BINANCE_JSON["data"].read_text(encoding="utf-8"))
    return raw["BTC/USDT:USDT"]


def test_binance_cum_mismatch_is_reported_not_used(tmp_path):
    tiers = _btc_tiers()
    tiers[2]["info"]["cum"] = 1234.5
    doc, findings = parse_binance(_write_json(tmp_path / "t.json", {"BTC/USDT:USDT": tiers}))
    [f] = [f for f in findings if f.kind == "maintenance_amount_mismatch"]
    assert (f.market, f.tier, f.venue_value, f.derived_value) == ("BTC/USDT:USDT", 3, "1234.5", "1500")
    assert "cum" not in json.dumps(doc)  # maintenance amounts are never stored


def test_binance_invalid_table_is_skipped_with_rule(tmp_path):
    tiers = _btc_tiers()
    tiers[0]["maintenanceMarginRate"] = 0.01  # IMF 1/150 < MMF 0.01
    eth = copy.deepcopy(tiers)
    for t in eth:
        t["symbol"] = "ETH/USDT:USDT"
    eth[0]["maintenanceMarginRate"] = 0.004
    eth[3]["maxLeverage"] = 200.0  # IMF goes down at tier 4
    path = _write_json(tmp_path / "t.json", {"BTC/USDT:USDT": tiers, "ETH/USDT:USDT": eth})
    doc, findings = parse_binance(path)
    assert doc["markets"] == []
    msgs = [(f.market, f.tier, f.message) for f in findings if f.kind == "market_skipped"]
    assert any(
        m == "BTC/USDT:USDT" and t == 1 and "maintenance_margin_fraction: 0.01 is not < initial_margin_fraction" in s
        for m, t, s in msgs
    )
    assert any(m == "ETH/USDT:USDT" and t == 4 and "must be non-decreasing" in s for m, t, s in msgs)


def test_binance_symbols_filter_and_not_found():
    doc, findings = parse_binance(BINANCE_JSON["data"], symbols=["BTC-PERP", "ETH/USDT:USDT", "NOPE-PERP"])
    assert [m["symbol"] for m in doc["markets"]] == ["BTC-PERP", "ETH-PERP"]
    assert [(f.kind, f.market) for f in findings] == [("not_found", "NOPE-PERP")]


def test_binance_bad_number_names_file_row_and_column(tmp_path):
    text = BINANCE_CSV["data"].read_text(encoding="utf-8").splitlines()
    text[3] = text[3].replace(",0.02,", ",abc,", 1)
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(VenueFileError, match=r"bad\.csv row 4 column maint_margin_rate: 'abc'"):
        parse_binance(path)


def test_binance_defaults_are_keywords():
    doc, _ = parse_binance(
        BINANCE_JSON["data"],
        symbols=["BTC-PERP"],
        haircuts={"BTC": Decimal("0.2")},
        liquidation_penalty=Decimal("0.05"),
        depth_by_base={"BTC": Decimal("25000000")},
    )
    btc = market(doc, "BTC-PERP")
    assert btc["liquidation_penalty"] == "0.004"  # clamped to MMF_1
    assert btc["depth_usd_per_1pct"] == "25000000"
    assert {a["symbol"]: a["haircut"] for a in doc["assets"]}["BTC"] == "0.2"


# --------------------------------------------------------------------------- Hyperliquid


@pytest.mark.parametrize("variant", VARIANTS)
def test_hyperliquid_meta_btc_and_counts(variant):
    doc, findings = parse_hyperliquid(HL_META[variant], snapshot=HL_SNAPSHOT[variant])
    assert validate_document(doc) == []
    btc = market(doc, "BTC-PERP")
    assert brackets(btc) == [("0", "0.025", "0.0125"), ("150000000", "0.05", "0.025")]
    assert btc["max_position_notional_usd"] is None
    assert btc["liquidation_penalty"] == "0.00625"
    # depth = 0.5 % of dayNtlVlm 2,621,135,493.38 USD, rounded down
    assert btc["depth_usd_per_1pct"] == "13105677"
    # ETH: 25x then 15x from 100M; 1/15 and 0.5/15 rounded up at 10 places
    assert brackets(market(doc, "ETH-PERP")) == [
        ("0", "0.04", "0.02"),
        ("100000000", "0.0666666667", "0.0333333334"),
    ]
    # implicit single-tier table (id 5 < 50 → 5x)
    assert brackets(market(doc, "DYDX-PERP")) == [("0", "0.2", "0.1")]
    assert market(doc, "kPEPE-PERP")["base_asset"] == "kPEPE"
    assert len(doc["markets"]) == 189
    assert kinds(findings) == Counter({"delisted": 38})
    assert "MATIC-PERP" not in {m["symbol"] for m in doc["markets"]}
    assert any(f.kind == "delisted" and f.market == "MATIC" for f in findings)


@pytest.mark.parametrize("variant", VARIANTS)
def test_hyperliquid_csv_matches_meta(variant):
    meta, _ = parse_hyperliquid(HL_META[variant], snapshot=HL_SNAPSHOT[variant])
    tiers, findings = parse_hyperliquid(HL_CSV[variant], snapshot=HL_SNAPSHOT[variant])
    assert tiers["markets"] == meta["markets"]
    assert kinds(findings) == Counter({"delisted": 38})  # no IMF/MMF column disagrees


def test_hyperliquid_csv_without_snapshot_notes_unchecked_delisting():
    doc, findings = parse_hyperliquid(HL_CSV["data"])
    assert len(doc["markets"]) == 227
    assert kinds(findings) == Counter({"note": 1})
    assert market(doc, "BTC-PERP")["depth_usd_per_1pct"] == "1000000"


@pytest.mark.parametrize("variant", VARIANTS)
def test_hyperliquid_open_interest_and_volume(variant):
    oi = hyperliquid_open_interest(HL_SNAPSHOT[variant])
    assert oi["BTC-PERP"] == Decimal("3021561757.36")
    assert oi["ETH-PERP"] == Decimal("3016765001.14")
    assert len(oi) == 45  # 65 contexts, 20 of them delisted
    assert len(hyperliquid_open_interest(HL_SNAPSHOT[variant], include_delisted=True)) == 65
    vol = hyperliquid_day_volume(HL_SNAPSHOT[variant])
    assert vol["BTC-PERP"] == Decimal("2621135493.3779191971")
    assert hyperliquid_depth_by_base(HL_SNAPSHOT[variant])["BTC"] == Decimal("13105677")


def test_hyperliquid_unknown_margin_table_is_an_error(tmp_path):
    meta = {"universe": [{"name": "BTC", "maxLeverage": 40, "marginTableId": 99}], "marginTables": []}
    with pytest.raises(VenueFileError, match=r"marginTableId 99 is not in marginTables"):
        parse_hyperliquid(_write_json(tmp_path / "meta.json", meta))


# --------------------------------------------------------------------------- dYdX


@pytest.mark.parametrize("variant", VARIANTS)
def test_dydx_genesis(variant):
    doc, findings = parse_dydx(DYDX_GENESIS[variant])
    assert validate_document(doc) == []
    assert len(doc["markets"]) == 33
    btc = market(doc, "BTC-PERP")
    assert brackets(btc) == [("0", "0.05", "0.03")]
    assert btc["liquidation_penalty"] == "0.015"  # max_liquidation_fee_ppm 15000
    assert btc["max_position_notional_usd"] is None
    assert brackets(market(doc, "MKR-PERP")) == [("0", "0.2", "0.1")]
    assert kinds(findings) == Counter({"note": 3})  # Large-Cap, Mid-Cap, Long-Tail in use


@pytest.mark.parametrize("variant", VARIANTS)
def test_dydx_genesis_fractions_equal_csv_columns(variant):
    doc, _ = parse_dydx(DYDX_GENESIS[variant])
    with DYDX_CSV[variant].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 33
    for row in rows:
        m = market(doc, row["ticker"].replace("-USD", "-PERP"))
        assert Decimal(m["brackets"][0]["initial_margin_fraction"]) == Decimal(row["imf"])
        assert Decimal(m["brackets"][0]["maintenance_margin_fraction"]) == Decimal(row["mmf"])
    csv_doc, csv_findings = parse_dydx(DYDX_CSV[variant])
    assert kinds(csv_findings)["value_mismatch"] == 0
    assert [brackets(m) for m in csv_doc["markets"]] == [brackets(m) for m in doc["markets"]]


def test_dydx_fee_above_mmf_is_clamped_and_reported(tmp_path):
    genesis = json.loads(DYDX_GENESIS["data"].read_text(encoding="utf-8"))
    genesis["app_state"]["clob"]["liquidations_config"]["max_liquidation_fee_ppm"] = 40000
    doc, findings = parse_dydx(_write_json(tmp_path / "g.json", genesis))
    assert market(doc, "BTC-PERP")["liquidation_penalty"] == "0.03"  # clamped to MMF_1
    assert market(doc, "LINK-PERP")["liquidation_penalty"] == "0.04"  # MMF_1 0.05
    clamped = {f.market for f in findings if f.kind == "penalty_clamped"}
    assert clamped == {"BTC-USD", "ETH-USD"}


# --------------------------------------------------------------------------- document


def valid_doc() -> dict:
    return {
        "format": FORMAT,
        "name": "test",
        "source": "unit test",
        "assets": [
            {"symbol": "USDT", "haircut": "0", "stable": True},
            {"symbol": "BTC", "haircut": "0.05"},
        ],
        "markets": [
            {
                "symbol": "BTC-PERP",
                "base_asset": "BTC",
                "liquidation_penalty": "0.004",
                "depth_usd_per_1pct": "50000000",
                "oi_cap_lower_usd": "0",
                "oi_cap_upper_usd": "0",
                "max_position_notional_usd": None,
                "brackets": [
                    {"notional_floor": "0", "initial_margin_fraction": "0.01", "maintenance_margin_fraction": "0.004"},
                    {
                        "notional_floor": "300000",
                        "initial_margin_fraction": "0.02",
                        "maintenance_margin_fraction": "0.005",
                    },
                ],
            }
        ],
    }


def test_valid_document_has_no_errors():
    assert validate_document(valid_doc()) == []


def _errors_after(change) -> list[str]:
    doc = valid_doc()
    change(doc)
    return validate_document(doc)


def _b(doc, k):
    return doc["markets"][0]["brackets"][k - 1]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            lambda d: d.update(format="riskgov.parameters/2"),
            "format: 'riskgov.parameters/2' is not 'riskgov.parameters/1'",
            id="format",
        ),
        pytest.param(lambda d: d.pop("name"), "document.name: is required", id="required-top"),
        pytest.param(lambda d: d.update(extra=1), "document.extra: is not a known field", id="unknown-top"),
        pytest.param(
            lambda d: d["markets"][0].pop("depth_usd_per_1pct"),
            "markets[BTC-PERP].depth_usd_per_1pct: is required",
            id="required-market",
        ),
        pytest.param(
            lambda d: _b(d, 2).update(maintenance_margin_fraction="0.03", initial_margin_fraction="0.025"),
            "markets[BTC-PERP].brackets[2].maintenance_margin_fraction: 0.03 is not < "
            "initial_margin_fraction 0.025 (RISK_MODEL §2)",
            id="mmf-below-imf",
        ),
        pytest.param(
            lambda d: _b(d, 1).update(maintenance_margin_fraction="0"),
            "markets[BTC-PERP].brackets[1].maintenance_margin_fraction: 0 is not > 0 (RISK_MODEL §2)",
            id="mmf-positive",
        ),
        pytest.param(
            lambda d: _b(d, 2).update(initial_margin_fraction="1.5"),
            "markets[BTC-PERP].brackets[2].initial_margin_fraction: 1.5 is not <= 1 (RISK_MODEL §2)",
            id="imf-at-most-1",
        ),
        pytest.param(
            lambda d: _b(d, 2).update(initial_margin_fraction="0.008", maintenance_margin_fraction="0.005"),
            "markets[BTC-PERP].brackets[2].initial_margin_fraction: 0.008 is below previous "
            "initial_margin_fraction 0.01 (must be non-decreasing, RISK_MODEL §2)",
            id="imf-non-decreasing",
        ),
        pytest.param(
            lambda d: _b(d, 2).update(maintenance_margin_fraction="0.003"),
            "markets[BTC-PERP].brackets[2].maintenance_margin_fraction: 0.003 is below previous "
            "maintenance_margin_fraction 0.004 (must be non-decreasing, RISK_MODEL §2)",
            id="mmf-non-decreasing",
        ),
        pytest.param(
            lambda d: _b(d, 1).update(notional_floor="10"),
            "markets[BTC-PERP].brackets[1].notional_floor: 10 must be 0 for the first bracket (RISK_MODEL §2)",
            id="first-floor-zero",
        ),
        pytest.param(
            lambda d: _b(d, 2).update(notional_floor="0"),
            "markets[BTC-PERP].brackets[2].notional_floor: 0 is not > previous notional_floor 0 (RISK_MODEL §2)",
            id="floors-increasing",
        ),
        pytest.param(
            lambda d: d["markets"][0].update(brackets=[]),
            "markets[BTC-PERP].brackets: must have at least one bracket (RISK_MODEL §2)",
            id="brackets-non-empty",
        ),
        pytest.param(
            lambda d: d["markets"][0].update(liquidation_penalty="0.005"),
            "markets[BTC-PERP].liquidation_penalty: 0.005 is not <= brackets[1].maintenance_margin_fraction "
            "0.004 (RISK_MODEL §8)",
            id="penalty-at-most-mmf1",
        ),
        pytest.param(
            lambda d: d["assets"][1].update(haircut="1"),
            "assets[BTC].haircut: 1 is not < 1",
            id="haircut-below-1",
        ),
        pytest.param(
            lambda d: d["assets"][1].update(haircut="-0.1"),
            "assets[BTC].haircut: -0.1 is not >= 0",
            id="haircut-non-negative",
        ),
        pytest.param(
            lambda d: d["markets"][0].update(base_asset="ETH"),
            "markets[BTC-PERP].base_asset: 'ETH' is not in assets",
            id="base-asset-known",
        ),
        pytest.param(
            lambda d: d["markets"].append(copy.deepcopy(d["markets"][0])),
            "markets[BTC-PERP].symbol: duplicate market symbol 'BTC-PERP'",
            id="duplicate-market",
        ),
        pytest.param(
            lambda d: d["assets"].append({"symbol": "BTC", "haircut": "0.1"}),
            "assets[BTC].symbol: duplicate asset symbol 'BTC'",
            id="duplicate-asset",
        ),
        pytest.param(
            lambda d: _b(d, 1).update(initial_margin_fraction=Decimal("0.01")),
            "markets[BTC-PERP].brackets[1].initial_margin_fraction: must be a decimal string, got number 0.01",
            id="number-not-string",
        ),
        pytest.param(
            lambda d: _b(d, 2).update(notional_floor="3e5"),
            "markets[BTC-PERP].brackets[2].notional_floor: '3e5' is not a plain decimal string",
            id="plain-decimal",
        ),
        pytest.param(
            lambda d: d["markets"][0].update(depth_usd_per_1pct="0"),
            "markets[BTC-PERP].depth_usd_per_1pct: 0 is not > 0",
            id="depth-positive",
        ),
        pytest.param(
            lambda d: d["markets"][0].update(oi_cap_lower_usd="5", oi_cap_upper_usd="5"),
            "markets[BTC-PERP].oi_cap_lower_usd: 5 is not < oi_cap_upper_usd 5",
            id="oi-caps-ordered",
        ),
        pytest.param(
            lambda d: d["markets"][0].update(max_position_notional_usd="300000"),
            "markets[BTC-PERP].max_position_notional_usd: 300000 is not > last notional_floor 300000",
            id="max-position-above-last-floor",
        ),
        pytest.param(
            lambda d: d["assets"][0].update(stable="yes"),
            "assets[USDT].stable: must be true or false, got 'yes'",
            id="stable-bool",
        ),
        pytest.param(
            lambda d: d["markets"][0].update(symbol="BTC PERP"),
            "markets[BTC PERP].symbol: 'BTC PERP' does not match",
            id="symbol-charset",
        ),
    ],
)
def test_validate_document_rule(change, expected):
    errors = _errors_after(change)
    assert any(e.startswith(expected) for e in errors), errors


def test_validate_document_rejects_non_object():
    assert validate_document([]) == ["document: must be a JSON object, got list"]


def test_derive_maintenance_amounts_exact():
    floors = [Decimal("0"), Decimal("300000"), Decimal("800000")]
    mmfs = [Decimal("0.004"), Decimal("0.005"), Decimal("0.0065")]
    assert derive_maintenance_amounts(floors, mmfs) == [Decimal("0"), Decimal("300"), Decimal("1500")]
    with pytest.raises(ValueError):
        derive_maintenance_amounts(floors, mmfs[:2])


def test_fraction_of_rounds_up_only_when_needed():
    assert fraction_of(Decimal(1), Decimal(150)) == Decimal("0.0066666667")
    assert fraction_of(Decimal(1), Decimal(40)) == Decimal("0.025")
    assert decimal_str(Decimal("300000.0")) == "300000"
    assert decimal_str(Decimal("-0.00")) == "0"


def test_dump_then_load_round_trips_and_sorts(tmp_path):
    doc, _ = parse_dydx(DYDX_GENESIS["data"])
    text = dump_document(doc)
    assert text.startswith('{\n  "format": "riskgov.parameters/1",')
    symbols = [m["symbol"] for m in json.loads(text)["markets"]]
    assert symbols == sorted(symbols)
    path = tmp_path / "dydx.json"
    path.write_text(text, encoding="utf-8")
    assert load_document(path) == json.loads(text)
    assert load_document(str(path)) == load_document(text)
    assert dump_document(load_document(path)) == text


def test_load_document_errors_name_file_and_list_errors(tmp_path):
    bad = valid_doc()
    bad["markets"][0]["liquidation_penalty"] = 0.004  # a JSON number
    bad["assets"][1]["haircut"] = "1.5"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(ParameterDocumentError) as exc:
        load_document(path)
    err = exc.value
    assert err.filename == str(path)
    assert len(err.errors) == 2
    assert "markets[BTC-PERP].liquidation_penalty: must be a decimal string, got number 0.004" in err.errors
    assert str(err).startswith(f"{path}: 2 errors: ")
    assert isinstance(err, ValueError)


def test_load_document_invalid_json_and_missing_file(tmp_path):
    with pytest.raises(ParameterDocumentError, match=r"<text>: 1 error: invalid JSON at line 1"):
        load_document("{not json")
    with pytest.raises(ParameterDocumentError, match="cannot read file"):
        load_document(tmp_path / "missing.json")

"""Venue parameter imports never half-succeed (issue #14 item 5).

A broken market in a venue file (breaks RISK_MODEL §2) refuses the whole file, naming the
file, the market and the field, and stores nothing; ``--skip-broken`` imports the rest.
Out-of-scope markets (not a linear perp of the venue) are always skipped.
"""

from __future__ import annotations

import json

import pytest
from django.core.management import CommandError, call_command

from riskgov.parameters.importing import read_parameter_file
from riskgov.parameters.models import MarketParameterVersion, ParameterImport
from riskgov.parameters.venues.common import VenueFileError
from tests.conftest import DATA

pytestmark = pytest.mark.django_db
HYPERLIQUID = DATA / "margin" / "hyperliquid_meta_universe_marginTables.json"
DYDX = DATA / "margin" / "dydx_v4_genesis_perpetuals.json"
BINANCE = DATA / "margin" / "binance_usdm_leverage_tiers.json"


def _dydx_mmf_above_imf(tmp_path):
    genesis = json.loads(DYDX.read_text(encoding="utf-8"))
    state = genesis["app_state"]["perpetuals"]
    eth = next(p for p in state["perpetuals"] if p["params"]["ticker"] == "ETH-USD")
    tier_id = max(int(t["id"]) for t in state["liquidity_tiers"]) + 1
    state["liquidity_tiers"].append(
        {"id": tier_id, "name": "Broken", "initial_margin_ppm": 50000, "maintenance_fraction_ppm": 1_200_000}
    )
    eth["params"]["liquidity_tier"] = tier_id  # MMF = 1.2 x IMF
    path = tmp_path / "dydx_broken.json"
    path.write_text(json.dumps(genesis))
    return path


def _hyperliquid_negative_bound(tmp_path):
    meta = json.loads(HYPERLIQUID.read_text(encoding="utf-8"))
    for _tid, table in meta["marginTables"]:
        if len(table["marginTiers"]) > 1:
            table["marginTiers"][0]["lowerBound"] = "-5"
            break
    path = tmp_path / "hl_broken.json"
    path.write_text(json.dumps(meta))
    return path


def _counts():
    return ParameterImport.objects.count(), MarketParameterVersion.objects.count()


def test_dydx_mmf_above_imf_refuses_the_file(tmp_path):
    path = _dydx_mmf_above_imf(tmp_path)
    with pytest.raises(CommandError) as exc:
        call_command("import_parameters", str(path), "--format", "dydx")
    msg = str(exc.value)
    assert "\n" not in msg
    assert "dydx_broken.json" in msg and "market ETH-USD" in msg and "maintenance_margin_fraction" in msg
    assert "nothing imported" in msg and "--skip-broken" in msg
    assert _counts() == (0, 0)


def test_hyperliquid_negative_tier_bound_refuses_the_file(tmp_path):
    path = _hyperliquid_negative_bound(tmp_path)
    with pytest.raises(CommandError) as exc:
        call_command("import_parameters", str(path), "--format", "hyperliquid")
    msg = str(exc.value)
    assert "\n" not in msg and "hl_broken.json" in msg and "notional_floor" in msg and "nothing imported" in msg
    assert _counts() == (0, 0)


def test_skip_broken_imports_the_rest(tmp_path, capsys):
    path = _dydx_mmf_above_imf(tmp_path)
    call_command("import_parameters", str(path), "--format", "dydx", "--skip-broken")
    assert "market_skipped 1" in capsys.readouterr().out
    symbols = set(MarketParameterVersion.objects.values_list("market__symbol", flat=True))
    assert "BTC-PERP" in symbols and "ETH-PERP" not in symbols


def test_reference_import_is_refused_too(tmp_path):
    with pytest.raises(CommandError, match="market ETH-USD"):
        call_command("import_parameters", str(_dydx_mmf_above_imf(tmp_path)), "--format", "dydx", "--reference")
    assert _counts() == (0, 0)


def test_out_of_scope_markets_are_still_skipped_without_the_flag():
    # The shipped Binance copy has 5 non-linear contracts and a non-ASCII base: not broken.
    doc, findings = read_parameter_file(BINANCE, fmt="binance")
    assert len(doc["markets"]) == 75
    assert not [f for f in findings if f.broken]


def test_read_parameter_file_raises_venue_file_error(tmp_path):
    with pytest.raises(VenueFileError, match=r"hl_broken\.json: market \w+ tier 1: notional_floor"):
        read_parameter_file(_hyperliquid_negative_bound(tmp_path), fmt="hyperliquid")

"""import_parameters / export_parameters on the real venue files in data/."""

import json

import pytest
from django.core.management import CommandError, call_command

from riskgov.parameters.models import Bracket, MarketParameterVersion, ParameterImport, VersionStatus
from tests.conftest import DATA

pytestmark = pytest.mark.django_db
BINANCE = DATA / "margin" / "binance_usdm_leverage_tiers.json"
HYPERLIQUID = DATA / "margin" / "hyperliquid_meta_universe_marginTables.json"
DYDX = DATA / "margin" / "dydx_v4_genesis_perpetuals.json"


def test_binance_initial_import_then_export_round_trip(tmp_path, capsys):
    call_command("import_parameters", str(BINANCE), "--format", "binance", "--markets", "BTC-PERP,ETH-PERP")
    assert "initial active set" in capsys.readouterr().out
    btc = MarketParameterVersion.objects.get(market__symbol="BTC-PERP", status=VersionStatus.ACTIVE)
    tiers = list(btc.brackets.order_by("index"))
    assert len(tiers) >= 5
    assert tiers[0].notional_floor == 0 and tiers[0].maintenance_margin_fraction > 0
    out = tmp_path / "out.json"
    call_command("export_parameters", str(out), "--market", "BTC-PERP")
    exported = json.loads(out.read_text())
    assert exported["format"] == "riskgov.parameters/1"
    assert [m["symbol"] for m in exported["markets"]] == ["BTC-PERP"]
    # Re-importing our own export changes nothing.
    call_command("import_parameters", str(out))
    assert MarketParameterVersion.objects.filter(market__symbol="BTC-PERP").count() == 1


@pytest.mark.parametrize("path,fmt", [(HYPERLIQUID, "hyperliquid"), (DYDX, "dydx"), (BINANCE, "binance")])
def test_reference_import_of_each_real_venue_table(path, fmt):
    call_command("import_parameters", str(path), "--format", fmt, "--reference")
    ref = ParameterImport.objects.get(venue=fmt)
    assert ref.is_reference and len(ref.document["markets"]) > 10
    assert MarketParameterVersion.objects.count() == 0


def test_hyperliquid_btc_tiers_become_a_version():
    call_command("import_parameters", str(HYPERLIQUID), "--format", "hyperliquid", "--markets", "BTC-PERP")
    rows = list(
        Bracket.objects.filter(version__market__symbol="BTC-PERP")
        .order_by("index")
        .values_list("notional_floor", "initial_margin_fraction", "maintenance_margin_fraction", "maintenance_amount")
    )
    # Hyperliquid BTC: 40x from 0, 20x from 150M; MMF = 0.5/lev; C_2 = 150e6·(0.025 − 0.0125)
    assert [tuple(float(x) for x in r) for r in rows] == [(0, 0.025, 0.0125, 0), (150e6, 0.05, 0.025, 1875000)]


def test_bad_file_fails_with_one_line_and_stores_nothing(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(
        json.dumps({"format": "riskgov.parameters/1", "name": "x", "assets": [], "markets": [{"symbol": "BTC-PERP"}]})
    )
    with pytest.raises(CommandError) as exc:
        call_command("import_parameters", str(bad))
    assert "bad.json" in str(exc.value) and "\n" not in str(exc.value)
    assert ParameterImport.objects.count() == 0
    with pytest.raises(CommandError):
        call_command("import_parameters", str(tmp_path / "missing.json"))


def test_export_with_nothing_active_fails(tmp_path):
    with pytest.raises(CommandError):
        call_command("export_parameters", str(tmp_path / "x.json"))

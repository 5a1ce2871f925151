"""Importing parameter documents: bootstrap, drafts, no-ops, all-or-nothing, references."""

from decimal import Decimal

import pytest

from riskgov.core.models import AuditEvent
from riskgov.markets.models import Asset, Market
from riskgov.parameters.models import AssetParameterVersion, MarketParameterVersion, ParameterImport, VersionStatus
from riskgov.parameters.selectors import active_parameters_document
from riskgov.parameters.services import ParameterDocumentInvalid, parameters_import_document
from tests.factories import parameter_document

pytestmark = pytest.mark.django_db


def test_first_import_is_the_active_set_with_derived_maintenance_amounts():
    s = parameters_import_document(document=parameter_document())
    assert s.initial
    v = MarketParameterVersion.objects.get()
    assert (v.status, v.number) == (VersionStatus.ACTIVE, 1)
    # C_2 = 0 + 300000·(0.005 − 0.004) = 300 (RISK_MODEL §2)
    assert [b.maintenance_amount for b in v.brackets.order_by("index")] == [Decimal(0), Decimal(300)]
    assert AssetParameterVersion.objects.filter(status=VersionStatus.ACTIVE).count() == 2
    assert Asset.objects.get(symbol="USDT").stable
    assert AuditEvent.objects.filter(action="parameters.market_version.create").count() == 1


def test_second_import_creates_drafts_only_for_changes():
    parameters_import_document(document=parameter_document())
    doc = parameter_document()
    doc["markets"][0]["brackets"][1]["initial_margin_fraction"] = "0.025"
    s = parameters_import_document(document=doc)
    assert not s.initial
    assert [(v.market.symbol, v.number, v.status) for v in s.market_versions] == [("BTC-PERP", 2, "draft")]
    assert set(s.unchanged) == {"USDT", "BTC"}
    assert MarketParameterVersion.objects.filter(status=VersionStatus.ACTIVE).get().number == 1


def test_reimporting_the_same_document_changes_nothing():
    parameters_import_document(document=parameter_document())
    s = parameters_import_document(document=parameter_document())
    assert s.market_versions == [] and s.asset_versions == []
    assert MarketParameterVersion.objects.count() == 1


def test_invalid_document_stores_nothing_and_names_every_error():
    doc = parameter_document()
    doc["markets"][0]["brackets"][1]["maintenance_margin_fraction"] = "0.03"
    doc["assets"][1]["haircut"] = "1.2"
    with pytest.raises(ParameterDocumentInvalid) as exc:
        parameters_import_document(document=doc, file_name="bad.json")
    errors = exc.value.extra["errors"]
    assert any("markets[BTC-PERP].brackets[2].maintenance_margin_fraction" in e for e in errors)
    assert any("assets[BTC].haircut" in e for e in errors)
    assert "bad.json" in exc.value.message
    assert (ParameterImport.objects.count(), Market.objects.count(), AuditEvent.objects.count()) == (0, 0, 0)


def test_failure_midway_rolls_back_everything():
    parameters_import_document(document=parameter_document())
    doc = parameter_document()
    doc["markets"].append({**doc["markets"][0], "symbol": "BTC-PERP-2"})
    doc["markets"][0]["liquidation_penalty"] = "0.003"
    Market.objects.create(symbol="BTC-PERP-2", base_asset=Asset.objects.create(symbol="ETH"))  # base clash
    before = (MarketParameterVersion.objects.count(), ParameterImport.objects.count(), AuditEvent.objects.count())
    with pytest.raises(Exception, match="base asset"):
        parameters_import_document(document=doc)
    assert (
        MarketParameterVersion.objects.count(),
        ParameterImport.objects.count(),
        AuditEvent.objects.count(),
    ) == before


def test_reference_tables_create_no_versions_and_are_kept_once():
    a = parameters_import_document(document=parameter_document(), venue="binance", reference=True)
    b = parameters_import_document(document=parameter_document(), venue="binance", reference=True)
    assert a.parameter_import.pk == b.parameter_import.pk
    assert MarketParameterVersion.objects.count() == 0 and Market.objects.count() == 0


def test_export_round_trips_the_active_set():
    doc = parameter_document()
    parameters_import_document(document=doc)
    out = active_parameters_document(name=doc["name"])
    # a document without the horizon (written before it existed) imports with the §12 default
    assert "liquidation_horizon_minutes" not in doc["markets"][0]
    assert out["markets"] == [{**m, "liquidation_horizon_minutes": "5"} for m in doc["markets"]]
    assert {a["symbol"]: a["haircut"] for a in out["assets"]} == {"USDT": "0", "BTC": "0.05"}

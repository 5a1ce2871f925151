"""The liquidation horizon ``h_m`` as a governed market parameter (RISK_MODEL §12).

Validator rules, the ``riskgov.parameters/1`` key (optional, default 5, older documents
still import), the venue importers' documented default, the database guard on non-draft
versions, and the change spec / proposal path.
"""

from decimal import Decimal

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from riskgov.parameters.document import validate_document
from riskgov.parameters.models import MarketParameterVersion, VersionStatus
from riskgov.parameters.selectors import active_parameters_document, market_version_diff
from riskgov.parameters.services import parameters_import_document
from riskgov.parameters.validation import market_errors
from riskgov.parameters.venues import parse_binance, parse_dydx, parse_hyperliquid
from tests.factories import market_version, parameter_document
from tests.parameters.test_venues import BINANCE_JSON, DYDX_GENESIS, HL_META

ROWS = [(Decimal(0), Decimal("0.01"), Decimal("0.004"))]


def rules(h):
    errors = market_errors(
        subject="BTC-PERP",
        liquidation_penalty=Decimal("0.002"),
        depth_usd_per_1pct=Decimal("1e6"),
        liquidation_horizon_minutes=h,
        brackets=ROWS,
    )
    return [(e.field, e.rule) for e in errors]


@pytest.mark.parametrize(
    "h,expected",
    [
        (Decimal(5), []),
        (Decimal("0.5"), []),
        (Decimal(1440), []),
        (Decimal(0), [("liquidation_horizon_minutes", "horizon_positive")]),
        (Decimal(-1), [("liquidation_horizon_minutes", "horizon_positive")]),
        (Decimal(1441), [("liquidation_horizon_minutes", "horizon_at_most_one_day")]),
        (None, []),  # unread: the caller reported it
    ],
)
def test_validator_horizon_rules(h, expected):
    assert rules(h) == expected


def test_document_key_is_optional_default_5_and_validated():
    doc = parameter_document()
    assert validate_document(doc) == []  # a document without the key (older) stays valid
    doc["markets"][0]["liquidation_horizon_minutes"] = "15"
    assert validate_document(doc) == []
    doc["markets"][0]["liquidation_horizon_minutes"] = "0"
    assert validate_document(doc) == ["markets[BTC-PERP].liquidation_horizon_minutes: 0 minutes is not > 0"]
    doc["markets"][0]["liquidation_horizon_minutes"] = 5
    assert validate_document(doc) == [
        "markets[BTC-PERP].liquidation_horizon_minutes: must be a decimal string, got number 5"
    ]


@pytest.mark.django_db
def test_document_round_trips_the_horizon_and_diff_shows_it():
    doc = parameter_document()
    doc["markets"][0]["liquidation_horizon_minutes"] = "2.5"
    parameters_import_document(document=doc)
    v1 = MarketParameterVersion.objects.get(status=VersionStatus.ACTIVE)
    assert v1.liquidation_horizon_minutes == Decimal("2.5")
    assert active_parameters_document(name="x")["markets"][0]["liquidation_horizon_minutes"] == "2.5"
    # a re-import changing only the horizon makes a draft whose diff is that one field
    doc["markets"][0]["liquidation_horizon_minutes"] = "10"
    summary = parameters_import_document(document=doc)
    (v2,) = summary.market_versions
    changes = market_version_diff(v1, v2)
    assert [(c.path, c.before, c.after) for c in changes] == [("liquidation_horizon_minutes", "2.5", "10")]


@pytest.mark.parametrize(
    "parse,path",
    [(parse_binance, BINANCE_JSON["data"]), (parse_hyperliquid, HL_META["data"]), (parse_dydx, DYDX_GENESIS["data"])],
    ids=["binance", "hyperliquid", "dydx"],
)
def test_venue_importers_write_the_documented_default(parse, path):
    doc, _ = parse(path)
    assert doc["markets"]
    assert {m["liquidation_horizon_minutes"] for m in doc["markets"]} == {"5"}
    assert parse.__module__  # the default is stated in riskgov.parameters.venues.common
    import riskgov.parameters.venues.common as common

    assert "publish no liquidation horizon" in " ".join(common.__doc__.split())


@pytest.mark.django_db
def test_model_default_and_check_constraint():
    v = market_version()
    assert v.liquidation_horizon_minutes == Decimal(5)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        MarketParameterVersion.objects.filter(pk=v.pk).update(liquidation_horizon_minutes=Decimal(0))


@pytest.mark.django_db
@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL triggers")
@pytest.mark.parametrize("status", [VersionStatus.APPROVED, VersionStatus.ACTIVE])
def test_non_draft_version_cannot_change_its_horizon_in_sql(status):
    v = market_version(status=status)
    with pytest.raises((IntegrityError, DatabaseError)), transaction.atomic():
        with connection.cursor() as c:
            c.execute(
                "UPDATE parameters_marketparameterversion SET liquidation_horizon_minutes = 10 WHERE id = %s", [v.pk]
            )
    draft = market_version(v.market)
    MarketParameterVersion.objects.filter(pk=draft.pk).update(liquidation_horizon_minutes=Decimal(10))
    draft.refresh_from_db()
    assert draft.liquidation_horizon_minutes == Decimal(10)

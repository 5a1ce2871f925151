"""Migration portfolio/0001: reversible; seeds the §14 defaults as BTC's active PM version
when BTC exists; registers the kind with the database guards."""

from decimal import Decimal

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from riskgov.governance.models import GovernedKind
from riskgov.portfolio.validation import DEFAULT_EXTENDED


@pytest.mark.django_db(transaction=True)
def test_0001_seeds_btc_and_reverses():
    executor = MigrationExecutor(connection)
    executor.migrate([("portfolio", None)])
    old = executor.loader.project_state([("markets", "0002_pricebar_resolution")]).apps
    assert not GovernedKind.objects.filter(name="pm").exists()
    old.get_model("markets", "Asset").objects.create(symbol="BTC")

    executor = MigrationExecutor(connection)
    executor.migrate([("portfolio", "0001_initial")])
    new = executor.loader.project_state([("portfolio", "0001_initial")]).apps
    (v,) = new.get_model("portfolio", "PMParameterVersion").objects.all()
    assert (v.status, v.number, v.price_range, v.buckets, v.mm_factor) == (
        "active",
        1,
        Decimal("0.16"),
        4,
        Decimal("0.8"),
    )
    assert [(Decimal(r["move"]), Decimal(r["weight"])) for r in v.extended] == list(DEFAULT_EXTENDED)
    assert GovernedKind.objects.get(name="pm").version_table == "portfolio_pmparameterversion"

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

"""``engine_parameters_from_document`` maps a document exactly as the database adapter does."""

import numpy as np
import pytest

from riskgov.parameters.adapters import engine_parameters, engine_parameters_from_document
from riskgov.parameters.document import load_document
from riskgov.parameters.services import parameters_import_document
from tests.conftest import DATA


@pytest.mark.django_db
def test_document_and_database_give_the_same_engine_parameters():
    doc = load_document(DATA / "history" / "hyperliquid_2023" / "parameters_2023-03.json")
    parameters_import_document(document=doc)
    from_db = engine_parameters().params
    direct = engine_parameters_from_document(doc)
    assert direct.markets.symbols == from_db.markets.symbols
    for field in ("floors", "imf", "mmf", "maintenance_amount", "liquidation_penalty", "depth_usd_per_1pct"):
        np.testing.assert_array_equal(getattr(direct.markets, field), getattr(from_db.markets, field))
    db_assets = dict(zip(from_db.assets.symbols, from_db.assets.haircut, strict=True))
    assert all(db_assets[s] == h for s, h in zip(direct.assets.symbols, direct.assets.haircut, strict=True))

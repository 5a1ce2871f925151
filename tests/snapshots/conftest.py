"""Snapshot test fixtures: a small active parameter set and hand-written snapshot folders."""

import copy
import json
from pathlib import Path

import pytest

from riskgov.parameters.services import parameters_import_document
from tests.factories import parameter_document

META = {
    "format": "riskgov.snapshot/1",
    "venue": "Test venue",
    "taken_at": "2025-02-20T00:00:00Z",
    "insurance_fund_usd": "1000000.5",
}
FILES = {
    "prices.csv": "asset,price\nBTC,95000.123456789012345678\nUSDT,1\nETH,2700.5\n",
    "accounts.csv": 'account_id\na1\n"a,2"\na3\n',
    "balances.csv": 'account_id,asset,amount\na1,USDT,10000.000000000000000001\n"a,2",BTC,0.5\na3,USDT,-5\na3,ETH,3\n',
    "positions.csv": (
        "account_id,market,size,entry_price,margin_mode,isolated_margin\n"
        "a3,BTC-PERP,0.1,90000,cross,\n"
        '"a,2",ETH-PERP,-2,2800,isolated,500.25\n'
        "a1,ETH-PERP,1.5,2600,cross,\n"
        "a1,BTC-PERP,-0.05,99000.5,cross,\n"
    ),
}


def write_snapshot(path: Path, files=None, meta=None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "snapshot.json").write_text(json.dumps(META if meta is None else meta))
    for name, text in (FILES if files is None else files).items():
        (path / name).write_text(text)
    return path


def small_document():
    doc = parameter_document()
    doc["assets"].append({"symbol": "ETH", "haircut": "0.1"})
    eth = copy.deepcopy(doc["markets"][0])
    eth.update(symbol="ETH-PERP", base_asset="ETH")
    doc["markets"].append(eth)
    return doc


@pytest.fixture
def small_params(db):
    """Active parameters for BTC-PERP and ETH-PERP (assets USDT, BTC, ETH)."""
    parameters_import_document(document=small_document(), file_name="test.json")


@pytest.fixture
def snap_dir(tmp_path, small_params):
    return write_snapshot(tmp_path / "snap")

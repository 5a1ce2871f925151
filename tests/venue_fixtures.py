"""Shared test fixtures (registered in tests/conftest.py). A tiny venue for health runs: parameters (BTC, ETH perps), daily closes with crash days,
and a ~20-account snapshot written as a ``riskgov.snapshot/1`` directory and imported."""

import copy
import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pytest

from riskgov.markets.models import Asset, DailyClose
from riskgov.parameters.services import parameters_import_document
from tests.factories import parameter_document

N_ACCOUNTS = 21


def venue_document():
    """The factory document plus an ETH market (two bracket tiers, a penalty, finite depth)."""
    doc = parameter_document()
    doc["assets"].append({"symbol": "ETH", "haircut": "0.1"})
    eth = copy.deepcopy(doc["markets"][0])
    eth.update(symbol="ETH-PERP", base_asset="ETH", depth_usd_per_1pct="2000000", liquidation_penalty="0.003")
    doc["markets"][0]["depth_usd_per_1pct"] = "5000000"
    doc["markets"].append(eth)
    return doc


def closes():
    """Daily closes 2020-03-01 .. 2020-04-15 for BTC and ETH (a -40 % day on 2020-03-12)."""
    rng = np.random.default_rng(3)
    start = dt.date(2020, 3, 1)
    days = [start + dt.timedelta(days=i) for i in range(46)]
    out = {}
    for sym, p0 in (("BTC", 8000.0), ("ETH", 220.0)):
        r = rng.normal(0, 0.03, len(days))
        r[days.index(dt.date(2020, 3, 12))] = -0.4 if sym == "BTC" else -0.43
        out[sym] = p0 * np.cumprod(1 + r)
    return days, out


def write_snapshot(path, *, seed=11, n_accounts=N_ACCOUNTS, fund="40000"):
    """Write a snapshot directory: mixed long/short, cross/isolated, USDT/BTC collateral,
    a few accounts near or past maintenance, one position-less account with a liability."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    (path / "snapshot.json").write_text(
        json.dumps(
            {
                "format": "riskgov.snapshot/1",
                "venue": "Test venue",
                "taken_at": "2020-04-16T00:00:00Z",
                "insurance_fund_usd": fund,
            }
        )
    )
    (path / "prices.csv").write_text("asset,price\nUSDT,1\nBTC,6000\nETH,150\n")
    ids = [f"acct-{i:03d}" for i in range(n_accounts)]
    (path / "accounts.csv").write_text("account_id\n" + "\n".join(ids) + "\n")
    bal = ["account_id,asset,amount"]
    pos = ["account_id,market,size,entry_price,margin_mode,isolated_margin"]
    for i, a in enumerate(ids):
        usdt = int(rng.integers(500, 20000))
        bal.append(f"{a},USDT,{usdt}")
        if i % 5 == 0 and i != n_accounts - 1:
            bal.append(f"{a},BTC,{rng.integers(1, 30) / 100:.2f}")
        if i == n_accounts - 1:
            bal.append(f"{a},BTC,-0.5")  # a liability above its collateral, no positions
            continue
        lev = [2, 5, 10, 20, 40, 60][i % 6]
        for market, px in (("BTC-PERP", 6000), ("ETH-PERP", 150)):
            if market == "ETH-PERP" and i % 3 == 0:
                continue
            side = 1 if rng.random() < 0.6 else -1
            notional = usdt * lev / 2
            size = side * round(notional / px, 4)
            entry = round(px * (1 + rng.normal(0, 0.05)), 2)
            if i % 7 == 3 and market == "BTC-PERP":
                pos.append(f"{a},{market},{size},{entry},isolated,{round(abs(size) * px / lev, 2)}")
            else:
                pos.append(f"{a},{market},{size},{entry},cross,")
    (path / "balances.csv").write_text("\n".join(bal) + "\n")
    (path / "positions.csv").write_text("\n".join(pos) + "\n")
    return path


@pytest.fixture
def venue(db, tmp_path):
    """Parameters + closes + an imported snapshot; returns the Snapshot."""
    from riskgov.snapshots.services import snapshot_import

    parameters_import_document(document=venue_document())
    days, series = closes()
    assets = {a.symbol: a for a in Asset.objects.all()}
    DailyClose.objects.bulk_create(
        DailyClose(asset=assets[s], source="yahoo", date=d, close=Decimal(f"{p:.6f}"))
        for s, ps in series.items()
        for d, p in zip(days, ps, strict=True)
    )
    return snapshot_import(path=write_snapshot(tmp_path / "snap"))


@pytest.fixture
def health_run(venue, django_capture_on_commit_callbacks):
    """A published health run of the ``venue`` snapshot (Celery eager)."""
    from riskgov.health.services import health_run_create

    with django_capture_on_commit_callbacks(execute=True):
        run = health_run_create(snapshot=venue)
    run.refresh_from_db()
    assert run.published_at is not None, run.error
    return run


#: BTC brackets twice as strict as the venue's (a proposal with a visible impact)
STRICTER_BTC = [
    {"notional_floor": "0", "initial_margin_fraction": "0.02", "maintenance_margin_fraction": "0.008"},
    {"notional_floor": "300000", "initial_margin_fraction": "0.04", "maintenance_margin_fraction": "0.01"},
]


@pytest.fixture
def impact_proposal(health_run, people, django_capture_on_commit_callbacks):
    """A submitted proposal doubling BTC margins, with its impact frozen (after ``health_run``)."""
    from riskgov.governance.services import proposal_create, proposal_submit
    from tests.governance_fixtures import later

    proposal = proposal_create(
        by=people["analyst"],
        title="Double BTC margins",
        rationale="stress",
        effective_at=later(days=3),
        changes=[{"market": "BTC-PERP", "brackets": STRICTER_BTC}],
    )
    with django_capture_on_commit_callbacks(execute=True):
        proposal_submit(proposal=proposal, by=people["analyst"])
    proposal.refresh_from_db()
    assert proposal.impact is not None
    return proposal

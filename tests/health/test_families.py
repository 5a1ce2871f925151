"""Path families in health runs, riskgov.health/2 and the what-if run (RISK_MODEL §9, §10, §15).

The real-data venue: Binance hourly BTC and ETH bars of the shipped data (2024-07-20 ..
2024-08-20, the 2024-08-05 crash inside), a snapshot of leveraged BTC/ETH perp accounts,
and the venue's BTC-PERP MMF raised from 0.40 % to 0.50 % in a what-if document.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from riskgov.health.export import health_document
from riskgov.health.models import HealthRun, RunChunk, RunKind, ScenarioResult
from riskgov.markets.price_files import iter_price_bars
from riskgov.markets.services import price_bars_import
from riskgov.parameters.models import MarketParameterVersion, VersionStatus
from riskgov.parameters.services import parameters_import_document
from tests.venue_fixtures import venue_document

DATA = Path(__file__).resolve().parents[2] / "data" / "prices" / "intraday"
FIRST, LAST = dt.datetime(2024, 7, 20, tzinfo=dt.UTC), dt.datetime(2024, 8, 21, tzinfo=dt.UTC)
SCENARIOS = "uniform,trend,path1,path3"


def _bars(pattern: str):
    (path,) = DATA.glob(pattern)
    return (b for b in iter_price_bars(path) if FIRST <= b.timestamp < LAST)


def _snapshot(path: Path, n: int = 120, seed: int = 7) -> Path:
    """Leveraged BTC/ETH perp accounts (cross, USDT collateral), 10x … 90x."""
    rng = np.random.default_rng(seed)
    path.mkdir(parents=True, exist_ok=True)
    (path / "snapshot.json").write_text(
        json.dumps(
            {
                "format": "riskgov.snapshot/1",
                "venue": "Real-data venue",
                "taken_at": "2024-08-21T00:00:00Z",
                "insurance_fund_usd": "20000",
            }
        )
    )
    (path / "prices.csv").write_text("asset,price\nUSDT,1\nBTC,59000\nETH,2600\n")
    ids = [f"a{i:04d}" for i in range(n)]
    (path / "accounts.csv").write_text("account_id\n" + "\n".join(ids) + "\n")
    bal, pos = ["account_id,asset,amount"], ["account_id,market,size,entry_price,margin_mode,isolated_margin"]
    for i, a in enumerate(ids):
        usdt = float(rng.integers(1_000, 50_000))
        bal.append(f"{a},USDT,{usdt}")
        lev = float(rng.uniform(10, 90))
        market, px = ("BTC-PERP", 59000.0) if i % 3 else ("ETH-PERP", 2600.0)
        side = 1 if rng.random() < 0.6 else -1
        size = side * round(usdt * lev / px, 5)
        pos.append(f"{a},{market},{size},{px},cross,")
    (path / "balances.csv").write_text("\n".join(bal) + "\n")
    (path / "positions.csv").write_text("\n".join(pos) + "\n")
    return path


def _tighter_btc(mmf: str = "0.005") -> dict:
    doc = venue_document()
    btc = copy.deepcopy(next(m for m in doc["markets"] if m["symbol"] == "BTC-PERP"))
    btc["brackets"][0]["maintenance_margin_fraction"] = mmf
    return {**doc, "name": "BTC MMF 0.50 %", "assets": doc["assets"], "markets": [btc]}


@pytest.fixture
def real_venue(db, tmp_path):
    from riskgov.snapshots.services import snapshot_import

    doc = venue_document()
    for m in doc["markets"]:
        m["depth_usd_per_1pct"] = "1000000000"  # large depth: slippage below the margin it buys (§15)
    parameters_import_document(document=doc)
    price_bars_import(bars=_bars("binance_BTCUSDT_1h_*"))
    price_bars_import(bars=_bars("binance_ETHUSDT_1h_*"))
    return snapshot_import(path=_snapshot(tmp_path / "snap"))


def _active_ids():
    return sorted(MarketParameterVersion.objects.filter(status=VersionStatus.ACTIVE).values_list("pk", flat=True))


def test_what_if_tightening_btc_mmf_lowers_1d_path_es_and_mean_shortfall(real_venue, tmp_path, capsys):
    doc = _tighter_btc()
    doc["markets"][0]["depth_usd_per_1pct"] = "1000000000"
    (tmp_path / "p.json").write_text(json.dumps(doc))
    active, n_versions = _active_ids(), MarketParameterVersion.objects.count()
    out = tmp_path / "w.json"
    call_command(
        "run_health", "--parameters", str(tmp_path / "p.json"), "--compare-active", "--scenarios", SCENARIOS,
        "--output-json", str(out), "--no-accounts",
    )  # fmt: skip
    assert _active_ids() == active and MarketParameterVersion.objects.count() == n_versions  # nothing activated
    res = json.loads(out.read_text())
    assert res["format"] == "riskgov.health/2" and list(res)[-1] == "impact"
    run = HealthRun.objects.get()
    assert run.kind == RunKind.IMPACT and run.parameters_document["markets"][0]["symbol"] == "BTC-PERP"
    imp = res["impact"]
    assert imp["changed_markets"] == ["BTC-PERP"]
    cost = imp["cost"]
    btc = next(r for r in cost["per_market"] if r["market"] == "BTC-PERP")
    assert btc["delta_maintenance_margin_usd"] > 0 and cost["delta_maintenance_margin_usd"] == pytest.approx(
        btc["delta_maintenance_margin_usd"], rel=1e-12
    )
    assert cost["delta_initial_margin_usd"] == 0.0 and cost["newly_liquidatable_accounts"] >= 0
    fams = {p["family"]: p for p in imp["protection"]}
    assert set(fams) == {"gap", "trend", "path_1d", "path_3d"}
    one_day = fams["path_1d"]
    # the demo claim: more MM buys a lower 1-day-path ES and mean shortfall
    assert one_day["delta_es_usd"] < 0 and one_day["delta_mean_shortfall_usd"] < 0
    assert one_day["proposed"]["es_usd"] < one_day["current"]["es_usd"]
    for p in imp["protection"]:  # tightening only, large depth, no cascade: never more shortfall
        for row in p["standard_scenarios"]:
            assert row["shortfall_after_usd"] <= row["shortfall_before_usd"] * (1 + 1e-9) + 1e-6
    (fr,) = imp["frontier"]
    assert fr["market"] == "BTC-PERP" and fr["family"] == "path_1d" and len(fr["points"]) == 7
    assert sum(p["current"] for p in fr["points"]) == 1 and fr["proposed"]["mm_usd"] > fr["current"]["mm_usd"]
    assert fr["proposed"]["es_usd"] <= fr["current"]["es_usd"]
    assert fr["accounts"] == ScenarioResult.objects.none().count() + 80  # 2 in 3 accounts hold BTC-PERP
    text = capsys.readouterr().out
    assert "impact vs active" in text and "path_1d" in text


def test_what_if_without_compare_writes_health_2_and_activates_nothing(real_venue, tmp_path):
    (tmp_path / "p.json").write_text(json.dumps(_tighter_btc()))
    active = _active_ids()
    out = tmp_path / "w.json"
    call_command(
        "run_health", "--parameters", str(tmp_path / "p.json"), "--scenarios", SCENARIOS, "--output-json", str(out)
    )
    assert _active_ids() == active
    res = json.loads(out.read_text())
    assert res["format"] == "riskgov.health/2" and "impact" not in res
    assert "(what-if" in res["parameters"]["name"]
    by_family = {}
    for s in res["scenarios"]:
        by_family.setdefault(s["family"], []).append(s)
    assert set(by_family) == {"gap", "trend", "path_1d", "path_3d"}
    # bars 2024-07-20T00 .. 2024-08-20T23 give prices 07-20 01:00 .. 08-21 00:00 (a close is at the
    # bar's end): 1-day windows from 07-21 to 08-20, 3-day windows from 07-21 to 08-18
    assert len(by_family["path_1d"]) == 31 and len(by_family["path_3d"]) == 29
    assert all(s["interpolated_share"] == 0.0 for s in by_family["path_1d"])  # real hourly bars
    assert [t["family"] for t in res["tails"]] == ["gap", "trend", "path_1d", "path_3d"]
    head = next(t for t in res["tails"] if t["family"] == "path_1d")
    assert res["tail"] == {k: v for k, v in head.items() if k != "family"}
    assert head["scenarios"] == 31
    with pytest.raises(Exception, match="--compare-active needs --parameters"):
        call_command("run_health", "--compare-active")


def test_families_are_chunk_size_invariant_and_replayed(real_venue):
    from riskgov.health.services import health_run_create

    runs = []
    for size in (7, 40, 1000):
        run = health_run_create(snapshot=real_venue, scenario_spec="trend,path1", chunk_accounts=size, enqueue=False)
        from riskgov.health.tasks import health_run

        health_run.delay(run.pk)
        run.refresh_from_db()
        assert run.published_at is not None, run.error
        runs.append(run)
    base = list(ScenarioResult.objects.filter(run=runs[0]).order_by("idx").values_list(
        "name", "family", "steps", "worst_step", "liquidatable_accounts", "bankrupt_accounts", "shortfall_usd"
    ))  # fmt: skip
    for other in runs[1:]:
        rows = list(ScenarioResult.objects.filter(run=other).order_by("idx").values_list(
            "name", "family", "steps", "worst_step", "liquidatable_accounts", "bankrupt_accounts", "shortfall_usd"
        ))  # fmt: skip
        assert [r[:6] for r in rows] == [r[:6] for r in base]
        np.testing.assert_allclose([r[6] for r in rows], [r[6] for r in base], rtol=1e-9, atol=1e-6)
        for a, b in zip(other.tails, runs[0].tails, strict=True):
            assert a["family"] == b["family"] and a["es_usd"] == pytest.approx(b["es_usd"], rel=1e-9, abs=1e-6)
    first = RunChunk.objects.filter(run=runs[0]).order_by("first_account").first()
    assert set(first.partial["families"]) == {"trend", "path_1d"}
    rep = runs[0].replay
    assert rep["family"] == "path_1d" and rep["steps"] == 24 and len(rep["mm_coverage"]) == 24
    assert len(rep["shortfall_by_step_usd"]) == 24 and rep["scenario"] == runs[0].tail["worst_scenario"]
    assert sum(rep["shortfall_by_step_usd"]) == pytest.approx(rep["shortfall_usd"], rel=1e-9, abs=1e-6)
    worst = ScenarioResult.objects.get(run=runs[0], name=rep["scenario"])
    assert worst.shortfall_usd == pytest.approx(rep["shortfall_usd"], rel=1e-9, abs=1e-6)
    assert runs[0].tail["population"] == "1-day paths" and health_document(runs[0])["tail"]["scenarios"] == 31

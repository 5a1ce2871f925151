"""Health selectors return frozen read models of the stored results; the §12 flags are the
engine's rule; totals/tail keep their FORMATS.md shape; staleness limits are declared once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from django.utils import timezone

from riskgov.engine.model_flags import KUPIEC_CRITICAL, mmf_check
from riskgov.health import selectors
from riskgov.health.models import HealthRun, RunKind, RunStatus, ScenarioResult
from riskgov.health.read_models import MarketHealth, RunTail, RunTotals, ScenarioRow
from riskgov.snapshots.models import Snapshot

pytestmark = pytest.mark.django_db


def _run(**fields) -> HealthRun:
    now = timezone.now()
    snap = Snapshot.objects.create(venue="T", taken_at=now, insurance_fund_usd=1000, sha256="0" * 64)
    values = {
        "n_accounts": 10,
        "n_positions": 12,
        "equity_usd": 5000.0,
        "initial_margin_usd": 400.0,
        "maintenance_margin_usd": 200.0,
        "liquidatable_accounts": 1,
        "bankrupt_accounts": 0,
        "shortfall_usd": 0.0,
        "insurance_fund_usd": 1000.0,
        "coverage_ratio": None,
        "tail_alpha": 0.99,
        "tail_scenarios": 100,
        "var_usd": 10.0,
        "es_usd": 20.0,
        "cover2_usd": 30.0,
        "coverage_at_es": 50.0,
        **fields,
    }
    run = HealthRun.objects.create(snapshot=snap, kind=RunKind.MANUAL, status=RunStatus.SUCCEEDED, **values)
    HealthRun.objects.filter(pk=run.pk).update(published_at=now)
    run.refresh_from_db()
    return run


def _rec(market, current, h1=None, h3=None, reject=False):
    out = {"market": market, "current_mmf": current, "current_imf": None if current is None else 2 * current}
    for key, mmf in (("h1", h1), ("h3", h3)):
        if mmf is not None:
            bt = {"exceedances": 3, "n": 300, "kupiec_lr": 9.0 if reject else 0.5, "critical": KUPIEC_CRITICAL}
            out[key] = {
                "horizon_days": int(key[1:]),
                "mmf_rec": mmf,
                "imf_rec": 2 * mmf,
                "backtest": {**bt, "reject": reject},
            }
    return out


def test_totals_and_tail_are_frozen_and_keep_the_formats_shape():
    run = _run()
    totals, tail = selectors.totals_of(run), selectors.tail_of(run)
    assert isinstance(totals, RunTotals) and isinstance(tail, RunTail)
    with pytest.raises(dataclasses.FrozenInstanceError):
        totals.accounts = 1  # type: ignore[misc]
    assert list(selectors.run_totals(run)) == [
        "accounts",
        "positions",
        "equity_usd",
        "initial_margin_usd",
        "maintenance_margin_usd",
        "liquidatable_accounts",
        "bankrupt_accounts",
        "shortfall_usd",
        "insurance_fund_usd",
        "coverage_ratio",
    ]
    assert selectors.run_totals(run)["coverage_ratio"] is None  # infinity stays null
    assert selectors.run_tail(run) == {
        "alpha": 0.99,
        "scenarios": 100,
        "var_usd": 10.0,
        "es_usd": 20.0,
        "cover2_usd": 30.0,
        "coverage_at_es": 50.0,
    }


def test_scenario_rows_are_typed_and_cover_every_stored_column():
    run = _run()
    ScenarioResult.objects.create(
        run=run, idx=0, name="uniform -20%", kind="uniform", liquidatable_accounts=2, bankrupt_accounts=1,
        shortfall_usd=5.0, penalties_usd=1.0, insurance_fund_after_usd=995.0, adl_usd=0.0, coverage_ratio=None,
        shock=-0.2,
    )  # fmt: skip
    stored = {f.name for f in ScenarioResult._meta.concrete_fields} - {"id", "run"}
    assert set(selectors.SCENARIO_FIELDS) == stored
    (row,) = selectors.run_scenario_rows(run)
    assert isinstance(row, ScenarioRow) and row.shock == -0.2 and row.coverage_ratio is None
    assert row.as_dict()["name"] == "uniform -20%"


def test_model_health_flags_are_the_engine_rule():
    recs = [
        _rec("A-PERP", 0.004, h1=0.003, h3=0.006),  # below 75 % of the 3-day recommendation only
        _rec("B-PERP", 0.01, h1=0.008, h3=0.009),  # above both
        _rec("C-PERP", 0.01, h1=0.008, reject=True),  # backtest fails
        _rec("D-PERP", None, h1=0.008),  # current MMF unknown: not flagged as below
        {"market": "E-PERP", "note": "not enough price history"},  # no horizon at all
    ]
    run = _run(recommendations=recs)
    rows = selectors.run_model_health(run)
    assert all(isinstance(m, MarketHealth) for m in rows)
    by = {m.market[0]: m for m in rows}
    assert [by[k].below_recommendation for k in "ABCDE"] == [True, False, False, False, False]
    assert [by[k].backtest_fails for k in "ABCDE"] == [False, False, True, False, False]
    assert [by[k].flagged for k in "ABCDE"] == [True, False, True, False, False]
    a = by["A"]
    assert [h.below_recommendation for h in a.horizons] == [False, True]
    assert a.horizon(3).mmf_rec == 0.006 and a.horizon(2) is None
    assert a.edition == 1 and a.label.startswith("first-edition 1-/3-day recommendation")
    for m, rec in zip(rows, recs, strict=True):
        check = mmf_check(
            rec.get("current_mmf"), [(rec.get(h) or {}).get("mmf_rec") for h in ("h1", "h3")], tolerance=0.25
        )
        assert m.below_recommendation == bool(check and check.below)
    assert by["C"].horizons[0].backtest == "fail" and by["E"].horizons == () and by["E"].note
    doc = a.as_dict()
    assert isinstance(doc["horizons"], list) and doc["horizons"][1]["below_recommendation"] is True
    json.dumps([m.as_dict() for m in rows])  # stored in Report.figures


def test_freshness_limits_are_declared_once(settings):
    assert selectors.STALE_AFTER_HOURS == 26.0  # README: runs older than 26 h are stale
    del settings.RISKGOV_REPORT_MAX_RUN_AGE_HOURS
    assert selectors.freshness_limits().run_hours == selectors.STALE_AFTER_HOURS
    assert selectors.freshness_limits().price_hours == selectors.MAX_PRICE_AGE_HOURS
    settings.RISKGOV_REPORT_MAX_RUN_AGE_HOURS = 5
    assert selectors.freshness_limits().run_hours == 5.0


def test_published_run_and_history_read_published_runs_only():
    run = _run()
    hidden = _run()
    HealthRun.objects.filter(pk=hidden.pk).update(published_at=None, status=RunStatus.RUNNING)
    assert selectors.published_run(str(run.pk)).pk == run.pk
    assert selectors.published_run(hidden.pk) is None and selectors.published_run("x") is None
    history = selectors.run_history()
    assert [r["id"] for r in history] == [run.pk]
    assert history[0]["published_at"] <= timezone.now() + dt.timedelta(seconds=1)

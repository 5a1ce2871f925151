"""Health-run services, run eagerly on a tiny imported venue (RISK_MODEL §5–§12).

Float comparisons: chunked vs single-pass totals are sums in a different order, so they
agree to 1e-9 relative (RISK_MODEL §1); counts, Cover-2 inputs and VaR/ES ranks are exact.
"""

import numpy as np
import pytest

from riskgov.core.models import AuditEvent
from riskgov.engine.health import evaluate_health
from riskgov.engine.stress import run_scenarios
from riskgov.engine.tail import var_es
from riskgov.health.models import AccountResult, HealthRun, PositionResult, RunChunk, RunStatus, ScenarioResult
from riskgov.health.scenarios import CRASH_DAYS, scenarios_from_store
from riskgov.health.selectors import latest_published_run, run_accounts
from riskgov.health.services import chunks as chunk_services
from riskgov.health.services import (
    health_chunk_compute,
    health_run_create,
    health_run_fail,
    health_run_finalize,
    health_run_start,
)
from riskgov.health.services._store import gap_minutes
from riskgov.parameters.adapters import engine_parameters
from riskgov.snapshots.adapters import snapshot_venue_state

pytestmark = pytest.mark.django_db
REL = 1e-9


def run_eager(snapshot, django_capture_on_commit_callbacks, **kw):
    with django_capture_on_commit_callbacks(execute=True):
        run = health_run_create(snapshot=snapshot, **kw)
    run.refresh_from_db()
    return run


def test_stored_results_equal_the_engine_on_the_same_arrays(venue, django_capture_on_commit_callbacks):
    run = run_eager(venue, django_capture_on_commit_callbacks)
    assert run.status == RunStatus.SUCCEEDED and run.published_at is not None and run.progress == 100
    ep = engine_parameters()
    full = snapshot_venue_state(snapshot=venue, params=ep.params)
    h = evaluate_health(ep.params, full.state)
    t = h.totals
    assert (run.n_accounts, run.n_positions) == (t.n_accounts, t.n_positions) == (21, venue.n_positions)
    assert (run.liquidatable_accounts, run.bankrupt_accounts) == (t.liquidatable_accounts, t.bankrupt_accounts)
    for stored, ref in (
        (run.equity_usd, t.equity),
        (run.initial_margin_usd, t.initial_margin),
        (run.maintenance_margin_usd, t.maintenance_margin),
        (run.shortfall_usd, t.shortfall),
    ):
        assert stored == pytest.approx(ref, rel=REL)
    assert t.bankrupt_accounts >= 1  # the position-less account with a liability
    rows = list(AccountResult.objects.filter(run=run).order_by("account_idx"))
    assert [r.account_id for r in rows] == list(full.account_ids)
    np.testing.assert_array_equal([r.equity_usd for r in rows], h.accounts.equity)
    ratio = np.array([np.inf if r.margin_ratio is None else r.margin_ratio for r in rows])
    np.testing.assert_array_equal(ratio, h.accounts.margin_ratio)
    pos = list(PositionResult.objects.filter(run=run).order_by("account_idx", "position_id"))
    np.testing.assert_array_equal([p.position_id for p in pos], full.position_ids)
    liq = np.array([np.nan if p.liquidation_price is None else p.liquidation_price for p in pos])
    np.testing.assert_array_equal(liq, h.liquidation_price)

    scenarios, in_tail = scenarios_from_store(run.scenario_set)
    ref = run_scenarios(ep.params, full.state, scenarios)
    stored = list(ScenarioResult.objects.filter(run=run, family="gap").order_by("idx"))
    assert [s.name for s in stored] == list(ref.names)
    assert [s.liquidatable_accounts for s in stored] == ref.n_liquidated.tolist()
    assert [s.bankrupt_accounts for s in stored] == ref.n_bankrupt.tolist()
    np.testing.assert_allclose([s.shortfall_usd for s in stored], ref.shortfall, rtol=REL)
    np.testing.assert_allclose([s.adl_usd for s in stored], ref.adl_amount, rtol=REL, atol=1e-6)
    np.testing.assert_allclose([s.insurance_fund_after_usd for s in stored], ref.insurance_fund_after, rtol=REL)
    cov = np.array([np.inf if s.coverage_ratio is None else s.coverage_ratio for s in stored])
    np.testing.assert_allclose(cov, ref.coverage, rtol=REL)
    gap_tail = next(t for t in run.tails if t["family"] == "gap")
    # §10: the gap tail is the 1-day historical gap windows only (Cover-2 over them too)
    one_day = np.array([s.kind == "historical" and s.in_tail for s in stored])
    assert one_day.tolist() == in_tail.tolist()
    top2 = ref.top2_shortfall.sum(axis=1)
    assert gap_tail["cover2_usd"] == pytest.approx(float(top2[one_day].max()), rel=REL, abs=1e-6)
    assert gap_tail["label"] == "1-day gaps" and gap_tail["horizon_minutes"] == 1440
    assert all(gap_minutes(s.start_date, s.end_date) == 1440 for s in stored if s.in_tail)
    # a 3-day window's shortfall never enters the gap tail: VaR/ES/worst are the 1-day windows'
    three_day = [s.shortfall_usd for s in stored if s.kind == "historical" and s.step_minutes == 4320]
    assert len(three_day) == 43 and not any(s.in_tail for s in stored if s.step_minutes == 4320)
    var, es, _ = var_es(ref.shortfall[one_day], 0.99)
    assert (gap_tail["var_usd"], gap_tail["es_usd"]) == pytest.approx((var, es), rel=REL)
    assert gap_tail["worst_shortfall_usd"] == pytest.approx(ref.shortfall[one_day].max(), rel=REL)
    assert max(three_day) > gap_tail["worst_shortfall_usd"]  # this data's 3-day windows bite harder
    # every tail names its horizon (§10: "VaR 99 %, 1-day gaps")
    for t in run.tails:
        assert t["label"].startswith(f"{t['horizon_minutes'] // 1440}-day "), t
    assert ref.shortfall.max() > 0  # the scenarios do bite
    # the standard set: 10 uniform, 1-day and 3-day windows, Black Thursday present in the data
    kinds = [s.kind for s in stored]
    assert kinds.count("uniform") == 10
    assert any(s.name.startswith(CRASH_DAYS[0][0]) for s in stored)
    assert run.scenario_set.meta["crash_days_absent"] == [n for n, _, _ in CRASH_DAYS[1:]]
    assert gap_tail["scenarios"] == int(in_tail.sum()) == 45  # the 1-day windows; the 43 3-day ones stay out
    # §10: tails per family, the headline the 1-day historical paths
    assert [t["family"] for t in run.tails] == ["gap", "trend", "path_1d", "path_3d"]
    head = run.tails[2]
    assert run.tail_scenarios == head["scenarios"] == ScenarioResult.objects.filter(run=run, family="path_1d").count()
    assert (run.var_usd, run.es_usd) == (head["var_usd"], head["es_usd"]) and run.tail["population"] == "1-day paths"
    assert run.var_usd <= run.es_usd
    assert run.cascade["scenario"] == ref.names[ref.worst_scenario]
    assert {r["market"] for r in run.recommendations} == {"BTC-PERP", "ETH-PERP"}
    # §12 at the liquidation horizon; this database has daily closes only: the 1-day proxy
    rec = run.recommendations[0]
    assert rec["edition"] == 2 and rec["horizon_minutes"] == 5 and rec["resolution"] == "1d"
    assert "backtest" in rec and rec["brackets"][0]["mmf_rec"] > 0
    assert set(run.timings) >= {"chunks_stress", "finalize_cascade_adl", "wall"}
    assert AuditEvent.objects.filter(action="health.run.publish", object_id=str(run.pk)).exists()
    assert latest_published_run() == run
    # accounts ordered riskiest first, infinity (NULL) first
    ordered = list(run_accounts(run=run).values_list("margin_ratio", flat=True))
    finite = [r for r in ordered if r is not None]
    assert ordered[: len(ordered) - len(finite)] == [None] * (len(ordered) - len(finite))
    assert finite == sorted(finite, reverse=True)


@pytest.mark.parametrize("size", [3, 4])  # 4: the last chunk holds one position-less account
def test_chunked_totals_equal_single_chunk_totals(venue, django_capture_on_commit_callbacks, size):
    one = run_eager(venue, django_capture_on_commit_callbacks, chunk_accounts=10_000)
    many = run_eager(venue, django_capture_on_commit_callbacks, chunk_accounts=size)
    assert (one.chunks_total, many.chunks_total) == (1, -(-21 // size))
    for f in ("n_accounts", "n_positions", "liquidatable_accounts", "bankrupt_accounts", "tail_scenarios"):
        assert getattr(one, f) == getattr(many, f), f
    for f in ("equity_usd", "initial_margin_usd", "maintenance_margin_usd", "shortfall_usd", "var_usd", "es_usd"):
        assert getattr(many, f) == pytest.approx(getattr(one, f), rel=REL), f
    assert many.cover2_usd == pytest.approx(one.cover2_usd, rel=REL)
    a = list(ScenarioResult.objects.filter(run=one).order_by("idx").values_list())
    b = list(ScenarioResult.objects.filter(run=many).order_by("idx").values_list())
    for ra, rb in zip(a, b, strict=True):
        for x, y in zip(ra[2:], rb[2:], strict=True):  # skip id, run
            if isinstance(x, float):
                assert y == pytest.approx(x, rel=REL, abs=1e-9)
            else:
                assert x == y
    assert AccountResult.objects.filter(run=many).count() == 21


def test_chunk_twice_leaves_the_same_rows(venue):
    run = health_run_create(snapshot=venue, chunk_accounts=8, enqueue=False)
    ranges = health_run_start(run_id=run.pk)
    assert ranges == [(0, 8), (8, 16), (16, 21)]
    assert health_run_start(run_id=run.pk) is None  # a duplicate start does nothing
    for a, b in ranges:
        health_chunk_compute(run_id=run.pk, first_account=a, last_account=b)
    before = list(
        AccountResult.objects.filter(run=run).order_by("account_idx").values_list("account_idx", "equity_usd")
    )
    n_pos = PositionResult.objects.filter(run=run).count()
    health_chunk_compute(run_id=run.pk, first_account=8, last_account=16)  # redelivered
    after = list(AccountResult.objects.filter(run=run).order_by("account_idx").values_list("account_idx", "equity_usd"))
    assert after == before and PositionResult.objects.filter(run=run).count() == n_pos
    assert RunChunk.objects.get(run=run, first_account=8).attempts == 2
    run.refresh_from_db()
    assert (run.chunks_done, run.progress, run.published_at) == (3, 95, None)
    assert latest_published_run() is None  # not visible before publication
    health_run_finalize(run_id=run.pk)
    health_run_finalize(run_id=run.pk)  # idempotent
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    n_paths = sum(f["n"] for f in run.scenario_set.families)
    assert ScenarioResult.objects.filter(run=run).count() == run.scenario_set.shocks.__len__() // 3 + n_paths


def test_failed_run_is_invisible_and_cleaned(venue, django_capture_on_commit_callbacks, monkeypatch):
    good = run_eager(venue, django_capture_on_commit_callbacks, chunk_accounts=10)
    calls = {"n": 0}
    real = chunk_services.snapshot_venue_state

    def flaky(**kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("worker lost the database")
        return real(**kw)

    monkeypatch.setattr(chunk_services, "snapshot_venue_state", flaky)  # the chunk task loads the snapshot
    with pytest.raises(RuntimeError), django_capture_on_commit_callbacks(execute=True):
        health_run_create(snapshot=venue, chunk_accounts=10)
    bad = HealthRun.objects.exclude(pk=good.pk).get()
    assert bad.status == RunStatus.FAILED and "worker lost the database" in bad.error
    assert bad.published_at is None
    assert not AccountResult.objects.filter(run=bad).exists()
    assert not PositionResult.objects.filter(run=bad).exists()
    assert latest_published_run() == good
    # late chunk or finalize of a failed run does nothing; fail is idempotent
    assert health_chunk_compute(run_id=bad.pk, first_account=0, last_account=10) is False
    health_run_finalize(run_id=bad.pk)
    health_run_fail(run_id=bad.pk, error="again")
    bad.refresh_from_db()
    assert bad.status == RunStatus.FAILED and "worker lost" in bad.error
    health_run_fail(run_id=good.pk, error="late")  # a published run stays published
    good.refresh_from_db()
    assert good.status == RunStatus.SUCCEEDED


def test_create_enqueues_on_commit_only(venue, django_capture_on_commit_callbacks, monkeypatch):
    sent = []
    from riskgov.health import tasks

    monkeypatch.setattr(tasks.health_run, "delay", lambda *a, **k: sent.append(a))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = health_run_create(snapshot=venue)
        assert sent == []
    assert len(callbacks) == 1 and sent == []
    callbacks[0]()
    assert sent == [(run.pk,)]
    run.refresh_from_db()
    assert run.status == RunStatus.PENDING
    assert AuditEvent.objects.filter(action="health.run.create", object_id=str(run.pk)).exists()


def test_scenario_spec_tokens_and_bad_spec(venue):
    from riskgov.core.exceptions import DomainError

    run = health_run_create(snapshot=venue, scenario_spec="uniform", enqueue=False)
    assert run.scenario_set.kinds == ["uniform"] * 10
    with pytest.raises(DomainError):
        health_run_create(snapshot=venue, scenario_spec="bogus", enqueue=False)


def test_impact_run_and_comparison(venue, django_capture_on_commit_callbacks):
    from riskgov.health.selectors import run_comparison
    from riskgov.health.services import health_impact_run
    from riskgov.parameters.services import parameters_import_document
    from tests.health.conftest import venue_document

    current = run_eager(venue, django_capture_on_commit_callbacks)
    doc = venue_document()
    for b in doc["markets"][0]["brackets"]:
        b["maintenance_margin_fraction"] = str(float(b["maintenance_margin_fraction"]) * 20)
        b["initial_margin_fraction"] = str(float(b["initial_margin_fraction"]) * 20)
    drafts = parameters_import_document(document=doc).market_versions
    with django_capture_on_commit_callbacks(execute=True):
        proposed = health_impact_run(overrides=drafts)
    proposed.refresh_from_db()
    assert proposed.status == RunStatus.SUCCEEDED and proposed.kind == "impact"
    assert latest_published_run() == current  # impact runs are not "the" latest run
    cmp = run_comparison(current, proposed)
    assert cmp.delta_maintenance_margin_usd > 0 and cmp.delta_initial_margin_usd > 0
    assert len(cmp.scenarios) == ScenarioResult.objects.filter(run=current).count()
    cur = set(AccountResult.objects.filter(run=current, liquidatable=True).values_list("account_id", flat=True))
    new = set(AccountResult.objects.filter(run=proposed, liquidatable=True).values_list("account_id", flat=True))
    assert set(cmp.newly_liquidatable) == new - cur and cmp.newly_liquidatable_count == len(new - cur)
    assert set(cmp.no_longer_liquidatable) == cur - new and cmp.no_longer_liquidatable_count == len(cur - new)
    assert len(new - cur) >= 2  # doubled margins tip accounts over
    capped = run_comparison(current, proposed, limit=1)
    assert len(capped.newly_liquidatable) == 1 and capped.newly_liquidatable_count == len(new - cur)


def test_setup_schedules_is_idempotent():
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    call_command("setup_schedules")
    call_command("setup_schedules", "--every", "5")
    task = PeriodicTask.objects.get(task="health.run_scheduled")
    assert task.interval.every == 60 and PeriodicTask.objects.filter(task="health.run_scheduled").count() == 1


def test_scheduled_task_runs_on_the_latest_snapshot(venue, django_capture_on_commit_callbacks):
    from riskgov.health.tasks import health_run_scheduled

    with django_capture_on_commit_callbacks(execute=True):
        run_id = health_run_scheduled.apply().get()
    run = HealthRun.objects.get(pk=run_id)
    assert run.kind == "scheduled" and run.status == RunStatus.SUCCEEDED


def test_redelivered_chunk_task_gives_correct_results(venue, django_capture_on_commit_callbacks):
    """A chunk message delivered twice (worker killed after the write, acks_late) changes nothing."""
    from riskgov.health.tasks import health_finalize, health_run_chunk

    ref = run_eager(venue, django_capture_on_commit_callbacks, chunk_accounts=10_000)
    run = health_run_create(snapshot=venue, chunk_accounts=7, enqueue=False)
    ranges = health_run_start(run_id=run.pk)
    for a, b in ranges:
        health_run_chunk.apply(args=(run.pk, a, b)).get()
    health_run_chunk.apply(args=(run.pk, *ranges[1])).get()  # the redelivery
    health_finalize.apply(args=(run.pk,)).get()
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert AccountResult.objects.filter(run=run).count() == 21
    assert PositionResult.objects.filter(run=run).count() == ref.n_positions
    assert (run.liquidatable_accounts, run.bankrupt_accounts) == (ref.liquidatable_accounts, ref.bankrupt_accounts)
    assert run.shortfall_usd == pytest.approx(ref.shortfall_usd, rel=REL)
    assert run.es_usd == pytest.approx(ref.es_usd, rel=REL)


@pytest.mark.parametrize("size", [10_000, 4])
def test_distributions_equal_the_stored_rows(venue, django_capture_on_commit_callbacks, size):
    """The dashboards' precomputed histograms and per-market sums agree with the stored
    account/position rows, whatever the chunking (fixed bins add up exactly)."""
    from riskgov.engine.distributions import MAP_BINS, MARGIN_RATIO_EDGES

    run = run_eager(venue, django_capture_on_commit_callbacks, chunk_accounts=size)
    d = run.distributions
    accounts = list(AccountResult.objects.filter(run=run))
    ratios = [a.margin_ratio for a in accounts]
    assert d["margin_ratio"]["infinite"] == sum(r is None for r in ratios)
    assert sum(d["margin_ratio"]["counts"]) + d["margin_ratio"]["infinite"] == run.n_accounts
    expected = np.histogram([r for r in ratios if r is not None], bins=[*MARGIN_RATIO_EDGES, np.inf])[0]
    assert d["margin_ratio"]["counts"] == expected.tolist()

    marks = {"BTC-PERP": 6000.0, "ETH-PERP": 150.0}
    by_idx = {a.account_idx: a for a in accounts}
    for sym, m in d["markets"].items():
        rows = list(PositionResult.objects.filter(run=run, market__symbol=sym))
        assert m["positions"] == len(rows)
        assert m["long_notional_usd"] == pytest.approx(sum(p.notional_usd for p in rows if p.size > 0), rel=REL)
        assert m["maintenance_margin_usd"] == pytest.approx(sum(p.maintenance_margin_usd for p in rows), rel=REL)
        assert m["liquidatable_notional_usd"] == pytest.approx(
            sum(p.notional_usd for p in rows if p.liquidatable), rel=REL, abs=1e-9
        )
        for p in rows:  # a position of a liquidatable account is liquidatable unless isolated and healthy
            if p.liquidatable:
                assert by_idx[p.account_idx].liquidatable
        lm = d["liquidation_map"]["markets"][sym]
        assert lm["mark_price"] == marks[sym]
        assert len(lm["long"]) == len(lm["short"]) == MAP_BINS
        mapped = sum(lm["long"]) + sum(lm["short"]) + lm["outside_long"] + lm["outside_short"]
        mapped += lm["now_long"] + lm["now_short"]
        assert mapped == pytest.approx(sum(p.notional_usd for p in rows), rel=REL)
        assert lm["now_long"] + lm["now_short"] == pytest.approx(m["liquidatable_notional_usd"], rel=REL, abs=1e-9)
        for p in rows:
            if p.liquidation_price is None or p.liquidatable:
                continue
            pct = (p.liquidation_price / marks[sym] - 1) * 100
            assert (pct < 0) == (p.size > 0)  # not yet liquidatable: longs below the mark, shorts above
            if -50 <= pct < 50:
                side = lm["long"] if p.size > 0 else lm["short"]
                assert side[int(np.floor(pct + 50))] >= p.notional_usd * (1 - REL)
    assert any(p.liquidatable for p in PositionResult.objects.filter(run=run))
    assert sum(m["long_notional_usd"] + m["short_notional_usd"] for m in d["markets"].values()) > 0

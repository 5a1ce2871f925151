"""Per-account/position results: every row in the run's Parquet files, the queried few in PG."""

import numpy as np
import pytest

from riskgov.engine.health import evaluate_health
from riskgov.health import export
from riskgov.health.export import health_document
from riskgov.health.models import AccountResult, PositionResult
from riskgov.health.selectors import run_account, run_riskiest_accounts
from riskgov.health.services import health_run_create, results_file
from riskgov.parameters.adapters import engine_parameters
from riskgov.snapshots.adapters import snapshot_venue_state

pytestmark = pytest.mark.django_db


def _run(snapshot, capture, **kw):
    with capture(execute=True):
        run = health_run_create(snapshot=snapshot, **kw)
    run.refresh_from_db()
    return run


def test_riskiest_mask_orders_infinity_first_then_ratio_then_index():
    ratio = np.array([0.5, np.nan, 2.0, 2.0, np.nan, 0.1])
    assert np.flatnonzero(results_file.riskiest_mask(ratio, 3)).tolist() == [1, 2, 4]
    assert results_file.riskiest_mask(ratio, 10).all() and not results_file.riskiest_mask(ratio, 0).any()


def test_files_hold_every_row_and_pg_the_riskiest(venue, django_capture_on_commit_callbacks, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    full_run = _run(venue, django_capture_on_commit_callbacks, chunk_accounts=4)
    settings.RISKGOV_HEALTH_PG_TOP_ACCOUNTS = 2
    run = _run(venue, django_capture_on_commit_callbacks, chunk_accounts=4)
    assert results_file.has_files(run) and len(results_file.run_files(run)) == run.chunks_total
    ep = engine_parameters()
    full = snapshot_venue_state(snapshot=venue, params=ep.params)
    h = evaluate_health(ep.params, full.state)

    kept = list(AccountResult.objects.filter(run=run).order_by("account_idx"))
    assert 0 < len(kept) < full.state.portfolio.n_accounts
    assert {a.account_idx for a in kept} >= set(np.flatnonzero(h.accounts.liquidatable | h.accounts.bankrupt))
    assert set(PositionResult.objects.filter(run=run).values_list("account_idx", flat=True)) <= {
        a.account_idx for a in kept
    }
    # the riskiest table over the kept rows starts exactly as over all rows (top N per chunk)
    top = [r["account_idx"] for r in run_riskiest_accounts(full_run, limit=2)]
    assert [r["account_idx"] for r in run_riskiest_accounts(run, limit=2)] == top

    # the export (from the files) equals the export of the run with every row in PG
    doc = health_document(run)
    assert doc["accounts"] == list(export._accounts_db(full_run))
    assert doc["positions"] == list(export._positions_db(full_run))
    assert len(doc["accounts"]) == full.state.portfolio.n_accounts

    # the account page of an account not kept in PG comes from the files, same values
    kept_idx = {a.account_idx for a in kept}
    n_pos = np.bincount(full.state.portfolio.position_account, minlength=full.state.portfolio.n_accounts)
    idx = next(i for i in range(full.state.portfolio.n_accounts) if i not in kept_idx and n_pos[i])
    acc, pos = run_account(run, idx)
    ref_acc, ref_pos = run_account(full_run, idx)
    assert acc is not None and acc.pk is None
    assert [getattr(acc, f) for f in ("account_id", "equity_usd", "margin_ratio", "liquidatable")] == [
        getattr(ref_acc, f) for f in ("account_id", "equity_usd", "margin_ratio", "liquidatable")
    ]
    assert pos == ref_pos and pos
    assert run_account(run, 10_000) == (None, [])


def test_largest_mask_leaves_not_computed_out_and_breaks_ties_by_account():
    v = np.array([3.0, np.nan, 5.0, 3.0, 0.0])
    assert np.flatnonzero(results_file.largest_mask(v, 2)).tolist() == [0, 2]
    assert np.flatnonzero(results_file.largest_mask(v, 10)).tolist() == [0, 2, 3, 4]
    assert not results_file.largest_mask(np.full(3, np.nan), 2).any()


def test_stress_shortfall_per_account_is_stored_and_ranked(
    venue, django_capture_on_commit_callbacks, settings, tmp_path
):
    """Each account's stress shortfall (its largest shortfall over the run's gap scenarios,
    and which scenario): stored in PG and in the files as the engine computes it over the
    whole venue (chunks change nothing), and the top N by it kept in PG from every chunk."""
    import pyarrow.parquet as pq
    from django.core.files.storage import default_storage

    from riskgov.engine.account_stress import account_stress
    from riskgov.engine.stress import run_scenarios
    from riskgov.health.scenarios import scenarios_from_store

    settings.MEDIA_ROOT = tmp_path
    full_run = _run(venue, django_capture_on_commit_callbacks, chunk_accounts=4)
    settings.RISKGOV_HEALTH_PG_TOP_ACCOUNTS = 2
    run = _run(venue, django_capture_on_commit_callbacks, chunk_accounts=4)
    ep = engine_parameters()
    full = snapshot_venue_state(snapshot=venue, params=ep.params)
    scenarios, _ = scenarios_from_store(run.scenario_set)
    want = account_stress(run_scenarios(ep.params, full.state, scenarios))
    assert want.computed.all() and (want.shortfall > 0).any()

    # every account, from the full run's rows (all in PG there: top N = 1000)
    rows = {a.account_idx: a for a in AccountResult.objects.filter(run=full_run)}
    assert len(rows) == full.state.portfolio.n_accounts
    got = np.array([rows[i].stress_shortfall_usd for i in range(len(rows))])
    np.testing.assert_allclose(got, want.shortfall, rtol=1e-9, atol=1e-6)
    for i, a in rows.items():
        if want.scenario[i] >= 0:
            assert a.stress_scenario_idx == want.scenario[i] and a.stress_scenario == scenarios.names[want.scenario[i]]
        else:
            assert a.stress_scenario_idx is None and a.stress_scenario == ""
    # the files hold it for every account
    acc_name = results_file.run_files(run)[0][0]
    with default_storage.open(acc_name, "rb") as fh:
        table = pq.read_table(fh).to_pydict()
    assert {"stress_shortfall_usd", "stress_scenario_idx", "stress_scenario", "notional_usd"} <= set(table)
    np.testing.assert_allclose(table["stress_shortfall_usd"], want.shortfall[:4], rtol=1e-9, atol=1e-6)

    # ranked by stress shortfall / notional over the few kept rows: the same top as over all
    for rank in ("stress_shortfall", "notional"):
        top = [r["account_idx"] for r in run_riskiest_accounts(full_run, limit=2, rank=rank)]
        assert [r["account_idx"] for r in run_riskiest_accounts(run, limit=2, rank=rank)] == top
    ranked = run_riskiest_accounts(full_run, limit=50, rank="stress_shortfall")
    values = [r["stress_shortfall_usd"] for r in ranked]
    assert values == sorted(values, reverse=True) and values[0] == pytest.approx(want.shortfall.max())
    # sum consistency with the stored scenarios: no account exceeds its scenario's total
    from riskgov.health.models import ScenarioResult

    totals = dict(ScenarioResult.objects.filter(run=full_run, family="gap").values_list("idx", "shortfall_usd"))
    for a in rows.values():
        if a.stress_scenario_idx is not None:
            assert totals[a.stress_scenario_idx] >= a.stress_shortfall_usd * (1 - 1e-9)

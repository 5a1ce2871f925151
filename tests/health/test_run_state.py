"""A run's copy of its venue (``health.services.run_state``): the chunks' copies joined are the
snapshot read whole, finalize from them publishes what a read from PostgreSQL publishes, and
no copy outlives the run."""

import dataclasses

import numpy as np
import pytest
from django.core.files.storage import default_storage

from riskgov.health.models import RunStatus
from riskgov.health.services import results_file, run_state
from riskgov.parameters.adapters import engine_parameters
from riskgov.snapshots import adapters
from riskgov.snapshots.adapters import snapshot_venue_state, state_arrays, state_from_arrays
from tests.health.test_portfolio_accounts import pm_venue  # noqa: F401 — fixture
from tests.health.test_portfolio_accounts import run_eager as _run

pytestmark = pytest.mark.django_db


def _assert_same_state(a, b):
    pa, pb = a.state.portfolio, b.state.portfolio
    assert pa.n_accounts == pb.n_accounts
    for f in dataclasses.fields(pa):
        x, y = getattr(pa, f.name), getattr(pb, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
    np.testing.assert_array_equal(a.position_ids, b.position_ids)
    np.testing.assert_array_equal(a.state.asset_prices, b.state.asset_prices)
    np.testing.assert_array_equal(a.open_interest, b.open_interest)
    assert a.state.insurance_fund == b.state.insurance_fund and a.price_source == b.price_source
    assert (a.options is None) == (b.options is None)
    if a.options is not None:
        for f in dataclasses.fields(a.options):
            np.testing.assert_array_equal(getattr(a.options, f.name), getattr(b.options, f.name), err_msg=f.name)


@pytest.mark.parametrize("which", ["venue", "pm_venue"])
def test_joined_ranges_are_the_snapshot_read_whole(which, request, monkeypatch):
    snapshot = request.getfixturevalue(which)
    params = engine_parameters().params
    n = snapshot.n_accounts
    bounds = [0, 1, 4, 5, n - 1, n]
    parts = [
        state_arrays(snapshot_venue_state(snapshot=snapshot, params=params, first_account=a, last_account=b))
        for a, b in zip(bounds, bounds[1:], strict=False)
    ]
    whole = snapshot_venue_state(snapshot=snapshot, params=params, with_ids=False)
    assert whole.account_ids is None
    _assert_same_state(state_from_arrays(parts), whole)
    # a venue larger than one read block is read block by block: the same arrays (and ids)
    monkeypatch.setattr(adapters, "READ_BLOCK_ACCOUNTS", 3)
    _assert_same_state(snapshot_venue_state(snapshot=snapshot, params=params, with_ids=False), whole)
    with_ids = snapshot_venue_state(snapshot=snapshot, params=params)
    monkeypatch.setattr(adapters, "READ_BLOCK_ACCOUNTS", 10**6)
    np.testing.assert_array_equal(
        with_ids.account_ids, snapshot_venue_state(snapshot=snapshot, params=params).account_ids
    )
    with pytest.raises(ValueError, match="not consecutive"):
        state_from_arrays([parts[0], parts[2]])


@pytest.mark.parametrize("which", ["venue", "pm_venue"])
def test_finalize_from_the_copies_publishes_what_a_database_read_does(
    which, request, django_capture_on_commit_callbacks, settings, tmp_path, monkeypatch
):
    settings.MEDIA_ROOT = tmp_path
    snapshot = request.getfixturevalue(which)
    reads = []
    real = run_state.read_run_state

    def spy(run):
        got = real(run)
        reads.append(got is not None)
        return got

    monkeypatch.setattr(run_state, "read_run_state", spy)
    copied = _run(snapshot, django_capture_on_commit_callbacks, chunk_accounts=4)
    monkeypatch.setattr(run_state, "read_run_state", lambda run: None)  # as if a copy were lost
    from_db = _run(snapshot, django_capture_on_commit_callbacks, chunk_accounts=4)
    assert reads == [True] and copied.chunks_total > 1  # pm_venue: a chunk with PM accounts but no option rows
    assert copied.cascade and copied.replay
    for field in ("cascade", "adl", "replay", "shortfall_usd", "es_usd", "var_usd", "tail", "tails"):
        assert getattr(copied, field) == getattr(from_db, field), field
    # and both equal the engine run afresh on the whole venue, each function building its own
    # book from the full state (finalize shares one book and keeps only the state's prices)
    from riskgov.health.models import RunChunk
    from riskgov.health.scenarios import families_from_store, scenarios_from_store
    from riskgov.health.services._base import _run_parameters, _run_pm_params, _snapshot_state
    from riskgov.health.services._summaries import worst_scenario_detail
    from riskgov.health.services.families import HEADLINE_FAMILY, combine_families, replay_json

    ep = _run_parameters(copied)
    full = _snapshot_state(snapshot=snapshot, params=ep.params, pm_params=_run_pm_params(copied))
    scenarios, _ = scenarios_from_store(copied.scenario_set)
    worst = scenarios.names.index(copied.cascade["scenario"])
    cascade, adl = worst_scenario_detail(
        params=ep.params, state=full.state, scenarios=scenarios, worst=worst, pm=full.pm
    )
    assert (cascade, adl) == (copied.cascade, copied.adl)
    chunks = list(RunChunk.objects.filter(run=copied).order_by("first_account"))
    outcomes = combine_families(
        chunks, families_from_store(copied.scenario_set), insurance_fund=float(snapshot.insurance_fund_usd), alpha=0.99
    )
    replay = replay_json(params=ep.params, state=full.state, outcome=outcomes[HEADLINE_FAMILY], pm=full.pm)
    assert replay == copied.replay
    # published: the copies are gone, the result files stay
    for run in (copied, from_db):
        _, files = default_storage.listdir(results_file.run_folder(run.pk))
        assert files and not [f for f in files if f.startswith("state-")]
        assert results_file.has_files(run)


def test_a_refused_chunk_leaves_no_copy(venue, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    snap = snapshot_venue_state(snapshot=venue, params=engine_parameters().params, first_account=0, last_account=4)
    written = run_state.write_chunk_state(run_id=991, first_account=0, snap=snap, snapshot=venue)
    assert written > 0 and default_storage.exists(run_state.state_name(991, 0))
    results_file.delete_chunk_files(991, 0)
    assert not default_storage.exists(run_state.state_name(991, 0))


def test_a_late_duplicate_chunk_of_a_published_run_leaves_no_copy(
    venue, django_capture_on_commit_callbacks, settings, tmp_path
):
    """A duplicate of a chunk that started while the run was running and stores after
    publication: its store is refused, its result files stay (the run's), its copy goes."""
    from riskgov.health.services import chunks

    settings.MEDIA_ROOT = tmp_path
    run = _run(venue, django_capture_on_commit_callbacks, chunk_accounts=4)
    assert not default_storage.exists(run_state.state_name(run.pk, 0))
    run.status = RunStatus.RUNNING  # what the duplicate read before the run was published
    assert chunks._compute(run=run, first_account=0, last_account=4) is False
    assert not default_storage.exists(run_state.state_name(run.pk, 0))
    assert results_file.has_files(run)


def test_unusable_copies_fall_back_to_the_snapshot(
    venue, django_capture_on_commit_callbacks, settings, tmp_path, monkeypatch
):
    """A half-written copy (a redelivered chunk rewriting it), one of another snapshot, or
    copies that do not cover the snapshot: ``read_run_state`` says ``None`` (finalize reads
    the snapshot instead) rather than failing the run; stale copies of a published run are
    removed by the sweep's clean-up."""
    from django.core.files.base import ContentFile

    from riskgov.health.models import HealthRun, RunChunk
    from riskgov.health.services.lifecycle import clean_result_folders

    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(run_state, "delete_run_state", lambda run_id: None)  # keep them to tamper with
    run = _run(venue, django_capture_on_commit_callbacks, chunk_accounts=4)
    run = HealthRun.objects.select_related("snapshot").get(pk=run.pk)
    assert run_state.read_run_state(run) is not None
    name = run_state.state_name(run.pk, 4)
    with default_storage.open(name, "rb") as fh:
        data = fh.read()
    default_storage.delete(name)
    default_storage.save(name, ContentFile(data[: len(data) // 2]))  # torn
    assert run_state.read_run_state(run) is None
    default_storage.delete(name)
    default_storage.save(name, ContentFile(data))
    assert run_state.read_run_state(run) is not None
    run.snapshot.sha256 = "0" * 64  # the copies are of a snapshot with another hash
    assert run_state.read_run_state(run) is None
    run.snapshot.refresh_from_db()
    RunChunk.objects.filter(run=run, first_account=4).delete()  # a gap in the ranges
    assert run_state.read_run_state(run) is None
    # published with copies left behind (their delete failed): the sweep removes them
    assert any(f.startswith("state-") for f in default_storage.listdir(results_file.run_folder(run.pk))[1])
    clean_result_folders()
    files = default_storage.listdir(results_file.run_folder(run.pk))[1]
    assert files and not any(f.startswith("state-") for f in files)

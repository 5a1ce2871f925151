"""Creating and starting runs, failing them, and the scheduled and impact entry points."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from riskgov.core.exceptions import DomainError, NotAllowed
from riskgov.core.roles import ADMIN, ANALYST, has_role
from riskgov.core.services import audit_record
from riskgov.health.models import (
    AccountResult,
    HealthRun,
    PositionResult,
    RunChunk,
    RunKind,
    RunScenarioSet,
    RunStatus,
    ScenarioResult,
)
from riskgov.health.scenarios import build_scenarios, families_to_store, parse_spec
from riskgov.health.services import results_file
from riskgov.health.services._base import (
    _chunk_accounts_default,
    _lock,
    _override_refs,
    _parameters_label,
    code_version,
)
from riskgov.health.services.lifecycle import run_deadline_seconds
from riskgov.parameters.adapters import engine_parameters

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- create / start


def _input_hash(
    *, snapshot: Any, ep: Any, spec: dict[str, Any], built: Any, document: Any = None, pm: Any = None
) -> str:
    """SHA-256 of everything a run's results depend on: snapshot, versions (PM ones when any
    are active, so a venue without PM keeps its hashes), spec, scenarios."""
    return hashlib.sha256(
        json.dumps(
            {
                "snapshot": snapshot.sha256,
                "markets": ep.market_versions,
                "assets": ep.asset_versions,
                "spec": spec,
                "scenarios": built.sha256,
                **({"document": document} if document is not None else {}),
                **({"pm": pm} if pm else {}),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()


def _store_scenario_set(*, run: HealthRun, built: Any) -> RunScenarioSet:
    """Freeze the run's built scenario set (``scenarios.build_scenarios``) on the run."""
    sc = built.scenarios
    families, paths = families_to_store(built.families)
    return RunScenarioSet.objects.create(
        families=families,
        paths=paths,
        run=run,
        asset_symbols=list(sc.asset_symbols),
        names=list(sc.names),
        kinds=list(sc.kinds),
        start_dates=list(sc.start_date),
        end_dates=list(sc.end_date),
        in_tail=list(built.in_tail),
        shocks=sc.shocks.ravel().tolist(),
        sha256=built.sha256,
        meta=built.meta,
    )


@transaction.atomic
def health_run_create(
    *,
    snapshot: Any,
    kind: str = RunKind.MANUAL,
    by: Any = None,
    overrides: Iterable[Any] = (),
    scenario_spec: str | dict[str, Any] | None = None,
    label: str = "",
    chunk_accounts: int | None = None,
    enqueue: bool = True,
    parameters_document: dict[str, Any] | None = None,
) -> HealthRun:
    """Create a pending run and enqueue ``health.run`` when the transaction commits.

    The parameter set (active versions overlaid with ``overrides``), the PM parameter versions
    (``pm_versions``, RISK_MODEL §14: the active ones, overlaid with the PM ``overrides``) and the scenario set
    (``scenarios.build_scenarios``) are resolved and frozen now, so a bad spec or an
    unusable parameter set fails here, and every chunk uses the same inputs.

    Args:
        snapshot: the ``Snapshot`` to evaluate.
        kind: ``scheduled``, ``manual`` or ``impact``.
        by: the user asking (``None`` = system: command, schedule); a user must be an
            analyst or admin.
        overrides: draft versions to overlay (impact runs): market, asset and PM parameter
            versions (each kind's ``SubjectKind.engine_overrides``).
        scenario_spec: see ``scenarios.parse_spec`` (default: the standard set).
        label: free text shown in lists.
        chunk_accounts: accounts per chunk (default ``settings.RISKGOV_HEALTH_CHUNK_ACCOUNTS``).
        enqueue: ``False`` leaves the run pending (tests, or a caller that dispatches itself).
        parameters_document: a validated ``riskgov.parameters/1`` document overlaid on the
            active set (a what-if run, FORMATS.md): stored on the run, nothing activated.

    Raises:
        NotAllowed: ``by`` is neither analyst nor admin.
        DomainError: no active parameters, bad spec, bad chunk size.
    """
    if by is not None and not has_role(by, ANALYST, ADMIN):
        raise NotAllowed("only analysts and admins start health runs")
    if kind not in RunKind.values:
        raise DomainError(f"unknown run kind {kind!r}")
    size = int(chunk_accounts or _chunk_accounts_default())
    if size < 1:
        raise DomainError("chunk size must be at least 1 account")
    overrides = list(overrides)
    document = json.loads(json.dumps(parameters_document, default=str)) if parameters_document else None
    ep = engine_parameters(overrides=overrides, document=document)
    spec = parse_spec(scenario_spec)
    used = set(snapshot.prices.values_list("asset__symbol", flat=True))
    built = build_scenarios(params=ep.params, spec=spec, used_assets=used)
    refs = _override_refs(overrides)
    name, version = _parameters_label(ep, refs)
    from riskgov.portfolio.adapters import pm_version_ids_with  # lazily, as _base does

    # frozen with the market versions (RISK_MODEL §14): the active PM versions, a proposal's
    # drafts among ``overrides`` for the underlyings they change
    pm_versions = pm_version_ids_with(overrides)
    input_hash = _input_hash(snapshot=snapshot, ep=ep, spec=spec, built=built, document=document, pm=pm_versions)
    if document is not None:
        name = f"{document.get('name') or 'parameter document'} (what-if over the active set)"[:300]
        version = f"{version}+doc-{input_hash[:8]}"
    run = HealthRun(
        snapshot=snapshot,
        kind=kind,
        label=label[:200],
        chunk_accounts=size,
        created_by=by if getattr(by, "is_authenticated", False) else None,
        created_by_name=by.get_username() if getattr(by, "is_authenticated", False) else "",
        market_versions=ep.market_versions,
        asset_versions=ep.asset_versions,
        pm_versions=pm_versions,
        overrides=refs,
        parameters_name=name,
        parameters_version=version,
        code_version=code_version()[:120],
        input_hash=input_hash,
        scenario_spec=spec,
        tail_alpha=float(spec.get("alpha", 0.99)),
        parameters_document=document,
    )
    run.full_clean()
    run.save()
    _store_scenario_set(run=run, built=built)
    audit_record(
        actor=by,
        action="health.run.create",
        obj=run,
        to_state=RunStatus.PENDING,
        after={
            "snapshot": snapshot.pk,
            "kind": kind,
            "scenarios": built.scenarios.n,
            "overrides": refs,
            "input_hash": input_hash,
            "chunk_accounts": size,
            "pm_versions": pm_versions,
        },
    )
    if enqueue:
        from riskgov.health.tasks import health_run

        health_run.delay_on_commit(run.pk)
    return run


@transaction.atomic
def health_run_start(*, run_id: int, queue: str = "") -> list[tuple[int, int]] | None:
    """Move a pending run to running, plan its chunks and set its deadline.

    The caller sends one ``health.run_chunk`` per range after this commits (``queue``: where
    they and finalize go, also for the sweep's re-dispatches; empty = default routing); the
    chunks are recorded as dispatched now.

    Returns:
        The ``[first, last)`` account ranges to compute (empty for a snapshot without
        accounts); ``None`` when the run is not pending (already started, finished or
        failed: a duplicate start does nothing).
    """
    run = _lock(run_id)
    if run.status != RunStatus.PENDING:
        return None
    n = int(run.snapshot.n_accounts)
    size = int(run.chunk_accounts)
    ranges = [(a, min(a + size, n)) for a in range(0, n, size)]
    now = timezone.now()
    RunChunk.objects.bulk_create(
        [RunChunk(run=run, first_account=a, last_account=b, dispatched_at=now, dispatches=1) for a, b in ranges]
    )
    run.status = RunStatus.RUNNING
    run.started_at = now
    run.deadline_at = now + dt.timedelta(seconds=run_deadline_seconds(len(ranges)))
    run.queue = (queue or "")[:200]
    run.chunks_total = len(ranges)
    run.chunks_done = 0
    run.progress = 0
    if not ranges:  # nothing to chunk: the caller sends finalize now
        run.finalize_dispatched_at, run.finalize_dispatches = now, 1
    run.save(
        update_fields=[
            "status",
            "started_at",
            "deadline_at",
            "queue",
            "chunks_total",
            "chunks_done",
            "progress",
            "finalize_dispatched_at",
            "finalize_dispatches",
        ]
    )
    audit_record(
        actor=None, action="health.run.start", obj=run, from_state=RunStatus.PENDING, to_state=RunStatus.RUNNING
    )
    return ranges


# --------------------------------------------------------------------------- failure


@transaction.atomic
def health_run_fail(*, run_id: int, error: str) -> HealthRun | None:
    """Mark a run failed with its error and remove its partial rows (idempotent).

    A published run is never failed afterwards (a late error of a redelivered task is
    ignored). Returns the run, or ``None`` when it does not exist.
    """
    run = HealthRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None or run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        return run
    before = run.status
    AccountResult.objects.filter(run=run).delete()
    PositionResult.objects.filter(run=run).delete()
    ScenarioResult.objects.filter(run=run).delete()
    RunChunk.objects.filter(run=run).update(partial={}, status=RunChunk.Status.PENDING)
    transaction.on_commit(lambda: _delete_files(run_id))
    run.status = RunStatus.FAILED
    run.error = (error or "unknown error")[:5000]
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    audit_record(
        actor=None, action="health.run.fail", obj=run, from_state=before, to_state=RunStatus.FAILED, comment=run.error
    )
    return run


def _delete_files(run_id: int) -> None:
    """Remove a failed run's result folder after the commit (a storage error is logged: the
    sweep removes the folder later)."""
    try:
        results_file.delete_run_files(run_id)
    except OSError as exc:
        log.warning("health run %s: result files not removed yet: %s", run_id, exc)


# --------------------------------------------------------------------------- entry points


def health_run_scheduled() -> HealthRun | None:
    """The scheduled run (beat): a run on the latest snapshot, or ``None`` when there is none."""
    from riskgov.snapshots.selectors import latest_snapshot

    snapshot = latest_snapshot()
    if snapshot is None:
        log.info("scheduled health run: no snapshot yet")
        return None
    return health_run_create(snapshot=snapshot, kind=RunKind.SCHEDULED, label="scheduled")


def health_impact_run(
    *,
    overrides: Iterable[Any],
    by: Any = None,
    label: str = "",
    scenario_spec: str | dict[str, Any] | None = None,
) -> HealthRun:
    """Governance hook: a run on the latest snapshot with draft versions overlaid (§13).

    Compare it with the latest published run by ``selectors.run_comparison``.

    Raises:
        DomainError: no snapshot, no overrides.
    """
    from riskgov.snapshots.selectors import latest_snapshot

    overrides = list(overrides)
    if not overrides:
        raise DomainError("an impact run needs at least one draft version")
    snapshot = latest_snapshot()
    if snapshot is None:
        raise DomainError("no snapshot to evaluate: import one first")
    return health_run_create(
        snapshot=snapshot, kind=RunKind.IMPACT, by=by, overrides=overrides, label=label, scenario_spec=scenario_spec
    )

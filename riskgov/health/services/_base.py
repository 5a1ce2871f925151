"""Constants and helpers shared by the health-run services: parameters of a run, snapshot loading, the run lock."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from django.conf import settings

from riskgov.core.exceptions import Conflict
from riskgov.health.models import (
    HealthRun,
)
from riskgov.parameters.adapters import EngineParameters, engine_parameters
from riskgov.parameters.models import AssetParameterVersion, MarketParameterVersion

log = logging.getLogger(__name__)

DEFAULT_CHUNK_ACCOUNTS = 250_000
#: share of the progress bar taken by the chunks; finalize takes the rest
CHUNK_PROGRESS = 95
#: §12 confidence level β and λ = IMF/MMF (RISK_MODEL §12 defaults)
RECOMMEND_BETA = 0.99
RECOMMEND_LAMBDA = 2.0


# --------------------------------------------------------------------------- helpers


@functools.cache
def code_version() -> str:
    """``git describe`` (or the package version) plus a hash of the engine's source files."""
    root = Path(__file__).resolve().parent.parent.parent
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = ""
    if not described:
        from importlib.metadata import PackageNotFoundError, version

        try:
            described = version("riskgov")
        except PackageNotFoundError:
            described = "unknown"
    h = hashlib.sha256()
    for path in sorted((root / "riskgov" / "engine").glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return f"{described} engine:{h.hexdigest()[:12]}"


def _chunk_accounts_default() -> int:
    return int(getattr(settings, "RISKGOV_HEALTH_CHUNK_ACCOUNTS", DEFAULT_CHUNK_ACCOUNTS))


def _override_refs(overrides: Iterable[Any]) -> list[dict[str, Any]]:
    """``[{"kind", "id"}]`` of overlaid versions, ``kind`` the subject kind whose version model
    the row is (``core.subjects`` registry: ``market``, ``asset``, ``pm``)."""
    from riskgov.core.subjects import registered_kinds

    by_model = {k.version_model: k.name for k in registered_kinds()}
    return [{"kind": by_model.get(type(o), type(o)._meta.model_name), "id": o.pk} for o in overrides]


def _parameters_label(ep: EngineParameters, overrides: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """(name, version) for ``riskgov.health/1``: source import names, and a short hash of
    the version ids (``pv-…``), marked ``+drafts`` for an impact run."""
    names = sorted(
        set(
            MarketParameterVersion.objects.filter(pk__in=ep.market_versions.values())
            .exclude(source_import=None)
            .values_list("source_import__name", flat=True)
        )
    )
    name = " + ".join(names) if names else "active parameters"
    if overrides:
        name += " + proposed drafts"
    digest = hashlib.sha256(json.dumps([ep.market_versions, ep.asset_versions], sort_keys=True).encode()).hexdigest()[
        :12
    ]
    return name[:300], f"pv-{digest}"


def _run_parameters(run: HealthRun) -> EngineParameters:
    """The engine parameters a run was created with (its recorded version ids).

    Raises:
        Conflict: the set can no longer be rebuilt identically (a market was activated or
            retired since the run was created).
    """
    mv = MarketParameterVersion.objects.filter(pk__in=list(run.market_versions.values()))
    av = AssetParameterVersion.objects.filter(pk__in=list(run.asset_versions.values()))
    ep = engine_parameters(overrides=[*mv, *av], document=run.parameters_document or None)
    if ep.market_versions != run.market_versions or ep.asset_versions != run.asset_versions:
        raise Conflict("the parameter set changed while the run was in progress; start a new run")
    return ep


def _run_pm_params(run: HealthRun) -> dict[str, Any]:
    """The PM parameters a run was created with (``run.pm_versions``, RISK_MODEL §14): an
    activation after the run's creation does not change its numbers. A run created before PM
    versions were recorded (``pm_versions`` NULL) uses the active ones.

    Raises:
        Conflict: a recorded version no longer exists.
    """
    from riskgov.portfolio.adapters import active_pm_params, pm_params_at

    if run.pm_versions is None:
        return active_pm_params()
    try:
        return pm_params_at(run.pm_versions)
    except LookupError as exc:
        raise Conflict(f"{exc}; start a new run") from None


def _snapshot_state(
    *,
    snapshot: Any,
    params: Any,
    first_account: int = 0,
    last_account: int | None = None,
    pm_params: Any = None,
    with_ids: bool = True,
) -> Any:
    """The snapshot adapter's ``SnapshotState`` for an account range (imported lazily), split
    for its portfolio-mode accounts (``_split_pm``).

    ``with_ids=False`` leaves the account id strings out (``account_ids`` ``None``): what a
    whole-venue read for finalize or the §15 comparison does, which never names an account.

    Raises:
        DomainError: a PM account's underlying has no (active or frozen) PM parameters, or bad
            option data.
    """
    from riskgov.snapshots.adapters import snapshot_venue_state

    snap = snapshot_venue_state(
        snapshot=snapshot, params=params, first_account=first_account, last_account=last_account, with_ids=with_ids
    )
    return _split_pm(snap, snapshot=snapshot, params=params, pm_params=pm_params)


def _split_pm(snap: Any, *, snapshot: Any, params: Any, pm_params: Any = None) -> Any:
    """``snap`` (a ``SnapshotState`` as read) split for its portfolio-mode accounts.

    When the snapshot has portfolio-mode accounts (RISK_MODEL §14), the state is split by
    ``engine.pm_venue.split_venue`` with ``pm_params`` (``{underlying: PMParams}``, a run's
    ``_run_pm_params``; ``None`` = the active PM parameters) of each underlying: ``state``
    is then the bracket side (PM accounts' perps and balances left out), ``position_ids`` its
    rows, and ``pm`` the ``PMVenue`` the chunk evaluates the PM accounts with. Without them
    ``snap`` is returned as it is.

    Raises:
        DomainError: a PM account's underlying has no (active or frozen) PM parameters, or bad
            option data.
    """
    import dataclasses

    from riskgov.core.exceptions import DomainError
    from riskgov.engine.pm_venue import split_venue
    from riskgov.engine.types import EngineInputError
    from riskgov.portfolio.adapters import active_pm_params

    o = snap.options
    if o is None:
        return snap
    try:
        venue = split_venue(
            params=params,
            state=snap.state,
            portfolio_mode=o.portfolio_mode,
            as_of=o.as_of,
            option_account=o.option_account,
            option_underlying=o.option_underlying,
            option_expiry=o.option_expiry,
            option_strike=o.option_strike,
            option_is_call=o.option_is_call,
            option_size=o.option_size,
            mark_underlying=o.mark_underlying,
            mark_expiry=o.mark_expiry,
            mark_strike=o.mark_strike,
            mark_is_call=o.mark_is_call,
            mark_iv=o.mark_iv,
            pm_params=active_pm_params() if pm_params is None else pm_params,
        )
    except EngineInputError as exc:
        raise DomainError(f"snapshot {snapshot.pk}: {exc}") from None
    return dataclasses.replace(
        snap, state=venue.cross_state, position_ids=snap.position_ids[venue.keep_positions], pm=venue
    )


def _lock(run_id: int) -> HealthRun:
    return HealthRun.objects.select_for_update().get(pk=run_id)

"""The §15 comparison of a run's parameters with the active set (what-if runs, proposal impact).

``impact_sections(run=...)`` evaluates the run's parameters (a what-if document or a
proposal's drafts overlaid on the active set) against the active set on the run's snapshot
and scenario families, with ``engine.impact.impact_comparison`` (cost, protection per
family, frontier per changed market re-running only the accounts that hold it). The venue's
portfolio-margin accounts (§14) are on both sides: under the run's frozen PM versions
(``run.pm_versions``: a proposal's drafts for the underlyings it changes) and under the
active ones (``engine.pm_venue.with_pm_params``). This module loads, calls and stores;
``inf``/``nan`` become ``null`` here (``_store.null_inf``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from riskgov.core.exceptions import DomainError
from riskgov.engine.impact import Family, impact_comparison
from riskgov.engine.paths import gap_paths
from riskgov.engine.pm_venue import with_pm_params
from riskgov.engine.types import EngineInputError
from riskgov.health.models import HealthRun
from riskgov.health.scenarios import families_from_store, scenarios_from_store
from riskgov.health.services._base import _run_parameters, _run_pm_params, _snapshot_state
from riskgov.parameters.adapters import engine_parameters

FORMAT = "riskgov.impact/2"


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float as ``None`` (the stored form of ∞, §1 storage)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def impact_sections(*, run: HealthRun) -> dict[str, Any]:
    """``{"format", "cost", "protection", "frontier", "changed_markets", "changed_underlyings",
    "seconds"}`` of ``run``'s parameters (proposed: market, asset and PM versions) minus the
    active set (current), on the run's snapshot and scenarios, PM accounts included.

    Raises:
        DomainError: the two sets cover different markets or assets (a document adding a
            market has no current side), a PM underlying has no active PM parameters (no
            current side), or the run has no scenario.
        Conflict: the run's parameters can no longer be rebuilt.
    """
    t0 = time.perf_counter()
    proposed = _run_parameters(run).params
    current = engine_parameters().params
    snap = _snapshot_state(snapshot=run.snapshot, params=proposed, pm_params=_run_pm_params(run), with_ids=False)
    state, pm_proposed, pm_current = snap.state, snap.pm, None
    if pm_proposed is not None:
        from riskgov.portfolio.adapters import active_pm_params

        try:
            pm_current = with_pm_params(pm_proposed, active_pm_params())
        except EngineInputError as exc:
            raise DomainError(f"cannot compare with the active PM parameters: {exc}") from exc
    scenarios, in_tail = scenarios_from_store(run.scenario_set)
    fams = []
    if scenarios.n:
        standard = np.array([k != "historical" for k in scenarios.kinds], dtype=bool)
        fams.append(Family(gap_paths(scenarios), in_tail=in_tail, standard=standard))
    fams += [Family(f) for f in families_from_store(run.scenario_set)]
    if not fams:
        raise DomainError("the run has no scenario to compare on")
    try:
        doc = impact_comparison(
            current,
            proposed,
            state,
            fams,
            alpha=float(run.tail_alpha or 0.99),
            pm_current=pm_current,
            pm_proposed=pm_proposed,
        )
    except EngineInputError as exc:
        raise DomainError(f"cannot compare with the active set: {exc}") from exc
    return json_safe({"format": FORMAT, **doc, "seconds": time.perf_counter() - t0})


def health_run_compare_active(*, run_id: int) -> HealthRun:
    """Store the §15 comparison with the active set on a published run (``HealthRun.impact``)."""
    run = HealthRun.objects.select_related("snapshot").get(pk=run_id)
    if run.published_at is None:
        raise DomainError(f"health run {run_id} is not published")
    run.impact = impact_sections(run=run)
    run.save(update_fields=["impact"])
    return run

"""Health-run write actions (STYLE rules 4, 5, 7, 9): create, start, compute a chunk, finalize
and publish, fail; plus the scheduled and impact entry points and the beat schedule.

The task graph (``tasks.py``) only calls these. A run goes ``pending → running →
succeeded | failed``; only these functions change its status, under a row lock.

Chunks (RISK_MODEL §5–§10, DESIGN "Scale"): the accounts ``[0, n)`` of the snapshot are cut
into ranges of ``chunk_accounts``. Each chunk evaluates the base pass (``evaluate_health``)
and the stress run (``run_scenarios``) over its accounts — with the open interest of the
**whole** snapshot for §3 scaling — stores its account/position rows (delete-then-insert of
its own range in one transaction, so a redelivered chunk cannot duplicate rows) and its
partial aggregates (``engine.combine.chunk_partial``, stored as JSON by ``_store``).
``health_run_finalize`` loads them and lets the engine do the rest: ``engine.combine``
adds the partials up (counts exactly, float sums in account order, so chunked totals equal
single-pass totals to 1e-9 relative, §1; the two largest account shortfalls per scenario
merged exactly for Cover-2), ``engine.run`` derives fund after, ADL amount, coverage,
VaR/ES, Cover-2 and coverage at ES (§8–§10); the §11 cascade and §8 ADL attribution of the
worst scenario and the §12 recommendations run on the whole venue (``_summaries``). It then
stores the results (``_store``: the one place ``inf`` becomes ``NULL``) and publishes
atomically.

Every run ends (``lifecycle``): chunks and finalize beat a heartbeat while they work, the run
has a deadline, and the sweep (``health_runs_sweep``, beat) sends lost work again or fails
the run with its reason.

Path families (``families``): every chunk also runs the path stress (``engine.path_stress``)
per trend/historical-path family and stores per-family partials; finalize combines them
exactly, stores a tail per family (never pooled, §10; the headline the 1-day paths) and the
replay of the worst 1-day path. What-if runs and proposal impacts compare with the active
set by ``whatif.impact_sections`` (RISK_MODEL §15).
"""

from riskgov.health.services._base import code_version
from riskgov.health.services.chunks import health_chunk_compute
from riskgov.health.services.finalize import health_run_finalize
from riskgov.health.services.lifecycle import health_run_finalize_claim, health_runs_sweep
from riskgov.health.services.runs import (
    health_impact_run,
    health_run_create,
    health_run_fail,
    health_run_scheduled,
    health_run_start,
)
from riskgov.health.services.whatif import health_run_compare_active, impact_sections

__all__ = [
    "code_version",
    "health_chunk_compute",
    "health_impact_run",
    "health_run_compare_active",
    "health_run_create",
    "health_run_fail",
    "health_run_finalize",
    "health_run_finalize_claim",
    "health_run_scheduled",
    "health_run_start",
    "health_runs_sweep",
    "impact_sections",
]

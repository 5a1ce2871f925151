"""Signal receivers of the alerts app (connected in ``AlertsConfig.ready``).

A receiver only enqueues a task (ids in); the rule logic lives in ``firing`` / ``evaluators``.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def on_run_published(sender: Any, *, run_id: int, kind: str, **kwargs: Any) -> None:
    """After a run is published (and committed): evaluate the alert rules.

    The run id is a trigger only: the evaluation uses the latest published run and skips
    when this run is older than it (a late or redelivered message), see ``riskgov.alerts``. Impact
    runs (proposed parameters) are not the venue's state and are skipped. The health
    signal is sent with ``send_robust``, so an error here is logged, never raised into the
    publication; a lost trigger is made up by the scheduled evaluation (every 15 min).
    """
    from riskgov.alerts.tasks import alerts_evaluate_task
    from riskgov.health.models import RunKind

    if kind == RunKind.IMPACT:
        return
    try:
        alerts_evaluate_task.delay(run_id=run_id)
    except Exception:  # noqa: BLE001 — a broker outage must not surface in the publisher
        log.exception("could not enqueue the alert evaluation of run %s", run_id)

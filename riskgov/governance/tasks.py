"""Celery task interfaces for governance (STYLE rule 9): ids in, service imported inside.

The periodic ones are idempotent (they re-read under lock and skip what is done), hence
``acks_late``. Schedules: ``manage.py setup_schedules`` (riskgov/core/schedules.py).
"""

from __future__ import annotations

from celery import shared_task


@shared_task(name="governance.activate_due", acks_late=True, soft_time_limit=120, time_limit=150)
def governance_activate_due() -> list[int]:
    """Activate scheduled proposals whose time has come."""
    from riskgov.governance.services import proposals_activate_due

    return proposals_activate_due()


@shared_task(name="governance.expire_due", acks_late=True, soft_time_limit=120, time_limit=150)
def governance_expire_due() -> list[int]:
    """Expire submitted proposals past their expiry."""
    from riskgov.governance.services import proposals_expire_due

    return proposals_expire_due()


@shared_task(name="governance.revert_due", acks_late=True, soft_time_limit=120, time_limit=150)
def governance_revert_due() -> list[int]:
    """Revert emergency changes not ratified in time."""
    from riskgov.governance.services import emergencies_revert_due

    return emergencies_revert_due()


@shared_task(name="governance.impact_sweep", acks_late=True, soft_time_limit=120, time_limit=150)
def governance_impact_sweep() -> list[str]:
    """Make every submitted proposal's impact analysis end: a lost job sent again or its
    reason frozen, a finished run nobody collected frozen (``services.impact_sweep``)."""
    from riskgov.governance.services import proposal_impacts_sweep

    return proposal_impacts_sweep()


@shared_task(name="governance.impact", acks_late=True, soft_time_limit=1800, time_limit=1900)
def governance_impact(proposal_id: int, revision: int) -> str:
    """Impact analysis of one proposal revision (no-op when the health hook is absent)."""
    from riskgov.governance.services import proposal_impact_compute

    return proposal_impact_compute(proposal_id=proposal_id, revision=revision)


@shared_task(
    name="governance.impact_collect",
    bind=True,
    acks_late=True,
    max_retries=720,
    default_retry_delay=10,
    soft_time_limit=300,
    time_limit=330,
)
def governance_impact_collect(self, proposal_id: int, revision: int, run_id: int) -> str:
    """Wait (by retrying every 10 s, up to 2 h) for an impact run, then freeze its results."""
    from riskgov.governance.impact import proposal_impact_collect

    outcome = proposal_impact_collect(proposal_id=proposal_id, revision=revision, run_id=run_id)
    if outcome == "pending":
        raise self.retry()
    return outcome

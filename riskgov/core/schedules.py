"""Every periodic task of riskgov, declared in one place (STYLE rule 11).

``manage.py setup_schedules`` writes them as django-celery-beat entries (run by the
DatabaseScheduler, editable in the admin). Task names are strings, so this module imports
no app.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Schedule:
    """One beat entry: its admin name, the task it runs, and its default interval."""

    name: str
    task: str
    every_minutes: int


HEALTH_RUN = Schedule("health: scheduled run on the latest snapshot", "health.run_scheduled", 60)
SCHEDULES = (
    HEALTH_RUN,
    Schedule("governance: activate due proposals", "governance.activate_due", 1),
    Schedule("governance: expire proposals", "governance.expire_due", 1),
    Schedule("governance: revert unratified emergencies", "governance.revert_due", 1),
)

"""Every periodic task of riskgov, declared in one place (STYLE rule 11).

``manage.py setup_schedules`` writes them as django-celery-beat entries (run by the
DatabaseScheduler, editable in the admin). Task names are strings, so this module imports
no app.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Schedule:
    """One beat entry: its admin name, the task it runs, and when.

    Either ``every_minutes`` (an interval) or ``crontab`` = ``(minute, hour)`` in UTC (a daily
    or otherwise cron-like entry). ``kwargs`` are the task's keyword arguments, stored on the
    entry (editable in the admin).
    """

    name: str
    task: str
    every_minutes: int = 0
    crontab: tuple[str, str] | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)


HEALTH_RUN = Schedule("health: scheduled run on the latest snapshot", "health.run_scheduled", 60)
#: no ``roles`` kwarg: the task sends to ``RISKGOV_REPORT_ROLES``; roles added to the entry in
#: the admin override it (unknown names are dropped with a logged warning)
DAILY_REPORT = Schedule(
    "reports: daily health report",
    "reports.build_and_deliver",
    crontab=("0", "7"),
    kwargs={"kind": "scheduled"},
)
#: every run ends: lost chunks sent again, runs past their deadline failed (RISKGOV_HEALTH_*)
HEALTH_SWEEP = Schedule("health: sweep unfinished runs (lost chunks, deadlines)", "health.sweep", 1)
SCHEDULES = (
    HEALTH_RUN,
    HEALTH_SWEEP,
    Schedule("governance: activate due proposals", "governance.activate_due", 1),
    Schedule("governance: expire proposals", "governance.expire_due", 1),
    Schedule("governance: revert unratified emergencies", "governance.revert_due", 1),
    Schedule("governance: sweep impact analyses (lost jobs, uncollected runs)", "governance.impact_sweep", 1),
    DAILY_REPORT,
    Schedule("alerts: evaluate alert rules", "alerts.evaluate", 15),
)

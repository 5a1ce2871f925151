"""Shared write actions: recording audit events, creating the role groups."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group
from django.db import models, transaction

from riskgov.core.middleware import current_request_id
from riskgov.core.models import AuditEvent
from riskgov.core.roles import ALL_ROLES


def audit_record(
    *,
    actor: Any,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
    from_state: str = "",
    to_state: str = "",
    before: Any = None,
    after: Any = None,
    comment: str = "",
) -> AuditEvent:
    """Append one audit event; call it inside the transaction of the change it records.

    ``actor`` is a user or ``None`` for the system (commands, scheduled tasks). The request
    id comes from the request being served, if any.
    """
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or str(obj)[:200]
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEvent.objects.create(
        actor=user,
        actor_name=user.get_username() if user else "",
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:200],
        from_state=from_state,
        to_state=to_state,
        before=before,
        after=after,
        comment=comment,
        request_id=current_request_id(),
    )


@transaction.atomic
def roles_ensure() -> list[Group]:
    """Create the four role groups if missing (idempotent). Returns them in role order."""
    return [Group.objects.get_or_create(name=name)[0] for name in ALL_ROLES]


@transaction.atomic
def schedules_ensure(*, health_every_minutes: int | None = None) -> list[tuple[Any, bool]]:
    """Create the missing beat entries of ``core.schedules.SCHEDULES`` (idempotent).

    An existing entry — perhaps edited in the admin — is left exactly as it is.
    ``health_every_minutes`` overrides the default interval of a *new* health-run entry.

    Returns:
        ``[(PeriodicTask, created), ...]`` in declaration order.
    """
    import json

    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    from riskgov.core.schedules import HEALTH_RUN, SCHEDULES

    out = []
    for sched in SCHEDULES:
        existing = PeriodicTask.objects.filter(name=sched.name).first()
        if existing is not None:
            out.append((existing, False))
            continue
        when: dict[str, Any]
        if sched.crontab is not None:
            minute, hour = sched.crontab
            cron, _ = CrontabSchedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*", timezone="UTC"
            )
            when, after = {"crontab": cron}, {"task": sched.task, "crontab": f"{minute} {hour} * * * UTC"}
        else:
            every = health_every_minutes if (sched is HEALTH_RUN and health_every_minutes) else sched.every_minutes
            interval, _ = IntervalSchedule.objects.get_or_create(every=every, period=IntervalSchedule.MINUTES)
            when, after = {"interval": interval}, {"task": sched.task, "every_minutes": every}
        task = PeriodicTask(name=sched.name, task=sched.task, kwargs=json.dumps(sched.kwargs), enabled=True, **when)
        task._riskgov_ensured = True  # audited just below (riskgov.core.governance_audit skips it)
        task.save()
        audit_record(actor=None, action="core.schedule.create", obj=task, after={**after, "kwargs": sched.kwargs})
        out.append((task, True))
    return out

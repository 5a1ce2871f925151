"""Audit of governance-relevant changes made outside riskgov's services (issue 13.5).

* **Committee membership** — role groups decide who votes and what *n* is. Every change to a
  user's groups (``setup_roles``, the admin user form, a shell) is audited with the roles
  before and after (``auth.membership.change``).
* **Beat schedule** — a disabled "revert unratified emergencies" entry silently disables a
  safety rule. Every create/edit/delete of a django-celery-beat entry is audited
  (``core.schedule.change`` / ``core.schedule.delete``, before/after), and disabling (or
  deleting) an entry that runs a ``governance.*`` task raises an alert: an e-mail to the
  committee and the admins and an ``core.schedule.governance_disabled`` audit row.

These changes are made by Django's admin and auth machinery, which announce them only with
signals; the receivers here are the one place that writes their audit rows. The actor is the
signed-in user of the request being served (``current_actor``), or the system.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from riskgov.core.middleware import current_actor
from riskgov.core.roles import ADMIN, ALL_ROLES, COMMITTEE
from riskgov.core.services import audit_record

log = logging.getLogger(__name__)
GOVERNANCE_TASK_PREFIX = "governance."


# --- membership ---------------------------------------------------------------------------
def _roles_of(user: Any) -> list[str]:
    return sorted(user.groups.filter(name__in=ALL_ROLES).values_list("name", flat=True))


def on_groups_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    """Audit a change of role groups, from either side of the relation."""
    if action not in ("pre_add", "pre_remove", "pre_clear", "post_add", "post_remove", "post_clear"):
        return
    User = get_user_model()
    if reverse:  # group.user_set.add(...): the users are in pk_set (None on clear)
        users = list(User.objects.filter(pk__in=pk_set)) if pk_set else list(instance.user_set.all())
    else:
        users = [instance]
    for user in users:
        key = f"_riskgov_roles_before_{user.pk}"
        if action.startswith("pre_"):
            setattr(instance, key, _roles_of(user))
            continue
        before = getattr(instance, key, None)
        after = _roles_of(user)
        if before is not None and before == after:
            continue
        audit_record(
            actor=current_actor(),
            action="auth.membership.change",
            obj=user,
            object_repr=user.get_username(),
            before={"roles": before},
            after={"roles": after},
            comment=f"roles of {user.get_username()}: {', '.join(before or []) or '-'} -> {', '.join(after) or '-'}",
        )


# --- beat schedule ------------------------------------------------------------------------
def _entry(task: Any) -> dict[str, Any]:
    return {
        "name": task.name,
        "task": task.task,
        "enabled": task.enabled,
        "interval": str(task.interval) if task.interval_id else None,
        "crontab": str(task.crontab) if task.crontab_id else None,
        "kwargs": task.kwargs,
        "one_off": task.one_off,
    }


def on_schedule_pre_save(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if raw or instance.pk is None:
        instance._riskgov_before = None
        return
    old = sender.objects.filter(pk=instance.pk).first()
    instance._riskgov_before = _entry(old) if old is not None else None


def on_schedule_saved(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw:
        return
    before = getattr(instance, "_riskgov_before", None)
    after = _entry(instance)
    if before == after:
        return
    # core.schedules_ensure records the entries it creates itself
    if created and getattr(instance, "_riskgov_ensured", False):
        return
    audit_record(actor=current_actor(), action="core.schedule.change", obj=instance, before=before, after=after)
    was_on = before is None or before["enabled"]
    if instance.task.startswith(GOVERNANCE_TASK_PREFIX) and was_on and not instance.enabled:
        governance_schedule_alert(instance, what="disabled")


def on_schedule_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    audit_record(actor=current_actor(), action="core.schedule.delete", obj=instance, before=_entry(instance))
    if instance.task.startswith(GOVERNANCE_TASK_PREFIX) and instance.enabled:
        governance_schedule_alert(instance, what="deleted")


def governance_schedule_alert(task: Any, *, what: str) -> int:
    """A governance beat entry stopped: audit it and e-mail the committee and the admins."""
    actor = current_actor()
    who = actor.get_username() if actor is not None else "the system"
    subject = f"[riskgov] ALERT: governance schedule '{task.name}' was {what}"
    body = (
        f"The beat entry '{task.name}' (task {task.task}) was {what} by {who}.\n"
        "While it is off the safety rule it enforces does not run "
        "(e.g. unratified emergency changes are not reverted). Re-enable it in the admin "
        "(Periodic tasks) or run `manage.py setup_schedules`."
    )
    audit_record(actor=actor, action="core.schedule.governance_disabled", obj=task, after=_entry(task), comment=subject)
    to = sorted(
        set(
            get_user_model()
            .objects.filter(is_active=True, groups__name__in=[COMMITTEE, ADMIN])
            .exclude(email="")
            .values_list("email", flat=True)
        )
    )
    if not to:
        log.warning("%s (no committee or admin e-mail address to alert)", subject)
        return 0
    try:
        return EmailMessage(subject=subject, body=body, to=to).send()
    except Exception:  # noqa: BLE001 — the audit row stands; the mail failure is logged
        log.exception("could not send the governance schedule alert")
        return 0


def connect() -> None:
    """Connect the receivers (CoreConfig.ready)."""
    from django_celery_beat.models import PeriodicTask

    m2m_changed.connect(
        on_groups_changed, sender=get_user_model().groups.through, dispatch_uid="riskgov.audit.membership"
    )
    pre_save.connect(on_schedule_pre_save, sender=PeriodicTask, dispatch_uid="riskgov.audit.schedule_pre")
    post_save.connect(on_schedule_saved, sender=PeriodicTask, dispatch_uid="riskgov.audit.schedule")
    post_delete.connect(on_schedule_deleted, sender=PeriodicTask, dispatch_uid="riskgov.audit.schedule_delete")

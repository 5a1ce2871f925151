"""Create (or update) the governance beat schedules: every minute, idempotent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django_celery_beat.models import IntervalSchedule, PeriodicTask

SCHEDULES = {
    "governance: activate due proposals": "governance.activate_due",
    "governance: expire proposals": "governance.expire_due",
    "governance: revert unratified emergencies": "governance.revert_due",
}


class Command(BaseCommand):
    help = "Create the django-celery-beat entries for governance (every minute); safe to rerun."

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        every_minute, _ = IntervalSchedule.objects.get_or_create(every=1, period=IntervalSchedule.MINUTES)
        for name, task in SCHEDULES.items():
            _, created = PeriodicTask.objects.update_or_create(
                name=name,
                defaults={"task": task, "interval": every_minute, "crontab": None, "enabled": True},
            )
            self.stdout.write(f"{'created' if created else 'updated'} {name} -> {task}")

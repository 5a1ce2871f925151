"""``manage.py setup_schedules [--every N]``: create every periodic task (STYLE rule 11).

Idempotent: missing entries are created (health run every ``--every`` minutes, default 60;
governance jobs every minute; the health report daily at 07:00 UTC; alert rules every 15
minutes); entries that exist, perhaps edited in admin, are kept.
"""

from django.core.management.base import BaseCommand

from riskgov.core.services import schedules_ensure


class Command(BaseCommand):
    help = "Create the django-celery-beat entries of riskgov (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--every", type=int, default=None, help="minutes between scheduled health runs (new entry only)"
        )

    def handle(self, *args, **o):
        for task, created in schedules_ensure(health_every_minutes=o["every"]):
            state = "created" if created else "already present (unchanged)"
            when = f"at {task.crontab}" if task.crontab_id else f"every {task.interval}"
            self.stdout.write(f"{task.name}: {task.task} {when} — {state}")

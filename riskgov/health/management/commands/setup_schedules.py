"""``manage.py setup_schedules``: create the periodic tasks (STYLE rule 11), idempotently.

Creates the django-celery-beat entry for ``health.run_scheduled`` (every ``--every``
minutes, default 60) unless it exists; an existing entry, perhaps edited in admin, is kept.
"""

from django.core.management.base import BaseCommand

from riskgov.health.services import schedules_ensure


class Command(BaseCommand):
    help = "Create the beat schedule of the scheduled health run (idempotent)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=int, default=60, help="minutes between runs (new entry only)")

    def handle(self, *args, **o):
        task, created = schedules_ensure(every_minutes=o["every"])
        state = "created" if created else "already present (unchanged)"
        self.stdout.write(f"{task.name}: {task.task} every {task.interval} — {state}")

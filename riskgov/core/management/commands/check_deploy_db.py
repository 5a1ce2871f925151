"""``manage.py check_deploy_db``: fail unless the app connects as a DML-only database role."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from riskgov.core.dbroles import deploy_db_problems


class Command(BaseCommand):
    help = "Fail when the application connects to PostgreSQL as the tables' owner or a superuser."

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError(f"production needs PostgreSQL (this is {connection.vendor})")
        with connection.cursor() as cursor:
            problems = deploy_db_problems(cursor)
        if problems:
            raise CommandError("database role not fit for production:\n  - " + "\n  - ".join(problems))
        self.stdout.write(self.style.SUCCESS("database role OK: DML only, owns nothing, audit trail append-only"))

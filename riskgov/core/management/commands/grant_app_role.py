"""``manage.py grant_app_role ROLE``: run as the owner after ``migrate``; DML for the app role."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from riskgov.core.dbroles import app_role_grants_sql


class Command(BaseCommand):
    help = "Grant the application role DML on every table (the audit trail: SELECT and INSERT only)."

    def add_arguments(self, parser):
        parser.add_argument("role", help="the application's database role, e.g. riskgov_app")

    def handle(self, *args, **options):
        if connection.vendor != "postgresql":
            raise CommandError("grant_app_role is for PostgreSQL")
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in app_role_grants_sql(options["role"]):
                cursor.execute(statement)
        self.stdout.write(f"granted DML to {options['role']} (audit trail: SELECT, INSERT)")

"""``manage.py setup_roles [--user NAME --role ROLE ...]``: create the role groups."""

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from riskgov.core.roles import ALL_ROLES
from riskgov.core.services import roles_ensure


class Command(BaseCommand):
    help = "Create the viewer/analyst/committee/admin groups; optionally put a user in roles."

    def add_arguments(self, parser):
        parser.add_argument("--user", help="username to give roles to")
        parser.add_argument("--role", action="append", choices=ALL_ROLES, default=[])

    def handle(self, *args, **options):
        groups = {g.name: g for g in roles_ensure()}
        self.stdout.write("roles: " + ", ".join(groups))
        if options["user"]:
            try:
                user = get_user_model().objects.get(username=options["user"])
            except get_user_model().DoesNotExist:
                raise CommandError(f"no user {options['user']!r}") from None
            for role in options["role"]:
                user.groups.add(groups[role])
            self.stdout.write(f"{user.username}: {', '.join(options['role']) or 'no new roles'}")

"""``manage.py send_report [--role ROLE ...] [--no-email]``: build a report from the latest
published run now, archive it (HTML + PDF) and e-mail it to the members of the roles."""

from django.core.management.base import BaseCommand, CommandError

from riskgov.core.exceptions import DomainError
from riskgov.core.roles import ALL_ROLES
from riskgov.reports.models import ReportKind
from riskgov.reports.services import report_build, report_deliver


class Command(BaseCommand):
    help = "Build, archive and e-mail a health report now."

    def add_arguments(self, parser):
        parser.add_argument(
            "--role", action="append", choices=ALL_ROLES, default=[], help="default: RISKGOV_REPORT_ROLES"
        )
        parser.add_argument("--no-email", action="store_true", help="build and archive only")

    def handle(self, *args, **o):
        try:
            report = report_build(kind=ReportKind.MANUAL)
            self.stdout.write(f"report {report.pk}: {report.status}; html {report.html.path}; pdf {report.pdf.path}")
            for reason in report.reasons:
                self.stdout.write(f"  incomplete: {reason}")
            if not o["no_email"]:
                counts = report_deliver(report=report, roles=o["role"] or None)
                self.stdout.write(f"e-mail: {counts['sent']} sent, {counts['skipped']} already sent")
        except DomainError as exc:
            raise CommandError(exc.message) from exc

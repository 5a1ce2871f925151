"""``manage.py setup_alert_rules``: create the default alert rules that are missing (idempotent).

Rules that exist (by name), perhaps edited in the admin, are kept as they are.
"""

from django.core.management.base import BaseCommand

from riskgov.alerts.services import alert_rules_ensure_defaults


class Command(BaseCommand):
    help = "Create the default alert rules (idempotent; edited rules are kept)."

    def handle(self, *args, **options):
        for rule, created in alert_rules_ensure_defaults():
            state = "created" if created else "already present (unchanged)"
            self.stdout.write(f"{rule.name}: {rule.kind} threshold {rule.threshold.normalize()} — {state}")

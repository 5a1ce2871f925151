"""``manage.py demo``: the main job on real data, then the web server (README, first command).

Steps: migrate the database (the embedded SQLite file by default), create the roles and
demo users, load the real daily closes, the real Binance brackets as the active parameters
and the Binance/Hyperliquid/dYdX tables as references; then serve on ``--addr``. Rerunning
it is safe. ``--no-serve`` stops after loading.
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from riskgov.web.demo import DemoFiles, demo_load


class Command(BaseCommand):
    help = "Set up the demo on real data and start the web server."

    def add_arguments(self, parser):
        parser.add_argument("--data", default=None, help="data folder (default: the repo's data/)")
        parser.add_argument("--no-serve", action="store_true", help="stop after loading")
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, **o):
        self.stdout.write(f"riskgov demo — mode: {settings.RISKGOV_MODE}")
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("database migrated")
        try:
            files = DemoFiles.locate(o["data"])
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
        with tqdm(unit="row", desc="loading daily closes", disable=None) as bar:
            report = demo_load(files, log=lambda s: tqdm.write(s, file=self.stdout), progress=bar.update)
        self.stdout.write(f"{report.price_rows} daily closes, {len(report.active_markets)} active markets")
        self.stdout.write("demo users (username / password — roles):")
        for username, password, roles, created in report.users:
            note = "" if created else "  (existing user: password unchanged)"
            self.stdout.write(f"  {username} / {password} — {', '.join(roles)}{note}")
        if o["no_serve"]:
            return
        self.stdout.write(f"\nriskgov is at http://{o['addr']}/  (Ctrl-C to stop)\n")
        call_command("runserver", o["addr"], use_reloader=False)

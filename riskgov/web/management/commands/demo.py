"""``manage.py demo``: the main job on real data, then the web server (README, first command).

Steps: migrate the database (the embedded SQLite file by default), create the roles and
demo users, load the real daily closes, the real Binance brackets as the active parameters
and the Binance/Hyperliquid/dYdX tables as references; generate a seeded venue snapshot
(``--accounts``, default 20,000; labelled as generated) and run a full health run through
Celery (eager on the embedded default); print its key figures; then serve on ``--addr``.
Rerunning it is safe (the same snapshot is reused). ``--no-serve`` stops after the run,
``--no-health`` after loading.
"""

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from riskgov.demo import DemoFiles, demo_health_run, demo_load, demo_snapshot_ensure


class Command(BaseCommand):
    help = "Set up the demo on real data and start the web server."

    def add_arguments(self, parser):
        parser.add_argument("--data", default=None, help="data folder (default: the repo's data/)")
        parser.add_argument("--no-serve", action="store_true", help="stop after loading")
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--accounts", type=int, default=20_000, help="accounts of the generated snapshot")
        parser.add_argument("--no-health", action="store_true", help="skip the snapshot and the health run")

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
        if not o["no_health"]:
            self._health(o)
        if o["no_serve"]:
            return
        self.stdout.write(f"\nriskgov is at http://{o['addr']}/  (Ctrl-C to stop)\n")
        call_command("runserver", o["addr"], use_reloader=False)

    def _health(self, o):
        with tqdm(unit="row", desc="importing snapshot", disable=None) as bar:
            snapshot, _ = demo_snapshot_ensure(
                accounts=o["accounts"], log=lambda s: tqdm.write(s, file=self.stdout), progress=bar.update
            )
        run = demo_health_run(snapshot=snapshot)
        if run.status != "succeeded":
            raise CommandError(f"health run {run.pk} {run.status}: {run.error.splitlines()[0] if run.error else ''}")

        def ratio(x):
            return "∞ (nothing to cover)" if x is None else f"{x:.2f}"

        self.stdout.write(f"health run {run.pk} of snapshot {snapshot.pk} (generated accounts, real parameters):")
        self.stdout.write(
            f"  accounts {run.n_accounts:,}, positions {run.n_positions:,}, equity {run.equity_usd:,.0f} USD"
        )
        self.stdout.write(
            f"  liquidatable {run.liquidatable_accounts:,}, bankrupt {run.bankrupt_accounts:,}, "
            f"shortfall {run.shortfall_usd:,.0f} USD, insurance fund {run.insurance_fund_usd:,.0f} USD"
        )
        self.stdout.write(
            f"  {run.tail_scenarios} historical scenarios, α={run.tail_alpha}: VaR {run.var_usd:,.0f} USD, "
            f"ES {run.es_usd:,.0f} USD, coverage at ES {ratio(run.coverage_at_es)}, Cover-2 {run.cover2_usd:,.0f} USD"
        )
        self.stdout.write(f"  results: http://{o['addr']}/api/v1/health-runs/{run.pk}/results/")
        self.stdout.write(f"  dashboards: http://{o['addr']}/dash/overview")
        from riskgov.reports.models import ReportKind
        from riskgov.reports.services import report_build

        report = report_build(kind=ReportKind.MANUAL)  # archived, not e-mailed
        self.stdout.write(f"health report {report.pk} ({report.status}): http://{o['addr']}/reports/")
        for reason in report.reasons:
            self.stdout.write(f"  incomplete: {reason}")

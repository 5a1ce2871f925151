"""``manage.py demo``: the main job on real data, then the web server (README, first command).

Steps: migrate the database (the embedded SQLite file by default), create the roles and
demo users, load the real daily closes and the hourly / 5-minute bars (at their own
resolution), the real Binance brackets as the active parameters and the
Binance/Hyperliquid/dYdX tables as references; set up the default alert rules and the beat
entries; generate a seeded venue snapshot (``--accounts``, default 20,000; ``--pm-share``, default
3 %, of them in portfolio margin mode with a generated options book on BTC and ETH, under
the §14 default PM parameters; labelled as generated, dated at the end of its price data) and run a full health run through Celery
(eager on the embedded default); archive a health report (not e-mailed); print a short
summary — what was loaded, what ran, the key figures, the alerts firing, the URLs and the
users — then serve on ``--addr``. The libraries' log chatter is quiet meanwhile
(``riskgov.demo.logs``). Rerunning it is safe (the same snapshot is reused).
``--no-serve`` stops after the run, ``--no-health`` after loading.
"""

import time

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.test.utils import override_settings
from django.utils import timezone
from tqdm import tqdm

from riskgov.demo import DemoFiles, demo_health_run, demo_load, demo_snapshot_ensure
from riskgov.demo.composition import DEMO_PM_SHARE, demo_alerts_and_schedules_ensure, demo_intraday_load
from riskgov.demo.logs import demo_quiet_logs
from riskgov.presentation.formats import count, level, money, ratio, share


class Command(BaseCommand):
    help = "Set up the demo on real data and start the web server."

    def add_arguments(self, parser):
        parser.add_argument("--data", default=None, help="data folder (default: the repo's data/)")
        parser.add_argument("--no-serve", action="store_true", help="stop after loading")
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--accounts", type=int, default=20_000, help="accounts of the generated snapshot")
        parser.add_argument("--no-health", action="store_true", help="skip the snapshot and the health run")
        parser.add_argument(
            "--pm-share",
            type=float,
            default=DEMO_PM_SHARE,
            help=f"share of accounts in portfolio margin mode with options on BTC and ETH (default {DEMO_PM_SHARE:g})",
        )

    def handle(self, *args, **o):
        started = time.monotonic()
        self.stdout.write(f"riskgov demo — mode: {settings.RISKGOV_MODE}")
        with demo_quiet_logs():
            summary = self._set_up(o)
        summary.append(("took", f"{time.monotonic() - started:,.0f} s"))
        self._summary(summary, o)
        if o["no_serve"]:
            return
        self.stdout.write(f"\nriskgov is at http://{o['addr']}/  (Ctrl-C to stop)\n")
        call_command("runserver", o["addr"], use_reloader=False)

    def _log(self, s: str) -> None:
        with tqdm.external_write_mode(file=self.stdout):  # above any progress bar
            self.stdout.write(s)

    def _set_up(self, o) -> list[tuple[str, str]]:
        call_command("migrate", interactive=False, verbosity=0)
        self._log("database migrated")
        try:
            files = DemoFiles.locate(o["data"])
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from None
        t0 = time.monotonic()
        with tqdm(unit="row", desc="loading prices", disable=None) as bar:
            report = demo_load(files, log=self._log, progress=bar.update)
        demo_intraday_load(files, report=report, log=self._log)
        took_load = time.monotonic() - t0
        rules, tasks = demo_alerts_and_schedules_ensure()
        self._log(f"alerts: {rules} default alert rules; schedules: {tasks} beat entries")
        self.users = report.users
        resolutions = ", ".join(f"{count(n)} × {r}" for r, n in sorted(report.bar_resolutions.items()))
        summary = [
            (
                "loaded",
                f"{count(report.price_rows)} daily closes and {count(report.bar_rows)} intraday bars ({resolutions}); "
                f"{len(report.active_markets)} active markets (real Binance USDS-M brackets); "
                f"reference tables {', '.join(report.references)} — in {took_load:,.0f} s",
            ),
            ("set up", f"{rules} default alert rules, {tasks} periodic tasks, {len(report.users)} demo users"),
        ]
        if not o["no_health"]:
            summary += self._health(o)
        return summary

    def _health(self, o) -> list[tuple[str, str]]:
        from riskgov.alerts.selectors import active_firings
        from riskgov.reports.models import ReportKind
        from riskgov.reports.selectors import run_liquidatable_oi
        from riskgov.reports.services import report_build
        from riskgov.snapshots.selectors import snapshot_price_age

        t_start = time.monotonic()
        with tqdm(unit="row", desc="importing snapshot", disable=None) as bar:
            snapshot, created = demo_snapshot_ensure(
                accounts=o["accounts"], pm_share=o["pm_share"], log=self._log, progress=bar.update
            )
        self._log(f"health run of snapshot {snapshot.pk}: margins, ~3,200 stress scenarios, tail, cascade, §12 …")
        t0 = time.monotonic()
        took_snapshot = t0 - t_start
        # the demo sends no e-mail: alert notifications are composed and kept in memory
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            run = demo_health_run(snapshot=snapshot)
        took = time.monotonic() - t0
        if run.status != "succeeded":
            raise CommandError(f"health run {run.pk} {run.status}: {run.error.splitlines()[0] if run.error else ''}")
        report = report_build(kind=ReportKind.MANUAL)  # archived, not e-mailed
        age = snapshot_price_age(snapshot=snapshot, now=timezone.now())
        liq_oi, oi = run_liquidatable_oi(run)
        eq = run.equity_usd or 0.0
        firing = list(active_firings())
        a = o["addr"]
        return [
            (
                "ran",
                f"snapshot {snapshot.pk} ({'generated now' if created else 'reused'}: {count(snapshot.n_accounts)} "
                f"generated accounts, {count(snapshot.n_positions)} positions, prices of "
                f"{snapshot.taken_at:%Y-%m-%d}; {took_snapshot:,.0f} s); health run {run.pk} in {took:,.0f} s; health report {report.pk} "
                f"({report.status}, archived, not e-mailed)",
            ),
            ("freshness", age.note),
            (
                "venue",
                f"equity {money(eq)}, open interest {money(oi)} (long + short notional), IM {money(run.initial_margin_usd)} "
                f"({ratio(run.initial_margin_usd / eq) if eq else '—'} of equity), MM {money(run.maintenance_margin_usd)}",
            ),
            (
                "now",
                f"liquidatable {count(run.liquidatable_accounts)} accounts ({share(liq_oi / oi if oi else 0)} of OI), "
                f"bankrupt {count(run.bankrupt_accounts)}, shortfall {money(run.shortfall_usd)}",
            ),
            *self._portfolio(run),
            *self._tails(run),
            (
                "fund",
                f"insurance fund {money(run.insurance_fund_usd)} ({share(run.insurance_fund_usd / eq if eq else 0)} "
                f"of equity); coverage at ES {ratio(run.coverage_at_es)} (fund / ES)",
            ),
            ("alerts", self._alerts(firing)),
            *[("incomplete", r) for r in report.reasons],
            (
                "open",
                f"http://{a}/ (start) · /dash/overview · /alerts/ · /proposals/ · /reports/ · /admin/ · /api/v1/docs/",
            ),
        ]

    @staticmethod
    def _portfolio(run) -> list[tuple[str, str]]:
        """The options book's line (RISK_MODEL §14): PM accounts, option positions, liquidatable."""
        from riskgov.health.selectors import run_portfolio_margin

        pm = run_portfolio_margin(run)
        if not pm:
            return []
        books = pm.get("underlyings", {})
        mm = sum(b["maintenance_margin_usd"] for b in books.values())
        return [
            (
                "portfolio",
                f"{count(pm['accounts'])} accounts in portfolio margin mode with {count(pm['options'])} option "
                f"positions on {', '.join(books) or '—'}; PM MM {money(mm)}; liquidatable {count(pm['liquidatable'])} "
                "(/dash/portfolio)",
            )
        ]

    @staticmethod
    def _alerts(firing) -> str:
        """The firing alerts, one entry per rule (per-market rules: how many markets)."""
        if not firing:
            return "none firing"
        by_rule: dict[str, list] = {}
        for f in firing:
            by_rule.setdefault(f.rule.name, []).append(f)
        parts = []
        for name, fs in by_rule.items():
            subjects = [f.subject for f in fs if f.subject]
            parts.append(f"{name} ({len(subjects)} markets)" if subjects else f"{name}: {fs[0].message}")
        return f"{len(firing)} firing — " + "; ".join(parts) + " (see /alerts/)"

    @staticmethod
    def _tails(run) -> list[tuple[str, str]]:
        """One summary line per scenario family's tail, named with its horizon (§10, never pooled)."""
        rows = [
            (
                "tail",
                f"{t.get('label') or t['family']} ({count(t['scenarios'])}): "
                f"VaR {level(t['alpha'])} {money(t['var_usd'])}, ES {level(t['alpha'])} {money(t['es_usd'])}, "
                f"Cover-2 {money(t['cover2_usd'])}, coverage at ES {ratio(t['coverage_at_es'])}",
            )
            for t in run.tails or []
            if t["family"] != "trend"
        ]
        return rows or [
            (
                "tail",
                f"{count(run.tail_scenarios)} scenarios, α = {run.tail_alpha}: VaR {money(run.var_usd)}, "
                f"ES {money(run.es_usd)}, Cover-2 {money(run.cover2_usd)}",
            )
        ]

    def _summary(self, rows: list[tuple[str, str]], o) -> None:
        self.stdout.write("\n── riskgov demo: summary " + "─" * 50)
        width = max(len(k) for k, _ in rows + [("users", "")])
        for key, text in rows:
            self.stdout.write(f"  {key:<{width}}  {text}")
        users = " · ".join(
            f"{u} / {p} ({', '.join(r)}{'' if created else ', existing: password unchanged'})"
            for u, p, r, created in self.users
        )
        self.stdout.write(f"  {'users':<{width}}  {users}")

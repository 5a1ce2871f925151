"""``manage.py generate_snapshot OUT_DIR [--accounts N] [--seed S] [--date YYYY-MM-DD]
[--format csv|parquet] [--pm-share F] [--import]`` — write a generated demo venue from the real data.

The generator (``riskgov.snapshots.generator``) uses the active parameters and the loaded
daily closes; with ``--import`` the result is imported at once, marked as generated, and
its id printed on the last line.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from riskgov.core.exceptions import DomainError
from riskgov.snapshots.generator import generate_snapshot
from riskgov.snapshots.services import snapshot_import


class Command(BaseCommand):
    help = "Generate a realistic, seeded demo snapshot (riskgov.snapshot/1) from the real data."

    def add_arguments(self, parser):
        parser.add_argument("out_dir")
        parser.add_argument("--accounts", type=int, default=20000)
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--date", default=None, help="price date YYYY-MM-DD (default: latest complete)")
        parser.add_argument("--format", dest="fmt", choices=("csv", "parquet"), default="csv")
        parser.add_argument("--insurance-fund", type=float, default=None, help="USD (default 0.75%% of OI)")
        parser.add_argument(
            "--pm-share", type=float, default=0.0, help="share of accounts in portfolio mode with options (default 0)"
        )
        parser.add_argument("--import", dest="do_import", action="store_true", help="also import it")

    def handle(self, *args, **o):
        try:
            start = time.perf_counter()
            out = generate_snapshot(
                o["out_dir"],
                accounts=o["accounts"],
                seed=o["seed"],
                date=o["date"],
                fmt=o["fmt"],
                insurance_fund_usd=o["insurance_fund"],
                pm_share=o["pm_share"],
            )
            self.stdout.write(
                f"generated {o['accounts']} accounts (seed {o['seed']}) in {out} [{time.perf_counter() - start:.1f} s]"
            )
            if not o["do_import"]:
                return
            start = time.perf_counter()
            with tqdm(unit="row", unit_scale=True, desc="storing rows", disable=None) as bar:
                snapshot = snapshot_import(path=out, progress=bar.update, generated=True, source=f"generator: {out}")
        except (DomainError, ValueError) as exc:
            raise CommandError(getattr(exc, "message", str(exc))) from None
        rows = snapshot.n_accounts + snapshot.n_positions + snapshot.n_balances
        took = time.perf_counter() - start
        self.stdout.write(
            f"snapshot {snapshot.pk}: {snapshot.n_accounts} accounts, {snapshot.n_positions} positions, "
            f"{snapshot.n_balances} balances imported in {took:.1f} s ({rows / max(took, 1e-9):,.0f} rows/s)"
        )
        self.stdout.write(str(snapshot.pk))

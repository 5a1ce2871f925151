"""``manage.py run_health``: one health run through Celery, optionally exported (FORMATS.md).

    python manage.py run_health [--snapshot ID|latest] [--proposal ID] [--scenarios SPEC]
                                [--output-json FILE] [--chunk-accounts N] [--no-accounts]

Eager mode (the embedded default) runs the task graph in-process; with a broker the run is
enqueued and followed (a progress bar on a terminal, plain lines otherwise) until it is
published or fails. Exits non-zero with a one-line reason on bad input or a failed run.
"""

import os
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from riskgov.core.exceptions import DomainError
from riskgov.health.export import write_health_json
from riskgov.health.models import HealthRun, RunKind, RunStatus
from riskgov.health.services import health_run_create
from riskgov.health.tasks import health_run
from riskgov.snapshots.models import Snapshot
from riskgov.snapshots.selectors import latest_snapshot


class Command(BaseCommand):
    help = "Run a health run (Celery; eager in the embedded default) and optionally write riskgov.health/1."

    def add_arguments(self, parser):
        parser.add_argument("--snapshot", default="latest", help="snapshot id or 'latest'")
        parser.add_argument("--proposal", type=int, default=None, help="proposal id (impact run)")
        parser.add_argument("--scenarios", default="standard", help="'standard', tokens or a JSON spec")
        parser.add_argument("--output-json", default=None, help="write riskgov.health/1 here")
        parser.add_argument("--chunk-accounts", type=int, default=None, help="accounts per chunk")
        parser.add_argument("--no-accounts", action="store_true", help="omit per-account/position arrays")
        parser.add_argument("--label", default="", help="free text label")
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait with a broker")

    def handle(self, *args, **o):
        if o["proposal"] is not None:
            raise CommandError("--proposal: proposals arrive with the governance issue")
        snapshot = self._snapshot(o["snapshot"])
        try:
            run = health_run_create(
                snapshot=snapshot,
                kind=RunKind.MANUAL,
                scenario_spec=o["scenarios"],
                chunk_accounts=o["chunk_accounts"],
                label=o["label"] or "run_health",
                enqueue=False,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        try:
            # create() has committed (a command runs in autocommit), so enqueueing now is
            # safe; in eager mode this runs the whole task graph here
            health_run.delay(run.pk)
        except Exception as exc:  # eager mode: a task error surfaces here, the run is marked failed
            failed = HealthRun.objects.filter(snapshot=snapshot, status=RunStatus.FAILED).order_by("-id").first()
            reason = failed.error if failed else f"{type(exc).__name__}: {exc}"
            raise CommandError(f"health run failed: {reason.splitlines()[0]}") from None
        if not health_run.app.conf.task_always_eager:
            run = self._follow(run.pk, o["timeout"])
        run.refresh_from_db()
        if run.status != RunStatus.SUCCEEDED:
            reason = (run.error or "no error recorded").splitlines()[0]
            raise CommandError(f"health run {run.pk} {run.status}: {reason}")
        self._summary(run)
        if o["output_json"]:
            out = Path(o["output_json"])
            tmp = out.with_name(out.name + ".part")
            with open(tmp, "w", encoding="utf-8") as fp:
                write_health_json(run, fp, include_accounts=not o["no_accounts"])
            os.replace(tmp, out)
            self.stdout.write(f"wrote {out}")

    def _snapshot(self, ref: str) -> Snapshot:
        if ref == "latest":
            snap = latest_snapshot()
            if snap is None:
                raise CommandError("no snapshot: import one first (manage.py import_snapshot DIR)")
            return snap
        try:
            return Snapshot.objects.get(pk=int(ref))
        except (ValueError, Snapshot.DoesNotExist):
            raise CommandError(f"--snapshot {ref}: no such snapshot") from None

    def _follow(self, run_id: int, timeout: float) -> HealthRun:
        deadline = time.monotonic() + timeout
        with tqdm(total=100, unit="%", desc=f"health run {run_id}", disable=None) as bar:
            while True:
                run = HealthRun.objects.get(pk=run_id)
                bar.update(run.progress - bar.n)
                if bar.disable:
                    self.stdout.write(f"health run {run_id}: {run.status} {run.progress}%")
                if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
                    return run
                if time.monotonic() > deadline:
                    raise CommandError(f"health run {run_id} still {run.status} after {timeout:.0f} s")
                time.sleep(0.5 if not bar.disable else 5)

    def _summary(self, run: HealthRun) -> None:
        def pct(x):
            return "inf" if x is None else f"{x:.3f}"

        self.stdout.write(
            f"health run {run.pk} published: {run.n_accounts} accounts, {run.n_positions} positions, "
            f"equity {run.equity_usd:,.0f} USD, liquidatable {run.liquidatable_accounts}, "
            f"shortfall {run.shortfall_usd:,.0f} USD"
        )
        self.stdout.write(
            f"tail α={run.tail_alpha} over {run.tail_scenarios} scenarios: VaR {run.var_usd:,.0f} USD, "
            f"ES {run.es_usd:,.0f} USD, Cover-2 {run.cover2_usd:,.0f} USD, coverage at ES {pct(run.coverage_at_es)}"
        )

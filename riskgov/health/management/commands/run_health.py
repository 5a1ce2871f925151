"""``manage.py run_health``: one health run through Celery, optionally exported (FORMATS.md).

    python manage.py run_health [--snapshot ID|latest] [--proposal ID] [--scenarios SPEC]
                                [--output-json FILE] [--chunk-accounts N] [--no-accounts]
                                [--parameters FILE.json [--compare-active]]

``--parameters`` makes a what-if run (FORMATS.md): the ``riskgov.parameters/1`` document's
markets and assets replace the active ones for this run only; nothing is imported or
activated. ``--compare-active`` adds ``impact`` (RISK_MODEL §15: cost, protection per
family, frontier per changed market, proposed minus active) to the run and its export.

Eager mode (the embedded default) runs the task graph in-process; with a broker the run is
enqueued and followed (a progress bar on a terminal, plain lines otherwise) until it is
published or fails. Exits non-zero with a one-line reason on bad input, a failed run or
any other failure (database or broker away: no traceback; ``-v 2`` keeps the task logs).
While following, it also sweeps its own run (``health_runs_sweep``), so the run ends —
published, or failed with its reason by its deadline — even where no beat is running.
"""

import contextlib
import logging
import os
import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import Error as DatabaseError
from django.db import connection
from tqdm import tqdm

from riskgov.core.exceptions import DomainError
from riskgov.health.export import write_health_json
from riskgov.health.models import HealthRun, RunKind, RunStatus
from riskgov.health.services import health_run_compare_active, health_run_create, health_runs_sweep
from riskgov.health.tasks import health_run
from riskgov.parameters.document import ParameterDocumentError, load_document
from riskgov.snapshots.models import Snapshot
from riskgov.snapshots.selectors import latest_snapshot

#: seconds between the command's sweeps of its own run while following it
SWEEP_EVERY = 5.0


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip().rstrip(":")


@contextlib.contextmanager
def _quiet_task_logs():
    """Eager tasks log their error with a traceback (``celery.app.trace``) and the health tasks
    log what they did about it; the command reports the one-line reason instead."""
    names = ("celery.app.trace", "riskgov.health")
    saved = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


class Command(BaseCommand):
    help = "Run a health run (Celery; eager in the embedded default) and optionally write riskgov.health/2."

    def add_arguments(self, parser):
        parser.add_argument("--snapshot", default="latest", help="snapshot id or 'latest'")
        parser.add_argument("--proposal", type=int, default=None, help="proposal id (impact run)")
        parser.add_argument("--scenarios", default="standard", help="'standard', tokens or a JSON spec")
        parser.add_argument("--output-json", default=None, help="write riskgov.health/2 here")
        parser.add_argument("--chunk-accounts", type=int, default=None, help="accounts per chunk")
        parser.add_argument("--no-accounts", action="store_true", help="omit per-account/position arrays")
        parser.add_argument("--label", default="", help="free text label")
        parser.add_argument("--parameters", default=None, help="what-if: a riskgov.parameters/1 document")
        parser.add_argument(
            "--compare-active", action="store_true", help="with --parameters: add the §15 impact vs the active set"
        )
        parser.add_argument("--timeout", type=float, default=24 * 3600, help="seconds to wait with a broker")

    def handle(self, *args, **o):
        quiet = int(o.get("verbosity", 1)) < 2
        with _quiet_task_logs() if quiet else contextlib.nullcontext():
            try:
                self._handle(**o)
            except CommandError:
                raise
            except Exception as exc:  # database/broker away, anything unforeseen: one line, non-zero
                raise CommandError(f"run_health failed: {_one_line(exc)}") from None

    def _handle(self, **o):
        if o["proposal"] is not None:
            raise CommandError("--proposal: proposals arrive with the governance issue")
        if o["compare_active"] and not o["parameters"]:
            raise CommandError("--compare-active needs --parameters FILE.json")
        document = None
        if o["parameters"]:
            try:
                document = load_document(Path(o["parameters"]))
            except ParameterDocumentError as exc:
                raise CommandError(f"--parameters: {exc}") from None
        snapshot = self._snapshot(o["snapshot"])
        try:
            run = health_run_create(
                snapshot=snapshot,
                kind=RunKind.IMPACT if document is not None else RunKind.MANUAL,
                parameters_document=document,
                scenario_spec=o["scenarios"],
                chunk_accounts=o["chunk_accounts"],
                label=o["label"] or ("what-if" if document is not None else "run_health"),
                enqueue=False,
            )
        except DomainError as exc:
            raise CommandError(exc.message) from None
        try:
            # create() has committed (a command runs in autocommit), so enqueueing now is
            # safe; in eager mode this runs the whole task graph here
            health_run.delay(run.pk)
        except Exception as exc:  # eager mode: a task error surfaces here, the run is marked failed
            try:
                failed = HealthRun.objects.filter(pk=run.pk, status=RunStatus.FAILED).first()
            except Exception:  # the database is away: the task's own error is the reason
                failed = None
            reason = failed.error if failed and failed.error else _one_line(exc)
            raise CommandError(f"health run {run.pk} failed: {reason.splitlines()[0]}") from None
        if not health_run.app.conf.task_always_eager:
            run = self._follow(run.pk, o["timeout"])
        run.refresh_from_db()
        if run.status != RunStatus.SUCCEEDED:
            reason = (run.error or "no error recorded").splitlines()[0]
            raise CommandError(f"health run {run.pk} {run.status}: {reason}")
        self._summary(run)
        if o["compare_active"]:
            try:
                run = health_run_compare_active(run_id=run.pk)
            except DomainError as exc:
                raise CommandError(f"--compare-active: {exc.message}") from None
            self._impact_summary(run.impact)
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
        next_sweep = time.monotonic() + SWEEP_EVERY
        with tqdm(total=100, unit="%", desc=f"health run {run_id}", disable=None) as bar:
            while True:
                try:
                    if time.monotonic() >= next_sweep:  # lost chunks sent again, the deadline enforced
                        health_runs_sweep(run_id=run_id)
                        next_sweep = time.monotonic() + SWEEP_EVERY
                    run = HealthRun.objects.get(pk=run_id)
                except DatabaseError:  # the database is away: the run ends by its deadline; keep following
                    with contextlib.suppress(DatabaseError):
                        connection.close()
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(1)
                    continue
                bar.update(run.progress - bar.n)
                if bar.disable:
                    self.stdout.write(f"health run {run_id}: {run.status} {run.progress}%")
                if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
                    return run
                if time.monotonic() > deadline:
                    raise CommandError(f"health run {run_id} still {run.status} after {timeout:.0f} s")
                time.sleep(0.5 if not bar.disable else 5)

    def _impact_summary(self, impact: dict) -> None:
        cost = impact["cost"]
        self.stdout.write(
            f"impact vs active: ΔIM {cost['delta_initial_margin_usd']:+,.0f} USD, "
            f"ΔMM {cost['delta_maintenance_margin_usd']:+,.0f} USD, "
            f"newly liquidatable {cost['newly_liquidatable_accounts']}, top-up {cost['top_up_usd']:+,.0f} USD"
        )
        for p in impact["protection"]:
            self.stdout.write(
                f"  {p['family']}: ΔES {p['delta_es_usd']:+,.0f} USD, "
                f"Δ mean shortfall {p['delta_mean_shortfall_usd']:+,.0f} USD over {p['scenarios']} scenarios"
            )

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

"""End-to-end pipeline benchmark: generate → import → health run, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/riskgov_dev \\
        python bench/pipeline.py [--accounts 1000000] [--chunk-accounts 250000] [--seed 7]
                                 [--scenarios standard] [--broker redis://127.0.0.1:6379/0]

Steps (each timed):

1. migrate and load the demo's real data (prices, Binance brackets as active parameters;
   idempotent, reused when already there);
2. generate a seeded ``riskgov.snapshot/1`` folder of ``--accounts`` accounts
   (``snapshots.generator``), report files' rows;
3. import it (``snapshot_import``: validation + COPY), report rows/s;
4. one full health run (``health.run`` → chord of ``health.run_chunk`` → ``health.finalize``)
   through Celery: eager in-process by default, or a real worker with ``--broker`` (start
   ``celery -A riskgov.config.celery worker`` against the same database and broker first);
   report end-to-end time and the run's per-phase timings (``HealthRun.timings``).

Prints one table; nothing is asserted (see tests/health for correctness).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--chunk-accounts", type=int, default=250_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scenarios", default="standard")
    ap.add_argument("--broker", default="", help="Redis URL of a running worker's broker (default: eager)")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/riskgov_dev")
    os.environ["CELERY_BROKER_URL"] = args.broker
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "0" if args.broker else "1"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskgov.config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    from riskgov.demo import DemoFiles, demo_load
    from riskgov.health.models import HealthRun, RunStatus
    from riskgov.health.services import health_run_create
    from riskgov.health.tasks import health_run
    from riskgov.parameters.selectors import active_market_versions
    from riskgov.snapshots.generator import generate_snapshot
    from riskgov.snapshots.services import snapshot_import

    rows: list[tuple[str, str]] = []
    t = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    if not active_market_versions().exists():
        demo_load(DemoFiles.locate(), log=lambda s: None)
    rows.append(("setup (migrate, real data)", f"{time.perf_counter() - t:.1f} s"))

    with tempfile.TemporaryDirectory(prefix="riskgov-bench-") as tmp:
        t = time.perf_counter()
        path = generate_snapshot(Path(tmp) / "snap", accounts=args.accounts, seed=args.seed)
        gen = time.perf_counter() - t
        rows.append(("generate snapshot files", f"{gen:.1f} s"))
        t = time.perf_counter()
        snap = snapshot_import(path=path, generated=True, source=f"bench seed={args.seed} accounts={args.accounts}")
        imp = time.perf_counter() - t
    n_rows = snap.n_accounts + snap.n_positions + snap.n_balances
    rows.append(
        (
            "import (validate + COPY)",
            f"{imp:.1f} s  {n_rows:,} rows ({snap.n_accounts:,} accounts, {snap.n_positions:,} positions, "
            f"{snap.n_balances:,} balances)  {n_rows / imp:,.0f} rows/s",
        )
    )

    t = time.perf_counter()
    run = health_run_create(
        snapshot=snap, scenario_spec=args.scenarios, chunk_accounts=args.chunk_accounts, label="bench", enqueue=False
    )
    create = time.perf_counter() - t
    n_scen = len(run.scenario_set.names)
    rows.append(("run create (params, scenario set)", f"{create:.1f} s  {n_scen} scenarios"))
    t = time.perf_counter()
    health_run.delay(run.pk)
    while True:
        run = HealthRun.objects.get(pk=run.pk)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            break
        time.sleep(1.0)
    total = time.perf_counter() - t
    if run.status != RunStatus.SUCCEEDED:
        print(f"health run {run.pk} failed: {run.error}", file=sys.stderr)
        return 1
    mode = f"worker via {args.broker}" if args.broker else "eager"
    rows.append((f"health run end to end ({mode}, {run.chunks_total} chunks)", f"{total:.1f} s"))
    for key, sec in run.timings.items():
        if sec is not None:
            rows.append((f"  {key}", f"{sec:.1f} s"))
    rows.append(
        (
            "figures",
            f"equity {run.equity_usd:,.0f} USD, liquidatable {run.liquidatable_accounts:,}, shortfall "
            f"{run.shortfall_usd:,.0f} USD, VaR {run.var_usd:,.0f} / ES {run.es_usd:,.0f} USD over "
            f"{run.tail_scenarios} windows, coverage at ES "
            f"{'inf' if run.coverage_at_es is None else f'{run.coverage_at_es:.2f}'}",
        )
    )
    rows.append(("peak RSS", f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB"))
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{width}}  {b}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

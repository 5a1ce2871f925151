"""End-to-end pipeline benchmark: generate → import (next to a bare COPY) → health run, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/riskgov_dev \\
        python bench/pipeline.py [--accounts 1000000] [--chunk-accounts 250000] [--seed 7]
                                 [--scenarios standard] [--workers 0 | N | 1,2,3] [--threads auto | N]
                                 [--broker redis://127.0.0.1:6379/14] [--snapshot-dir DIR]

Steps (each timed; one table at the end, nothing asserted — see tests/ for correctness):

1. migrate and load the demo's real data (idempotent);
2. generate a seeded ``riskgov.snapshot/1`` folder (``snapshots.generator``; or reuse
   ``--snapshot-dir``, generated there when missing);
3. import it (``snapshot_import``: validation streaming each table, once clean, to a writer
   thread that COPYs it into a new partition and builds its indexes; reference checks;
   attach; one commit; the positions' keys and indexes are built after the validation, with
   a parallel worker) and, in the same run, a **bare COPY** of the same CSV files into
   unindexed tables of the same column types (the physical limit here); rows/s of both,
   their ratio, the import's steps and the CPU seconds of this process and its backend
   (load-independent, unlike wall time);
4. one health run per worker count: ``--workers 0`` (default) eager in this process;
   ``--workers N`` or ``1,2,3`` starts N real ``celery worker`` processes (solo pool) on
   ``--broker`` (a Redis database of its own: the workers consume its ``celery`` queue) for
   each count, runs the same run and stops them. Each worker gets ``--threads`` engine and
   BLAS threads (``auto``: the host's cores // N, so N workers never run more threads than
   there are cores; ``RISKGOV_ENGINE_THREADS``, ``OPENBLAS_NUM_THREADS``). Per run: end to
   end, the chunk phase (first chunk start → last chunk stored, wall), the per-chunk phases
   summed over chunks (load, the venue copy for finalize, base pass, gap stress, path
   families, result files, PG writes — together the chunks' whole time), finalize by phase
   (combine, reading the venue back, recommendations, cascade/ADL/replay) and publish, and the
   workers' peak RSS; with several counts, the chunk-phase speed-up against the first count.

Load on a shared machine moves every figure: the table starts with ``uptime``; compare the
ratios measured in one run.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
#: column types of the bare COPY tables (the snapshot tables' NUMERIC types, text for symbols)
_BARE = {
    "accounts": "account_id text",
    "balances": "account_id text, asset text, amount numeric(38,18)",
    "positions": "account_id text, market text, size numeric(38,18), entry_price numeric(38,18), "
    "margin_mode text, isolated_margin numeric(28,10)",
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _proc_hwm_mb(pid: int) -> float:
    """Peak RSS (VmHWM) of a live process, MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _cpu() -> tuple[float, float]:
    """CPU seconds so far of this process (all threads) and of its PostgreSQL backend."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        pid = cur.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        server = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:  # the database runs elsewhere
        server = float("nan")
    t = os.times()
    return t.user + t.system, server


def bare_copy(path: Path, *, temp: bool) -> tuple[float, int]:
    """COPY the snapshot's CSV files as they are into unindexed tables of the same column
    types (one transaction, rolled back): ``temp`` tables skip the WAL and shared buffers
    (a lower bound), regular ones are what a stored row costs at least. Returns (seconds, rows)."""
    from django.db import connection, transaction

    rows = 0
    t = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cur:
        for name, cols in _BARE.items():
            kind = "TEMP TABLE" if temp else "TABLE"
            cur.execute(f"CREATE {kind} bare_{name} ({cols}){' ON COMMIT DROP' if temp else ''}")
            with (
                open(path / f"{name}.csv", "rb") as fh,
                cur.copy(f"COPY bare_{name} FROM STDIN WITH (FORMAT csv, HEADER true)") as copy,
            ):
                while block := fh.read(1 << 23):
                    copy.write(block)
            rows += cur.rowcount if cur.rowcount and cur.rowcount > 0 else 0
        seconds = time.perf_counter() - t
        transaction.set_rollback(True)
    return seconds, rows


def worker_threads(n: int, threads: str) -> int:
    """Engine (and BLAS) threads per worker when ``n`` workers share this host: ``--threads``
    (``auto``: the host's cores // n, at least 1)."""
    if threads != "auto":
        return max(1, int(threads))
    return max(1, (os.cpu_count() or 1) // max(n, 1))


def start_workers(n: int, broker: str, log_dir: Path, threads: int) -> list[subprocess.Popen]:
    """N ``celery worker`` processes (solo pool) on this database and ``broker``, each with
    ``threads`` engine and BLAS threads."""
    env = {
        **os.environ,
        "CELERY_BROKER_URL": broker,
        "CELERY_RESULT_BACKEND": broker,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "DJANGO_SETTINGS_MODULE": "riskgov.config.settings",
        "RISKGOV_ENGINE_THREADS": str(threads),
        "OPENBLAS_NUM_THREADS": str(threads),
        "OMP_NUM_THREADS": str(threads),
    }
    procs = []
    for i in range(n):
        log = open(log_dir / f"worker-{n}-{i}.log", "w")  # noqa: SIM115 — the process owns it
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "celery", "-A", "riskgov.config.celery", "worker", "--pool=solo",
                 "-Q", "celery", "-n", f"bench-{os.getpid()}-{n}-{i}@%h", "--without-gossip",
                 "--without-mingle", "--without-heartbeat", "--loglevel=WARNING"],
                cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
    time.sleep(8.0)  # the workers import Django and connect (not part of any run)
    return procs


def stop_workers(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def one_run(snap, args, label: str) -> dict:
    """Create and run one health run; returns its figures."""
    from riskgov.health.models import HealthRun, RunChunk, RunStatus
    from riskgov.health.services import health_run_create
    from riskgov.health.tasks import health_run

    run = health_run_create(
        snapshot=snap, scenario_spec=args.scenarios, chunk_accounts=args.chunk_accounts, label=label, enqueue=False
    )
    t = time.perf_counter()
    health_run.delay(run.pk)
    while True:
        run = HealthRun.objects.get(pk=run.pk)
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            break
        time.sleep(0.25)
    total = time.perf_counter() - t
    if run.status != RunStatus.SUCCEEDED:
        raise SystemExit(f"health run {run.pk} failed: {run.error}")
    chunks = list(RunChunk.objects.filter(run=run))
    start = min(c.started_at for c in chunks)
    end = max(c.computed_at for c in chunks)
    return {"run": run, "total": total, "chunk_wall": (end - start).total_seconds()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--chunk-accounts", type=int, default=250_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--scenarios", default="standard")
    ap.add_argument("--workers", default="0", help="0: eager in-process; N or a list 1,2,3: real worker processes")
    ap.add_argument("--broker", default="redis://127.0.0.1:6379/14", help="Redis database used by --workers")
    ap.add_argument("--threads", default="auto", help="engine threads per worker: auto (cores // workers) or a number")
    ap.add_argument("--snapshot-dir", default="", help="reuse (or generate once into) this folder")
    ap.add_argument("--skip-import", action="store_true", help="run on the latest snapshot of --accounts accounts")
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",") if x]  # "": import only

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/riskgov_dev")
    eager = counts in ([0], [])
    os.environ["CELERY_BROKER_URL"] = "" if eager else args.broker
    os.environ["CELERY_RESULT_BACKEND"] = "" if eager else args.broker
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "1" if eager else "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskgov.config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    from riskgov.demo import DemoFiles, demo_load
    from riskgov.parameters.selectors import active_market_versions
    from riskgov.snapshots.generator import generate_snapshot
    from riskgov.snapshots.models import Snapshot
    from riskgov.snapshots.services import snapshot_import

    class Rows(list):
        """The table's rows, each also printed as it comes (long runs), the table at the end."""

        def append(self, row: tuple[str, str]) -> None:
            super().append(row)
            print(f"... {row[0]}: {row[1]}", file=sys.stderr, flush=True)

    load = os.getloadavg()
    rows: list[tuple[str, str]] = Rows()
    rows += [("load average (1/5/15 min), cores", f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}, "
                                    f"{os.cpu_count()} cores")]  # fmt: skip
    t = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    if not active_market_versions().exists():
        demo_load(DemoFiles.locate(), log=lambda s: None)
    rows.append(("setup (migrate, real data)", f"{time.perf_counter() - t:.1f} s"))

    tmp = tempfile.TemporaryDirectory(prefix="riskgov-bench-")
    path = Path(args.snapshot_dir) if args.snapshot_dir else Path(tmp.name) / "snap"
    if args.skip_import:
        snap = Snapshot.objects.filter(n_accounts=args.accounts).order_by("-id").first()
        if snap is None:
            raise SystemExit(f"no snapshot of {args.accounts} accounts to reuse")
    else:
        if not (path / "snapshot.json").exists():
            t = time.perf_counter()
            generate_snapshot(path, accounts=args.accounts, seed=args.seed)
            gen = time.perf_counter() - t
            rows.append(("generate snapshot files", f"{gen:.1f} s  peak RSS {_rss_mb():,.0f} MB"))
        else:
            rows.append(("generate snapshot files", f"reused {path}"))
        rss0 = _rss_mb()
        load_imp = os.getloadavg()[0]
        c0 = _cpu()
        t = time.perf_counter()
        snap = snapshot_import(
            path=path, generated=True, force=True, source=f"bench seed={args.seed} accounts={args.accounts}"
        )
        imp = time.perf_counter() - t
        c1 = _cpu()
        rss_imp = _rss_mb()
        n_rows = snap.n_accounts + snap.n_positions + snap.n_balances
        load_bare = os.getloadavg()[0]
        bare_s, bare_rows = bare_copy(path, temp=False)
        c2 = _cpu()
        temp_s, temp_rows = bare_copy(path, temp=True)
        timings = getattr(snap, "import_timings", {})
        rows.append(
            (
                "import (validate ‖ COPY into new partitions, index, SQL checks, attach, commit)",
                f"{imp:.1f} s  {n_rows:,} rows ({snap.n_accounts:,} accounts, {snap.n_positions:,} positions, "
                f"{snap.n_balances:,} balances)  {n_rows / imp:,.0f} rows/s  peak RSS {rss_imp:,.0f} MB "
                f"(before {rss0:,.0f})  load {load_imp:.1f}",
            )
        )
        rows.append(
            (
                "  CPU: this process (all threads), its PostgreSQL backend",
                f"{c1[0] - c0[0]:.1f} s, {c1[1] - c0[1]:.1f} s",
            )
        )
        if timings:
            rows.append(("  read + validate (main thread)", f"{timings['read_validate']:.1f} s"))
            for name in ("account", "balance", "position"):
                if f"copy_{name}" in timings:
                    rows.append(
                        (
                            f"  {name}s: COPY, keys + indexes"
                            + (" (after the validation, parallel)" if name == "position" else " (writer thread)"),
                            f"{timings[f'copy_{name}']:.1f} s, {timings.get(f'index_{name}', 0.0):.1f} s",
                        )
                    )
            rows.append(("  open interest (exact, main thread), writer wait after validation", f"{timings.get('open_interest', 0.0):.1f} s, "
                                                                     f"{timings['writer_wait']:.1f} s"))  # fmt: skip
            rows.append(("  reference checks, prices, attach, audit", f"{timings['finish']:.1f} s"))
        rows.append(
            (
                "bare COPY of the same CSV files, unindexed table",
                f"{bare_s:.1f} s  {bare_rows / bare_s:,.0f} rows/s  backend CPU {c2[1] - c1[1]:.1f} s  load {load_bare:.1f}",
            )
        )
        rows.append(("  the same into TEMP tables (no WAL)", f"{temp_s:.1f} s  {temp_rows / temp_s:,.0f} rows/s"))
        rows.append(("import / bare COPY throughput (unindexed, TEMP)", f"{bare_s / imp:.2f}, {temp_s / imp:.2f}"))
    tmp.cleanup()

    base_chunk = None
    for n in counts:
        threads = worker_threads(n, args.threads)
        procs = [] if n == 0 else start_workers(n, args.broker, Path(tempfile.gettempdir()), threads)
        try:
            out = one_run(snap, args, label=f"bench workers={n}")
            hwm = [_proc_hwm_mb(p.pid) for p in procs]
        finally:
            stop_workers(procs)
        run, tm = out["run"], out["run"].timings
        mode = "eager, in-process" if n == 0 else f"{n} worker process{'es' if n > 1 else ''} × {threads} thread(s)"
        la = os.getloadavg()[0]
        rows.append(
            (f"health run end to end ({mode}, {run.chunks_total} chunks)", f"{out['total']:.1f} s  (load {la:.1f})")
        )
        speed = ""
        if base_chunk is None:
            base_chunk = (n, out["chunk_wall"])
        elif n:
            speed = f"  {base_chunk[1] / out['chunk_wall']:.2f}× {base_chunk[0]} worker(s)"
        rows.append(("  chunk phase (wall: first start → last stored)", f"{out['chunk_wall']:.1f} s{speed}"))
        phases = {
            k: tm.get(f"chunks_{k}") or 0.0 for k in ("load", "state", "base", "stress", "paths", "files", "write")
        }
        rows.append(
            (
                "  Σ chunks: load, venue copy, base, gap stress, path families, result files, PG writes",
                ", ".join(f"{phases[k]:.1f}" for k in phases) + f" s  (Σ {sum(phases.values()):.1f} s)",
            )
        )
        fin = {k[len("finalize_") :]: v for k, v in tm.items() if k.startswith("finalize_") and k != "finalize_publish"}
        rows.append(
            (
                "  finalize (" + ", ".join(fin) + ")",
                f"{sum(v or 0.0 for v in fin.values()):.1f} s  ("
                + ", ".join(f"{v or 0.0:.1f}" for v in fin.values())
                + ")",
            )
        )
        rows.append(("  publish", f"{tm.get('finalize_publish') or 0.0:.1f} s"))
        rows.append(
            ("  rows/s (accounts + positions, end to end)", f"{(run.n_accounts + run.n_positions) / out['total']:,.0f}")
        )
        if hwm:
            rows.append(("  peak RSS per worker", ", ".join(f"{h:,.0f} MB" for h in hwm)))
    rows.append(("peak RSS (this process)", f"{_rss_mb():,.0f} MB"))
    width = max(len(a) for a, _ in rows)
    for a, b in rows:
        print(f"{a:<{width}}  {b}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

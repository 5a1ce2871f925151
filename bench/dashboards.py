"""Dashboard page-load benchmark with a 1,000,000-account run stored, on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/riskgov_bench_dash \\
        python bench/dashboards.py [--accounts 1000000] [--positions 3000000] [--markets 50] [--repeat 5]

Stores one published run of the given size directly (account and position rows by
``INSERT … SELECT generate_series`` with random values, 3,200 scenario rows, and the
run-time distributions computed by ``engine.distributions`` from arrays of the same size),
then renders every Dash page's layout (and the liquidation-map callback) as a user would
get it, ``--repeat`` times, and prints the median time per page.

Beside it, in the same run, the naive way of drawing the Accounts page — pulling every
account's margin ratio and every position of the market to bin them in Python — so the
ratio shows what precomputing at run time buys. Nothing is asserted; tests/dashboards
checks correctness. The stored run is removed at the end (``--keep`` keeps it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> int:  # noqa: PLR0915 — a linear script
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--accounts", type=int, default=1_000_000)
    ap.add_argument("--positions", type=int, default=3_000_000)
    ap.add_argument("--markets", type=int, default=50)
    ap.add_argument("--scenarios", type=int, default=3_200)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/riskgov_bench_dash")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskgov.config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    import dash
    import flask
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone
    from tqdm import tqdm

    from riskgov.engine.distributions import chunk_distributions
    from riskgov.health.models import HealthRun, RunKind, RunStatus, ScenarioResult
    from riskgov.markets.models import Asset, Market
    from riskgov.snapshots.models import Snapshot

    call_command("migrate", verbosity=0)
    n, p, m = args.accounts, args.positions, args.markets
    steps = tqdm(total=6, desc="storing a run", unit="step")
    rng = np.random.default_rng(7)
    markets = []
    for i in range(m):
        asset, _ = Asset.objects.get_or_create(symbol=f"B{i:02d}")
        markets.append(Market.objects.get_or_create(symbol=f"B{i:02d}-PERP", defaults={"base_asset": asset})[0])
    symbols = [mk.symbol for mk in markets]
    mark = rng.uniform(0.1, 60_000, m)
    pos_market = rng.integers(0, m, p)
    size = rng.normal(0, 1, p)
    notional = np.abs(size) * 20_000
    liq = mark[pos_market] * (1 - np.sign(size) * rng.uniform(0.005, 0.8, p))
    ratio = np.where(rng.random(n) < 0.001, np.inf, rng.gamma(2.0, 0.15, n))
    dist = chunk_distributions(
        margin_ratio=ratio,
        position_liquidatable=(ratio >= 1)[rng.integers(0, n, p)],
        position_market=pos_market,
        size=size,
        notional=notional,
        initial_margin=notional * 0.02,
        maintenance_margin=notional * 0.01,
        liquidation_price=liq,
        mark_price=mark,
        market_symbols=symbols,
    )
    steps.update()
    now = timezone.now()
    snap = Snapshot.objects.create(
        venue="bench", taken_at=now, insurance_fund_usd=10_000_000, sha256="0" * 64, n_accounts=n, n_positions=p
    )
    run = HealthRun.objects.create(
        snapshot=snap, kind=RunKind.MANUAL, status=RunStatus.RUNNING, label="bench/dashboards.py"
    )
    with connection.cursor() as cur:
        cur.execute(
            "INSERT INTO health_accountresult (run_id, account_idx, account_id, equity_usd, initial_margin_usd,"
            " maintenance_margin_usd, margin_ratio, liquidatable, bankrupt, shortfall_usd)"
            " SELECT %s, g, 'acct-' || g, 1000 + random() * 1e5, random() * 2e4, random() * 1e4,"
            " CASE WHEN random() < 0.001 THEN NULL ELSE random() * 1.2 END, random() < 0.01, random() < 0.001, 0"
            " FROM generate_series(0, %s) g",
            [run.pk, n - 1],
        )
        steps.update()
        cur.execute(
            "INSERT INTO health_positionresult (run_id, position_id, account_idx, market_id, size, notional_usd,"
            " initial_margin_usd, maintenance_margin_usd, liquidation_price, bankruptcy_price)"
            " SELECT %s, g, g %% %s, (ARRAY[" + ",".join(str(mk.pk) for mk in markets) + "])[1 + g %% %s],"
            " random() - 0.5, random() * 4e4, random() * 800, random() * 400, random() * 60000, random() * 60000"
            " FROM generate_series(0, %s) g",
            [run.pk, n, m, p - 1],
        )
        steps.update()
        cur.execute("ANALYZE health_accountresult; ANALYZE health_positionresult")
    steps.update()
    ScenarioResult.objects.bulk_create(
        ScenarioResult(
            run=run,
            idx=i,
            name=f"uniform {-50 + i:+d}%" if i < 10 else f"history 1d {i}",
            kind="uniform" if i < 10 else "historical",
            in_tail=i >= 10,
            liquidatable_accounts=int(rng.integers(0, 5000)),
            bankrupt_accounts=int(rng.integers(0, 500)),
            shortfall_usd=float(rng.gamma(1.0, 1e6)),
            penalties_usd=0.0,
            insurance_fund_after_usd=0.0,
            adl_usd=0.0,
            coverage_ratio=None,
        )
        for i in range(args.scenarios)
    )
    steps.update()
    with transaction.atomic():
        run.status, run.progress, run.published_at, run.finished_at = RunStatus.SUCCEEDED, 100, now, now
        run.n_accounts, run.n_positions = n, p
        run.equity_usd = run.initial_margin_usd = run.maintenance_margin_usd = 1e9
        run.liquidatable_accounts = run.bankrupt_accounts = 0
        run.shortfall_usd = run.var_usd = run.es_usd = run.cover2_usd = 1e6
        run.insurance_fund_usd, run.tail_alpha, run.tail_scenarios = 1e7, 0.99, args.scenarios - 10
        run.tail = {"k": 32, "worst_scenario": "uniform -50%"}
        run.distributions = dist
        run.save()
    steps.update()
    steps.close()

    from riskgov.config.wsgi import application  # noqa: F401 — creates the Dash app

    user = get_user_model().objects.filter(username="bench-dash").first() or get_user_model().objects.create_superuser(
        "bench-dash", "bench@example.com", "x"
    )
    app = dash.get_app()
    pages = {pg["path"]: pg for pg in dash.page_registry.values()}
    mods = {path: sys.modules[pg["module"]] for path, pg in pages.items()}

    def render(path: str, **query):
        def go():
            with app.server.test_request_context(f"/dash{path}"):
                flask.g.riskgov_user = user
                return pages[path]["layout"](run=str(run.pk), **query)

        return go

    def naive_accounts_page():
        """What the Accounts page would cost without run-time distributions."""
        from riskgov.health.models import AccountResult, PositionResult

        ratios = np.array(
            [
                np.inf if r is None else r
                for r in AccountResult.objects.filter(run=run).values_list("margin_ratio", flat=True)
            ]
        )
        np.histogram(ratios[np.isfinite(ratios)], bins=20)
        rows = PositionResult.objects.filter(run=run, market=markets[0]).values_list(
            "liquidation_price", "notional_usd"
        )
        arr = np.array(list(rows), dtype=float)
        np.histogram(arr[:, 0], bins=100, weights=arr[:, 1])

    cases = [
        ("Overview", render("/overview")),
        ("Accounts", render("/accounts")),
        ("Accounts: liquidation map callback", lambda: mods["/accounts"].show_map(symbols[0], run.pk)),
        ("Account detail", render("/account", idx=str(n // 2))),
        ("Stress and coverage", render("/stress")),
        ("Model health", render("/model-health")),
    ]
    print(f"\n{n:,} accounts, {p:,} positions, {m} markets, {args.scenarios:,} scenarios stored (run #{run.pk})")
    print(f"{'page':40s} {'median s':>10s}")
    results = {}
    for name, fn in tqdm(cases, desc="pages", unit="page", leave=False):
        results[name], _ = _timed(fn, args.repeat)
    for name, sec in results.items():
        print(f"{name:40s} {sec:10.3f}")
    naive, _ = _timed(naive_accounts_page, 1)
    print(f"{'naive Accounts page (reads every row)':40s} {naive:10.3f}")
    print(f"\nAccounts page: precomputed is {naive / results['Accounts']:.0f}× faster than reading the rows")
    if not args.keep:
        with transaction.atomic():
            ScenarioResult.objects.filter(run=run).delete()
            with connection.cursor() as cur:
                cur.execute("DELETE FROM health_positionresult WHERE run_id = %s", [run.pk])
                cur.execute("DELETE FROM health_accountresult WHERE run_id = %s", [run.pk])
            HealthRun.objects.filter(pk=run.pk).delete()
            Snapshot.objects.filter(pk=snap.pk).delete()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

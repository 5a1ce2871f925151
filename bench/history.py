"""History replay benchmark: 1M generated fills replayed into hourly snapshots for 30 days.

    python bench/history.py [--fills 1000000 --users 5000 --coins 20 --days 30 --seed 3]
                            [--keep DIR] [--no-write]

Generates, seeded, a history in Hyperliquid's public format (FORMATS.md "Venue history":
``non_mm_trades.csv`` and ``non_mm_ledger_updates.csv``): every user deposits once at the
start and sometimes later; fills are spread uniformly over ``--days`` days, each a random
user trading a random coin (sides and sizes random, prices a seeded random walk per coin,
times non-decreasing, prices and sizes as short decimals like the real files). Then times,
on that directory:

(a) the pure replay (:func:`riskgov.snapshots.history.replay.replay_at`) at every hour,
    reading each state (accounts and positions counted), writing nothing;
(b) the same replay writing every hourly ``riskgov.snapshot/1`` through
    :func:`riskgov.snapshots.history.services.history_replay_write` (the command's path) —
    the target: under a minute.

Prints rows, snapshots, seconds, rows per second, peak RSS, and the 1-minute load average
(the machine is shared). Generation is not timed.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "riskgov.config.settings")

START = 1_677_628_800  # 2023-03-01T00:00:00Z


def generate(out: Path, *, fills: int, users: int, coins: int, days: int, seed: int) -> None:
    """Write a seeded history of ``fills`` fills and the users' deposits into ``out``."""
    from riskgov.snapshots.history.files import iso

    rng = np.random.default_rng(seed)
    names = [f"0x{i:040x}" for i in range(users)]
    symbols = [f"C{i:02d}" for i in range(coins)]
    span = days * 86400
    times = np.sort(rng.integers(START, START + span, size=fills))
    user = rng.integers(0, users, size=fills)
    # every user trades two of the coins (its own pair), as real accounts do
    pairs = rng.integers(0, coins, size=(users, 2))
    coin = pairs[user, rng.integers(0, 2, size=fills)]
    base = 10.0 ** rng.uniform(-1, 4.5, size=coins)
    steps = rng.standard_normal((fills,)) * 0.0004
    # one random walk per coin, sampled at that coin's fills
    px = np.empty(fills)
    level = np.log(base)
    for c in range(coins):
        idx = np.nonzero(coin == c)[0]
        px[idx] = np.exp(level[c] + np.cumsum(steps[idx]))
    size = np.round(rng.exponential(500.0, size=fills) / px, 4) + 0.0001
    side = np.where(rng.random(fills) < 0.5, "Bid", "Ask")
    # half of the fills of an open position close it (real traders round-trip), so the
    # hourly books hold about one open position per active (user, coin), not all of them
    closes = rng.random(fills) < 0.5
    held: dict[tuple[int, int], float] = {}
    for i in range(fills):
        key = (int(user[i]), int(coin[i]))
        q = held.get(key, 0.0)
        if q and closes[i]:
            size[i], side[i] = abs(q), ("Ask" if q > 0 else "Bid")
            held[key] = 0.0
        else:
            held[key] = round(q + (size[i] if side[i] == "Bid" else -size[i]), 4)
    iso_cache: dict[int, str] = {}

    def t_text(t: int) -> str:
        s = iso_cache.get(t)
        if s is None:
            s = iso_cache[t] = iso(int(t))
        return s

    with (out / "non_mm_trades.csv").open("w") as fh:
        fh.write("time,user,coin,side,px,sz,crossed\n")
        for i in range(fills):
            fh.write(
                f"{t_text(times[i])},{names[user[i]]},{symbols[coin[i]]},{side[i]},{px[i]:.5g},{size[i]:.10g},true\n"
            )
    dep_times = np.sort(np.concatenate([np.full(users, START - 3600), rng.integers(START, START + span, users)]))
    dep_user = rng.integers(0, users, size=dep_times.size)
    with (out / "non_mm_ledger_updates.csv").open("w") as fh:
        fh.write("time,user,delta_usd\n")
        for i, t in enumerate(dep_times):
            u = i if i < users else dep_user[i]
            fh.write(f"{t_text(t)},{names[u]},{rng.integers(100, 5000)}\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fills", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--coins", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the generated history here")
    parser.add_argument("--no-write", action="store_true", help="time (a) only")
    args = parser.parse_args(argv)

    import django

    django.setup()
    from riskgov.snapshots.history.replay import replay_at
    from riskgov.snapshots.history.services import history_replay_write

    work = Path(tempfile.mkdtemp(prefix="bench-history-"))
    try:
        hist = args.keep or work / "history"
        hist.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        generate(hist, fills=args.fills, users=args.users, coins=args.coins, days=args.days, seed=args.seed)
        print(
            f"generated {args.fills:,} fills, {args.users:,} users, {args.coins} coins in {time.perf_counter() - t0:.1f} s"
        )
        instants = list(range(START, START + args.days * 86400 + 1, 3600))

        t0, c0 = time.perf_counter(), time.process_time()
        positions = 0
        rows = 0
        for _, book in replay_at(hist, instants):
            positions += sum(len(a.positions) for a in book.accounts.values())
            rows = book.rows
        ta, ca = time.perf_counter() - t0, time.process_time() - c0
        print(
            f"(a) replay only: {len(instants)} hourly states, {rows:,} rows, {positions / len(instants):,.0f} "
            f"positions per state: {ta:.1f} s wall, {ca:.1f} s CPU ({rows / ta:,.0f} rows/s)"
        )
        if not args.no_write:
            load = os.getloadavg()[0]
            t0, c0 = time.perf_counter(), time.process_time()
            paths = history_replay_write(directory=hist, instants=instants, output=work / "snapshots")
            tb, cb = time.perf_counter() - t0, time.process_time() - c0
            size = sum(f.stat().st_size for p in paths for f in p.iterdir())
            print(
                f"(b) replay + write {len(paths)} riskgov.snapshot/1 folders ({size / 1e6:,.0f} MB): {tb:.1f} s wall, {cb:.1f} s CPU "
                f"— target < 60 s: {'met' if tb < 60 else 'NOT met'} (load {load:.2f})"
            )
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"peak RSS {rss:,.0f} MB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

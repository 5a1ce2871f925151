"""Path stress benchmark: one-day hourly paths vs the same number of gaps, in one run.

    python bench/paths.py [--accounts 1000000 --positions 3000000 --markets 50
                           --paths 2500 --seed 7 --batch-size N --cascade] [--small]

On the seeded synthetic venue of ``bench.venue.make_venue`` (the book of ``bench/engine.py``)
and, as path scenarios, the 1-day windows (24 hourly steps from 00:00 UTC, RISK_MODEL §9)
of the shipped Binance hourly bars (data/prices/intraday/): BTC and ETH on their own series, every other non-stable
asset on the explicit proxy BTC (the intraday files of the other coins start in 2020–2024,
so their shared dates would leave a few hundred windows; the bench measures speed, and the
proxies are stated here). The most recent ``--paths`` windows are used; with no hourly file
the paths are seeded Student-t random walks.

Times, on the same in-memory book (built once and shared, timed apart):

(a) ``units.build_unit_book``;
(b) the existing gap stress ``stress.run_scenarios`` on the paths' end-of-day gaps
    (``r = P_{t0+24h}/P_{t0} − 1``, the same number of scenarios);
(c) ``path_stress.run_path_stress`` on the same gaps as one-step paths (``T = 1``); must equal (b);
(d) ``path_stress.run_path_stress`` on the 24-step paths — the target: ≤ 15 s and ≤ 8× (b);
(e) with ``--cascade``: ``path_cascade.run_path_cascade`` on the worst path of (d).

A subsample (first 2 % of accounts, 20 paths) checks pruned = unpruned (counts exact,
money rtol 1e-9). Prints seconds, ratios, CPU time, the 1-minute load average before (d)
and the peak RSS.

Measured 2026-12-03 (2 cores shared with other jobs): (d) 21.3 s wall / 7.6 s CPU at load
4.9, (d)/(b) = 2.74x, peak RSS 1.21 GiB; again after the §15 changes (no change to this
path): 19.3 s / 7.8 s CPU at load 7.0, 3.32x, 1.25 GiB; 39.6 s / 8.7 s CPU at load 12.0,
3.64x, 1.27 GiB. Single-thread A/B of ``run_path_stress`` against the code before (same
results to the bit): 8.8–11.8 s CPU before, 8.5–9.4 s after, at load 11–14 (within noise). ``--cascade``: (e) 62.8 s wall for
the worst path (2020-03-12, 142 rounds) — the health run does not run it (its replay chart is
``path_replay``, no impact; its cascade is the gap cascade of ``cascade.run_cascade``).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import check_agree, peak_rss_gib, print_rows, timed, venue_parser  # noqa: E402
from bench.engine import subsample  # noqa: E402
from bench.venue import make_venue  # noqa: E402
from riskgov.engine import path_cascade, path_stress, stress  # noqa: E402
from riskgov.engine.paths import PathSet, historical_paths  # noqa: E402
from riskgov.engine.scenarios import ScenarioSet  # noqa: E402
from riskgov.engine.units import build_unit_book  # noqa: E402

#: the product's shipped copies (data/README.md: origin, trimming, SHA-256)
INTRADAY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "prices", "intraday")
HOURLY = {"BTC": "binance_BTCUSDT_1h_2017-08_2026-02.csv.gz", "ETH": "binance_ETHUSDT_1h_2017-08_2026-02.csv.gz"}


def load_hourly() -> tuple[np.ndarray, list[str], np.ndarray] | None:
    """Hourly closes ``(H_T, 2)`` of BTC and ETH on one hourly grid (NaN = no bar), or None."""
    import pandas as pd

    frames = {}
    for sym, name in HOURLY.items():
        path = os.path.join(INTRADAY, name)
        if not os.path.exists(path):
            return None
        df = pd.read_csv(path, usecols=["timestamp_utc", "close"])
        frames[sym] = df.set_index(pd.to_datetime(df["timestamp_utc"]).dt.tz_localize(None))["close"]
    grid = pd.concat(frames, axis=1).sort_index()
    full = pd.date_range(grid.index[0], grid.index[-1], freq="h")
    grid = grid.reindex(full)
    return grid.to_numpy(dtype=np.float64), list(grid.columns), full.to_numpy().astype("datetime64[h]")


def make_paths(assets, n_paths: int, seed: int) -> tuple[PathSet, str]:  # noqa: ANN001
    """The most recent ``n_paths`` 1-day hourly paths (see the module docstring)."""
    loaded = load_hourly()
    if loaded is not None:
        px, cols, hours = loaded
        proxies = {s: "BTC" for s, st in zip(assets.symbols, assets.stable, strict=True) if not st and s not in cols}
        ps = historical_paths(assets, px, cols, hours, 24, proxies=proxies)
        take = np.arange(max(0, ps.n - n_paths), ps.n)
        src = f"Binance hourly BTC/ETH 1-day paths ({ps.n} windows, using the last {take.size}), others proxy BTC"
    else:
        rng = np.random.default_rng(seed)
        steps = rng.standard_t(3, (n_paths, 24, 1)) * 0.006 + rng.standard_t(3, (n_paths, 24, assets.n)) * 0.004
        r = np.maximum(np.cumsum(steps, axis=1), -0.9) * (~assets.stable)
        ps = PathSet(
            "synthetic_1d",
            "trend",
            1.0,
            tuple(f"t3 path {i}" for i in range(n_paths)),
            r,
            tuple(assets.symbols),
            ("",) * n_paths,
            np.zeros(n_paths),
            np.zeros((n_paths, assets.n)),
        )
        take = np.arange(n_paths)
        src = "seeded Student-t random walks (no hourly file found)"
    sub = PathSet(
        ps.family,
        ps.kind,
        ps.step_hours,
        tuple(ps.names[i] for i in take),
        ps.shocks[take],
        ps.asset_symbols,
        tuple(ps.start[i] for i in take),
        ps.interpolated_share[take],
        ps.interpolated_by_asset[take],
    )
    return sub, src


def gaps_of(paths: PathSet) -> ScenarioSet:
    """The paths' end-of-window gaps as a ``ScenarioSet`` (kind ``historical``)."""
    n = paths.n
    return ScenarioSet(
        names=tuple(f"gap {s}" for s in paths.names),
        kinds=("historical",) * n,
        shocks=paths.final_shocks.copy(),
        asset_symbols=paths.asset_symbols,
        start_date=tuple(s[:10] for s in paths.start),
        end_date=("",) * n,
    )


def check_equal(a, b, what: str) -> None:  # noqa: ANN001
    """Raise AssertionError unless two stress results agree (counts exact, money rtol 1e-9)."""
    check_agree(a, b, ("shortfall", "penalties", "top2_shortfall"), f"{what}: {{k}} differs")


def run(args: argparse.Namespace) -> dict[str, float]:
    """Run the benchmark and print the table; returns the timings in seconds."""
    venue = make_venue(args.accounts, args.positions, args.markets, 10, args.seed)
    params, state = venue.params, venue.state
    paths, src = make_paths(params.assets, args.paths, args.seed)
    gaps = gaps_of(paths)
    print(
        f"venue: {args.accounts:,} accounts, {state.portfolio.n_positions:,} positions, {params.markets.n} markets, "
        f"{params.assets.n} assets; {paths.n} paths x {paths.n_steps} steps: {src}"
    )
    book, t_book, _ = timed(build_unit_book, params, state)
    load_g = os.getloadavg()[0]
    g, t_gap, c_gap = timed(stress.run_scenarios, params, state, gaps, book=book)
    g1, t_gap1, c_gap1 = timed(path_stress.run_path_stress, params, state, gaps.shocks[:, None, :], book=book)
    check_equal(g, g1, "T=1 path stress vs gap stress")
    load_p = os.getloadavg()[0]
    p, t_path, c_path = timed(path_stress.run_path_stress, params, state, paths, book=book, batch_size=args.batch_size)
    rows = [
        ("(a) unit book (shared)", t_book, ""),
        (f"(b) gap stress, stress.run_scenarios, {gaps.n} gaps", t_gap, f"CPU {c_gap:.1f} s, load {load_g:.1f}"),
        (f"(c) path stress, T = 1, {gaps.n} gaps", t_gap1, f"CPU {c_gap1:.1f} s; (c)/(b) = {t_gap1 / t_gap:.2f}x"),
        (
            f"(d) path stress, {paths.n} paths x {paths.n_steps} steps",
            t_path,
            f"CPU {c_path:.1f} s, load {load_p:.1f}; (d)/(b) = {t_path / t_gap:.2f}x",
        ),
    ]
    if args.cascade:
        w = max(p.worst_scenario, 0)
        casc, t_casc, _ = timed(path_cascade.run_path_cascade, params, state, paths, scenario=w, book=book)
        rows.append(
            (
                f"(e) path cascade, worst path ({paths.names[w]})",
                t_casc,
                f"{int(casc.rounds_by_step.sum())} rounds, S {casc.shortfall:,.0f} vs {p.shortfall[w]:,.0f} USD",
            )
        )
    rss = peak_rss_gib()
    print_rows(rows, col=8, places=2, note="notes")
    pairs = int(p.evaluated_steps.sum())
    print(
        f"paths: liquidated/path mean {p.n_liquidated.mean():,.0f} max {p.n_liquidated.max():,}; "
        f"worst S {p.shortfall.max():,.0f} USD (gap of the same windows: {g.shortfall.max():,.0f}); "
        f"mean S {p.shortfall.mean():,.0f} vs gap {g.shortfall.mean():,.0f}; exactly evaluated (unit, step) "
        f"pairs {pairs:,} of {paths.n * paths.n_steps * book.n_units:,}; gap pairs {int(g.evaluated_pairs.sum()):,}"
    )
    if not args.no_check:
        sub_state, _ = subsample(venue, max(1, args.accounts // 50), 1)
        sub_paths = paths.shocks[:: max(1, paths.n // 20)]
        a = path_stress.run_path_stress(params, sub_state, sub_paths)
        b = path_stress.run_path_stress(params, sub_state, sub_paths, prune=False)
        check_equal(a, b, "pruned vs unpruned")
        print(f"pruned = unpruned on {sub_state.portfolio.n_accounts:,} accounts x {sub_paths.shape[0]} paths")
    print(f"peak RSS {rss:.2f} GiB; {os.cpu_count()} cores; load now {os.getloadavg()[0]:.1f}")
    return {"book": t_book, "gap": t_gap, "gap_t1": t_gap1, "path": t_path, "rss_gib": rss}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line arguments (``--small``: 50k accounts, 150k positions, 500 paths)."""
    ap = venue_parser(__doc__.split("\n\n")[0])
    ap.add_argument("--paths", type=int, default=2500)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--cascade", action="store_true", help="also run the path cascade on the worst path")
    ap.add_argument("--no-check", action="store_true", help="skip the pruned = unpruned subsample check")
    ap.add_argument("--small", action="store_true")
    args = ap.parse_args(argv)
    if args.small:
        args.accounts, args.positions, args.paths = 50_000, 150_000, 500
    return args


if __name__ == "__main__":
    run(parse())

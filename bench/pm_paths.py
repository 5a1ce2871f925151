"""Per-step PM revaluation along a path family (RISK_MODEL §9, §14), one run on seeded books.

    python bench/pm_paths.py [--accounts 100000 --positions 1000000 --scenarios 4 --steps 24]
                             [--unbounded] [--dense] [--small]

The book is ``bench/options.py``'s (2 underlyings, 2,000 shared series, perps on half of the
accounts, USDT collateral), put in a ``pm_venue.PMVenue`` with a BTC and an ETH perp market
(finite depth, a penalty: the §8 closes are computed). ``pm_venue.pm_path_stress`` then
revalues every PM account at every step of ``--scenarios`` seeded 1-hour random-walk paths of
``--steps`` steps (one ``portfolio_margin`` on the 27 + 8 scenario grids per step row), with
the §8 closes at the first liquidating step.

Memory: the revaluation keeps ``(scenarios, steps, PM accounts)`` arrays (equity, MM,
slippage, penalty due). ``pm_venue`` takes the scenarios in batches of
``BATCH_ELEMENTS // (T·A_pm)`` (at least one scenario), so the peak is bounded whatever the
family's size; ``--unbounded`` sets ``BATCH_ELEMENTS`` to infinity (one batch: the
``S·T·A_pm`` arrays of the former code, dense) to compare; ``--dense`` keeps the batches
but turns the exact pruning off (every account revalued at every step). Run each mode in
its own process: the peak RSS is the process's.

Prints seconds, seconds per step row, the extrapolation to the 1-day historical path
family of the demo data (1,590 paths × 24 steps) and the peak RSS. ``--small`` (10k
accounts, 100k positions) is a smoke run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench._common import peak_rss_mib  # noqa: E402
from bench.options import SPOTS, make_book, make_market  # noqa: E402
from riskgov.engine import pm_venue as pv  # noqa: E402
from riskgov.engine.brackets import build_parameter_set  # noqa: E402
from riskgov.engine.types import AssetSpec, MarketSpec, Portfolio, VenueState  # noqa: E402

#: the 1-day historical path family of the demo data (RISK_MODEL §9), for the extrapolation
FAMILY_PATHS, FAMILY_STEPS = 1_590, 24


def make_venue(*, accounts: int, positions: int, seed: int) -> tuple[object, VenueState, pv.PMVenue]:
    rng = np.random.default_rng(seed)
    market = make_market(distinct_series=None, rng=rng)
    book = make_book(market, accounts=accounts, positions=positions, rng=rng)
    params = build_parameter_set(
        markets=[
            MarketSpec(
                "BTC-PERP",
                "BTC",
                floors=[0],
                imf=[0.01],
                mmf=[0.005],
                liquidation_penalty=0.005,
                depth_usd_per_1pct=2e7,
            ),
            MarketSpec(
                "ETH-PERP",
                "ETH",
                floors=[0],
                imf=[0.01],
                mmf=[0.005],
                liquidation_penalty=0.005,
                depth_usd_per_1pct=8e6,
            ),
        ],
        assets=[AssetSpec("USDT", stable=True), AssetSpec("BTC"), AssetSpec("ETH")],
    )
    prices = np.array([1.0, *SPOTS])
    balances = Portfolio(
        n_accounts=accounts,
        balance_account=np.arange(accounts, dtype=np.int64),
        balance_asset=np.zeros(accounts, dtype=np.int64),
        balance_amount=book.collateral.copy(),
        position_account=np.zeros(0, np.int64),
        position_market=np.zeros(0, np.int64),
        size=np.zeros(0),
        entry_price=np.zeros(0),
        isolated=np.zeros(0, bool),
        isolated_margin=np.zeros(0),
    )
    state = VenueState(portfolio=balances, asset_prices=prices, insurance_fund=1e7)
    venue = pv.PMVenue(
        cross_state=state,
        keep_positions=np.zeros(0, bool),
        pm_accounts=np.arange(accounts, dtype=np.int64),
        market=market,
        book=book,
        underlying_asset=np.array([1, 2], dtype=np.int64),
        balances=balances,
        perp_market=book.perp_underlying.copy(),  # market i is on underlying i
        option_market=market.series_underlying[book.option_series].astype(np.int64),
    )
    return params, state, venue


def make_paths(*, scenarios: int, steps: int, seed: int) -> np.ndarray:
    """Seeded 1-hour random walks (BTC/ETH correlated, 80 %/100 % annual vol), ``(S, T, 3)``."""
    rng = np.random.default_rng([seed, 9])
    h = np.sqrt(1 / (365 * 24))
    z = rng.normal(size=(scenarios, steps, 2))
    eth = 0.8 * z[..., 0] + 0.6 * z[..., 1]
    out = np.zeros((scenarios, steps, 3))
    out[..., 1] = np.expm1(np.cumsum(0.8 * h * z[..., 0] * 3, axis=1))  # ×3: a stressed day
    out[..., 2] = np.expm1(np.cumsum(1.0 * h * eth * 3, axis=1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--accounts", type=int, default=100_000)
    ap.add_argument("--positions", type=int, default=1_000_000)
    ap.add_argument("--scenarios", type=int, default=4)
    ap.add_argument("--steps", type=int, default=24)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--unbounded", action="store_true", help="one batch (the former S·T·A_pm arrays)")
    ap.add_argument("--small", action="store_true")
    ap.add_argument("--dense", action="store_true", help="no pruning: every account at every step")
    a = ap.parse_args()
    if a.small:
        a.accounts, a.positions = 10_000, 100_000
    if a.unbounded:
        pv.BATCH_ELEMENTS = 1 << 62
    load0 = os.getloadavg()[0]
    params, state, venue = make_venue(accounts=a.accounts, positions=a.positions, seed=a.seed)
    paths = make_paths(scenarios=a.scenarios, steps=a.steps, seed=a.seed)
    rss_setup = peak_rss_mib()
    t0 = time.perf_counter()
    res = pv.pm_path_stress(
        params=params, venue=venue, asset_prices=state.asset_prices, paths=paths, prune=not (a.dense or a.unbounded)
    )
    took = time.perf_counter() - t0
    rows = a.scenarios * a.steps
    per_batch = max(1, pv.BATCH_ELEMENTS // max(1, a.steps * a.accounts))
    print(
        f"PM revaluation along paths: {a.accounts:,} PM accounts, {a.positions:,} options, "
        f"{a.scenarios} paths × {a.steps} steps ({'unbounded' if a.unbounded else 'batched'}"
        f"{', dense' if a.dense or a.unbounded else ', pruned'}: "
        f"{min(per_batch, a.scenarios)} path(s) per batch)"
    )
    print(f"  pm_path_stress  {took:8.1f} s   {took / rows:.3f} s per step row ({rows} rows)")
    print(
        f"  extrapolated    {took / rows * FAMILY_PATHS * FAMILY_STEPS / 3600:8.1f} h   "
        f"the 1-day path family ({FAMILY_PATHS:,} × {FAMILY_STEPS}) at this size, one process"
    )
    print(f"  liquidated      {int(res.n_liquidated.sum()):8,}     shortfall {res.shortfall.sum():,.0f} USD")
    print(f"  peak RSS        {peak_rss_mib():8,.0f} MiB after setup {rss_setup:,.0f} MiB")
    print(f"  load average    {load0:.2f} → {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()

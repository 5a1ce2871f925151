"""Seeded synthetic venue for the engine benchmark and smoke tests (RISK_MODEL §2–§9).

``make_venue`` builds, in memory and deterministically from a seed:

* assets: USDT, USDC (stable), the 13 coins of the Yahoo daily closes with history since
  2017-11-09, and synthetic "ALTnn" assets whose history is an *explicit* proxy to one of
  those coins (passed to ``historical_scenarios``; nothing is invented in the engine);
* markets: one per coin plus ``BTC-USDC`` / ``ETH-USDC`` (two markets sharing a base asset),
  then ALT markets up to ``n_markets``; tiered brackets (6 tiers for BTC/ETH, 4 for alts),
  penalties ``≤ MMF_1``, finite depths;
* accounts: log-normal (heavy-tailed) equity, 1+ positions each (popularity Zipf-like),
  account leverage 0.2–2x (75 %), 2–5x (20 %), 5–10x (4.5 %), 10–20x (0.5 %), capped so
  that IM ≤ equity, 5 % isolated positions, USDT/USDC/BTC/ETH collateral with haircuts, 2 %
  accounts borrowing USDT against BTC (negative balances), 0.3 % accounts just above
  maintenance, 0.03 % just below, 0.005 % bankrupt;
* scenarios: historical 1-day windows of the real closes (the most recent ``n_scenarios``;
  3-day windows are added if more are asked for), or fat-tailed Student-t shocks when the
  price file is missing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from bench._common import take_scenarios
from riskgov.engine.brackets import build_parameter_set, initial_margin, maintenance_margin
from riskgov.engine.scenarios import ScenarioSet, concat, historical_scenarios
from riskgov.engine.types import AssetSpec, MarketSpec, ParameterSet, Portfolio, VenueState

#: Yahoo daily closes: the repo's trimmed copy (columns ``symbol,date,close``; data/README.md).
PRICE_FILES = (
    os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "prices", "yahoo_daily_closes.csv"
    ),
)
COINS = ("BTC", "ETH", "XRP", "BNB", "DOGE", "ADA", "TRX", "LINK", "XLM", "LTC", "BCH", "ETC", "XMR")


@dataclass(frozen=True)
class Venue:
    """A generated venue: parameters, state, scenarios and where the shocks came from."""

    params: ParameterSet
    state: VenueState
    scenarios: ScenarioSet
    shock_source: str


def load_closes(path: str | None = None) -> tuple[np.ndarray, list[str], np.ndarray] | None:
    """Daily closes ``(T, H)`` (NaN = missing), symbols ``(H,)`` and dates ``(T,)`` from a
    Yahoo CSV with ``symbol``, ``date`` and ``close`` columns (the shared OHLCV file or the
    repo's trimmed ``symbol,date,close`` copy, see ``PRICE_FILES``), or ``None`` when no file
    is found."""
    paths = [path] if path else [p for p in PRICE_FILES if os.path.exists(p)]
    if not paths:
        return None
    import csv

    rows: dict[str, dict[str, float]] = {}
    with open(paths[0], newline="") as f:
        for rec in csv.DictReader(f):
            sym = rec["symbol"].removesuffix("-USD")
            if rec["close"]:
                rows.setdefault(sym, {})[rec["date"]] = float(rec["close"])
    symbols = sorted(rows)
    dates = sorted({d for v in rows.values() for d in v})
    index = {d: i for i, d in enumerate(dates)}
    closes = np.full((len(dates), len(symbols)), np.nan)
    for j, s in enumerate(symbols):
        for d, c in rows[s].items():
            closes[index[d], j] = c
    return closes, symbols, np.array(dates, dtype="datetime64[D]")


def _markets(n_markets: int, alts: list[str]) -> list[MarketSpec]:
    big_f = (0, 50e3, 250e3, 1e6, 5e6, 20e6)
    big_m = (0.004, 0.005, 0.01, 0.025, 0.05, 0.1)
    big_i = (0.008, 0.01, 0.02, 0.05, 0.1, 0.2)
    alt_f = (0, 10e3, 100e3, 1e6)
    alt_m = (0.01, 0.02, 0.05, 0.1)
    alt_i = (0.02, 0.04, 0.1, 0.2)
    specs = []
    names = [(c, c) for c in COINS] + [("BTC-USDC", "BTC"), ("ETH-USDC", "ETH")]
    names += [(a, a) for a in alts]
    for j, (name, base) in enumerate(names[:n_markets]):
        big = base in ("BTC", "ETH")
        f, m, i = (big_f, big_m, big_i) if big else (alt_f, alt_m, alt_i)
        depth = 5e7 if base == "BTC" else 2e7 if base == "ETH" else 2e6 / (1 + j / 10)
        specs.append(
            MarketSpec(
                symbol=f"{name}-PERP",
                base_asset=base,
                floors=f,
                imf=i,
                mmf=m,
                liquidation_penalty=m[0] / 2,
                depth_usd_per_1pct=depth,
            )
        )
    return specs


def make_venue(
    n_accounts: int = 1_000_000,
    n_positions: int = 3_000_000,
    n_markets: int = 50,
    n_scenarios: int = 2000,
    seed: int = 7,
    price_file: str | None = None,
) -> Venue:
    """Generate a seeded synthetic venue (see the module docstring).

    Args:
        n_accounts: accounts ``A``.
        n_positions: positions ``P ≥ A`` (every account holds at least one).
        n_markets: markets ``M ≥ 15``.
        n_scenarios: historical scenarios to build.
        seed: RNG seed; equal arguments give identical venues.
        price_file: Yahoo daily closes CSV (default: the first of ``PRICE_FILES`` found).

    Returns:
        ``Venue``.
    """
    if n_positions < n_accounts or n_markets < 15:
        raise ValueError("need n_positions >= n_accounts and n_markets >= 15")
    rng = np.random.default_rng(seed)
    n_alt = n_markets - len(COINS) - 2
    alts = [f"ALT{k:02d}" for k in range(1, n_alt + 1)]
    asset_specs = [
        AssetSpec("USDT", 0.0, True),
        AssetSpec("USDC", 0.0, True),
        *[AssetSpec(c, 0.1 if c in ("BTC", "ETH") else 0.25) for c in COINS],
        *[AssetSpec(a, 0.5) for a in alts],
    ]
    params = build_parameter_set(assets=asset_specs, markets=_markets(n_markets, alts))
    assets, mk = params.assets, params.markets

    price_path = price_file or next((f for f in PRICE_FILES if os.path.exists(f)), None)
    hist = load_closes(price_path) if price_path else None
    prices = np.ones(assets.n)
    if hist is not None:
        closes, hsym, dates = hist
        for c in COINS:
            col = closes[:, hsym.index(c)]
            prices[assets.index(c)] = col[np.isfinite(col)][-1]
    else:
        prices[2 : 2 + len(COINS)] = np.exp(rng.normal(2, 3, len(COINS)))
    prices[2 + len(COINS) :] = np.exp(rng.normal(0, 2, len(alts)))

    # --- positions ---------------------------------------------------------------------
    extra = rng.multinomial(n_positions - n_accounts, np.full(n_accounts, 1 / n_accounts))
    per_acc = 1 + extra
    pos_acc = np.repeat(np.arange(n_accounts), per_acc)
    pop = 1.0 / np.arange(1, n_markets + 1) ** 1.1
    pos_mkt = rng.choice(n_markets, size=n_positions, p=pop / pop.sum())
    side = np.where(rng.random(n_positions) < 0.55, 1.0, -1.0)
    equity = np.exp(rng.normal(7.0, 2.0, n_accounts)).clip(20, 5e8)
    u = rng.random(n_accounts)
    lev = np.select(
        [u < 0.75, u < 0.95, u < 0.995],
        [
            rng.uniform(0.2, 2, n_accounts),
            rng.uniform(2, 5, n_accounts),
            rng.uniform(5, 10, n_accounts),
        ],
        rng.uniform(10, 20, n_accounts),
    )
    w = rng.gamma(1.0, 1.0, n_positions)
    w /= np.bincount(pos_acc, weights=w)[pos_acc]
    notional = w * (lev * equity)[pos_acc]
    p_mark = prices[mk.base_asset[pos_mkt]]
    # cap so that the account's initial margin is at most 95 % of its equity
    im = np.bincount(pos_acc, weights=initial_margin(mk, pos_mkt, notional), minlength=n_accounts)
    cap = np.minimum(1.0, 0.95 * equity / np.maximum(im, 1e-12))
    notional *= cap[pos_acc]
    size = side * notional / p_mark
    entry = p_mark * np.exp(rng.normal(0.0, 0.04, n_positions))
    upnl = size * (p_mark - entry)
    iso = rng.random(n_positions) < 0.05
    iso_imf = initial_margin(mk, pos_mkt, notional) / np.maximum(notional, 1e-300)
    iso_lev = np.minimum(rng.uniform(1.0, 10.0, n_positions), 0.9 / iso_imf)
    iso_margin = np.where(iso, notional / iso_lev, 0.0)
    iso_margin = np.maximum(iso_margin, np.where(iso, -upnl + 1e-3 * notional, 0.0))

    # near liquidation: set cross equity just above / below maintenance margin
    mm = maintenance_margin(mk, pos_mkt, notional)
    cross = ~iso
    mm_acc = np.bincount(pos_acc, weights=np.where(cross, mm, 0.0), minlength=n_accounts)
    v = rng.random(n_accounts)
    target = np.where(v < 0.003, mm_acc * rng.uniform(1.0, 1.1, n_accounts), equity)
    target = np.where(v > 0.9997, mm_acc * rng.uniform(0.5, 1.0, n_accounts), target)
    target = np.where(v > 0.99995, -0.2 * mm_acc * rng.random(n_accounts), target)
    target = np.where(mm_acc > 0, target, equity)
    upnl_acc = np.bincount(pos_acc, weights=np.where(cross, upnl, 0.0), minlength=n_accounts)
    collateral_value = target - upnl_acc  # haircut-adjusted value the balances must reach

    # --- balances ----------------------------------------------------------------------
    kind = rng.random(n_accounts)
    usdt, usdc = assets.index("USDT"), assets.index("USDC")
    btc, eth = assets.index("BTC"), assets.index("ETH")
    b_acc, b_ast, b_amt = [], [], []

    def add(mask: np.ndarray, asset: int, value: np.ndarray) -> None:
        idx = np.flatnonzero(mask)
        h = assets.haircut[asset]
        amt = value[idx] / prices[asset]
        amt = np.where(amt > 0, amt / (1.0 - h), amt)
        b_acc.append(idx)
        b_ast.append(np.full(idx.size, asset))
        b_amt.append(amt)

    cv = collateral_value
    single = kind < 0.6
    add(single, usdt, cv)
    two = (kind >= 0.6) & (kind < 0.8)
    add(two, usdt, 0.5 * cv)
    add(two, usdc, 0.5 * cv)
    coin = (kind >= 0.8) & (kind < 0.98)
    coin_asset = np.where(rng.random(n_accounts) < 0.7, btc, eth)
    add(coin & (coin_asset == btc), btc, 0.7 * cv)
    add(coin & (coin_asset == eth), eth, 0.7 * cv)
    add(coin, usdt, 0.3 * cv)
    borrow = kind >= 0.98  # borrow USDT against BTC: coin value 1.5x, liability 0.5x
    add(borrow, btc, 1.5 * np.abs(cv))
    add(borrow, usdt, cv - 1.5 * np.abs(cv))
    b_acc_a = np.concatenate(b_acc)
    order = np.argsort(b_acc_a, kind="stable")
    portfolio = Portfolio(
        n_accounts=n_accounts,
        balance_account=b_acc_a[order].astype(np.int64),
        balance_asset=np.concatenate(b_ast)[order].astype(np.int64),
        balance_amount=np.concatenate(b_amt)[order],
        position_account=pos_acc.astype(np.int64),
        position_market=pos_mkt.astype(np.int64),
        size=size,
        entry_price=entry,
        isolated=iso,
        isolated_margin=iso_margin,
    )
    total_mm = float(mm.sum())
    state = VenueState(portfolio=portfolio, asset_prices=prices, insurance_fund=0.02 * total_mm)

    # --- scenarios ---------------------------------------------------------------------
    if hist is not None:
        closes, hsym, dates = hist
        proxies = {a: COINS[k % len(COINS)] for k, a in enumerate(alts)}
        one = historical_scenarios(assets, closes, hsym, dates, 1, proxies)
        sets = [one]
        if one.n < n_scenarios:
            sets.append(historical_scenarios(assets, closes, hsym, dates, 3, proxies))
        allset = concat(*sets)
        take = np.arange(max(0, allset.n - n_scenarios), allset.n)
        if len(sets) > 1:
            take = np.concatenate([np.arange(one.n), np.arange(one.n, allset.n)])[:n_scenarios]
        scen = take_scenarios(allset, take)
        source = (
            f"historical 1-day joint windows of {len(COINS)} coins "
            f"(Yahoo daily closes, {os.path.basename(str(price_path))})"
        )
    else:
        common = rng.standard_t(3, n_scenarios)[:, None] * 0.03
        idio = rng.standard_t(3, (n_scenarios, assets.n)) * 0.02
        r = np.clip(common + idio, -0.9, 3.0) * (~assets.stable)
        blank = ("",) * n_scenarios
        scen = ScenarioSet(
            names=tuple(f"t3 {i}" for i in range(n_scenarios)),
            kinds=("per_asset",) * n_scenarios,
            shocks=r,
            asset_symbols=assets.symbols,
            start_date=blank,
            end_date=blank,
        )
        source = "Student-t(3) fat-tailed joint shocks (price file not found)"
    return Venue(params=params, state=state, scenarios=scen, shock_source=source)

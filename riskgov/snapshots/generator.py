"""A seeded generator of realistic demo venues (``riskgov.snapshot/1``) from the real data.

Everything synthetic is labelled: the snapshot's ``venue`` says "Generated demo venue (seed
…, … accounts, prices of …)", and the import of a generated snapshot sets ``generated``.
Same seed, parameters and price data → byte-identical files. Vectorized numpy throughout.

How a venue is made (every constant is below, in one place):

* **markets and brackets**: the parameter set's (default: the active parameters); a market
  whose base asset has no daily close on the chosen date is skipped (the venue note says how
  many were);
* **prices**: the real daily closes (``markets.selectors.price_matrix``) at ``date``; by
  default the latest date on which every base asset with history has a close;
* **market popularity**: positions pick markets with probability ∝ the market's real
  Hyperliquid open interest (``data/margin/hyperliquid_perp_meta_snapshot.csv``); markets
  Hyperliquid does not list get half the smallest listed share. Markets are drawn without
  replacement per account, which under-picks the two big ones (BTC, ETH ≈ 42 % each), so
  each position's margin share is weighted by target share / picked share: the venue's
  notional per market follows the real OI shares (target → realised: BTC 42.5 → 45.6 %,
  ETH 42.4 → 38.5 %, SOL 8.7 → 7.5 %);
* **accounts**: collateral value (after haircuts) is Pareto-tailed, ``(Pareto(1.2)+1)·250``
  USD (median ≈ 450 USD, mean ≈ 1,500 USD, a few whales at millions), clipped to
  ``[10, 5e7]``; 22 % of accounts hold collateral but no position; the others hold
  ``1 + Geometric`` distinct markets (mean ≈ 2, more for large accounts, at most 8);
* **leverage and size**: each position gets a Dirichlet share of its account's collateral as
  margin (a free-collateral slot beside it) and a leverage ``~ LogNormal(ln 3.5, 0.45)``,
  × ``(1 + 1.5 per decade of collateral above 10,000 USD)`` (large accounts lever more), and
  0.2 % of positions at 30–55 % of the market's max leverage; capped so that the leverage at
  entry never exceeds ``1/IMF`` of the bracket the entry notional falls in (RISK_MODEL §2;
  the OI scaling of §3 is not applied) and the notional stays under the market's max
  position notional. Hence, for every account, Σ IM at entry ≤ collateral value;
* **entry prices**: the close of a random day among the 30 before ``date`` (or the date
  itself), × ``(1 + N(0, 0.3 %))``, so uPnL is as large as a month of real moves makes it;
  52 % of positions are long;
* **margin modes**: 5 % of positions are isolated, their margin is their share;
* **collateral**: the stablecoin ``USDT`` (else the first stable asset); 10 % of accounts
  also hold BTC/ETH/USDC (those of them in the parameter set), for 30–90 % of their value;
  10 % of those carry a small stablecoin liability (5–30 % of their value) backed by more
  BTC/ETH/USDC;
* **health**: the engine evaluates the venue at the snapshot's prices; accounts (and
  isolated positions) that a month of price moves left under maintenance margin are topped
  up with stablecoin to the larger of 1.3–2.5× MM and 50–100 % of their starting collateral
  (the trader restored the margin; a real venue would have liquidated the others); then a
  handful (0.05 % of the accounts, at least 3) with 200–5,000 USD of MM (a small venue
  without enough of them: the largest MM) are set just under MM (0.85–0.98×) and as many
  just above it (1.02–1.15×);
* **insurance fund**: 5 % of open interest (long notional at mark) unless given.
* **options** (``pm_share > 0`` only): portfolio-margin accounts with a generated options
  book, described in ``riskgov.snapshots.generator_options``.

Calibration — the published facts each choice follows (before → after, demo seed 7,
20,000 accounts, prices of 2025-02-20):

* **Insurance fund relative to open interest**: BitMEX's published coverage table (blog
  "Upcoming changes to our Insurance Fund", 2025, fund ÷ OI): Binance 0.11, Bybit 0.07,
  KuCoin 0.05, Gate 0.02, HTX 0.01 (BitMEX itself 0.88). The median of the five, 5 %, is
  the default (was 0.75 %: the fund was 1.2 % of equity; now 5.7 %).
* **Leverage**: venue-wide, OI ÷ collateral on Hyperliquid, the venue whose OI shares the
  demo uses, was ≈ 1.8 (Nansen, Nov 2024: OI $2B+, TVL $1.1B) to ≈ 2.9 (blocmates,
  26 May 2025: OI $10.1B, USDC TVL $3.5B) — TVL includes idle and vault balances, so an
  upper bound of margin leverage; the demo venue's long OI ÷ equity is 1.13 (was 1.63, with
  a fat tail: 99th percentile account leverage 137× from 3 % of positions at 70–100 % of
  the max). Position leverage: BitMEX (blog, 15 May 2019) reported 80 % of XBTUSD positions
  at ≤ 54× on a 100× contract and weighted means of 22–30× on its *isolated* margins; on a
  cross-margin venue the account's leverage is far lower (free collateral), so the high end
  is 0.2 % of positions at 30–55 % of the max. Account leverage now: median 2.1×, 90th
  percentile 4.6×, 99th 13.5×.
* **Stress**: on 10 Oct 2025 (BTC −12 %, ETH −16 %, alts −30 % and worse) about $19B of
  positions were liquidated across venues, ~1.6M accounts (Coinglass, via yellow.com
  research) — a day far worse than a uniform −10 %. A uniform −10 % shock now makes 257
  accounts (1.3 %) liquidatable and 234 (1.2 %) bankrupt (was 1,280 and 1,246, 6.2 %).
* **Share of OI per market**: the real Hyperliquid OI (above); realised shares now within
  ±4 points of it for the top five (BTC was 34 % against 42.5 %, now 45.6 %).
* **Size**: the riskiest accounts are traders with size — equity $184–$4,268 among the 20
  with the highest margin ratio (was $0.33–$240: dust topped up to just above MM; the venue's largest whales are not
  among them either).

Values are written as plain decimals with 10–12 significant digits (sizes, prices,
amounts) and at most 10 decimals for USD margins, so the files are exact decimals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date as date_cls
from datetime import datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
from django.conf import settings

from riskgov.core.exceptions import DomainError
from riskgov.engine.health import evaluate_health
from riskgov.engine.types import ParameterSet, Portfolio, VenueState
from riskgov.markets.selectors import price_matrix
from riskgov.snapshots.generator_files import decimal_strings, table_write, venue_tables, with_options
from riskgov.snapshots.generator_options import UNDERLYINGS, options_book
from riskgov.snapshots.validation import FORMAT

__all__ = ["generate_snapshot"]

# --- calibration (module docstring, "Calibration"; data/README.md "Generated venue") -------
PARETO_ALPHA = 1.2
EQUITY_SCALE_USD = 250.0
EQUITY_CLIP_USD = (10.0, 5e7)
IDLE_SHARE = 0.22
POSITIONS_GEOMETRIC_P = 0.5
MAX_POSITIONS = 8
#: position leverage (notional / the position's margin share) ~ LogNormal(ln 3.5, 0.45)
LEVERAGE_MEDIAN = 3.5
LEVERAGE_SIGMA = 0.45
#: large accounts lever more: × (1 + 1.5 per decade of collateral above 10,000 USD)
WHALE_LEVERAGE_PER_DECADE = 1.5
#: 0.2 % of positions near the high end a market allows: 30–55 % of 1/IMF (BitMEX: 80 % of
#: positions at ≤ 54 % of the maximum)
DEGEN_SHARE = 0.002
DEGEN_RANGE = (0.3, 0.55)
#: free collateral: a Gamma(1) slot beside each position's Gamma(1) share
FREE_SHARE_ALPHA = 1.0
#: notional per market follows the real open-interest shares (not only the position counts)
OI_SHARE_CORRECTION = True
ENTRY_WINDOW_DAYS = 30
ENTRY_NOISE = 0.003
LONG_SHARE = 0.52
ISOLATED_SHARE = 0.05
MULTI_COLLATERAL_SHARE = 0.10
MULTI_COLLATERAL_ASSETS = ("BTC", "ETH", "USDC")
LIABILITY_SHARE = 0.10
#: what a month of moves left under MM is topped up to: the larger of 1.3–2.5 × MM and
#: 50–100 % of the collateral the account started with (the trader restores the margin)
TOPUP_RANGE = (1.3, 2.5)
RESTORE_RANGE: tuple[float, float] | None = (0.5, 1.0)
#: the handful set just under / above MM are accounts with 200–5,000 USD of MM (the riskiest
#: accounts are traders with size, not dust, nor the venue's largest whales)
HANDFUL_SHARE = 0.0005
HANDFUL_MM_RANGE_USD = (200.0, 5000.0)
UNDER_RANGE = (0.85, 0.98)
NEAR_RANGE = (1.02, 1.15)
#: insurance fund / open interest: the median of the five large venues in BitMEX's published
#: coverage table (Binance 0.11, Bybit 0.07, KuCoin 0.05, Gate 0.02, HTX 0.01; 2025)
INSURANCE_FUND_SHARE_OF_OI = 0.05
HL_SNAPSHOT = Path("margin") / "hyperliquid_perp_meta_snapshot.csv"
_CHUNK = 100_000


def _choose_date(pm, wanted: str | None) -> tuple[int, str]:
    if not pm.symbols:
        raise DomainError("no price history for any base asset: load the daily closes first")
    if wanted is not None:
        d = np.datetime64(date_cls.fromisoformat(wanted), "D")
        hits = np.flatnonzero(pm.dates == d)
        if not hits.size:
            raise DomainError(f"no daily close on {wanted}")
        return int(hits[0]), wanted
    complete = np.flatnonzero(np.isfinite(pm.closes).all(axis=1))
    if not complete.size:
        raise DomainError("no date on which every base asset has a close")
    t = int(complete[-1])
    return t, str(pm.dates[t])


def _hl_weights(symbols: list[str]) -> np.ndarray:
    from riskgov.parameters.venues.hyperliquid import hyperliquid_open_interest

    path = Path(settings.DATA_DIR) / HL_SNAPSHOT
    oi = {}
    if path.exists():
        oi = {k: float(v) for k, v in hyperliquid_open_interest(path).items() if v is not None and v > 0}
    w = np.array([oi.get(s, np.nan) for s in symbols])
    floor = np.nanmin(w) * 0.5 if np.isfinite(w).any() else 1.0
    w = np.where(np.isfinite(w), w, floor)
    return w / w.sum()


@dataclass(frozen=True)
class _PriceDay:
    """The prices the venue is generated at: the date's closes and the entry window.

    ``price`` (assets,) close on ``day`` (NaN: no price; stables without one are 1);
    ``price_full`` the same with NaN → 1 (unused assets: any valid price); ``window``
    (days, columns of ``col_of``) the closes of the entry window, gaps filled with the day's
    close; ``live`` the markets whose base asset has a price (``skipped`` the others);
    ``stable`` the stable asset held by every account, ``extras`` the multi-collateral assets.
    """

    day: str
    price: np.ndarray
    price_full: np.ndarray
    window: np.ndarray
    col_of: dict[str, int]
    live: np.ndarray
    skipped: int
    stable: int
    extras: np.ndarray


@dataclass(frozen=True)
class _Book:
    """The accounts and positions drawn: account arrays (A,), position arrays (P,)."""

    n: int
    value: np.ndarray
    account: np.ndarray
    market: np.ndarray
    isolated: np.ndarray
    iso_margin: np.ndarray
    entry: np.ndarray
    entry_text: pa.Array
    size: np.ndarray
    size_text: pa.Array


@dataclass(frozen=True)
class _Collateral:
    """Balances per account: ``stable_amount`` (A,), ``extra_amount`` (A, extras), ``multi`` (A,)."""

    multi: np.ndarray
    stable_amount: np.ndarray
    extra_amount: np.ndarray


def generate_snapshot(
    out_dir: str | Path,
    *,
    accounts: int = 20000,
    seed: int = 7,
    date: str | None = None,
    params: ParameterSet | None = None,
    fmt: str = "csv",
    insurance_fund_usd: float | None = None,
    pm_share: float = 0.0,
) -> Path:
    """Write a generated ``riskgov.snapshot/1`` folder (see the module docstring).

    Args:
        out_dir: folder to create (or fill; existing snapshot files are overwritten).
        accounts: number of accounts (≥ 1).
        seed: random seed; same seed and data → same files.
        date: ``YYYY-MM-DD`` of the prices (default: the latest date every base asset has).
        params: parameter set (default: the active one, ``engine_parameters().params``).
        fmt: ``"csv"`` or ``"parquet"``.
        insurance_fund_usd: default 5 % of open interest.
        pm_share: share of the accounts put in portfolio margin mode with a generated options
            book (``riskgov.snapshots.generator_options``); 0 writes no option file.

    Returns:
        ``out_dir`` as a ``Path``.

    Raises:
        DomainError: no parameters, no usable prices, bad arguments.
    """
    if fmt not in ("csv", "parquet"):
        raise DomainError(f"format {fmt!r} is not csv or parquet")
    if accounts < 1:
        raise DomainError("accounts must be at least 1")
    if params is None:
        from riskgov.parameters.adapters import engine_parameters

        params = engine_parameters().params
    rng = np.random.default_rng(seed)  # the draws below happen in this order, always
    prices = _price_day(params, date)
    book = _book(rng, params, prices, int(accounts))
    collateral = _collateral(rng, params, prices, book)
    stable_amount, iso_margin = _settle_health(rng, params, prices, book, collateral)
    opts = _options(params, prices, book, collateral, stable_amount, iso_margin, seed=seed, share=pm_share)
    if opts is not None:
        stable_amount = stable_amount + opts.stable_topup
    tables = venue_tables(params, prices, book, collateral, stable_amount=stable_amount, iso_margin=iso_margin)
    if opts is not None:
        tables = with_options(params, tables, opts)
    meta = _meta(params, prices, book, seed=seed, insurance_fund_usd=insurance_fund_usd)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("prices", "accounts", "balances", "positions", "options", "option_marks"):
        for ext in ("csv", "parquet"):
            (out / f"{stale}.{ext}").unlink(missing_ok=True)
    (out / "snapshot.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    for name, table in tables.items():
        table_write(table, out, name, fmt)
    return out


def _price_day(params: ParameterSet, date: str | None) -> _PriceDay:
    """Prices at the date, the 30-day window for entries, the collateral assets."""
    mk, ak = params.markets, params.assets
    base_symbols = sorted({ak.symbols[i] for i in mk.base_asset.tolist()})
    extra_symbols = [s for s in MULTI_COLLATERAL_ASSETS if s in ak.symbols]
    pm = price_matrix(symbols=list(dict.fromkeys(base_symbols + extra_symbols)))
    t, day = _choose_date(pm, date)
    closes = pm.closes[: t + 1]
    window = closes[max(0, t - ENTRY_WINDOW_DAYS) : t + 1]
    # forward-fill gaps in the window with the date's close
    window = np.where(np.isfinite(window), window, closes[t])
    price = np.full(ak.n, np.nan)
    col_of = {s: i for i, s in enumerate(pm.symbols)}
    for s, c in col_of.items():
        price[ak.index(s)] = closes[t, c]
    for i in range(ak.n):
        if bool(ak.stable[i]) and not np.isfinite(price[i]):
            price[i] = 1.0
    live = np.flatnonzero(np.isfinite(price[mk.base_asset]))
    skipped = mk.n - live.size
    if not live.size:
        raise DomainError(f"no market has a price on {day}")
    stables = [i for i in range(ak.n) if bool(ak.stable[i])]
    if not stables:
        raise DomainError("the parameter set has no stable asset to hold as collateral")
    stable = ak.index("USDT") if "USDT" in ak.symbols and bool(ak.stable[ak.index("USDT")]) else stables[0]
    extras = np.array([ak.index(s) for s in extra_symbols if np.isfinite(price[ak.index(s)]) and ak.index(s) != stable])
    price_full = np.where(np.isfinite(price), price, 1.0)  # unused assets: any valid price
    return _PriceDay(day, price, price_full, window, col_of, live, skipped, stable, extras)


def _markets_chosen(rng: np.random.Generator, params: ParameterSet, live: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``k[a]`` distinct markets per account: Gumbel top-k on log Hyperliquid OI shares -> (P,)."""
    mk = params.markets
    n, kmax = k.size, int(k.max(initial=0))
    logw = np.log(_hl_weights([mk.symbols[i] for i in live.tolist()]))
    chosen = []
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        keys = logw[None, :] + rng.gumbel(size=(hi - lo, live.size))
        top = np.argsort(-keys, axis=1)[:, :kmax]
        take = np.arange(kmax)[None, :] < k[lo:hi, None]
        chosen.append(live[top[take]])
    return np.concatenate(chosen) if chosen else np.zeros(0, np.int64)


def _book(rng: np.random.Generator, params: ParameterSet, prices: _PriceDay, n: int) -> _Book:
    """Accounts (collateral value, positions per account) and their positions: markets,
    margin shares (Dirichlet with a free slot), leverage within the bracket limit, entry
    prices from the real 30-day window, sizes at entry notional."""
    mk, ak = params.markets, params.assets
    live = prices.live
    value = np.clip((rng.pareto(PARETO_ALPHA, n) + 1.0) * EQUITY_SCALE_USD, *EQUITY_CLIP_USD)
    active = rng.random(n) >= IDLE_SHARE
    k = rng.geometric(POSITIONS_GEOMETRIC_P, n) + np.maximum(0, np.floor(np.log10(value / 1e4))).astype(np.int64)
    k = np.where(active, np.minimum(k, min(MAX_POSITIONS, live.size)), 0)
    market = _markets_chosen(rng, params, live, k)
    account = np.repeat(np.arange(n), k)
    n_pos = market.size

    g = rng.gamma(1.0, size=n_pos)
    if OI_SHARE_CORRECTION:
        # markets are drawn without replacement, so the big ones are under-picked by
        # accounts with several positions: weight each position's margin share by
        # target share / picked share, so notional per market follows the real OI shares
        w = np.zeros(mk.n)
        w[live] = _hl_weights([mk.symbols[i] for i in live.tolist()])
        picked = np.bincount(market, minlength=mk.n) / max(1, market.size)
        g = g * np.where(picked[market] > 0, w[market] / np.maximum(picked[market], 1e-12), 1.0)
    free = rng.gamma(FREE_SHARE_ALPHA, size=n)
    total = np.bincount(account, weights=g, minlength=n) + free
    margin = value[account] * g / total[account]
    lev = np.exp(rng.normal(np.log(LEVERAGE_MEDIAN), LEVERAGE_SIGMA, n_pos))
    lev = lev * (1.0 + WHALE_LEVERAGE_PER_DECADE * np.maximum(0.0, np.log10(value[account] / 1e4)))
    lev = np.maximum(lev, 0.2)
    imf1 = mk.imf[market, 0]
    degen = rng.random(n_pos) < DEGEN_SHARE
    lev = np.where(degen, rng.uniform(*DEGEN_RANGE, n_pos) / imf1, lev)
    notional = margin * lev
    bracket = (notional[:, None] >= mk.floors[market]).sum(axis=1) - 1
    cap = 1.0 / mk.imf[market, bracket]
    lev = np.minimum(lev, cap)
    notional = np.minimum(margin * lev, 0.95 * mk.max_position_notional[market])
    isolated = rng.random(n_pos) < ISOLATED_SHARE

    asset_of = mk.base_asset[market]
    cols = np.array([prices.col_of.get(ak.symbols[a], -1) for a in range(ak.n)])[asset_of]
    day_pick = rng.integers(0, prices.window.shape[0], n_pos)
    entry = prices.window[day_pick, cols] * (1.0 + rng.normal(0.0, ENTRY_NOISE, n_pos))
    entry, entry_text = decimal_strings(entry, sig=10)
    side = np.where(rng.random(n_pos) < LONG_SHARE, 1.0, -1.0)
    size, size_text = decimal_strings(side * notional / entry, sig=10)
    iso_margin = np.where(isolated, margin, 0.0)
    return _Book(n, value, account, market, isolated, iso_margin, entry, entry_text, size, size_text)


def _collateral(rng: np.random.Generator, params: ParameterSet, prices: _PriceDay, book: _Book) -> _Collateral:
    """Cross collateral = value − isolated margins; stablecoin, or BTC/ETH/USDC for 10 % of
    the accounts (a tenth of those with a stablecoin liability backed by more of them)."""
    ak, n, extras, price = params.assets, book.n, prices.extras, prices.price
    cross_value = book.value - np.bincount(book.account, weights=book.iso_margin, minlength=n)
    multi = (rng.random(n) < MULTI_COLLATERAL_SHARE) & (extras.size > 0)
    liability = multi & (rng.random(n) < LIABILITY_SHARE)
    extra_share = np.where(multi, rng.uniform(0.3, 0.9, n), 0.0)
    debt = np.where(liability, rng.uniform(0.05, 0.3, n) * cross_value, 0.0)
    stable_amount = (cross_value * (1.0 - extra_share) - debt) / price[prices.stable]
    if extras.size:
        w = rng.dirichlet(np.full(extras.size, 0.7), n)
        w = np.where(w < 0.1, 0.0, w)
        w = w / w.sum(axis=1, keepdims=True)
        extra_value = (cross_value * extra_share + debt)[:, None] * w
        extra_amount = extra_value / (price[extras] * (1.0 - ak.haircut[extras]))[None, :]
        extra_amount = np.where(multi[:, None], extra_amount, 0.0)
    else:
        extra_amount = np.zeros((n, 0))
    return _Collateral(multi, stable_amount, extra_amount)


def _venue_state(
    prices: _PriceDay, book: _Book, extra_amount: np.ndarray, stable_amt: np.ndarray, iso_w: np.ndarray
) -> VenueState:
    """The engine's view of the drawn venue (balances: the stable row, then the extras)."""
    n, extras, stable = book.n, prices.extras, prices.stable
    rows_a, rows_j = np.nonzero(extra_amount)
    portfolio = Portfolio(
        n_accounts=n,
        balance_account=np.concatenate([np.arange(n), rows_a]).astype(np.int64),
        balance_asset=np.concatenate([np.full(n, stable), extras[rows_j] if extras.size else []]).astype(np.int64),
        balance_amount=np.concatenate([stable_amt, extra_amount[rows_a, rows_j]]),
        position_account=book.account.astype(np.int64),
        position_market=book.market.astype(np.int64),
        size=book.size,
        entry_price=book.entry,
        isolated=book.isolated,
        isolated_margin=iso_w,
    )
    return VenueState(portfolio=portfolio, asset_prices=prices.price_full)


def _settle_health(
    rng: np.random.Generator, params: ParameterSet, prices: _PriceDay, book: _Book, coll: _Collateral
) -> tuple[np.ndarray, np.ndarray]:
    """Health at the snapshot's prices: top up what a month of moves left under maintenance
    margin, then set a handful just under and just above it. Returns the stable amounts
    (A,) and isolated margins (P,)."""
    n, n_pos, stable, price = book.n, book.market.size, prices.stable, prices.price
    stable_amount, iso_margin = coll.stable_amount, book.iso_margin
    health = evaluate_health(
        params, _venue_state(prices, book, coll.extra_amount, stable_amount, iso_margin), with_prices=False
    )
    pmx, am = health.positions, health.accounts
    bad_iso = pmx.isolated_liquidatable
    iso_target = pmx.maintenance_margin * rng.uniform(*TOPUP_RANGE, n_pos)
    if RESTORE_RANGE is not None:  # the trader restores the margin the month's moves took
        iso_target = np.maximum(iso_target, book.iso_margin * rng.uniform(*RESTORE_RANGE, n_pos))
    iso_margin = iso_margin + np.where(bad_iso, iso_target - pmx.isolated_equity, 0.0)
    mm, eq = am.cross_maintenance_margin, am.cross_equity
    target = mm * rng.uniform(*TOPUP_RANGE, n)
    if RESTORE_RANGE is not None:
        cross_value = book.value - np.bincount(book.account, weights=book.iso_margin, minlength=n)
        target = np.maximum(target, cross_value * rng.uniform(*RESTORE_RANGE, n))
    stable_amount = stable_amount + np.where(am.cross_liquidatable, (target - eq) / price[stable], 0.0)
    eq = np.where(am.cross_liquidatable, target, eq)
    handful = max(3, round(n * HANDFUL_SHARE))
    under_t = mm * rng.uniform(*UNDER_RANGE, n)
    near_t = mm * rng.uniform(*NEAR_RANGE, n)
    eligible = (mm > 0) & ~coll.multi & (stable_amount * price[stable] + (under_t - eq) >= 0)
    big = eligible & (mm >= HANDFUL_MM_RANGE_USD[0]) & (mm <= HANDFUL_MM_RANGE_USD[1])
    # accounts with size first (random order); a small venue tops up with the largest MM
    rest = np.flatnonzero(eligible & ~big)
    cand = np.concatenate([rng.permutation(np.flatnonzero(big)), rest[np.argsort(-mm[rest], kind="stable")]])
    under, near = cand[:handful], cand[handful : 2 * handful]
    stable_amount[under] += (under_t[under] - eq[under]) / price[stable]
    stable_amount[near] += (near_t[near] - eq[near]) / price[stable]
    return stable_amount, iso_margin


def _options(params, prices, book, coll, stable_amount, iso_margin, *, seed: int, share: float):
    """The options book of ``generator_options`` (its own random stream), or ``None``."""
    if share <= 0:
        return None
    from riskgov.engine.accounts import collateral_value

    mk, ak = params.markets, params.assets
    state = _venue_state(prices, book, coll.extra_amount, stable_amount, iso_margin)
    collateral = collateral_value(params, state.portfolio, state.asset_prices)
    has_pos = np.unique(book.account)
    base_symbol = np.array(ak.symbols, dtype=object)[mk.base_asset[book.market]]
    other = ~np.isin(base_symbol, UNDERLYINGS)  # PM accounts trade only the options' underlyings
    cand = np.setdiff1d(has_pos, np.unique(book.account[book.isolated | other]))
    taken_at = datetime.fromisoformat(f"{prices.day}T23:59:59+00:00")
    window = {s: prices.window[:, c] for s, c in prices.col_of.items()}
    return options_book(
        np.random.default_rng([seed, 14]),
        params,
        price=prices.price,
        window=window,
        taken_at=taken_at,
        candidates=cand,
        n_accounts=book.n,
        account_value=book.value,
        perp_account=book.account,
        perp_underlying_symbol=np.array(ak.symbols, dtype=object)[mk.base_asset[book.market]],
        perp_size=book.size,
        perp_entry=book.entry,
        collateral=collateral,
        stable_price=float(prices.price[prices.stable]),
        share=share,
    )


def _meta(
    params: ParameterSet, prices: _PriceDay, book: _Book, *, seed: int, insurance_fund_usd: float | None
) -> dict[str, str]:
    """``snapshot.json``: the venue's label, the date and the insurance fund (5 % of OI by default)."""
    mk, n = params.markets, book.n
    oi = float(np.sum(np.maximum(book.size, 0.0) * prices.price_full[mk.base_asset[book.market]]))
    fund = INSURANCE_FUND_SHARE_OF_OI * oi if insurance_fund_usd is None else float(insurance_fund_usd)
    fund_text = decimal_strings(np.array([round(fund, 2)]), sig=20, max_places=2)[1][0].as_py()
    note = f"; {prices.skipped} markets without prices skipped" if prices.skipped else ""
    venue = f"Generated demo venue (seed {seed}, {n:,} accounts, prices of {prices.day}{note})"[:100]
    return {"format": FORMAT, "venue": venue, "taken_at": f"{prices.day}T23:59:59Z", "insurance_fund_usd": fund_text}

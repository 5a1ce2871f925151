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
  Hyperliquid does not list get half the smallest listed share;
* **accounts**: collateral value (after haircuts) is Pareto-tailed, ``(Pareto(1.2)+1)·250``
  USD (median ≈ 450 USD, mean ≈ 1,500 USD, a few whales at millions), clipped to
  ``[10, 5e7]``; 22 % of accounts hold collateral but no position; the others hold
  ``1 + Geometric`` distinct markets (mean ≈ 2, more for large accounts, at most 8);
* **leverage and size**: each position gets a Dirichlet share of its account's collateral as
  margin and a leverage ``~ LogNormal(ln 4, 0.9)`` (3 % of positions near the market's max),
  capped so that the leverage at entry never exceeds ``1/IMF`` of the bracket the entry
  notional falls in (RISK_MODEL §2; the OI scaling of §3 is not applied) and the notional
  stays under the market's max position notional. Hence, for every account, Σ IM at entry
  ≤ collateral value. The total open interest therefore follows from the collateral:
  about accounts × 1,500 USD × ~5 leverage × 78 % active ≈ 5–6k USD of notional per account;
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
  up with stablecoin to 1.3–2.5× MM (a real venue would have liquidated them); then a
  handful (0.05 % of the accounts, at least 3) are set just under MM (0.85–0.98×) and as
  many just above it (1.02–1.15×);
* **insurance fund**: 0.75 % of open interest (long notional at mark) unless given.

Values are written as plain decimals with 10–12 significant digits (sizes, prices,
amounts) and at most 10 decimals for USD margins, so the files are exact decimals.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date as date_cls
from pathlib import Path

import numpy as np
import pyarrow as pa
from django.conf import settings

from riskgov.core.exceptions import DomainError
from riskgov.engine.health import evaluate_health
from riskgov.engine.types import ParameterSet, Portfolio, VenueState
from riskgov.markets.selectors import price_matrix
from riskgov.snapshots.generator_files import decimal_strings, table_write, venue_tables
from riskgov.snapshots.validation import FORMAT

__all__ = ["generate_snapshot"]

PARETO_ALPHA = 1.2
EQUITY_SCALE_USD = 250.0
EQUITY_CLIP_USD = (10.0, 5e7)
IDLE_SHARE = 0.22
POSITIONS_GEOMETRIC_P = 0.5
MAX_POSITIONS = 8
LEVERAGE_MEDIAN = 4.0
LEVERAGE_SIGMA = 0.9
DEGEN_SHARE = 0.03
FREE_SHARE_ALPHA = 1.5
ENTRY_WINDOW_DAYS = 30
ENTRY_NOISE = 0.003
LONG_SHARE = 0.52
ISOLATED_SHARE = 0.05
MULTI_COLLATERAL_SHARE = 0.10
MULTI_COLLATERAL_ASSETS = ("BTC", "ETH", "USDC")
LIABILITY_SHARE = 0.10
TOPUP_RANGE = (1.3, 2.5)
HANDFUL_SHARE = 0.0005
UNDER_RANGE = (0.85, 0.98)
NEAR_RANGE = (1.02, 1.15)
INSURANCE_FUND_SHARE_OF_OI = 0.0075
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
) -> Path:
    """Write a generated ``riskgov.snapshot/1`` folder (see the module docstring).

    Args:
        out_dir: folder to create (or fill; existing snapshot files are overwritten).
        accounts: number of accounts (≥ 1).
        seed: random seed; same seed and data → same files.
        date: ``YYYY-MM-DD`` of the prices (default: the latest date every base asset has).
        params: parameter set (default: the active one, ``engine_parameters().params``).
        fmt: ``"csv"`` or ``"parquet"``.
        insurance_fund_usd: default 0.75 % of open interest.

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
    tables = venue_tables(params, prices, book, collateral, stable_amount=stable_amount, iso_margin=iso_margin)
    meta = _meta(params, prices, book, seed=seed, insurance_fund_usd=insurance_fund_usd)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("prices", "accounts", "balances", "positions"):
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
    free = rng.gamma(FREE_SHARE_ALPHA, size=n)
    total = np.bincount(account, weights=g, minlength=n) + free
    margin = value[account] * g / total[account]
    lev = np.exp(rng.normal(np.log(LEVERAGE_MEDIAN), LEVERAGE_SIGMA, n_pos))
    lev = np.maximum(lev, 0.2)
    imf1 = mk.imf[market, 0]
    degen = rng.random(n_pos) < DEGEN_SHARE
    lev = np.where(degen, rng.uniform(0.7, 1.0, n_pos) / imf1, lev)
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
    iso_margin = iso_margin + np.where(
        bad_iso,
        pmx.maintenance_margin * rng.uniform(*TOPUP_RANGE, n_pos) - pmx.isolated_equity,
        0.0,
    )
    mm, eq = am.cross_maintenance_margin, am.cross_equity
    target = mm * rng.uniform(*TOPUP_RANGE, n)
    stable_amount = stable_amount + np.where(am.cross_liquidatable, (target - eq) / price[stable], 0.0)
    eq = np.where(am.cross_liquidatable, target, eq)
    handful = max(3, round(n * HANDFUL_SHARE))
    under_t = mm * rng.uniform(*UNDER_RANGE, n)
    near_t = mm * rng.uniform(*NEAR_RANGE, n)
    eligible = (mm > 0) & ~coll.multi & (stable_amount * price[stable] + (under_t - eq) >= 0)
    cand = rng.permutation(np.flatnonzero(eligible))
    under, near = cand[:handful], cand[handful : 2 * handful]
    stable_amount[under] += (under_t[under] - eq[under]) / price[stable]
    stable_amount[near] += (near_t[near] - eq[near]) / price[stable]
    return stable_amount, iso_margin


def _meta(
    params: ParameterSet, prices: _PriceDay, book: _Book, *, seed: int, insurance_fund_usd: float | None
) -> dict[str, str]:
    """``snapshot.json``: the venue's label, the date and the insurance fund (0.75 % of OI by default)."""
    mk, n = params.markets, book.n
    oi = float(np.sum(np.maximum(book.size, 0.0) * prices.price_full[mk.base_asset[book.market]]))
    fund = INSURANCE_FUND_SHARE_OF_OI * oi if insurance_fund_usd is None else float(insurance_fund_usd)
    fund_text = decimal_strings(np.array([round(fund, 2)]), sig=20, max_places=2)[1][0].as_py()
    note = f"; {prices.skipped} markets without prices skipped" if prices.skipped else ""
    venue = f"Generated demo venue (seed {seed}, {n:,} accounts, prices of {prices.day}{note})"[:100]
    return {"format": FORMAT, "venue": venue, "taken_at": f"{prices.day}T23:59:59Z", "insurance_fund_usd": fund_text}

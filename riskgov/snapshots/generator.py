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
from datetime import date as date_cls
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from django.conf import settings

from riskgov.core.exceptions import DomainError
from riskgov.engine.health import evaluate_health
from riskgov.engine.types import ParameterSet, Portfolio, VenueState
from riskgov.markets.selectors import price_matrix
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


def _decimal_strings(values: np.ndarray, *, sig: int, max_places: int = 18) -> tuple[np.ndarray, pa.Array]:
    """Round to ``sig`` significant digits (at most ``max_places`` decimals) and write plain decimals.

    Returns the rounded float values and their exact decimal strings (vectorized: integer
    mantissa and decimals, then pyarrow string kernels).
    """
    v = np.asarray(values, dtype=np.float64)
    mag = np.floor(np.log10(np.where(v != 0, np.abs(v), 1.0))).astype(np.int64)
    places = np.clip(sig - 1 - mag, 0, max_places)
    scale = 10.0**places
    mant = np.rint(np.abs(v) * scale).astype(np.int64)
    pow10 = 10 ** places.astype(np.int64)
    ip, fp = np.divmod(mant, pow10)
    fp18 = fp * 10 ** (18 - places)
    frac = pc.utf8_lpad(pc.cast(pa.array(fp18), pa.string()), 18, "0")
    frac = pc.utf8_rtrim(frac, "0")
    sign = pc.if_else(pa.array((v < 0) & (mant != 0)), "-", "")
    text = pc.binary_join_element_wise(sign, pc.cast(pa.array(ip), pa.string()), "", "")
    text = pc.if_else(pc.equal(frac, ""), text, pc.binary_join_element_wise(text, frac, "."))
    rounded = np.sign(v) * (ip + fp / scale)
    return rounded, text


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


def _table_write(table: pa.Table, out: Path, name: str, fmt: str) -> None:
    if fmt == "parquet":
        pq.write_table(table, out / f"{name}.parquet")
    else:
        with (out / f"{name}.csv").open("wb") as fh:
            fh.write((",".join(table.column_names) + "\n").encode())
            pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))


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
    rng = np.random.default_rng(seed)
    mk, ak = params.markets, params.assets
    n = int(accounts)

    # ---- prices at the date, the 30-day window for entries
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

    # ---- accounts: collateral value, positions per account
    value = np.clip((rng.pareto(PARETO_ALPHA, n) + 1.0) * EQUITY_SCALE_USD, *EQUITY_CLIP_USD)
    active = rng.random(n) >= IDLE_SHARE
    k = rng.geometric(POSITIONS_GEOMETRIC_P, n) + np.maximum(0, np.floor(np.log10(value / 1e4))).astype(np.int64)
    k = np.where(active, np.minimum(k, min(MAX_POSITIONS, live.size)), 0)
    kmax = int(k.max(initial=0))

    # ---- distinct markets per account: Gumbel top-k on log Hyperliquid OI shares
    logw = np.log(_hl_weights([mk.symbols[i] for i in live.tolist()]))
    chosen = []
    for lo in range(0, n, _CHUNK):
        hi = min(n, lo + _CHUNK)
        keys = logw[None, :] + rng.gumbel(size=(hi - lo, live.size))
        top = np.argsort(-keys, axis=1)[:, :kmax]
        take = np.arange(kmax)[None, :] < k[lo:hi, None]
        chosen.append(live[top[take]])
    market = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
    account = np.repeat(np.arange(n), k)
    n_pos = market.size

    # ---- margin shares (Dirichlet with a free slot), leverage within the bracket limit
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

    # ---- entry prices from the real 30-day window, sizes at entry notional
    asset_of = mk.base_asset[market]
    cols = np.array([col_of.get(ak.symbols[a], -1) for a in range(ak.n)])[asset_of]
    day_pick = rng.integers(0, window.shape[0], n_pos)
    entry = window[day_pick, cols] * (1.0 + rng.normal(0.0, ENTRY_NOISE, n_pos))
    entry, entry_text = _decimal_strings(entry, sig=10)
    side = np.where(rng.random(n_pos) < LONG_SHARE, 1.0, -1.0)
    size, size_text = _decimal_strings(side * notional / entry, sig=10)
    iso_margin = np.where(isolated, margin, 0.0)

    # ---- collateral: cross value = value − isolated margins; composition
    cross_value = value - np.bincount(account, weights=iso_margin, minlength=n)
    multi = (rng.random(n) < MULTI_COLLATERAL_SHARE) & (extras.size > 0)
    liability = multi & (rng.random(n) < LIABILITY_SHARE)
    extra_share = np.where(multi, rng.uniform(0.3, 0.9, n), 0.0)
    debt = np.where(liability, rng.uniform(0.05, 0.3, n) * cross_value, 0.0)
    stable_amount = (cross_value * (1.0 - extra_share) - debt) / price[stable]
    if extras.size:
        w = rng.dirichlet(np.full(extras.size, 0.7), n)
        w = np.where(w < 0.1, 0.0, w)
        w = w / w.sum(axis=1, keepdims=True)
        extra_value = (cross_value * extra_share + debt)[:, None] * w
        extra_amount = extra_value / (price[extras] * (1.0 - ak.haircut[extras]))[None, :]
        extra_amount = np.where(multi[:, None], extra_amount, 0.0)
    else:
        extra_amount = np.zeros((n, 0))

    # ---- health at the snapshot's prices: top up, then a handful under / near MM
    def state_of(stable_amt: np.ndarray, iso_w: np.ndarray) -> VenueState:
        rows_a, rows_j = np.nonzero(extra_amount)
        portfolio = Portfolio(
            n_accounts=n,
            balance_account=np.concatenate([np.arange(n), rows_a]).astype(np.int64),
            balance_asset=np.concatenate([np.full(n, stable), extras[rows_j] if extras.size else []]).astype(np.int64),
            balance_amount=np.concatenate([stable_amt, extra_amount[rows_a, rows_j]]),
            position_account=account.astype(np.int64),
            position_market=market.astype(np.int64),
            size=size,
            entry_price=entry,
            isolated=isolated,
            isolated_margin=iso_w,
        )
        return VenueState(portfolio=portfolio, asset_prices=price_full)

    price_full = np.where(np.isfinite(price), price, 1.0)  # unused assets: any valid price
    health = evaluate_health(params, state_of(stable_amount, iso_margin), with_prices=False)
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
    eligible = (mm > 0) & ~multi & (stable_amount * price[stable] + (under_t - eq) >= 0)
    cand = rng.permutation(np.flatnonzero(eligible))
    under, near = cand[:handful], cand[handful : 2 * handful]
    stable_amount[under] += (under_t[under] - eq[under]) / price[stable]
    stable_amount[near] += (near_t[near] - eq[near]) / price[stable]

    # ---- exact strings
    _, stable_text = _decimal_strings(stable_amount, sig=12, max_places=10)
    iso_margin, iso_text = _decimal_strings(iso_margin, sig=12, max_places=10)
    rows_a, rows_j = np.nonzero(extra_amount)
    _, extra_text = _decimal_strings(extra_amount[rows_a, rows_j], sig=10)
    width = max(7, len(str(n)))
    ids = pc.binary_join_element_wise(
        "acct-", pc.utf8_lpad(pc.cast(pa.array(np.arange(1, n + 1)), pa.string()), width, "0"), ""
    )

    # prices: every asset used (stable, extras, bases of live markets), real close strings
    used_assets = sorted({stable, *extras.tolist(), *mk.base_asset[live].tolist()}, key=lambda i: ak.symbols[i])
    _, ptext = _decimal_strings(price[used_assets], sig=12)
    prices_t = pa.table({"asset": pa.array([ak.symbols[i] for i in used_assets]), "price": ptext})
    accounts_t = pa.table({"account_id": ids})
    # balances in account order: stable row, then extras
    b_acc = np.concatenate([np.arange(n), rows_a])
    b_asset = np.concatenate([np.full(n, stable), extras[rows_j] if extras.size else np.zeros(0, np.int64)]).astype(
        np.int64
    )
    b_text = pa.concat_arrays([stable_text, extra_text])
    b_order = np.argsort(b_acc, kind="stable")
    asset_names = pa.array(list(ak.symbols))
    balances_t = pa.table(
        {
            "account_id": ids.take(pa.array(b_acc[b_order])),
            "asset": asset_names.take(pa.array(b_asset[b_order])),
            "amount": b_text.take(pa.array(b_order)),
        }
    )
    market_names = pa.array(list(mk.symbols))
    positions_t = pa.table(
        {
            "account_id": ids.take(pa.array(account)),
            "market": market_names.take(pa.array(market)),
            "size": size_text,
            "entry_price": entry_text,
            "margin_mode": pc.if_else(pa.array(isolated), "isolated", "cross"),
            "isolated_margin": pc.if_else(pa.array(isolated), iso_text, pa.scalar(None, pa.string())),
        }
    )
    oi = float(np.sum(np.maximum(size, 0.0) * price_full[mk.base_asset[market]]))
    fund = INSURANCE_FUND_SHARE_OF_OI * oi if insurance_fund_usd is None else float(insurance_fund_usd)
    fund_text = _decimal_strings(np.array([round(fund, 2)]), sig=20, max_places=2)[1][0].as_py()
    note = f"; {skipped} markets without prices skipped" if skipped else ""
    venue = f"Generated demo venue (seed {seed}, {n:,} accounts, prices of {day}{note})"[:100]
    meta = {"format": FORMAT, "venue": venue, "taken_at": f"{day}T23:59:59Z", "insurance_fund_usd": fund_text}

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("prices", "accounts", "balances", "positions"):
        for ext in ("csv", "parquet"):
            (out / f"{stale}.{ext}").unlink(missing_ok=True)
    (out / "snapshot.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    _table_write(prices_t, out, "prices", fmt)
    _table_write(accounts_t, out, "accounts", fmt)
    _table_write(balances_t, out, "balances", fmt)
    _table_write(positions_t, out, "positions", fmt)
    return out

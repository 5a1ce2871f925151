"""Slow, obviously-correct reference for RISK_MODEL §2–§7, in exact rational arithmetic.

Written straight from the text of RISK_MODEL.md with ``fractions.Fraction`` and plain
Python loops over rows; it reads the engine's *input* dataclasses (``riskgov.engine.types``,
the data contract) but reuses no engine code: maintenance amounts, brackets, OI scaling,
collateral, account sums and liquidation prices are all recomputed here. Every float input
is converted exactly (``Fraction(float)``), so the results are the exact values the float64
engine approximates.

Conventions for isolated positions follow the documented engine decisions
(``riskgov/engine/margin.py`` module docstring): cross fields are the §5 numbers; reported
totals add isolated ``w_i + uPnL_i``, ``IM_i``, ``MM_i``; shortfall is
``max(0, −E_cross) + Σ max(0, −E_i)``.

Also holds the test builders: ``random_case`` (the seeded generator of small random venues
used by the exact and property tests) and ``params``/``state`` for hand-written cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from riskgov.engine.brackets import build_parameter_set
from riskgov.engine.types import AssetSpec, MarketSpec, ParameterSet, Portfolio, VenueState

Q = Fraction


@dataclass
class RefPosition:
    notional: Fraction
    bracket: int  # 0-based
    imf: Fraction
    initial_margin: Fraction
    maintenance_margin: Fraction
    upnl: Fraction
    limit_breach: bool
    isolated_equity: Fraction  # 0 for cross
    isolated_liquidatable: bool
    liquidation_price: Fraction | None
    bankruptcy_price: Fraction | None


@dataclass
class RefAccount:
    collateral: Fraction
    cross_equity: Fraction
    cross_mm: Fraction
    cross_im: Fraction
    equity: Fraction
    initial_margin: Fraction
    maintenance_margin: Fraction
    notional: Fraction
    shortfall: Fraction
    cross_liquidatable: bool
    liquidatable: bool
    bankrupt: bool
    margin_ratio: Fraction | None  # None = infinity
    health_factor: Fraction | None  # None = infinity
    # absolute size of the terms summed into equity, to judge float ties
    equity_scale: Fraction


def _table(params: ParameterSet, m: int) -> tuple[list, list, list, list]:
    """Real brackets of market m as Fractions, with C_k derived from §2."""
    mk = params.markets
    nb = int(mk.n_brackets[m])
    floors = [Q(float(mk.floors[m, j])) for j in range(nb)]
    imf = [Q(float(mk.imf[m, j])) for j in range(nb)]
    mmf = [Q(float(mk.mmf[m, j])) for j in range(nb)]
    cum = [Q(0)]
    for j in range(1, nb):
        cum.append(cum[j - 1] + floors[j] * (mmf[j] - mmf[j - 1]))
    return floors, imf, mmf, cum


def _bracket(floors: list, n: Fraction) -> int:
    k = 0
    for j, f in enumerate(floors):
        if f <= n:
            k = j
    return k


def reference(params: ParameterSet, state: VenueState) -> tuple[list, list]:
    """Exact position and account results; returns ``(positions, accounts)`` lists."""
    pf = state.portfolio
    mk = params.markets
    n_m = mk.n
    prices = [Q(float(x)) for x in state.asset_prices]
    tables = [_table(params, m) for m in range(n_m)]
    mark = [prices[int(mk.base_asset[m])] for m in range(n_m)]

    # §3 open interest: (sum of long sizes) * p, unless given.
    if state.open_interest is not None:
        oi = [Q(float(x)) for x in state.open_interest]
    else:
        long_size = [Q(0)] * n_m
        for i in range(pf.n_positions):
            qi = Q(float(pf.size[i]))
            if qi > 0:
                m = int(pf.position_market[i])
                long_size[m] += qi
        oi = [long_size[m] * mark[m] for m in range(n_m)]

    # §2, §3, §5, §6 per position
    rows = []
    for i in range(pf.n_positions):
        m = int(pf.position_market[i])
        floors, imf, mmf, cum = tables[m]
        q = Q(float(pf.size[i]))
        e = Q(float(pf.entry_price[i]))
        p = mark[m]
        n = abs(q) * p
        k = _bracket(floors, n)
        mm = n * mmf[k] - cum[k]
        imf_adj = imf[k]
        lo, hi = Q(float(mk.oi_cap_lower[m])), Q(float(mk.oi_cap_upper[m]))
        if hi != 0:
            t = (oi[m] - lo) / (hi - lo)
            t = min(max(t, Q(0)), Q(1))
            imf_adj = imf[k] + (1 - imf[k]) * t
        iso = bool(pf.isolated[i])
        upnl = q * (p - e)
        w = Q(float(pf.isolated_margin[i])) if iso else Q(0)
        e_iso = w + upnl if iso else Q(0)
        max_n = float(mk.max_position_notional[m])
        rows.append(
            dict(
                m=m,
                q=q,
                e=e,
                iso=iso,
                w=w,
                notional=n,
                bracket=k,
                imf=imf_adj,
                im=n * imf_adj,
                mm=mm,
                upnl=upnl,
                breach=(max_n != float("inf") and n > Q(max_n)),
                e_iso=e_iso,
                iso_liq=iso and mm > 0 and e_iso < mm,
            )
        )

    # §4 collateral
    n_a = pf.n_accounts
    coll = [Q(0)] * n_a
    coll_abs = [Q(0)] * n_a
    for b in range(pf.n_balances):
        a = int(pf.balance_account[b])
        s = int(pf.balance_asset[b])
        amt = Q(float(pf.balance_amount[b]))
        if amt > 0:
            v = amt * prices[s] * (1 - Q(float(params.assets.haircut[s])))
        else:
            v = amt * prices[s]
        coll[a] += v
        coll_abs[a] += abs(v)

    # §5, §6 per account
    by_acc: list[list[int]] = [[] for _ in range(n_a)]
    for i in range(pf.n_positions):
        by_acc[int(pf.position_account[i])].append(i)
    accounts = []
    for a in range(n_a):
        cross = [rows[i] for i in by_acc[a] if not rows[i]["iso"]]
        isos = [rows[i] for i in by_acc[a] if rows[i]["iso"]]
        e_cross = coll[a] + sum((r["upnl"] for r in cross), Q(0))
        mm_cross = sum((r["mm"] for r in cross), Q(0))
        im_cross = sum((r["im"] for r in cross), Q(0))
        equity = e_cross + sum((r["e_iso"] for r in isos), Q(0))
        mm = mm_cross + sum((r["mm"] for r in isos), Q(0))
        im = im_cross + sum((r["im"] for r in isos), Q(0))
        notional = sum((r["notional"] for r in cross + isos), Q(0))
        shortfall = max(Q(0), -e_cross) + sum((max(Q(0), -r["e_iso"]) for r in isos), Q(0))
        cross_liq = mm_cross > 0 and e_cross < mm_cross
        if mm == 0:
            ratio: Fraction | None = Q(0)
        elif equity <= 0:
            ratio = None
        else:
            ratio = mm / equity
        scale = coll_abs[a] + sum((abs(r["upnl"]) + r["w"] for r in cross + isos), Q(0))
        accounts.append(
            RefAccount(
                collateral=coll[a],
                cross_equity=e_cross,
                cross_mm=mm_cross,
                cross_im=im_cross,
                equity=equity,
                initial_margin=im,
                maintenance_margin=mm,
                notional=notional,
                shortfall=shortfall,
                cross_liquidatable=cross_liq,
                liquidatable=cross_liq or any(r["iso_liq"] for r in isos),
                bankrupt=shortfall > 0,
                margin_ratio=ratio,
                health_factor=None if mm == 0 else equity / mm,
                equity_scale=scale,
            )
        )

    # §7 liquidation and bankruptcy prices
    positions = []
    for i in range(pf.n_positions):
        r = rows[i]
        a = int(pf.position_account[i])
        if r["iso"]:
            w, mm_o = r["w"], Q(0)
        else:
            w = accounts[a].cross_equity - r["upnl"]
            mm_o = accounts[a].cross_mm - r["mm"]
        q, e = r["q"], r["e"]
        floors, _, mmf, cum = tables[r["m"]]
        liq = None
        found = []
        if q != 0:
            for k in range(len(floors)):
                p = (w - mm_o + cum[k] - q * e) / (abs(q) * mmf[k] - q)
                upper = floors[k + 1] if k + 1 < len(floors) else None
                n = abs(q) * p
                if n >= floors[k] and (upper is None or n < upper):
                    found.append(p)
            assert len(found) <= 1, "RISK_MODEL §7: at most one bracket is consistent"
            if found and found[0] > 0:
                liq = found[0]
        bk = None
        if q != 0:
            pb = e - w / q
            bk = pb if pb > 0 else None
        positions.append(
            RefPosition(
                notional=r["notional"],
                bracket=r["bracket"],
                imf=r["imf"],
                initial_margin=r["im"],
                maintenance_margin=r["mm"],
                upnl=r["upnl"],
                limit_breach=r["breach"],
                isolated_equity=r["e_iso"],
                isolated_liquidatable=r["iso_liq"],
                liquidation_price=liq,
                bankruptcy_price=bk,
            )
        )
    return positions, accounts


# --------------------------------------------------------------------------- generator

#: Binance BTCUSDT-like tiers (floors USD, IMF = 1/max leverage, MMF).
BTC_FLOORS = [0, 50_000, 250_000, 1_000_000, 10_000_000, 20_000_000, 50_000_000]
BTC_IMF = [0.008, 0.01, 0.02, 0.05, 0.1, 0.2, 0.25]
BTC_MMF = [0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.125]


def random_case(seed: int, *, plug_back_safe: bool = False, n_accounts: int = 30) -> tuple:
    """A small random venue: ``(params, state)``.

    Several bracket tables (7-tier BTC, 3-tier ETH with OI scaling, 2-tier SOL with a max
    position notional, and a 1-tier second BTC market), five assets with haircuts, negative
    balances, isolated positions, empty accounts and the odd zero-size position.

    With ``plug_back_safe``: every market has its own base asset, collateral is USDT/DAI
    only, and an account holds at most one position per market — so moving one market's
    price moves nothing else in that account (what §7 holds fixed).
    """
    rng = np.random.default_rng(seed)
    jitter = rng.uniform(0.8, 1.2)
    btc_mmf = [round(x * jitter, 6) for x in BTC_MMF]
    assets = [
        AssetSpec("USDT", 0.0, True),
        AssetSpec("BTC", 0.05),
        AssetSpec("ETH", 0.1),
        AssetSpec("SOL", 0.25),
        AssetSpec("DAI", 0.02, True),
    ]
    markets = [
        MarketSpec("BTC-PERP", "BTC", BTC_FLOORS, BTC_IMF, btc_mmf, liquidation_penalty=0.002),
        MarketSpec(
            "ETH-PERP",
            "ETH",
            [0, 200_000, 2_000_000],
            [0.02, 0.04, 0.1],
            [0.01, 0.02, 0.05],
            oi_cap_lower=float(rng.choice([0.0, 1e6])),
            oi_cap_upper=float(rng.choice([0.0, 2e7, 5e7])),
        ),
        MarketSpec(
            "SOL-PERP",
            "SOL",
            [0, 100_000],
            [0.05, 0.1],
            [0.025, 0.05],
            max_position_notional=2_000_000,
        ),
    ]
    if not plug_back_safe:
        markets.append(MarketSpec("BTC-QTR", "BTC", [0], [0.05], [0.02]))
    params = build_parameter_set(assets=assets, markets=markets)
    prices = np.array(
        [
            1.0,
            rng.uniform(2e4, 1e5),
            rng.uniform(1e3, 5e3),
            rng.uniform(10, 300),
            rng.uniform(0.98, 1.01),
        ]
    )
    n_m = len(markets)
    market_price = prices[params.markets.base_asset]

    pa, pm, size, entry, iso, wmargin = [], [], [], [], [], []
    ba, bs, bamt = [], [], []
    for a in range(n_accounts):
        if rng.random() < 0.1:
            continue  # empty account: no rows at all
        k = int(rng.integers(0, 5))
        mkts = rng.choice(n_m, size=min(k, n_m), replace=False) if plug_back_safe else rng.integers(0, n_m, size=k)
        total_n = 0.0
        for m in mkts:
            n = float(np.exp(rng.uniform(np.log(10), np.log(3e7))))
            sign = 1.0 if rng.random() < 0.5 else -1.0
            q = sign * n / market_price[m]
            if rng.random() < 0.02:
                q = 0.0
            is_iso = rng.random() < 0.25
            pa.append(a)
            pm.append(int(m))
            size.append(q)
            entry.append(market_price[m] * float(np.exp(rng.normal(0, 0.06))))
            iso.append(is_iso)
            wmargin.append(n * rng.uniform(0.002, 0.12) if is_iso else 0.0)
            total_n += n
        scale = total_n + 1000.0
        assets_for_collateral = [0, 4] if plug_back_safe else [0, 1, 2, 3, 4]
        for s in rng.choice(assets_for_collateral, size=int(rng.integers(0, 3)), replace=False):
            usd = scale * rng.uniform(-0.04, 0.12)
            ba.append(a)
            bs.append(int(s))
            bamt.append(usd / prices[s])
    pf = Portfolio(
        n_accounts=n_accounts,
        balance_account=np.array(ba, dtype=np.int64),
        balance_asset=np.array(bs, dtype=np.int64),
        balance_amount=np.array(bamt, dtype=np.float64),
        position_account=np.array(pa, dtype=np.int64),
        position_market=np.array(pm, dtype=np.int64),
        size=np.array(size, dtype=np.float64),
        entry_price=np.array(entry, dtype=np.float64),
        isolated=np.array(iso, dtype=np.bool_),
        isolated_margin=np.array(wmargin, dtype=np.float64),
    )
    oi = None
    if not plug_back_safe and rng.random() < 0.3:
        oi = rng.uniform(0, 6e7, n_m)
    return params, VenueState(pf, prices, float(rng.uniform(0, 1e6)), oi)


# --------------------------------------------------------------------------- hand-written cases

#: Binance BTCUSDT-like first four tiers: maintenance amounts 0, 50, 1300, 16300.
BTC = MarketSpec(
    "BTC-PERP",
    "BTC",
    floors=[0, 50_000, 250_000, 1_000_000],
    imf=[0.008, 0.01, 0.02, 0.05],
    mmf=[0.004, 0.005, 0.01, 0.025],
)
ETH = MarketSpec("ETH-PERP", "ETH", floors=[0], imf=[0.02], mmf=[0.01])
ASSETS = [AssetSpec("USDT", 0.0, True), AssetSpec("BTC", 0.05), AssetSpec("ETH", 0.1)]


def params(*markets: MarketSpec) -> ParameterSet:
    return build_parameter_set(assets=ASSETS, markets=list(markets) or [BTC, ETH])


def state(
    *,
    n_accounts: int,
    balances: Sequence[tuple[int, int, float]] = (),
    positions: Sequence[tuple] = (),
    prices: Sequence[float] = (1.0, 30_000.0, 2_000.0),
    insurance_fund: float = 0.0,
    open_interest: Sequence[float] | None = None,
) -> VenueState:
    """positions: (account, market, size, entry) or (account, market, size, entry, w)."""
    pos = [tuple(p) + ((None,) if len(p) == 4 else ()) for p in positions]
    pf = Portfolio(
        n_accounts=n_accounts,
        balance_account=np.array([b[0] for b in balances], dtype=np.int64),
        balance_asset=np.array([b[1] for b in balances], dtype=np.int64),
        balance_amount=np.array([b[2] for b in balances], dtype=np.float64),
        position_account=np.array([p[0] for p in pos], dtype=np.int64),
        position_market=np.array([p[1] for p in pos], dtype=np.int64),
        size=np.array([p[2] for p in pos], dtype=np.float64),
        entry_price=np.array([p[3] for p in pos], dtype=np.float64),
        isolated=np.array([p[4] is not None for p in pos], dtype=np.bool_),
        isolated_margin=np.array([p[4] or 0.0 for p in pos], dtype=np.float64),
    )
    oi = None if open_interest is None else np.array(open_interest, dtype=np.float64)
    return VenueState(pf, np.array(prices, dtype=np.float64), insurance_fund, oi)

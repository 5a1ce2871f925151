"""The generator's options book: portfolio-margin accounts with options (RISK_MODEL §14).

**Generated data, not a venue's.** ``generate_snapshot(..., pm_share=s)`` turns ``s`` × the
account count, drawn among the accounts whose positions are all cross and on BTC or ETH,
into ``portfolio`` margin mode (their perps are then margined by PM, §14) and gives each an options book on BTC and ETH (those of
them in the parameter set with a price); ``pm_share = 0`` (the default) writes no option
file, so existing seeds keep their exact files. The draws come from their own random stream
(``default_rng([seed, 14])``), after every other draw.

* **expiries**: the next two Fridays and the last Friday of the next three months, 08:00 UTC
  (Deribit's schedule), five in all;
* **strikes by delta**: per expiry, the strikes of call deltas 0.10 … 0.90
  (``K = F·exp(σ²T/2 − σ√T·N⁻¹(Δ))``, forward = spot, rate 0) rounded to a grid of
  ``10^⌊log10 S⌋/40`` (250 USD for BTC near 95,000), so the book sits around the money;
* **smile**: ``σ(K) = σ_atm(T)·(1 − 0.15·x + 0.6·x²)``, ``x = ln(K/F)``, floored at 10 %; the
  ATM level is the underlying's 30-day realised vol × 1.1 (clipped to 30–150 %) with a term
  structure ``× (1 + 0.15·(30/DTE)^0.3)`` (short expiries richer); every series (call and
  put at every strike) has a mark;
* **strategies** (one per account, by share): covered call 30 % (short 0.25-delta call over
  a long perp), short put 20 %, long straddle 20 %, risk reversal 15 % (long 0.25-delta call,
  short 0.25-delta put), call spread 15 %; size ``value·LogNormal(0, 0.5)/S`` base units
  (at least one contract of 0.1 BTC or 1 ETH); entry premium = model value
  ``× (1 + N(0, 5 %))``;
* **health**: each account's PM margin with the default (Deribit BTC) parameters is
  computed by the engine and the stablecoin topped up so that equity is 1.3–3× IM.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
from scipy.special import ndtr, ndtri

from riskgov.engine.options import black76_price
from riskgov.engine.portfolio_margin import PMBook, PMMarket, PMParams, portfolio_margin
from riskgov.engine.types import ParameterSet

__all__ = ["UNDERLYINGS", "OptionsBook", "options_book"]

UNDERLYINGS = ("BTC", "ETH")
DELTAS = (0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9)
SMILE = (-0.15, 0.6)
VOL_FLOOR = 0.1
ATM_RANGE = (0.3, 1.5)
STRATEGIES = ("covered_call", "short_put", "straddle", "risk_reversal", "call_spread")
STRATEGY_SHARES = (0.3, 0.2, 0.2, 0.15, 0.15)
MIN_SIZE = {"BTC": 0.1, "ETH": 1.0}
EQUITY_OVER_IM = (1.3, 3.0)
_YEAR = 365.0 * 86400.0


@dataclass(frozen=True)
class OptionsBook:
    """The drawn book. ``portfolio`` ``(A,)`` bool; ``stable_topup`` ``(A,)`` stable units;
    ``options`` the ``options.csv`` columns but ``account_id`` (the caller fills it from
    ``option_account``); ``marks`` the ``option_marks.csv`` table; ``covered_perps`` the long
    perps of the covered calls (``account``, ``underlying`` symbol, ``size``, ``entry``)."""

    portfolio: np.ndarray
    stable_topup: np.ndarray
    option_account: np.ndarray
    options: dict
    marks: pa.Table
    covered_perps: dict


def _expiries(taken_at: datetime) -> list[datetime]:
    day = taken_at.replace(hour=8, minute=0, second=0, microsecond=0)
    fridays = [day + timedelta(days=d) for d in range(1, 120) if (day + timedelta(days=d)).weekday() == 4]
    weekly = fridays[:2]
    monthly = []
    for f, nxt in zip(fridays, fridays[1:], strict=False):
        if f.month != nxt.month and f not in weekly:
            monthly.append(f)
    return sorted(set(weekly + monthly[:3]))


def _grid(spot: float) -> float:
    return 10.0 ** np.floor(np.log10(spot)) / 40.0


def options_book(
    rng: np.random.Generator,
    params: ParameterSet,
    *,
    price: np.ndarray,
    window: dict[str, np.ndarray],
    taken_at: datetime,
    candidates: np.ndarray,
    n_accounts: int,
    account_value: np.ndarray,
    perp_account: np.ndarray,
    perp_underlying_symbol: np.ndarray,
    perp_size: np.ndarray,
    perp_entry: np.ndarray,
    collateral: np.ndarray,
    stable_price: float,
    share: float,
) -> OptionsBook | None:
    """Draw the options book (module docstring); ``None`` when no underlying has a price.

    Args:
        price: ``(A_params,)`` USD price per parameter-set asset (NaN: none).
        window: ``{symbol: (days,) closes}`` of the entry window (realised vol).
        candidates: ``(C,)`` account indices that may become portfolio-mode.
        account_value, collateral: ``(A,)`` USD collateral value drawn / after health.
        perp_*: the venue's perp rows (account, underlying symbol, size, entry).
    """
    ak = params.assets
    unds = [s for s in UNDERLYINGS if s in ak.symbols and np.isfinite(price[ak.index(s)])]
    if not unds or share <= 0 or not candidates.size:
        return None
    expiries = _expiries(taken_at)
    t_of = np.array([(e - taken_at).total_seconds() / _YEAR for e in expiries])
    # series: per underlying × expiry × strike, call and put
    rows = []  # (und i, expiry j, strike, vol)
    for ui, u in enumerate(unds):
        spot = float(price[ak.index(u)])
        closes = window.get(u)
        rv = float(np.std(np.diff(np.log(closes))) * np.sqrt(365.0)) if closes is not None and closes.size > 2 else 0.6
        atm = float(np.clip(1.1 * rv, *ATM_RANGE))
        for j, t in enumerate(t_of):
            atm_t = atm * (1.0 + 0.15 * (30.0 / (365.0 * t)) ** 0.3)
            z = ndtri(np.array(DELTAS))
            k = spot * np.exp(0.5 * atm_t**2 * t - atm_t * np.sqrt(t) * z)
            g = _grid(spot)
            for strike in sorted(set((np.maximum(1, np.rint(k / g)) * g).tolist())):
                x = np.log(strike / spot)
                vol = max(VOL_FLOOR, atm_t * (1.0 + SMILE[0] * x + SMILE[1] * x * x))
                rows.append((ui, j, strike, round(vol, 4)))
    s_und = np.array([r[0] for r in rows], dtype=np.int64)
    s_exp = np.array([r[1] for r in rows], dtype=np.int64)
    s_k = np.array([r[2] for r in rows])
    s_vol = np.array([r[3] for r in rows])
    spot_u = np.array([float(price[ak.index(u)]) for u in unds])

    n_pm = max(1, round(share * n_accounts))
    chosen = np.sort(rng.choice(candidates, size=min(n_pm, candidates.size), replace=False))
    strategy = rng.choice(len(STRATEGIES), size=chosen.size, p=STRATEGY_SHARES)
    acc_und = rng.integers(0, len(unds), size=chosen.size)
    acc_exp = rng.integers(0, len(expiries), size=chosen.size)
    lev = rng.lognormal(0.0, 0.5, size=chosen.size)
    noise = rng.normal(0.0, 0.05, size=4 * chosen.size)

    def strike_at(ui: int, j: int, delta: float) -> float:
        sel = np.flatnonzero((s_und == ui) & (s_exp == j))
        t = t_of[j]
        vol = s_vol[sel]
        d1 = (np.log(spot_u[ui] / s_k[sel]) + 0.5 * vol**2 * t) / (vol * np.sqrt(t))
        return float(s_k[sel][np.argmin(np.abs(ndtr(d1) - delta))])

    o_acc, o_ser, o_call, o_size = [], [], [], []
    extra_perp = []  # (account, und, size) long perps of covered calls
    for i, a in enumerate(chosen.tolist()):
        ui, j = int(acc_und[i]), int(acc_exp[i])
        u = unds[ui]
        q = max(MIN_SIZE[u], round(float(account_value[a]) * lev[i] / spot_u[ui], 1 if u == "BTC" else 0))
        legs = {
            "covered_call": [(0.25, True, -q)],
            "short_put": [(0.75, False, -q)],  # call delta 0.75 ⇔ put delta −0.25
            "straddle": [(0.5, True, q), (0.5, False, q)],
            "risk_reversal": [(0.25, True, q), (0.75, False, -q)],
            "call_spread": [(0.4, True, q), (0.1, True, -q)],
        }[STRATEGIES[int(strategy[i])]]
        if STRATEGIES[int(strategy[i])] == "covered_call":
            extra_perp.append((a, ui, q))
        for delta, call, size in legs:
            k = strike_at(ui, j, delta)
            ser = int(np.flatnonzero((s_und == ui) & (s_exp == j) & (s_k == k))[0])
            o_acc.append(a)
            o_ser.append(ser)
            o_call.append(call)
            o_size.append(size)
    o_acc = np.array(o_acc, dtype=np.int64)
    o_ser = np.array(o_ser, dtype=np.int64)
    o_call = np.array(o_call, dtype=bool)
    o_size = np.array(o_size)
    t_o = t_of[s_exp[o_ser]]
    spot_o = spot_u[s_und[o_ser]]
    value = black76_price(
        is_call=o_call, forward=spot_o, strike=s_k[o_ser], vol=s_vol[o_ser], t=t_o, discount=1.0, spot=spot_o
    )
    entry = np.maximum(0.0, value * (1.0 + noise[: o_acc.size]))

    # PM margin of each chosen account (default parameters) → top up to 1.3–3× IM
    portfolio = np.zeros(n_accounts, dtype=bool)
    portfolio[chosen] = True
    local = -np.ones(n_accounts, dtype=np.int64)
    local[chosen] = np.arange(chosen.size)
    in_pm = portfolio[perp_account] & np.isin(perp_underlying_symbol, unds)
    p_acc = np.concatenate([local[perp_account[in_pm]], local[[e[0] for e in extra_perp]].astype(np.int64)])
    p_und = np.concatenate(
        [np.array([unds.index(s) for s in perp_underlying_symbol[in_pm]], dtype=np.int64), [e[1] for e in extra_perp]]
    ).astype(np.int64)
    p_q = np.concatenate([perp_size[in_pm], [e[2] for e in extra_perp]])
    p_e = np.concatenate([perp_entry[in_pm], spot_u[[e[1] for e in extra_perp]].reshape(-1)])
    # one series per (strike, expiry, kind): calls and puts are distinct series
    market_cp = PMMarket(
        symbols=tuple(unds),
        spot=spot_u,
        params=tuple(PMParams() for _ in unds),
        series_underlying=np.concatenate([s_und, s_und]),
        series_is_call=np.concatenate([np.ones(s_und.size, bool), np.zeros(s_und.size, bool)]),
        series_strike=np.concatenate([s_k, s_k]),
        series_t=np.concatenate([t_of[s_exp], t_of[s_exp]]),
        series_forward=np.concatenate([spot_u[s_und], spot_u[s_und]]),
        series_discount=np.ones(2 * s_und.size),
        series_vol=np.concatenate([s_vol, s_vol]),
    )
    series_cp = np.where(o_call, o_ser, o_ser + s_und.size)
    pm = portfolio_margin(
        market=market_cp,
        book=PMBook(
            n_accounts=chosen.size,
            option_account=local[o_acc],
            option_series=series_cp,
            option_size=o_size,
            perp_account=p_acc,
            perp_underlying=p_und,
            perp_size=p_q,
            perp_entry_price=p_e,
            collateral=collateral[chosen],
        ),
    )
    target = pm.initial_margin_account * rng.uniform(*EQUITY_OVER_IM, size=chosen.size)
    topup = np.zeros(n_accounts)
    topup[chosen] = np.maximum(0.0, target - pm.equity) / stable_price

    exp_text = [e.strftime("%Y-%m-%dT%H:%M:%SZ") for e in expiries]
    strike_text = [format(float(k), ".12g") for k in s_k]
    marks = pa.table(
        {
            "underlying": pa.array([unds[u] for u in s_und] * 2),
            "expiry": pa.array([exp_text[j] for j in s_exp] * 2),
            "strike": pa.array(strike_text * 2),
            "kind": pa.array(["call"] * s_und.size + ["put"] * s_und.size),
            "mark_iv": pa.array([format(v, ".4f") for v in s_vol] * 2),
        }
    )
    order = np.argsort(o_acc, kind="stable")
    options = {
        "underlying": pa.array([unds[s_und[s]] for s in o_ser[order]]),
        "expiry": pa.array([exp_text[s_exp[s]] for s in o_ser[order]]),
        "strike": pa.array([strike_text[s] for s in o_ser[order]]),
        "kind": pa.array(["call" if c else "put" for c in o_call[order]]),
        "size": pa.array([format(q, ".10g") for q in o_size[order]]),
        "entry_price": pa.array([format(round(float(e), 6), ".6f") for e in entry[order]]),
    }
    extra = {
        "account": np.array([e[0] for e in extra_perp], dtype=np.int64),
        "underlying": [unds[e[1]] for e in extra_perp],
        "size": np.array([e[2] for e in extra_perp]),
        "entry": spot_u[[e[1] for e in extra_perp]].reshape(-1),
    }
    return OptionsBook(
        portfolio=portfolio,
        stable_topup=topup,
        option_account=o_acc[order],
        options=options,
        marks=marks,
        covered_perps=extra,
    )

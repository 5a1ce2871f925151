"""The margin simulator's pure core: ``riskgov.margin_request/1`` → ``riskgov.margin_result/1``.

FORMATS.md "Margin simulation"; the numbers follow RISK_MODEL §14 (PM), §4 (collateral), §5.
``simulate_margin(request)`` takes the parsed JSON document (a ``dict``) and returns the
result document (a ``dict`` ready for ``json.dumps``); bad input raises
``MarginRequestError`` whose message is one line ``<field path>: <why>`` (e.g.
``options[2].strike: must be > 0``), which the command prints after ``invalid request: `` and
the API returns with status 400.

Why here: it is a pure function of a dict (no files, no database, no Django), it needs only
the engine, and both front ends (``manage.py simulate_margin`` and
``POST /api/v1/margin/simulate``) must answer identically, so they call this one function
and keep only reading/writing and the active parameters (``active_pm``) for themselves.

Request numbers are decimal strings (FORMATS.md) or JSON numbers; result numbers are JSON
numbers (float64, as ``riskgov.health/1``), ``null`` for an infinite margin ratio and for no
liquidation move. Times are ISO 8601 UTC; ``T = (expiry − as_of)/(365·86400 s)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np

from riskgov.engine.portfolio_margin import (
    VOL_NAMES,
    PMBook,
    PMMarket,
    PMParams,
    liquidation_move,
    pm_collateral,
    portfolio_margin,
    scenario_grid,
)
from riskgov.engine.types import AssetParams, EngineInputError, MarketParams, ParameterSet, Portfolio

__all__ = ["REQUEST_FORMAT", "RESULT_FORMAT", "MarginRequestError", "parse_pm_params", "simulate_margin"]

REQUEST_FORMAT = "riskgov.margin_request/1"
RESULT_FORMAT = "riskgov.margin_result/1"
#: assets valued at 1 USD with no haircut when the request gives no price (§4)
USD_STABLES = frozenset({"USD", "USDT", "USDC", "DAI", "FDUSD", "USDE", "PYUSD", "TUSD", "BUSD", "USDS"})
_SECONDS_PER_YEAR = 365.0 * 86400.0
_PM_FIELDS = (
    "price_range",
    "buckets",
    "vol_range_up",
    "vol_range_down",
    "short_term_vega_power",
    "long_term_vega_power",
    "dte_floor_days",
    "min_vol_for_shock_up",
    "extended",
    "mm_factor",
    "short_option_contingency",
    "perp_contingency",
    "scenarios",
)


class MarginRequestError(ValueError):
    """A bad margin request; the message is ``<field path>: <why>`` on one line."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{path}: {why}")
        self.path = path
        self.why = why


# --------------------------------------------------------------------------- field readers


def _obj(value: Any, path: str, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    if not isinstance(value, dict):
        raise MarginRequestError(path or "request", "must be an object")
    for key in required:
        if key not in value:
            raise MarginRequestError(_join(path, key), "is required")
    unknown = sorted(set(value) - set(required) - set(optional))
    if unknown:
        raise MarginRequestError(_join(path, unknown[0]), "unknown field")
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _list(value: Any, path: str) -> list:
    if not isinstance(value, list):
        raise MarginRequestError(path, "must be a list")
    return value


def _number(value: Any, path: str, *, positive: bool = False, nonneg: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise MarginRequestError(path, "must be a decimal string or a number")
    if isinstance(value, str):
        try:
            x = float(Decimal(value.strip()))
        except (InvalidOperation, ValueError):
            raise MarginRequestError(path, f"not a decimal: {value!r}") from None
    else:
        x = float(value)
    if not math.isfinite(x):
        raise MarginRequestError(path, "must be finite")
    if positive and not x > 0:
        raise MarginRequestError(path, "must be > 0")
    if nonneg and not x >= 0:
        raise MarginRequestError(path, "must be ≥ 0")
    return x


def _string(value: Any, path: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MarginRequestError(path, "must be a non-empty string")
    return value.strip()


def _time(value: Any, path: str) -> datetime:
    text = _string(value, path)
    try:
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MarginRequestError(path, f"not an ISO 8601 time: {text!r}") from None
    if t.tzinfo is None:
        raise MarginRequestError(path, "must say its time zone (UTC)")
    return t.astimezone(UTC)


def parse_pm_params(value: Any, path: str) -> PMParams:
    """§14 parameters from a request's ``pm`` object; missing fields take the defaults.

    ``extended``: ``[{"move", "weight"}]`` (or ``[move, weight]`` pairs); ``scenarios``:
    ``[{"move", "vol", "weight"}]`` (or triples) or ``null`` for the grid.
    """
    obj = _obj(value, path, (), _PM_FIELDS)
    kw: dict[str, Any] = {}
    for key in _PM_FIELDS:
        if key not in obj:
            continue
        p = _join(path, key)
        raw = obj[key]
        if key == "buckets":
            x = _number(raw, p)
            if x != int(x):
                raise MarginRequestError(p, "must be an integer")
            kw[key] = int(x)
        elif key == "extended":
            rows = []
            for i, row in enumerate(_list(raw, p)):
                rp = f"{p}[{i}]"
                if isinstance(row, list):
                    if len(row) != 2:
                        raise MarginRequestError(rp, "must be [move, weight]")
                    row = {"move": row[0], "weight": row[1]}
                row = _obj(row, rp, ("move", "weight"))
                rows.append((_number(row["move"], f"{rp}.move"), _number(row["weight"], f"{rp}.weight")))
            kw[key] = tuple(rows)
        elif key == "scenarios":
            if raw is None:
                continue
            rows = []
            for i, row in enumerate(_list(raw, p)):
                rp = f"{p}[{i}]"
                if isinstance(row, list):
                    if len(row) != 3:
                        raise MarginRequestError(rp, "must be [move, vol, weight]")
                    row = {"move": row[0], "vol": row[1], "weight": row[2]}
                row = _obj(row, rp, ("move", "vol", "weight"))
                rows.append(
                    (
                        _number(row["move"], f"{rp}.move"),
                        _string(row["vol"], f"{rp}.vol"),
                        _number(row["weight"], f"{rp}.weight"),
                    )
                )
            kw[key] = tuple(rows)
        else:
            kw[key] = _number(raw, p)
    try:
        return PMParams(**kw)
    except EngineInputError as exc:  # "field: why" from PMParams
        field, _, why = str(exc).partition(": ")
        raise MarginRequestError(_join(path, field), why) from None


# --------------------------------------------------------------------------- the simulator


def simulate_margin(request: Any, *, active_pm: Mapping[str, PMParams] | None = None) -> dict:
    """One account's PM from a ``riskgov.margin_request/1`` document (RISK_MODEL §14).

    Args:
        request: the parsed JSON request.
        active_pm: active PM parameters per underlying symbol, used where ``pm`` is null
            (an underlying without active parameters gets the §14 defaults).

    Returns:
        the ``riskgov.margin_result/1`` document as a dict.

    Raises:
        MarginRequestError: one line naming the field.
    """
    req = _obj(request, "", ("format", "as_of", "underlyings"), ("collateral", "perps", "options"))
    if req["format"] != REQUEST_FORMAT:
        raise MarginRequestError("format", f"must be {REQUEST_FORMAT!r}")
    as_of = _time(req["as_of"], "as_of")
    active_pm = active_pm or {}

    # underlyings
    symbols: list[str] = []
    spot: list[float] = []
    rate: list[float] = []
    params: list[PMParams] = []
    curves: list[dict[datetime, tuple[float | None, float | None]]] = []
    for i, raw in enumerate(_list(req["underlyings"], "underlyings")):
        p = f"underlyings[{i}]"
        u = _obj(raw, p, ("asset", "price"), ("rate", "curve", "pm"))
        sym = _string(u["asset"], f"{p}.asset")
        if sym in symbols:
            raise MarginRequestError(f"{p}.asset", f"duplicate underlying {sym!r}")
        symbols.append(sym)
        spot.append(_number(u["price"], f"{p}.price", positive=True))
        rate.append(_number(u["rate"], f"{p}.rate") if u.get("rate") is not None else 0.0)
        pm_raw = u.get("pm")
        params.append(active_pm.get(sym, PMParams()) if pm_raw is None else parse_pm_params(pm_raw, f"{p}.pm"))
        curve: dict[datetime, tuple[float | None, float | None]] = {}
        for j, row in enumerate(_list(u.get("curve") or [], f"{p}.curve")):
            cp = f"{p}.curve[{j}]"
            c = _obj(row, cp, ("expiry",), ("forward", "rate"))
            exp = _time(c["expiry"], f"{cp}.expiry")
            if exp in curve:
                raise MarginRequestError(f"{cp}.expiry", "duplicate expiry")
            fwd = _number(c["forward"], f"{cp}.forward", positive=True) if c.get("forward") is not None else None
            r = _number(c["rate"], f"{cp}.rate") if c.get("rate") is not None else None
            curve[exp] = (fwd, r)
        curves.append(curve)
    if not symbols:
        raise MarginRequestError("underlyings", "must list at least one underlying")
    und_index = {s: k for k, s in enumerate(symbols)}

    def underlying_of(value: Any, path: str) -> int:
        sym = _string(value, path)
        if sym not in und_index:
            raise MarginRequestError(path, f"unknown underlying {sym!r} (not in underlyings)")
        return und_index[sym]

    # options → series (same underlying, expiry, strike, kind = one series; sizes net)
    series: dict[tuple, int] = {}
    s_und: list[int] = []
    s_call: list[bool] = []
    s_strike: list[float] = []
    s_t: list[float] = []
    s_fwd: list[float] = []
    s_disc: list[float] = []
    s_vol: list[float] = []
    s_first: list[int] = []
    o_series: list[int] = []
    o_size: list[float] = []
    for i, raw in enumerate(_list(req.get("options") or [], "options")):
        p = f"options[{i}]"
        o = _obj(raw, p, ("underlying", "expiry", "strike", "kind", "size", "mark_iv"))
        u = underlying_of(o["underlying"], f"{p}.underlying")
        exp = _time(o["expiry"], f"{p}.expiry")
        strike = _number(o["strike"], f"{p}.strike", positive=True)
        kind = _string(o["kind"], f"{p}.kind")
        if kind not in ("call", "put"):
            raise MarginRequestError(f"{p}.kind", "must be 'call' or 'put'")
        size = _number(o["size"], f"{p}.size")
        iv = _number(o["mark_iv"], f"{p}.mark_iv", positive=True)
        key = (u, exp, strike, kind)
        if key in series:
            k = series[key]
            if s_vol[k] != iv:
                raise MarginRequestError(f"{p}.mark_iv", f"differs from options[{s_first[k]}] of the same series")
        else:
            t = (exp - as_of).total_seconds() / _SECONDS_PER_YEAR
            fwd, r_exp = curves[u].get(exp, (None, None))
            r = rate[u] if r_exp is None else r_exp
            tt = max(t, 0.0)
            k = series[key] = len(s_und)
            s_und.append(u)
            s_call.append(kind == "call")
            s_strike.append(strike)
            s_t.append(t)
            s_fwd.append(spot[u] * math.exp(r * tt) if fwd is None else fwd)
            s_disc.append(math.exp(-r * tt))
            s_vol.append(iv)
            s_first.append(i)
        o_series.append(k)
        o_size.append(size)

    # perps
    p_und: list[int] = []
    p_size: list[float] = []
    p_entry: list[float] = []
    for i, raw in enumerate(_list(req.get("perps") or [], "perps")):
        p = f"perps[{i}]"
        q = _obj(raw, p, ("market", "underlying", "size", "entry_price"))
        _string(q["market"], f"{p}.market")
        p_und.append(underlying_of(q["underlying"], f"{p}.underlying"))
        p_size.append(_number(q["size"], f"{p}.size"))
        p_entry.append(_number(q["entry_price"], f"{p}.entry_price", positive=True))

    # collateral (§4); an underlying's own asset moves with it in the liquidation move
    assets: dict[str, tuple[float, float]] = {}
    b_asset: list[int] = []
    b_amount: list[float] = []
    for i, raw in enumerate(_list(req.get("collateral") or [], "collateral")):
        p = f"collateral[{i}]"
        c = _obj(raw, p, ("asset", "amount"), ("price", "haircut"))
        sym = _string(c["asset"], f"{p}.asset")
        if c.get("price") is not None:
            price = _number(c["price"], f"{p}.price", positive=True)
        elif sym in und_index:
            price = spot[und_index[sym]]
        elif sym.upper() in USD_STABLES:
            price = 1.0
        else:
            raise MarginRequestError(f"{p}.price", f"required for {sym!r} (neither an underlying nor a USD stablecoin)")
        haircut = _number(c["haircut"], f"{p}.haircut", nonneg=True) if c.get("haircut") is not None else 0.0
        if haircut >= 1:
            raise MarginRequestError(f"{p}.haircut", "must be in [0, 1)")
        if sym in assets and assets[sym] != (price, haircut):
            raise MarginRequestError(p, f"asset {sym!r} listed twice with another price or haircut")
        assets.setdefault(sym, (price, haircut))
        b_asset.append(list(assets).index(sym))
        b_amount.append(_number(c["amount"], f"{p}.amount"))

    asset_syms = list(assets)
    i64 = np.zeros(0, dtype=np.int64)
    f64 = np.zeros(0)
    no_brackets = np.zeros((0, 1))
    pset = ParameterSet(  # collateral only (§4): the assets, no markets
        assets=AssetParams(
            symbols=tuple(asset_syms),
            haircut=np.array([assets[s][1] for s in asset_syms], dtype=np.float64),
            stable=np.array([s.upper() in USD_STABLES for s in asset_syms], dtype=bool),
        ),
        markets=MarketParams(
            symbols=(),
            base_asset=i64,
            floors=no_brackets,
            imf=no_brackets,
            mmf=no_brackets,
            maintenance_amount=no_brackets,
            n_brackets=i64,
            liquidation_penalty=f64,
            depth_usd_per_1pct=f64,
            oi_cap_lower=f64,
            oi_cap_upper=f64,
            max_position_notional=f64,
        ),
    )
    pf = Portfolio(
        n_accounts=1,
        balance_account=np.zeros(len(b_asset), dtype=np.int64),
        balance_asset=np.array(b_asset, dtype=np.int64),
        balance_amount=np.array(b_amount, dtype=np.float64),
        position_account=i64,
        position_market=i64,
        size=f64,
        entry_price=f64,
        isolated=np.zeros(0, dtype=bool),
        isolated_margin=f64,
    )
    collateral, moving = pm_collateral(
        params=pset,
        portfolio=pf,
        asset_prices=np.array([assets[s][0] for s in asset_syms], dtype=np.float64),
        moving_assets=[k for k, s in enumerate(asset_syms) if s in und_index],
    )

    market = PMMarket(
        symbols=tuple(symbols),
        spot=np.array(spot),
        params=tuple(params),
        series_underlying=np.array(s_und, dtype=np.int64),
        series_is_call=np.array(s_call, dtype=bool),
        series_strike=np.array(s_strike, dtype=np.float64),
        series_t=np.array(s_t, dtype=np.float64),
        series_forward=np.array(s_fwd, dtype=np.float64),
        series_discount=np.array(s_disc, dtype=np.float64),
        series_vol=np.array(s_vol, dtype=np.float64),
    )
    book = PMBook(
        n_accounts=1,
        option_account=np.zeros(len(o_series), dtype=np.int64),
        option_series=np.array(o_series, dtype=np.int64),
        option_size=np.array(o_size, dtype=np.float64),
        perp_account=np.zeros(len(p_und), dtype=np.int64),
        perp_underlying=np.array(p_und, dtype=np.int64),
        perp_size=np.array(p_size, dtype=np.float64),
        perp_entry_price=np.array(p_entry, dtype=np.float64),
        collateral=collateral,
        collateral_moving=moving,
    )
    try:
        res = portfolio_margin(market=market, book=book)
        move = liquidation_move(market=market, book=book, result=res, validate=False)
    except EngineInputError as exc:  # inputs are checked above; this is a last guard
        raise MarginRequestError("request", str(exc)) from None
    return _result(as_of, market, res, float(move[0]))


def _num(x: float) -> float | None:
    x = float(x)
    return x if math.isfinite(x) else None


def _result(as_of: datetime, market: PMMarket, res, move: float) -> dict:
    unit_of = {int(u): k for k, u in enumerate(res.unit_underlying)}
    unds = []
    for u, sym in enumerate(market.symbols):  # one entry per requested underlying
        g = scenario_grid(market.params[u])
        k = unit_of.get(u)
        losses = np.zeros(g.n) if k is None else res.scenario_loss[k, : g.n]
        worst = 0 if k is None else int(res.worst_scenario[k])

        def pick(name: str, k=k) -> float:
            return 0.0 if k is None else float(getattr(res, name)[k])

        unds.append(
            {
                "asset": sym,
                "scenarios": [
                    {
                        "move": float(g.move[s]),
                        "vol": VOL_NAMES[int(g.vol[s])],
                        "weight": float(g.weight[s]),
                        "loss_usd": float(losses[s]),
                    }
                    for s in range(g.n)
                ],
                "worst_loss_usd": pick("worst_loss"),
                "worst_scenario": {
                    "move": float(g.move[worst]),
                    "vol": VOL_NAMES[int(g.vol[worst])],
                    "weight": float(g.weight[worst]),
                },
                "contingencies": {
                    "short_option_usd": pick("short_option_contingency"),
                    "perp_usd": pick("perp_contingency"),
                },
                "maintenance_margin_usd": pick("maintenance_margin"),
                "initial_margin_usd": pick("initial_margin"),
                "option_value_usd": pick("option_value"),
                "greeks": {
                    "delta": pick("delta"),
                    "gamma": pick("gamma"),
                    "vega_usd": pick("vega"),
                    "theta_usd": pick("theta"),
                },
            }
        )
    return {
        "format": RESULT_FORMAT,
        "as_of": as_of.strftime("%Y-%m-%dT%H:%M:%SZ")
        if not as_of.microsecond
        else as_of.isoformat().replace("+00:00", "Z"),
        "account": {
            "equity_usd": float(res.equity[0]),
            "initial_margin_usd": float(res.initial_margin_account[0]),
            "maintenance_margin_usd": float(res.maintenance_margin_account[0]),
            "margin_ratio": _num(res.margin_ratio[0]),
            "liquidatable": bool(res.liquidatable[0]),
            "liquidation_move": _num(move),
        },
        "underlyings": unds,
    }

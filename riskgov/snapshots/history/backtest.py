"""The liquidation backtest: the engine's liquidatable test against real liquidations.

Pure (no Django): the replay (:mod:`.replay`) is evaluated by the engine
(:func:`riskgov.engine.health.evaluate_health`, RISK_MODEL §5/§6 — no margin formula is
written here) at two kinds of instants:

* the **grid**: every ``every`` seconds from the first history row (rounded up to the step)
  to the last one; it gives the lead time and the false alarms;
* one second **before each real liquidation** (the user's closing fill carries the event's
  own timestamp, so the state "at the event" is every row strictly before it).

Scoring (FORMATS.md ``riskgov.liquidation_backtest/1``):

* an event is **detected** when the model calls the account liquidatable just before it;
  ``lead_minutes`` is the time from the earliest grid instant of the unbroken run of
  liquidatable grid instants that ends at the event (0 when only the event instant is);
* an **alarm episode** is a maximal run of consecutive grid instants at which an account
  is liquidatable; it is a **false alarm** when the account is not liquidated from the
  episode's first instant to ``window`` after its last one (reported at its first instant);
* ``recall = detected / events``; ``precision = detected / (detected + false alarms)``;
  ``median_equity_error`` is the median over events of model equity − reported
  ``liquidated_account_value`` (signed: > 0 means the replay sees more equity than the venue
  did, as missing fees and funding would make it).

``--since`` restricts the scored events and episodes to those at or after it; the replay
always starts at the first row. Every value the engine reports is float64 (RISK_MODEL §1).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from statistics import median
from typing import Any

import numpy as np

from riskgov.engine.health import evaluate_health
from riskgov.engine.types import ParameterSet, Portfolio, VenueState
from riskgov.snapshots.history.files import CASH_ASSET, iso, market_of
from riskgov.snapshots.history.reading import LIQUIDATIONS_FILE, HistoryError, iter_liquidations
from riskgov.snapshots.history.replay import FEE_RATE_BOUND, Book, replay_at

__all__ = [
    "FORMAT",
    "SENSITIVITY_FACTORS",
    "Backtest",
    "Evaluation",
    "LiquidationEvent",
    "backtest_document",
    "backtest_evaluate",
    "scale_mmf",
]

FORMAT = "riskgov.liquidation_backtest/1"
#: MMF multipliers of the sensitivity table.
SENSITIVITY_FACTORS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


@dataclass(frozen=True)
class LiquidationEvent:
    """One row of ``liquidations.csv`` (USD amounts, epoch-seconds time)."""

    time: int
    user: str
    notional_usd: float
    account_value_usd: float
    leverage_type: str


@dataclass(frozen=True)
class Evaluation:
    """The engine's numbers for the accounts holding positions at one instant.

    Attributes:
        instant: epoch seconds.
        users: ``(A,)`` user ids (accounts with at least one position).
        equity, maintenance_margin, margin_ratio: ``(A, S)`` float64, one column per
            parameter set.
        liquidatable: ``(A, S)`` bool.
        notional: ``(A,)`` float64 USD Σ |size|·mark.
        fee_bound: ``(A,)`` float64 USD upper bound of the fees the replay leaves out.
        mark_age: ``(A,)`` float64 seconds since the oldest mark among the coins held was set.
    """

    instant: int
    users: tuple[str, ...]
    equity: np.ndarray
    maintenance_margin: np.ndarray
    margin_ratio: np.ndarray
    liquidatable: np.ndarray
    notional: np.ndarray
    fee_bound: np.ndarray
    mark_age: np.ndarray


@dataclass
class Backtest:
    """Every evaluation of a backtest, for scoring and for the page.

    Attributes:
        events: the real liquidations, in time order.
        grid: the grid evaluations, in time order.
        at_event: one evaluation per event (one second before it), same order as ``events``.
        n_params: number of parameter sets evaluated (columns of every evaluation).
        every: the grid step in seconds.
        rows: history rows replayed.
    """

    events: list[LiquidationEvent]
    grid: list[Evaluation] = field(default_factory=list)
    at_event: list[Evaluation] = field(default_factory=list)
    n_params: int = 1
    every: int = 3600
    rows: int = 0


def scale_mmf(document: dict[str, Any], factor: float) -> dict[str, Any]:
    """A copy of a parameter document with every MMF multiplied by ``factor``.

    To keep the table valid (RISK_MODEL §2: ``MMF < IMF ≤ 1``) an IMF the scaled MMF
    reaches is raised to ``min(1, 2·MMF')``, and a liquidation penalty above the new
    ``MMF_1`` is cut to it; neither changes the liquidatable test (§5 uses MM only).
    """
    doc = copy.deepcopy(document)
    k = Decimal(str(factor))
    for m in doc["markets"]:
        for b in m["brackets"]:
            mmf = Decimal(str(b["maintenance_margin_fraction"])) * k
            imf = Decimal(str(b["initial_margin_fraction"]))
            if imf <= mmf:
                imf = min(Decimal(1), 2 * mmf)
            b["maintenance_margin_fraction"] = str(mmf)
            b["initial_margin_fraction"] = str(imf)
        first = Decimal(m["brackets"][0]["maintenance_margin_fraction"])
        if Decimal(str(m.get("liquidation_penalty", 0))) > first:
            m["liquidation_penalty"] = str(first)
    return doc


def read_events(directory: str | Path) -> list[LiquidationEvent]:
    """The liquidations of ``directory`` (``liquidations.csv``), in time order.

    Raises:
        HistoryError: missing file or a bad row.
    """
    path = Path(directory) / LIQUIDATIONS_FILE
    if not path.is_file():
        raise HistoryError(f"{Path(directory)}: no {LIQUIDATIONS_FILE} (the backtest needs it)")
    return [LiquidationEvent(t, u, float(n), float(v), k) for t, u, n, v, k in iter_liquidations(path)]


def _first_last_time(directory: Path) -> tuple[int, int]:
    from riskgov.snapshots.history.replay import history_events

    first = last = None
    for row in history_events(directory):
        t = row[0]
        if first is None:
            first = t
        last = t
    if first is None:
        raise HistoryError(f"{directory}: the history has no rows")
    return first, last


def backtest_evaluate(
    directory: str | Path,
    params: Sequence[ParameterSet],
    *,
    every: int = 3600,
    events: list[LiquidationEvent] | None = None,
) -> Backtest:
    """Replay ``directory`` once and evaluate every parameter set at the grid and the events.

    Args:
        params: parameter sets, evaluated side by side (column ``s`` of every evaluation).
        every: grid step in seconds.
        events: the liquidations (default: ``liquidations.csv`` of the directory).

    Raises:
        HistoryError: a bad history row, or a coin with no market in a parameter set.
    """
    d = Path(directory)
    events = read_events(d) if events is None else events
    first, last = _first_last_time(d)
    start = -(-first // every) * every
    grid = list(range(start, last + 1, every))
    instants = sorted([(g, 1, i) for i, g in enumerate(grid)] + [(e.time - 1, 0, i) for i, e in enumerate(events)])
    bt = Backtest(events=events, n_params=len(params), every=every)
    at_event: dict[int, Evaluation] = {}
    book = None
    for (instant, kind, i), (_, book) in zip(instants, replay_at(d, (x[0] for x in instants)), strict=True):
        ev = _evaluate(book, instant, params)
        if kind == 1:
            bt.grid.append(ev)
        else:
            at_event[i] = ev
    bt.at_event = [at_event[i] for i in range(len(events))]
    bt.rows = book.rows if book is not None else 0
    return bt


def _evaluate(book: Book, instant: int, params: Sequence[ParameterSet]) -> Evaluation:
    """The book as an engine venue state, evaluated under each parameter set."""
    users = tuple(u for u, a in book.accounts.items() if a.positions)
    n = len(users)
    s = len(params)
    out = {k: np.zeros((n, s)) for k in ("equity", "maintenance_margin", "margin_ratio")}
    liq = np.zeros((n, s), dtype=bool)
    notional = np.zeros(n)
    fee = np.zeros(n)
    age = np.zeros(n)
    if n:
        cash = np.array([float(book.accounts[u].cash) for u in users])
        pos = [(a, c, p) for a, u in enumerate(users) for c, p in book.accounts[u].positions.items()]
        coins = [c for _, c, _ in pos]
        acct = np.array([a for a, _, _ in pos], dtype=np.int64)
        size = np.array([float(p.size) for _, _, p in pos])
        entry = np.array([float(p.entry) for _, _, p in pos])
        mark = np.array([float(book.marks[c]) for c in coins])
        notional = np.bincount(acct, weights=np.abs(size) * mark, minlength=n)
        fee = np.array([float(book.accounts[u].traded * FEE_RATE_BOUND) for u in users])
        oldest = np.full(n, instant, dtype=np.int64)
        np.minimum.at(oldest, acct, np.array([book.mark_times.get(c, instant) for c in coins], dtype=np.int64))
        age = (instant - oldest).astype(np.float64)
        for j, ps in enumerate(params):
            state = _state(ps, cash, acct, coins, size, entry, book.marks, n)
            am = evaluate_health(ps, state, with_prices=False).accounts
            out["equity"][:, j] = am.equity
            out["maintenance_margin"][:, j] = am.maintenance_margin
            out["margin_ratio"][:, j] = am.margin_ratio
            liq[:, j] = am.liquidatable
    return Evaluation(
        instant=instant,
        users=users,
        equity=out["equity"],
        maintenance_margin=out["maintenance_margin"],
        margin_ratio=out["margin_ratio"],
        liquidatable=liq,
        notional=notional,
        fee_bound=fee,
        mark_age=age,
    )


def _state(ps: ParameterSet, cash, acct, coins, size, entry, marks, n: int) -> VenueState:
    """Replayed arrays → engine ``VenueState`` (every position cross, cash in USDC)."""
    asset_ix = {s: i for i, s in enumerate(ps.assets.symbols)}
    market_ix = {s: i for i, s in enumerate(ps.markets.symbols)}
    missing = sorted({market_of(c) for c in coins} - set(market_ix))
    if missing or CASH_ASSET not in asset_ix:
        names = ", ".join(missing + ([] if CASH_ASSET in asset_ix else [CASH_ASSET]))
        raise HistoryError(f"the parameter set has no {names}")
    prices = np.ones(len(ps.assets.symbols))
    for c, p in marks.items():
        m = market_ix.get(market_of(c))
        if m is not None:
            prices[ps.markets.base_asset[m]] = float(p)
    portfolio = Portfolio(
        n_accounts=n,
        balance_account=np.arange(n, dtype=np.int64),
        balance_asset=np.full(n, asset_ix[CASH_ASSET], dtype=np.int64),
        balance_amount=cash,
        position_account=acct,
        position_market=np.array([market_ix[market_of(c)] for c in coins], dtype=np.int64),
        size=size,
        entry_price=entry,
        isolated=np.zeros(len(coins), dtype=bool),
        isolated_margin=np.zeros(len(coins)),
    )
    return VenueState(portfolio=portfolio, asset_prices=prices)


def _row(ev: Evaluation, user: str, s: int) -> tuple[float, float, float, bool] | None:
    """(equity, MM, margin ratio, liquidatable) of ``user`` in column ``s``, None when flat."""
    try:
        i = ev.users.index(user)
    except ValueError:
        return None
    return (
        float(ev.equity[i, s]),
        float(ev.maintenance_margin[i, s]),
        float(ev.margin_ratio[i, s]),
        bool(ev.liquidatable[i, s]),
    )


def _num(x: float | None, places: int = 6) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), places)


def backtest_document(
    bt: Backtest, *, s: int = 0, window_minutes: float = 60, since: int | None = None
) -> dict[str, Any]:
    """The ``riskgov.liquidation_backtest/1`` document of parameter set ``s``.

    Args:
        window_minutes: how soon after an alarm a liquidation must follow.
        since: score only events (and alarm episodes) at or after this epoch second.
    """
    window = window_minutes * 60
    since = since if since is not None else -(2**62)
    by_user: dict[str, list[int]] = {}
    for e in bt.events:
        by_user.setdefault(e.user, []).append(e.time)
    liqs = []
    for e, ev in zip(bt.events, bt.at_event, strict=True):
        if e.time < since:
            continue
        row = _row(ev, e.user, s)
        equity, mm, _, predicted = row if row is not None else (float("nan"), 0.0, 0.0, False)
        if row is None:
            equity = float("nan")
        lead = None
        if predicted:
            first = e.time
            for g in reversed([g for g in bt.grid if g.instant < e.time]):
                r = _row(g, e.user, s)
                if r is None or not r[3]:
                    break
                first = g.instant
            lead = round((e.time - first) / 60, 1) if first < e.time - 1 else 0.0
        liqs.append(
            {
                "time": iso(e.time),
                "user": e.user,
                "predicted_liquidatable": bool(predicted),
                "lead_minutes": lead,
                "equity_usd": _num(equity),
                "reported_account_value_usd": _num(e.account_value_usd),
                "maintenance_margin_usd": _num(mm),
            }
        )
    false_alarms = []
    for user, start, end in alarm_episodes(bt, s):
        if start.instant < since:
            continue
        hit = any(start.instant <= t <= end + window for t in by_user.get(user, ()))
        if not hit:
            equity, mm, _, _ = _row(start, user, s)
            false_alarms.append(
                {
                    "time": iso(start.instant),
                    "user": user,
                    "equity_usd": _num(equity),
                    "maintenance_margin_usd": _num(mm),
                }
            )
    detected = sum(1 for r in liqs if r["predicted_liquidatable"])
    leads = [r["lead_minutes"] for r in liqs if r["lead_minutes"] is not None]
    errors = [r["equity_usd"] - r["reported_account_value_usd"] for r in liqs if r["equity_usd"] is not None]
    alarms = detected + len(false_alarms)
    totals = {
        "events": len(liqs),
        "detected": detected,
        "recall": round(detected / len(liqs), 6) if liqs else None,
        "false_alarms": len(false_alarms),
        "precision": round(detected / alarms, 6) if alarms else None,
        "median_lead_minutes": round(median(leads), 1) if leads else None,
        "median_equity_error": round(median(errors), 6) if errors else None,
    }
    return {"format": FORMAT, "liquidations": liqs, "false_alarms": false_alarms, "totals": totals}


def alarm_episodes(bt: Backtest, s: int = 0) -> Iterable[tuple[str, Evaluation, int]]:
    """``(user, first evaluation, last instant)`` per maximal run of consecutive liquidatable
    grid instants of a user, in order of first instant."""
    open_runs: dict[str, tuple[Evaluation, int]] = {}
    out: list[tuple[str, Evaluation, int]] = []
    for ev in bt.grid:
        now = {u for i, u in enumerate(ev.users) if ev.liquidatable[i, s]}
        for u in list(open_runs):
            if u not in now:
                first, last = open_runs.pop(u)
                out.append((u, first, last))
        for u in now:
            if u in open_runs:
                open_runs[u] = (open_runs[u][0], ev.instant)
            else:
                open_runs[u] = (ev, ev.instant)
    out.extend((u, first, last) for u, (first, last) in open_runs.items())
    return sorted(out, key=lambda x: (x[1].instant, x[0]))


#: Hours of margin-ratio history kept per event for the page.
SERIES_HOURS = 48


def backtest_details(
    bt: Backtest,
    document: dict[str, Any],
    *,
    factors: Sequence[float],
    base: int,
    window_minutes: float = 60,
    since: int | None = None,
) -> dict[str, Any]:
    """What the page and the report show beside the document: per event the model's margin
    ratio over the ``SERIES_HOURS`` before it and why a miss was missed, and the sensitivity.

    Args:
        document: :func:`backtest_document` of column ``base``.
        factors: the MMF multiplier of each column (``factors[base]`` is 1 for the table as is).

    Returns:
        ``{"events": [...], "sensitivity": [...]}``; every event row has ``time``, ``user``,
        ``series`` (``[[minutes before, margin ratio or None], ...]``), ``fee_bound_usd``,
        ``mark_age_minutes``, ``equity_error_usd``, ``mm_over_reported`` (model MM ÷
        reported account value), ``leverage_type`` and ``explanation``.
    """
    rows = {(r["time"], r["user"]): r for r in document["liquidations"]}
    events = []
    for e, ev in zip(bt.events, bt.at_event, strict=True):
        r = rows.get((iso(e.time), e.user))
        if r is None:
            continue
        series = []
        for g in bt.grid:
            if e.time - SERIES_HOURS * 3600 <= g.instant < e.time:
                row = _row(g, e.user, base)
                if row is not None:
                    series.append([round((e.time - g.instant) / 60, 1), _num(row[2])])
        row = _row(ev, e.user, base)
        if row is not None:
            series.append([0.0, _num(row[2])])
        i = ev.users.index(e.user) if e.user in ev.users else None
        fee = float(ev.fee_bound[i]) if i is not None else 0.0
        age = float(ev.mark_age[i]) / 60 if i is not None else None
        err = None if r["equity_usd"] is None else r["equity_usd"] - r["reported_account_value_usd"]
        mm = r["maintenance_margin_usd"] or 0.0
        ratio = mm / e.account_value_usd if e.account_value_usd > 0 else None
        events.append(
            {
                "time": r["time"],
                "user": e.user,
                "predicted_liquidatable": r["predicted_liquidatable"],
                "lead_minutes": r["lead_minutes"],
                "series": series,
                "fee_bound_usd": _num(fee),
                "mark_age_minutes": _num(age, 1),
                "equity_error_usd": _num(err),
                "mm_over_reported": _num(ratio),
                "leverage_type": e.leverage_type,
                "explanation": _explain(r, err, fee, age, ratio, e.leverage_type),
            }
        )
    sensitivity = []
    for s, k in enumerate(factors):
        doc = document if s == base else backtest_document(bt, s=s, window_minutes=window_minutes, since=since)
        t = doc["totals"]
        scored = [(e, ev) for e, ev in zip(bt.events, bt.at_event, strict=True) if since is None or e.time >= since]
        below = sum(1 for e, ev in scored if (r := _row(ev, e.user, s)) is not None and e.account_value_usd < r[1])
        sensitivity.append(
            {
                "mmf_factor": k,
                "events": t["events"],
                "detected": t["detected"],
                "recall": t["recall"],
                "false_alarms": t["false_alarms"],
                "precision": t["precision"],
                "reported_value_below_mm": below,
            }
        )
    return {"events": events, "sensitivity": sensitivity}


def _explain(r: dict, err: float | None, fee: float, age: float | None, ratio: float | None, kind: str) -> str:
    """One plain sentence on why the model did or did not flag the event."""
    if r["predicted_liquidatable"]:
        return f"flagged {r['lead_minutes']} min ahead on the grid"
    if err is None:
        return "no open position in the replay just before the event (fills missing)"
    parts = []
    if kind == "Isolated":
        parts.append("isolated position replayed as cross (its margin is not in the data)")
    if ratio is not None and ratio > 1:
        parts.append(
            f"the model's MM is above the venue's reported account value (×{ratio:.2f}): with the venue's "
            "equity the model would flag it — the replayed equity is the gap"
        )
    parts.append(f"replayed equity exceeds the reported value by {err:,.2f} USD")
    if err > fee:
        parts.append(f"more than the fee bound ({fee:,.2f} USD): missing funding, transfers or fills")
    else:
        parts.append(f"within the fee bound ({fee:,.2f} USD)")
    if age is not None and age > 60:
        parts.append(f"marks up to {age:,.0f} min old (last fill of the coin)")
    return "; ".join(parts)

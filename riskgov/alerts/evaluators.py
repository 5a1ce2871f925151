"""Alert evaluators: one function per ``AlertKind`` that observes its subjects now.

An evaluator reads the latest published run (``Context``), governance and prices and returns
``Observation``s (one per subject: the venue, a market, a proposal), or ``None`` when the
rule's inputs are unknown (its state is kept). ``EVALUATORS`` maps a kind to its function;
the state machine that turns observations into firings is ``riskgov.alerts.firing``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db.models import Max

from riskgov.alerts.models import AlertKind, AlertRule
from riskgov.engine.model_flags import backtest_fails, backtests, mmf_check, recommended_mmfs
from riskgov.governance.models import Proposal, ProposalKind, ProposalStatus
from riskgov.health.models import AccountResult, HealthRun, RunStatus
from riskgov.presentation import formats
from riskgov.presentation.families import measure_label
from riskgov.reports import selectors

PLACES = Decimal("1e-12")


def dec(x: float | int | Decimal | None) -> Decimal | None:
    """An observed value as stored (``Decimal`` at 12 places; ``None`` stays ``None``)."""
    if x is None:
        return None
    return Decimal(str(x)).quantize(PLACES)


@dataclass(frozen=True)
class Observation:
    """One subject of a rule as observed now: its value, the line, whether it is crossed
    (``firing``: ``None`` = this subject's inputs are unknown — its state is kept)."""

    subject: str
    value: float | None
    threshold: float | Decimal
    firing: bool | None
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What the evaluators read: the latest published run and the clock."""

    run: HealthRun | None
    now: datetime


def _coverage(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    if ctx.run is None:
        return None
    t = float(rule.threshold)
    v = ctx.run.coverage_at_es  # None = infinity: fully covered
    # §10: the figure names its family — the run's headline tail (1-day paths, else 1-day gaps)
    fam = measure_label("ES", ctx.run.tail_alpha or 0.99, (ctx.run.tail or {}).get("population") or "gaps")
    msg = f"coverage at ES {formats.ratio(v)} ({fam}; threshold {formats.ratio(rule.threshold)})"
    return [Observation("", v, rule.threshold, v is not None and v < t, msg)]


def _liq_accounts(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    if ctx.run is None:
        return None
    n = ctx.run.n_accounts or 0
    share = (ctx.run.liquidatable_accounts or 0) / n if n else 0.0
    t = float(rule.threshold)
    msg = (
        f"{formats.count(ctx.run.liquidatable_accounts or 0)} of {formats.count(n)} accounts liquidatable "
        f"({formats.share(share)}, threshold {formats.share(rule.threshold)})"
    )
    pm = (ctx.run.tail or {}).get("portfolio_margin")
    if pm:  # RISK_MODEL §14: say how many of them are portfolio-margin accounts
        msg += f"; {formats.count(pm['liquidatable'])} of {formats.count(pm['accounts'])} portfolio-margin accounts"
        return [Observation("", share, rule.threshold, share > t, msg, {"pm_liquidatable": pm["liquidatable"]})]
    return [Observation("", share, rule.threshold, share > t, msg)]


def _liq_oi(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    if ctx.run is None:
        return None
    liq, total = selectors.run_liquidatable_oi(ctx.run)
    share = liq / total if total > 0 else 0.0
    t = float(rule.threshold)
    msg = (
        f"{formats.share(share)} of open interest is held by liquidatable accounts "
        f"({formats.money(liq)} of {formats.money(total)}; threshold {formats.share(rule.threshold)})"
    )
    return [Observation("", share, rule.threshold, share > t, msg, {"liquidatable_oi_usd": liq, "oi_usd": total})]


def _bankrupt(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    if ctx.run is None:
        return None
    t = float(rule.threshold)
    qs = AccountResult.objects.filter(run=ctx.run, bankrupt=True)
    worst = qs.aggregate(m=Max("shortfall_usd"))["m"]
    above = qs.filter(shortfall_usd__gt=t).count()
    v = float(worst) if worst is not None else 0.0
    msg = (
        f"{formats.count(above)} bankrupt account(s) with shortfall above {formats.money(rule.threshold)} "
        f"(largest {formats.money(v)})"
    )
    return [Observation("", v, rule.threshold, above > 0, msg, {"accounts_above": above})]


def _recs(rule: AlertRule, ctx: Context) -> list[dict[str, Any]] | None:
    """The run's §12 recommendations (of the rule's market only, if it has one); ``None``
    when the run has none at all (not computed: unknown, not "every market is gone")."""
    if ctx.run is None or not ctx.run.recommendations:
        return None
    recs = [r for r in ctx.run.recommendations if r.get("market")]
    if rule.market_id:
        recs = [r for r in recs if r.get("market") == rule.market.symbol]
    return recs


def _unknown(r: dict[str, Any], what: str) -> Observation:
    note = r.get("note") or "; ".join((r.get(h) or {}).get("note") or "" for h in ("h1", "h3")).strip("; ")
    msg = f"{r['market']}: {what} unknown{f' ({note})' if note else ''}; state kept"
    return Observation(r["market"], None, 0, None, msg)


def _mmf_below(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    recs = _recs(rule, ctx)
    if recs is None:
        return None
    tol = float(rule.threshold)
    out = []
    for r in recs:
        cur = r.get("current_mmf")
        check = mmf_check(cur, recommended_mmfs(r), tolerance=tol)
        if check is None:
            out.append(_unknown(r, "recommended or current MMF"))
            continue
        below = check.below
        msg = (
            f"{r['market']}: current MMF {formats.fraction(cur)} {'below' if below else 'not below'} the "
            f"recommended {formats.fraction(check.recommended)} (§12, tolerance {formats.share(rule.threshold)})"
        )
        out.append(
            Observation(r["market"], cur, dec(check.line), below, msg, {"mmf_rec": check.recommended, "tolerance": tol})
        )
    return out


def _backtest(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    recs = _recs(rule, ctx)
    if recs is None:
        return None
    out = []
    for r in recs:
        tests = backtests(r)
        if not tests:
            out.append(_unknown(r, "backtest"))
            continue
        failing = [(h, bt) for h, bt in tests if backtest_fails(bt)]
        h, bt = (failing or tests)[0]
        lr = bt.get("lr", bt.get("kupiec_lr"))
        verdict = "fails" if failing else "passes"
        msg = (
            f"{r['market']}: current MMF {formats.fraction(bt.get('mmf', 0))} {verdict} the Kupiec backtest at horizon {h} "
            f"({formats.count(bt.get('exceedances'))} exceedances in {formats.count(bt.get('n'))}, "
            f"LR {formats.number(lr)}, critical {formats.number(bt.get('critical'))})"
        )
        out.append(Observation(r["market"], lr, dec(bt.get("critical", 0.0)), bool(failing), msg, {"horizon": h, **bt}))
    return out


def _prices(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    from riskgov.snapshots.selectors import latest_snapshot, snapshot_price_age

    snap = latest_snapshot()
    if snap is None:
        return None
    age = snapshot_price_age(snapshot=snap, now=ctx.now)  # historical: judged against its own date
    hours = age.hours
    t = float(rule.threshold)
    msg = f"latest prices (snapshot {snap.pk}, taken {snap.taken_at:%Y-%m-%d %H:%M} UTC) are {formats.number(hours, 1)} h old (threshold {formats.exact(rule.threshold)} h)"
    if age.historical:
        msg += "; historical data, judged against the snapshot's own date"
    return [Observation("", hours, rule.threshold, hours > t, msg, {"snapshot": snap.pk})]


def _run_failed(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    newest = selectors.latest_finished_venue_run()  # a run in progress changes nothing
    if newest is None:
        return None
    failed = newest.status == RunStatus.FAILED
    msg = (
        f"health run #{newest.pk} failed: {newest.error[:200]}"
        if failed
        else f"health run #{newest.pk} {newest.status}"
    )
    return [Observation("", 1.0 if failed else 0.0, rule.threshold, failed, msg, {"run": newest.pk})]


def _run_overdue(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    t = float(rule.threshold)
    if ctx.run is None or ctx.run.published_at is None:
        return [Observation("", None, rule.threshold, True, "no health run has ever been published")]
    hours = (ctx.now - ctx.run.published_at).total_seconds() / 3600
    msg = f"the latest published health run (#{ctx.run.pk}) is {formats.number(hours, 1)} h old (threshold {formats.exact(rule.threshold)} h)"
    return [Observation("", hours, rule.threshold, hours > t, msg, {"run": ctx.run.pk})]


def _emergency(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    t = float(rule.threshold)
    qs = Proposal.objects.filter(status=ProposalStatus.ACTIVE, kind=ProposalKind.EMERGENCY, ratify_by__isnull=False)
    out = []
    for p in qs.order_by("pk"):
        left = (p.ratify_by - ctx.now).total_seconds() / 3600
        msg = f"emergency change #{p.pk} '{p.title[:80]}' must be ratified within {formats.number(left, 1)} h (by {p.ratify_by:%Y-%m-%d %H:%M} UTC)"
        out.append(Observation(f"proposal #{p.pk}", left, rule.threshold, left <= t, msg, {"proposal": p.pk}))
    return out


EVALUATORS: dict[str, Callable[[AlertRule, Context], list[Observation] | None]] = {
    AlertKind.COVERAGE_AT_ES: _coverage,
    AlertKind.LIQUIDATABLE_ACCOUNTS: _liq_accounts,
    AlertKind.LIQUIDATABLE_OI: _liq_oi,
    AlertKind.BANKRUPT_ACCOUNT: _bankrupt,
    AlertKind.MMF_BELOW_RECOMMENDATION: _mmf_below,
    AlertKind.BACKTEST_FAILS: _backtest,
    AlertKind.PRICES_STALE: _prices,
    AlertKind.RUN_FAILED: _run_failed,
    AlertKind.RUN_OVERDUE: _run_overdue,
    AlertKind.EMERGENCY_RATIFICATION: _emergency,
}

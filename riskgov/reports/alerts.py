"""Alert rules: evaluation (after every published run and on a schedule) and notification.

``alerts_evaluate`` observes each enabled rule on the latest published run (or the run
given) and on the state of governance and prices, then, per (rule, subject):

* condition starts  → a new ``AlertFiring`` and a ``fired`` notification;
* condition persists → the firing's value/run are updated; a ``renotify`` notification
  only when ``renotify_minutes`` (> 0) have passed since the last one;
* condition ends (or its subject is gone) → ``cleared_at`` is set and **one** ``cleared``
  notification is sent.

A rule whose inputs are unknown (no published run yet, no snapshot) keeps its state. Rules
are locked (``select_for_update``) in one transaction, so concurrent evaluations (beat and
a run's publication) serialize; notifications are rows created in that transaction and
sent after commit by ``alerts.notify`` with the claim-then-send protocol of report
deliveries (a retried task never sends one twice).

Units per kind: ``AlertKind`` labels. Observed values are stored as ``Decimal`` (12 places).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from riskgov.core.services import audit_record
from riskgov.governance.models import Proposal, ProposalKind, ProposalStatus
from riskgov.health.models import AccountResult, HealthRun, RunKind, RunStatus
from riskgov.reports import selectors
from riskgov.reports.models import (
    AlertFiring,
    AlertKind,
    AlertNotification,
    AlertRule,
    DeliveryStatus,
    NotificationEvent,
)

log = logging.getLogger(__name__)
PLACES = Decimal("1e-12")


def _dec(x: float | int | Decimal | None) -> Decimal | None:
    if x is None:
        return None
    return Decimal(str(x)).quantize(PLACES)


@dataclass(frozen=True)
class Observation:
    """One subject of a rule as observed now: its value, the line, whether it is crossed."""

    subject: str
    value: float | None
    threshold: float | Decimal
    firing: bool
    message: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class Context:
    """What the evaluators read: the run (latest published unless given) and the clock."""

    run: HealthRun | None
    now: datetime


def _coverage(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    if ctx.run is None:
        return None
    t = float(rule.threshold)
    v = ctx.run.coverage_at_es  # None = infinity: fully covered
    shown = "∞" if v is None else f"{v:.3f}"
    return [Observation("", v, rule.threshold, v is not None and v < t, f"coverage at ES {shown} (threshold {t:g})")]


def _liq_accounts(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    if ctx.run is None:
        return None
    n = ctx.run.n_accounts or 0
    share = (ctx.run.liquidatable_accounts or 0) / n if n else 0.0
    t = float(rule.threshold)
    msg = f"{ctx.run.liquidatable_accounts} of {n} accounts liquidatable ({share:.2%}, threshold {t:.2%})"
    return [Observation("", share, rule.threshold, share > t, msg)]


def _liq_oi(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    if ctx.run is None:
        return None
    liq, total = selectors.run_liquidatable_oi(ctx.run)
    share = liq / total if total > 0 else 0.0
    t = float(rule.threshold)
    msg = f"{share:.2%} of open interest is held by liquidatable accounts ({liq:,.2f} of {total:,.2f} USD; threshold {t:.2%})"
    return [Observation("", share, rule.threshold, share > t, msg, {"liquidatable_oi_usd": liq, "oi_usd": total})]


def _bankrupt(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    if ctx.run is None:
        return None
    t = float(rule.threshold)
    qs = AccountResult.objects.filter(run=ctx.run, bankrupt=True)
    worst = qs.aggregate(m=Max("shortfall_usd"))["m"]
    above = qs.filter(shortfall_usd__gt=t).count()
    v = float(worst) if worst is not None else 0.0
    msg = f"{above} bankrupt account(s) with shortfall above {t:,.2f} USD (largest {v:,.2f} USD)"
    return [Observation("", v, rule.threshold, above > 0, msg, {"accounts_above": above})]


def _recs(rule: AlertRule, ctx: Context) -> list[dict[str, Any]] | None:
    if ctx.run is None:
        return None
    recs = ctx.run.recommendations or []
    if rule.market_id:
        recs = [r for r in recs if r.get("market") == rule.market.symbol]
    return recs


def _mmf_below(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    recs = _recs(rule, ctx)
    if recs is None:
        return None
    tol = float(rule.threshold)
    out = []
    for r in recs:
        rec = [r[h]["mmf_rec"] for h in ("h1", "h3") if (r.get(h) or {}).get("mmf_rec") is not None]
        cur = r.get("current_mmf")
        if not rec or cur is None:
            continue
        line = max(rec) * (1 - tol)
        msg = f"{r['market']}: current MMF {cur:.4%} below the recommended {max(rec):.4%} (§12, tolerance {tol:.2%})"
        out.append(Observation(r["market"], cur, _dec(line), cur < line, msg, {"mmf_rec": max(rec), "tolerance": tol}))
    return out


def _backtest(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    recs = _recs(rule, ctx)
    if recs is None:
        return None
    out = []
    for r in recs:
        tests = [(h, r[h]["backtest"]) for h in ("h1", "h3") if (r.get(h) or {}).get("backtest")]
        if not tests:
            continue
        failing = [(h, bt) for h, bt in tests if bt.get("reject")]
        h, bt = (failing or tests)[0]
        lr = bt.get("kupiec_lr")
        msg = (
            f"{r['market']}: current MMF {bt.get('mmf', 0):.4%} fails the Kupiec backtest at horizon {h[1:]} d "
            f"({bt.get('exceedances')} exceedances in {bt.get('n')}, LR {lr if lr is not None else '∞'} > {bt.get('critical')})"
        )
        out.append(
            Observation(r["market"], lr, _dec(bt.get("critical", 0.0)), bool(failing), msg, {"horizon": h, **bt})
        )
    return out


def _prices(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    from riskgov.snapshots.selectors import latest_snapshot

    snap = latest_snapshot()
    if snap is None:
        return None
    hours = (ctx.now - snap.taken_at).total_seconds() / 3600
    t = float(rule.threshold)
    msg = f"latest prices (snapshot {snap.pk}, taken {snap.taken_at:%Y-%m-%d %H:%M} UTC) are {hours:.1f} h old (threshold {t:g} h)"
    return [Observation("", hours, rule.threshold, hours > t, msg, {"snapshot": snap.pk})]


def _run_failed(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    newest = selectors.latest_venue_run()
    if newest is None:
        return None
    failed = newest.status == RunStatus.FAILED
    msg = (
        f"health run #{newest.pk} failed: {newest.error[:200]}"
        if failed
        else f"health run #{newest.pk} is {newest.status}"
    )
    return [Observation("", 1.0 if failed else 0.0, rule.threshold, failed, msg, {"run": newest.pk})]


def _run_overdue(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    t = float(rule.threshold)
    if ctx.run is None or ctx.run.published_at is None:
        return [Observation("", None, rule.threshold, True, "no health run has ever been published")]
    hours = (ctx.now - ctx.run.published_at).total_seconds() / 3600
    msg = f"the latest published health run (#{ctx.run.pk}) is {hours:.1f} h old (threshold {t:g} h)"
    return [Observation("", hours, rule.threshold, hours > t, msg, {"run": ctx.run.pk})]


def _emergency(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    t = float(rule.threshold)
    qs = Proposal.objects.filter(status=ProposalStatus.ACTIVE, kind=ProposalKind.EMERGENCY, ratify_by__isnull=False)
    out = []
    for p in qs.order_by("pk"):
        left = (p.ratify_by - ctx.now).total_seconds() / 3600
        msg = f"emergency change #{p.pk} '{p.title[:80]}' must be ratified within {left:.1f} h (by {p.ratify_by:%Y-%m-%d %H:%M} UTC)"
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


def _notify(firing: AlertFiring, event: str, now: datetime, out: list[int]) -> None:
    """Queue a notification; a firing and its clearing are also written to the audit trail."""
    n = AlertNotification.objects.create(firing=firing, event=event, created_at=now)
    out.append(n.pk)
    if event != NotificationEvent.RENOTIFY:
        audit_record(
            actor=None,
            action=f"alerts.{event}",
            obj=firing,
            to_state=event,
            after={
                "rule": firing.rule.name,
                "subject": firing.subject,
                "value": None if firing.value is None else str(firing.value),
                "threshold": None if firing.threshold is None else str(firing.threshold),
                "run": firing.run_id,
            },
            comment=firing.message,
        )


def alerts_evaluate(*, run: HealthRun | None = None, now: datetime | None = None) -> dict[str, list[int]]:
    """Evaluate every enabled rule (module docstring); notifications are sent after commit.

    Returns ``{"fired": [firing ids], "renotified": [...], "cleared": [...], "notifications": [...]}``.
    An impact run is ignored (it is not the venue's state): the latest published run is used.
    """
    from riskgov.reports.tasks import alerts_notify_task

    now = now or timezone.now()
    if run is not None and (run.kind == RunKind.IMPACT or run.published_at is None):
        run = None
    ctx = Context(run=run or selectors.report_run(), now=now)
    result: dict[str, list[int]] = {"fired": [], "renotified": [], "cleared": [], "notifications": []}
    with transaction.atomic():
        for rule in (
            AlertRule.objects.select_for_update(of=("self",))
            .filter(enabled=True)
            .select_related("market")
            .order_by("pk")
        ):
            observations = EVALUATORS[rule.kind](rule, ctx)
            if observations is None:
                continue
            open_ = {
                f.subject: f for f in AlertFiring.objects.select_for_update().filter(rule=rule, cleared_at__isnull=True)
            }
            seen: set[str] = set()
            for o in observations:
                seen.add(o.subject)
                f = open_.get(o.subject)
                if o.firing and f is None:
                    f = AlertFiring.objects.create(
                        rule=rule,
                        subject=o.subject,
                        run=ctx.run,
                        value=_dec(o.value),
                        threshold=_dec(o.threshold),
                        message=o.message[:300],
                        detail=o.detail,
                        fired_at=now,
                        last_seen_at=now,
                        last_notified_at=now,
                    )
                    result["fired"].append(f.pk)
                    _notify(f, NotificationEvent.FIRED, now, result["notifications"])
                elif o.firing:
                    f.run, f.value, f.threshold = ctx.run, _dec(o.value), _dec(o.threshold)
                    f.message, f.detail, f.last_seen_at = o.message[:300], o.detail, now
                    due = rule.renotify_minutes and (
                        f.last_notified_at is None
                        or (now - f.last_notified_at).total_seconds() >= rule.renotify_minutes * 60
                    )
                    if due:
                        f.last_notified_at = now
                        result["renotified"].append(f.pk)
                        _notify(f, NotificationEvent.RENOTIFY, now, result["notifications"])
                    f.save()
                elif f is not None:
                    f.cleared_at = f.last_seen_at = now
                    f.detail = {**f.detail, "cleared_value": o.value, "cleared_message": o.message[:300]}
                    f.save()
                    result["cleared"].append(f.pk)
                    _notify(f, NotificationEvent.CLEARED, now, result["notifications"])
            for subject, f in open_.items():
                if subject not in seen:  # the subject is gone (market removed, proposal ratified)
                    f.cleared_at = f.last_seen_at = now
                    f.save(update_fields=["cleared_at", "last_seen_at"])
                    result["cleared"].append(f.pk)
                    _notify(f, NotificationEvent.CLEARED, now, result["notifications"])
        for nid in result["notifications"]:
            transaction.on_commit(lambda nid=nid: alerts_notify_task.delay(nid))
    return result


def _claim_notification(notification_id: int) -> AlertNotification | None:
    with transaction.atomic():
        n = (
            AlertNotification.objects.select_for_update()
            .select_related("firing__rule")
            .filter(pk=notification_id)
            .first()
        )
        if n is None or n.status not in (DeliveryStatus.PENDING, DeliveryStatus.FAILED):
            return None
        n.status = DeliveryStatus.SENDING
        n.attempts += 1
        n.save(update_fields=["status", "attempts"])
        return n


def alert_message(n: AlertNotification, to: list[str]) -> EmailMessage:
    """The e-mail of one notification."""
    f, rule = n.firing, n.firing.rule
    what = {"fired": "ALERT", "renotify": "STILL FIRING", "cleared": "cleared"}[n.event]
    subject = f"[riskgov] {what}: {rule.name}{f' [{f.subject}]' if f.subject else ''}"
    body = [
        f"Rule: {rule.name} ({rule.get_kind_display()})",
        f"State: {what}",
        f"Observed: {f.message}",
        f"Value: {'none/∞' if f.value is None else f.value.normalize()}   Threshold: {f.threshold.normalize()}",
        f"Fired at: {f.fired_at:%Y-%m-%d %H:%M} UTC",
    ]
    if f.cleared_at:
        body.append(f"Cleared at: {f.cleared_at:%Y-%m-%d %H:%M} UTC")
    if f.run_id:
        body.append(f"Health run: #{f.run_id}")
    return EmailMessage(subject=subject, body="\n".join(body), from_email=settings.DEFAULT_FROM_EMAIL, to=to)


def alert_notification_send(*, notification_id: int) -> int:
    """Send one notification to the active members of its rule's roles, at most once.

    Returns the number of recipients (0 when already sent or being sent).

    Raises:
        Exception: the mail backend's error (the row is marked ``failed`` so a retry resends).
    """
    n = _claim_notification(notification_id)
    if n is None:
        return 0
    to = list(selectors.role_members(n.firing.rule.roles).values_list("email", flat=True))
    try:
        if to:
            alert_message(n, to).send()
    except Exception as exc:
        AlertNotification.objects.filter(pk=n.pk).update(
            status=DeliveryStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        raise
    AlertNotification.objects.filter(pk=n.pk).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now(), recipients=to, error=""
    )
    return len(to)


DEFAULT_RULES = (
    ("Coverage at ES below 1", AlertKind.COVERAGE_AT_ES, "1"),
    ("Over 5 % of accounts liquidatable", AlertKind.LIQUIDATABLE_ACCOUNTS, "0.05"),
    ("Over 10 % of open interest liquidatable", AlertKind.LIQUIDATABLE_OI, "0.10"),
    ("Bankrupt account over 100,000 USD", AlertKind.BANKRUPT_ACCOUNT, "100000"),
    ("MMF below recommendation", AlertKind.MMF_BELOW_RECOMMENDATION, "0"),
    ("MMF fails backtest", AlertKind.BACKTEST_FAILS, "0"),
    ("Prices older than 26 h", AlertKind.PRICES_STALE, "26"),
    ("Health run failed", AlertKind.RUN_FAILED, "0"),
    ("Health run overdue (3 h)", AlertKind.RUN_OVERDUE, "3"),
    ("Emergency ratification within 12 h", AlertKind.EMERGENCY_RATIFICATION, "12"),
)


@transaction.atomic
def alert_rules_ensure_defaults() -> list[tuple[AlertRule, bool]]:
    """Create the default rules that are missing, by name (idempotent; edited rules are kept)."""
    out = []
    for name, kind, threshold in DEFAULT_RULES:
        rule, created = AlertRule.objects.get_or_create(
            name=name, defaults={"kind": kind, "threshold": Decimal(threshold)}
        )
        out.append((rule, created))
    return out

"""Alert rules: evaluation (after every published run and on a schedule) and notification.

``alerts_evaluate`` observes each enabled rule on **the latest published run** and on the
state of governance and prices, then, per (rule, subject):

* condition starts  → a new ``AlertFiring`` and a ``fired`` notification;
* condition persists → the firing's value/run are updated; a ``renotify`` notification
  only when ``renotify_minutes`` (> 0) have passed since the last one;
* condition ends (or its subject is gone) → ``cleared_at`` is set and **one** ``cleared``
  notification is sent; the e-mail shows the value observed at clearing
  (``detail["cleared_value"]`` / ``detail["cleared_message"]``), not the old bad value.

A rule whose inputs are unknown (no published run yet, no snapshot, no recommendations)
keeps its state; so does one subject whose inputs are unknown (a market whose
recommendation has a note / no ``mmf_rec`` / no current MMF / no backtest): only a false
condition or a subject that is gone clears. "Health run failed" looks at the newest
*finished* run (succeeded or failed): a run in progress changes nothing.

Rule edits: the open firings of a **disabled** rule, and those opened while the rule had
another kind or market (``AlertFiring.rule_kind`` / ``rule_market``), are closed at the next
evaluation with a ``cleared`` notification that says why ("rule disabled" / "rule changed"):
the people who were told it fired are told the episode is over.

Ordering: all rules are locked (``select_for_update``) in one transaction, and the run is
chosen **after** the locks, so concurrent evaluations (beat and a run's publication)
serialize and each sees the newest committed run. A run id passed in (a publication) is a
trigger only: the latest published run is evaluated, and a trigger older than it is skipped
(its newer run's evaluation has run or will run), so a late or retried task never moves a
firing back to an old run.

Notifications are rows created in that transaction and sent after commit by
``alerts.notify`` with the claim-then-send protocol of report deliveries (a retried task
never sends one twice; a ``sending`` or ``sent`` row is never sent again); the scheduled
evaluation re-enqueues those still ``pending``/``failed`` after ``NOTIFY_RETRY_AFTER``
(``alert_notifications_requeue``). Recipients are the active members of the rule's roles,
one per e-mail address (case-insensitive).

Units per kind: ``AlertKind`` labels. Observed values are stored as ``Decimal`` (12 places).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from riskgov.core.services import audit_record
from riskgov.engine.model_flags import DEFAULT_MMF_TOLERANCE, mmf_check
from riskgov.governance.models import Proposal, ProposalKind, ProposalStatus
from riskgov.health.models import AccountResult, HealthRun, RunKind, RunStatus
from riskgov.health.selectors import STALE_AFTER_HOURS
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
        check = mmf_check(cur, [(r.get(h) or {}).get("mmf_rec") for h in ("h1", "h3")], tolerance=tol)
        if check is None:
            out.append(_unknown(r, "recommended or current MMF"))
            continue
        below = check.below
        msg = (
            f"{r['market']}: current MMF {cur:.4%} {'below' if below else 'not below'} the recommended "
            f"{check.recommended:.4%} (§12, tolerance {tol:.2%})"
        )
        out.append(
            Observation(
                r["market"], cur, _dec(check.line), below, msg, {"mmf_rec": check.recommended, "tolerance": tol}
            )
        )
    return out


def _backtest(rule: AlertRule, ctx: Context) -> list[Observation] | None:
    recs = _recs(rule, ctx)
    if recs is None:
        return None
    out = []
    for r in recs:
        tests = [(h, r[h]["backtest"]) for h in ("h1", "h3") if (r.get(h) or {}).get("backtest")]
        if not tests:
            out.append(_unknown(r, "backtest"))
            continue
        failing = [(h, bt) for h, bt in tests if bt.get("reject")]
        h, bt = (failing or tests)[0]
        lr = bt.get("kupiec_lr")
        verdict = "fails" if failing else "passes"
        msg = (
            f"{r['market']}: current MMF {bt.get('mmf', 0):.4%} {verdict} the Kupiec backtest at horizon {h[1:]} d "
            f"({bt.get('exceedances')} exceedances in {bt.get('n')}, LR {lr if lr is not None else '∞'}, "
            f"critical {bt.get('critical')})"
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


def _enqueue_notification(notification_id: int) -> None:
    from riskgov.reports.tasks import alerts_notify_task

    alerts_notify_task.delay(notification_id)


def _notify(firing: AlertFiring, event: str, now: datetime, out: list[int]) -> None:
    """Queue a notification (sent after commit; a failed enqueue is logged and left
    ``pending`` for ``alert_notifications_requeue``); a firing and its clearing are also
    written to the audit trail."""
    n = AlertNotification.objects.create(firing=firing, event=event, created_at=now)
    out.append(n.pk)
    # robust: a broker error is logged (the row stays pending); a lambda, as Django logs its __qualname__
    transaction.on_commit(lambda nid=n.pk: _enqueue_notification(nid), robust=True)
    if event != NotificationEvent.RENOTIFY:
        after = {
            "rule": firing.rule.name,
            "subject": firing.subject,
            "value": None if firing.value is None else str(firing.value),
            "threshold": None if firing.threshold is None else str(firing.threshold),
            "run": firing.run_id,
        }
        if event == NotificationEvent.CLEARED:
            after |= {k: firing.detail.get(k) for k in ("cleared_value", "cleared_reason")}
        audit_record(
            actor=None,
            action=f"alerts.{event}",
            obj=firing,
            to_state=event,
            after=after,
            comment=firing.detail.get("cleared_message", firing.message)
            if event == NotificationEvent.CLEARED
            else firing.message,
        )


#: why an episode was closed (``AlertFiring.detail["cleared_reason"]``)
CLEARED_CONDITION, CLEARED_GONE, CLEARED_DISABLED, CLEARED_CHANGED = (
    "condition",
    "gone",
    "rule disabled",
    "rule changed",
)


def _clear(
    f: AlertFiring,
    now: datetime,
    result: dict[str, list[int]],
    *,
    reason: str,
    message: str,
    value: float | None = None,
) -> None:
    """Close an open episode once, record what was observed then, notify ``cleared``."""
    f.cleared_at = f.last_seen_at = now
    f.detail = {**f.detail, "cleared_value": value, "cleared_message": message[:300], "cleared_reason": reason}
    f.save(update_fields=["cleared_at", "last_seen_at", "detail"])
    result["cleared"].append(f.pk)
    _notify(f, NotificationEvent.CLEARED, now, result["notifications"])


def _scope(rule: AlertRule) -> str:
    return f"{rule.get_kind_display()}{f' of {rule.market.symbol}' if rule.market_id else ''}"


def _is_stale_trigger(trigger: HealthRun | None, latest: HealthRun | None) -> bool:
    """A published venue run older than the latest published one (its evaluation is moot)."""
    if trigger is None or latest is None or trigger.pk == latest.pk:
        return False
    if trigger.kind == RunKind.IMPACT or trigger.published_at is None:
        return False  # not a venue publication: a plain trigger
    return (trigger.published_at, trigger.pk) < (latest.published_at, latest.pk)


def _evaluate_rule(rule: AlertRule, ctx: Context, result: dict[str, list[int]]) -> None:
    now = ctx.now
    open_ = {f.subject: f for f in AlertFiring.objects.select_for_update().filter(rule=rule, cleared_at__isnull=True)}
    if not rule.enabled:
        for f in open_.values():
            _clear(f, now, result, reason=CLEARED_DISABLED, message="the rule was disabled: this episode is closed")
        return
    for subject, f in list(open_.items()):
        if f.rule_kind and (f.rule_kind != rule.kind or f.rule_market_id != rule.market_id):
            msg = f"the rule was changed to watch {_scope(rule)}: this episode is closed"
            _clear(f, now, result, reason=CLEARED_CHANGED, message=msg)
            del open_[subject]
    observations = EVALUATORS[rule.kind](rule, ctx)
    if observations is None:
        return
    seen: set[str] = set()
    for o in observations:
        seen.add(o.subject)
        f = open_.get(o.subject)
        if o.firing is None:  # this subject's inputs are unknown: keep its state
            continue
        if o.firing and f is None:
            f = AlertFiring.objects.create(
                rule=rule,
                subject=o.subject,
                rule_kind=rule.kind,
                rule_market_id=rule.market_id,
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
                f.last_notified_at is None or (now - f.last_notified_at).total_seconds() >= rule.renotify_minutes * 60
            )
            if due:
                f.last_notified_at = now
                result["renotified"].append(f.pk)
                _notify(f, NotificationEvent.RENOTIFY, now, result["notifications"])
            f.save()
        elif f is not None:
            _clear(f, now, result, reason=CLEARED_CONDITION, message=o.message, value=o.value)
    for subject, f in open_.items():
        if subject not in seen:  # the subject is gone (market removed, proposal ratified)
            what = subject or "the venue"
            _clear(f, now, result, reason=CLEARED_GONE, message=f"{what} is no longer observed (gone): cleared")


def alerts_evaluate(
    *, run: HealthRun | None = None, run_id: int | None = None, now: datetime | None = None
) -> dict[str, list[int]]:
    """Evaluate every rule on the latest published run (module docstring); notifications are
    sent after commit.

    ``run`` / ``run_id`` only say which publication triggered the call: the latest published
    (non-impact) run is always the one evaluated, chosen inside the transaction after the
    rule locks; when the trigger is a published run older than the latest, nothing is done.

    Returns ``{"fired": [firing ids], "renotified": [...], "cleared": [...], "notifications": [...]}``
    (all empty when skipped).
    """
    now = now or timezone.now()
    result: dict[str, list[int]] = {"fired": [], "renotified": [], "cleared": [], "notifications": []}
    with transaction.atomic():
        # every rule (disabled ones too: their open firings are closed), locked in pk order
        rules = list(AlertRule.objects.select_for_update(of=("self",)).select_related("market").order_by("pk"))
        latest = selectors.report_run()  # after the locks: the newest committed publication
        trigger_id = run.pk if run is not None else run_id
        trigger = None
        if trigger_id is not None:
            trigger = HealthRun.objects.filter(pk=trigger_id).only("pk", "kind", "published_at").first()
        if _is_stale_trigger(trigger, latest):
            log.info("alert evaluation triggered by run %s skipped: run %s is newer", trigger_id, latest.pk)
            return result
        ctx = Context(run=latest, now=now)
        for rule in rules:
            _evaluate_rule(rule, ctx, result)
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


def _fmt(value: Any) -> str:
    return "none/∞" if value is None else str(Decimal(str(value)).normalize())


def alert_message(n: AlertNotification, to: list[str]) -> EmailMessage:
    """The e-mail of one notification. A ``cleared`` e-mail shows what was observed when the
    episode closed (and why: condition false, subject gone, rule disabled or changed); the
    last value while firing is shown as such."""
    f, rule = n.firing, n.firing.rule
    what = {"fired": "ALERT", "renotify": "STILL FIRING", "cleared": "cleared"}[n.event]
    subject = f"[riskgov] {what}: {rule.name}{f' [{f.subject}]' if f.subject else ''}"
    body = [f"Rule: {rule.name} ({rule.get_kind_display()})", f"State: {what}"]
    if n.event == NotificationEvent.CLEARED and "cleared_message" in f.detail:
        reason = f.detail.get("cleared_reason", CLEARED_CONDITION)
        body.append(f"Observed: {f.detail['cleared_message']}")
        if reason == CLEARED_CONDITION:
            body.append(f"Value: {_fmt(f.detail.get('cleared_value'))}   Threshold: {_fmt(f.threshold)}")
        else:
            body.append(f"Why: {reason}")
        body.append(f"While firing: {f.message} (last value {_fmt(f.value)})")
    else:
        body += [f"Observed: {f.message}", f"Value: {_fmt(f.value)}   Threshold: {_fmt(f.threshold)}"]
    body.append(f"Fired at: {f.fired_at:%Y-%m-%d %H:%M} UTC")
    if f.cleared_at:
        body.append(f"Cleared at: {f.cleared_at:%Y-%m-%d %H:%M} UTC")
    if f.run_id:
        body.append(f"Health run: #{f.run_id}")
    return EmailMessage(subject=subject, body="\n".join(body), from_email=settings.DEFAULT_FROM_EMAIL, to=to)


def alert_notification_send(*, notification_id: int) -> int:
    """Send one notification to the active members of its rule's roles (one per e-mail
    address, case-insensitive), at most once.

    Returns the number of recipients (0 when already sent or being sent).

    Raises:
        Exception: the mail backend's error (the row is marked ``failed`` so a retry resends).
    """
    n = _claim_notification(notification_id)
    if n is None:
        return 0
    to = [u.email for u in selectors.role_recipients(n.firing.rule.roles)]
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


#: a pending/failed notification is re-enqueued by the sweep once it is this old …
NOTIFY_RETRY_AFTER = timedelta(minutes=5)
#: … and at most this old (an older alert e-mail is no longer news; it stays in the admin)
NOTIFY_RETRY_WITHIN = timedelta(days=2)


def alert_notifications_requeue(*, now: datetime | None = None) -> list[int]:
    """Enqueue ``alerts.notify`` again for notifications still ``pending`` (their enqueue
    failed, or the broker lost them) or ``failed`` (the task's retries ran out), created
    between ``NOTIFY_RETRY_WITHIN`` and ``NOTIFY_RETRY_AFTER`` ago. The claim makes a double
    enqueue harmless: a ``sending`` or ``sent`` row is never sent again. A broker error is
    logged (the next sweep tries again). Returns the notification ids enqueued."""
    now = now or timezone.now()
    ids = list(
        selectors.pending_notifications()
        .filter(created_at__lte=now - NOTIFY_RETRY_AFTER, created_at__gte=now - NOTIFY_RETRY_WITHIN)
        .values_list("pk", flat=True)
    )
    done = []
    for nid in ids:
        try:
            _enqueue_notification(nid)
        except Exception:  # noqa: BLE001 — a broker outage: the next sweep retries
            log.exception("could not enqueue alert notification %s", nid)
            continue
        done.append(nid)
    return done


DEFAULT_RULES = (
    ("Coverage at ES below 1", AlertKind.COVERAGE_AT_ES, "1"),
    ("Over 5 % of accounts liquidatable", AlertKind.LIQUIDATABLE_ACCOUNTS, "0.05"),
    ("Over 10 % of open interest liquidatable", AlertKind.LIQUIDATABLE_OI, "0.10"),
    ("Bankrupt account over 100,000 USD", AlertKind.BANKRUPT_ACCOUNT, "100000"),
    ("MMF below recommendation", AlertKind.MMF_BELOW_RECOMMENDATION, f"{DEFAULT_MMF_TOLERANCE:g}"),
    ("MMF fails backtest", AlertKind.BACKTEST_FAILS, "0"),
    (f"Prices older than {STALE_AFTER_HOURS:g} h", AlertKind.PRICES_STALE, f"{STALE_AFTER_HOURS:g}"),
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

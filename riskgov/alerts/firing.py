"""The firing state machine: per (rule, subject), observations open, update and close episodes.

* condition starts  → a new ``AlertFiring`` and a ``fired`` event;
* condition persists → the firing's value/run are updated; a ``renotify`` event
  only when ``renotify_minutes`` (> 0) have passed since the last one;
* condition ends (or its subject is gone) → ``cleared_at`` is set and **one** ``cleared``
  event, showing the value observed at clearing;
* a subject whose inputs are unknown keeps its state; a disabled or changed rule closes its
  open episodes ("rule disabled" / "rule changed").

The events of one rule in one evaluation are e-mailed as **one digest** (one
``AlertNotification`` with an item per event, ``riskgov.alerts.outbox.digest_notify``):
a per-market rule flagging twenty markets at once sends one e-mail per recipient, not twenty.

``alerts_evaluate`` locks every rule, then picks the latest published run, so concurrent
evaluations serialize; a trigger older than the latest published run is skipped (the
package docstring, ``riskgov.alerts``, tells the whole protocol).
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from riskgov.alerts.evaluators import EVALUATORS, Context, dec
from riskgov.alerts.models import (
    CLEARED_CHANGED,
    CLEARED_CONDITION,
    CLEARED_DISABLED,
    CLEARED_GONE,
    AlertFiring,
    AlertRule,
    NotificationEvent,
)
from riskgov.alerts.outbox import digest_notify, firing_event
from riskgov.health.models import HealthRun, RunKind
from riskgov.reports import selectors

log = logging.getLogger(__name__)


def _clear(
    f: AlertFiring,
    now: datetime,
    result: dict[str, list[int]],
    events: list[tuple[AlertFiring, str]],
    *,
    reason: str,
    message: str,
    value: float | None = None,
) -> None:
    """Close an open episode once, record what was observed then, notify ``cleared`` (in the
    rule's digest)."""
    f.cleared_at = f.last_seen_at = now
    f.detail = {**f.detail, "cleared_value": value, "cleared_message": message[:300], "cleared_reason": reason}
    f.save(update_fields=["cleared_at", "last_seen_at", "detail"])
    result["cleared"].append(f.pk)
    firing_event(f, NotificationEvent.CLEARED, events)


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
    """The state machine of one rule; its events of this evaluation become one digest."""
    events: list[tuple[AlertFiring, str]] = []
    _observe_rule(rule, ctx, result, events)
    digest_notify(rule, events, ctx.now, result["notifications"])


def _observe_rule(
    rule: AlertRule, ctx: Context, result: dict[str, list[int]], events: list[tuple[AlertFiring, str]]
) -> None:
    now = ctx.now
    open_ = {f.subject: f for f in AlertFiring.objects.select_for_update().filter(rule=rule, cleared_at__isnull=True)}
    if not rule.enabled:
        for f in open_.values():
            _clear(
                f, now, result, events, reason=CLEARED_DISABLED, message="the rule was disabled: this episode is closed"
            )
        return
    for subject, f in list(open_.items()):
        if f.rule_kind and (f.rule_kind != rule.kind or f.rule_market_id != rule.market_id):
            msg = f"the rule was changed to watch {_scope(rule)}: this episode is closed"
            _clear(f, now, result, events, reason=CLEARED_CHANGED, message=msg)
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
                value=dec(o.value),
                threshold=dec(o.threshold),
                message=o.message[:300],
                detail=o.detail,
                fired_at=now,
                last_seen_at=now,
                last_notified_at=now,
            )
            result["fired"].append(f.pk)
            firing_event(f, NotificationEvent.FIRED, events)
        elif o.firing:
            f.run, f.value, f.threshold = ctx.run, dec(o.value), dec(o.threshold)
            f.message, f.detail, f.last_seen_at = o.message[:300], o.detail, now
            due = rule.renotify_minutes and (
                f.last_notified_at is None or (now - f.last_notified_at).total_seconds() >= rule.renotify_minutes * 60
            )
            if due:
                f.last_notified_at = now
                result["renotified"].append(f.pk)
                firing_event(f, NotificationEvent.RENOTIFY, events)
            f.save()
        elif f is not None:
            _clear(f, now, result, events, reason=CLEARED_CONDITION, message=o.message, value=o.value)
    for subject, f in open_.items():
        if subject not in seen:  # the subject is gone (market removed, proposal ratified)
            what = subject or "the venue"
            _clear(f, now, result, events, reason=CLEARED_GONE, message=f"{what} is no longer observed (gone): cleared")


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

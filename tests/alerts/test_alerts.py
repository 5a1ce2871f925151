"""Alert rules: every kind fires on constructed runs, deduplicates, re-notifies after its
interval and clears once; notifications are e-mailed once even when a task is retried."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from riskgov.alerts import outbox
from riskgov.alerts import services as alerts
from riskgov.alerts.models import AlertFiring, AlertKind, AlertNotification, AlertNotificationItem, AlertRule
from riskgov.alerts.services import alert_notification_send, alert_notifications_requeue, alerts_evaluate
from riskgov.alerts.tasks import alerts_evaluate_task, alerts_notify_task
from riskgov.governance.models import Proposal, ProposalKind
from riskgov.health.models import AccountResult, HealthRun, PositionResult, RunStatus
from riskgov.markets.models import Market
from riskgov.reports.models import DeliveryStatus
from riskgov.snapshots.models import Snapshot
from tests.factories import AssetFactory, MarketFactory, UserFactory
from tests.reports.conftest import make_run

pytestmark = pytest.mark.django_db


def rule(kind, threshold, **kw):
    kw.setdefault("roles", ["committee"])
    return AlertRule.objects.create(name=f"{kind} {threshold}", kind=kind, threshold=Decimal(str(threshold)), **kw)


def evaluate(run=None, now=None, capture=None):
    with capture(execute=True):
        return alerts_evaluate(run=run, now=now)


def rec(market, current, mmf_rec, reject=False):
    bt = {
        "mmf": current,
        "exceedances": 9 if reject else 1,
        "n": 300,
        "expected_rate": 0.005,
        "observed_rate": 0.03,
        "kupiec_lr": 12.5 if reject else 0.4,
        "critical": 3.84,
        "reject": reject,
    }
    return {
        "market": market,
        "asset": market[:3],
        "current_mmf": current,
        "h1": {"horizon_days": 1, "mmf_rec": mmf_rec, "imf_rec": mmf_rec * 2, "backtest": bt},
    }


def accounts(run, rows):
    """rows: (liquidatable, bankrupt, shortfall, position notional)."""
    for i, (liq, bank, short, notional) in enumerate(rows):
        AccountResult.objects.create(
            run=run,
            account_idx=i,
            account_id=f"a{i}",
            equity_usd=-short if bank else 100.0,
            initial_margin_usd=10,
            maintenance_margin_usd=5,
            margin_ratio=None if bank else 0.05,
            liquidatable=liq,
            bankrupt=bank,
            shortfall_usd=short,
        )
        PositionResult.objects.create(
            run=run,
            position_id=i,
            account_idx=i,
            market=Market.objects.get(symbol="BTC-PERP"),
            size=1,
            notional_usd=notional,
            initial_margin_usd=10,
            maintenance_margin_usd=5,
            liquidatable=liq,  # a cross position of a liquidatable account (§5)
        )


@pytest.fixture
def committee(db):
    return [UserFactory(username="m1", roles=["committee"]), UserFactory(username="m2", roles=["committee"])]


@pytest.fixture
def btc(db):
    return MarketFactory(base_asset=AssetFactory(symbol="BTC"))


def _lifecycle(cap, kind, threshold, make_bad, make_good, *, subject=""):
    """Fire on the run ``make_bad()`` publishes, stay quiet on a repeat, clear once on the
    newer run ``make_good()`` publishes (runs are published in order: the latest is evaluated)."""
    r = rule(kind, threshold, renotify_minutes=0)
    bad_run = make_bad()
    out = evaluate(bad_run, capture=cap)
    assert len(out["fired"]) == 1, kind
    f = AlertFiring.objects.get(rule=r)
    assert f.subject == subject and f.run_id == bad_run.pk and f.cleared_at is None
    assert f.rule_kind == kind
    assert len(mail.outbox) == 1 and "ALERT" in mail.outbox[0].subject
    assert set(mail.outbox[0].to) == {"m1@example.org", "m2@example.org"}
    out = evaluate(bad_run, capture=cap)  # dedup: the condition persists, nothing new
    assert out == {"fired": [], "renotified": [], "cleared": [], "notifications": []}
    assert AlertFiring.objects.filter(rule=r).count() == 1 and len(mail.outbox) == 1
    good_run = make_good()
    out = evaluate(good_run, capture=cap)
    assert out["cleared"] == [f.pk] and "cleared" in mail.outbox[-1].subject and len(mail.outbox) == 2
    f.refresh_from_db()
    assert f.cleared_at is not None and f.detail["cleared_reason"] == "condition"
    assert evaluate(good_run, capture=cap)["notifications"] == [] and len(mail.outbox) == 2  # once
    return f


def test_coverage_at_es(committee, django_capture_on_commit_callbacks):
    f = _lifecycle(
        django_capture_on_commit_callbacks,
        AlertKind.COVERAGE_AT_ES,
        1,
        lambda: make_run(coverage_at_es=0.6),
        lambda: make_run(coverage_at_es=None),  # infinity: nothing to cover
    )
    assert f.value == Decimal("0.6") and f.threshold == Decimal(1)


def test_liquidatable_share_of_accounts(committee, django_capture_on_commit_callbacks):
    f = _lifecycle(
        django_capture_on_commit_callbacks,
        AlertKind.LIQUIDATABLE_ACCOUNTS,
        "0.05",
        lambda: make_run(liquidatable_accounts=8, n_accounts=100),
        lambda: make_run(liquidatable_accounts=2, n_accounts=100),
    )
    assert f.value == Decimal("0.08")  # the last value while firing is kept on the firing
    cleared = mail.outbox[-1].body  # … but the "cleared" e-mail shows what was observed at clearing
    assert "Observed: 2 of 100 accounts liquidatable (2.00 %" in cleared and "Value: 0.02   Threshold: 0.05" in cleared
    assert (
        "Observed: 8 of 100" not in cleared and "While firing: 8 of 100" in cleared and "(last value 0.08)" in cleared
    )


def _with_accounts(rows):
    def make():
        run = make_run()
        accounts(run, rows)
        return run

    return make


def test_liquidatable_share_of_open_interest(committee, btc, django_capture_on_commit_callbacks):
    f = _lifecycle(
        django_capture_on_commit_callbacks,
        AlertKind.LIQUIDATABLE_OI,
        "0.1",
        _with_accounts([(True, False, 0, 300.0), (False, False, 0, 700.0)]),  # 30 % of OI liquidatable
        _with_accounts([(True, False, 0, 50.0), (False, False, 0, 950.0)]),  # 5 %
    )
    assert f.value == Decimal("0.3")


def test_bankrupt_account_above_a_size(committee, btc, django_capture_on_commit_callbacks):
    f = _lifecycle(
        django_capture_on_commit_callbacks,
        AlertKind.BANKRUPT_ACCOUNT,
        100_000,
        _with_accounts([(True, True, 250_000.0, 10.0), (True, True, 10.0, 10.0)]),
        _with_accounts([(True, True, 90_000.0, 10.0)]),
    )
    assert f.value == Decimal("250000") and f.detail["accounts_above"] == 1


def test_mmf_below_recommendation_per_market(committee, django_capture_on_commit_callbacks):
    f = _lifecycle(
        django_capture_on_commit_callbacks,
        AlertKind.MMF_BELOW_RECOMMENDATION,
        0,
        lambda: make_run(recommendations=[rec("BTC-PERP", 0.004, 0.006), rec("ETH-PERP", 0.01, 0.008)]),
        lambda: make_run(recommendations=[rec("BTC-PERP", 0.007, 0.006), rec("ETH-PERP", 0.01, 0.008)]),
        subject="BTC-PERP",
    )
    assert f.value == Decimal("0.004") and f.threshold == Decimal("0.006")


def test_mmf_rule_restricted_to_one_market(committee, django_capture_on_commit_callbacks):
    eth = MarketFactory(base_asset=AssetFactory(symbol="ETH"))
    rule(AlertKind.MMF_BELOW_RECOMMENDATION, 0, market=eth)
    run = make_run(recommendations=[rec("BTC-PERP", 0.004, 0.006), rec("ETH-PERP", 0.005, 0.008)])
    evaluate(run, capture=django_capture_on_commit_callbacks)
    assert list(AlertFiring.objects.values_list("subject", flat=True)) == ["ETH-PERP"]


def test_backtest_failure(committee, django_capture_on_commit_callbacks):
    f = _lifecycle(
        django_capture_on_commit_callbacks,
        AlertKind.BACKTEST_FAILS,
        0,
        lambda: make_run(recommendations=[rec("BTC-PERP", 0.004, 0.003, reject=True)]),
        lambda: make_run(recommendations=[rec("BTC-PERP", 0.004, 0.003, reject=False)]),
        subject="BTC-PERP",
    )
    assert f.value == Decimal("12.5") and f.threshold == Decimal("3.84")


def test_prices_older_than_threshold(committee, django_capture_on_commit_callbacks):
    old = Snapshot.objects.create(
        venue="v", taken_at=timezone.now() - dt.timedelta(hours=30), insurance_fund_usd=1, sha256="0" * 64
    )
    bad = make_run(snapshot=old)
    r = rule(AlertKind.PRICES_STALE, 26, renotify_minutes=0)
    assert len(evaluate(bad, capture=django_capture_on_commit_callbacks)["fired"]) == 1
    assert evaluate(bad, capture=django_capture_on_commit_callbacks)["fired"] == []
    make_run(age_hours=1)  # a fresh snapshot arrives
    assert len(evaluate(capture=django_capture_on_commit_callbacks)["cleared"]) == 1
    assert AlertFiring.objects.get(rule=r).cleared_at is not None and len(mail.outbox) == 2


def test_health_run_failed(committee, django_capture_on_commit_callbacks):
    make_run(age_hours=3)
    make_run(age_hours=1, status=RunStatus.FAILED, error="chunk 3 died")
    r = rule(AlertKind.RUN_FAILED, 0, renotify_minutes=0)
    evaluate(capture=django_capture_on_commit_callbacks)
    f = AlertFiring.objects.get(rule=r)
    assert "chunk 3 died" in f.message and "chunk 3 died" in mail.outbox[0].body
    make_run(age_hours=0.1)  # the next run succeeds
    evaluate(capture=django_capture_on_commit_callbacks)
    f.refresh_from_db()
    assert f.cleared_at is not None and len(mail.outbox) == 2


def test_health_run_failed_is_not_cleared_by_a_run_in_progress(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    make_run(age_hours=3)
    make_run(age_hours=2, status=RunStatus.FAILED, error="chunk 3 died")
    r = rule(AlertKind.RUN_FAILED, 0, renotify_minutes=0)
    evaluate(capture=cap)
    f = AlertFiring.objects.get(rule=r)
    make_run(age_hours=1, status=RunStatus.RUNNING)  # the next run starts: not a success yet
    make_run(age_hours=0.5, status=RunStatus.PENDING)
    assert evaluate(capture=cap)["cleared"] == []
    f.refresh_from_db()
    assert f.cleared_at is None and len(mail.outbox) == 1
    make_run(age_hours=0.1)  # a run succeeds
    assert evaluate(capture=cap)["cleared"] == [f.pk]


def test_a_failed_run_fires_even_while_a_newer_one_runs(committee, django_capture_on_commit_callbacks):
    make_run(age_hours=3, status=RunStatus.FAILED, error="out of memory")
    make_run(age_hours=1, status=RunStatus.RUNNING)
    r = rule(AlertKind.RUN_FAILED, 0)
    evaluate(capture=django_capture_on_commit_callbacks)
    assert "out of memory" in AlertFiring.objects.get(rule=r).message


def test_health_run_overdue(committee, django_capture_on_commit_callbacks):
    old = make_run(age_hours=5)
    r = rule(AlertKind.RUN_OVERDUE, 3, renotify_minutes=0)
    evaluate(capture=django_capture_on_commit_callbacks)
    f = AlertFiring.objects.get(rule=r)
    assert f.run_id == old.pk and 4.9 < f.value < 5.1
    make_run(age_hours=0.5)
    evaluate(capture=django_capture_on_commit_callbacks)
    f.refresh_from_db()
    assert f.cleared_at is not None


def test_emergency_ratification_near_deadline(committee, django_capture_on_commit_callbacks):
    now = timezone.now()
    author = UserFactory(username="ana", roles=["analyst"])
    p = Proposal.objects.create(
        title="cut leverage",
        rationale="r",
        proposer=author,
        proposer_name="ana",
        kind=ProposalKind.EMERGENCY,
        requested_effective_at=now,
        ratify_by=now + dt.timedelta(hours=40),
    )
    Proposal.objects.filter(pk=p.pk).update(status="active")
    r = rule(AlertKind.EMERGENCY_RATIFICATION, 12, renotify_minutes=0)
    assert evaluate(now=now, capture=django_capture_on_commit_callbacks)["fired"] == []  # 40 h left
    later = now + dt.timedelta(hours=30)  # 10 h left
    assert len(evaluate(now=later, capture=django_capture_on_commit_callbacks)["fired"]) == 1
    f = AlertFiring.objects.get(rule=r)
    assert f.subject == f"proposal #{p.pk}" and "cut leverage" in f.message
    Proposal.objects.filter(pk=p.pk).update(status="ratified")  # ratified: the subject is gone
    out = evaluate(now=later + dt.timedelta(minutes=5), capture=django_capture_on_commit_callbacks)
    assert out["cleared"] == [f.pk] and len(mail.outbox) == 2


def test_renotify_after_the_interval_only(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    run = make_run(coverage_at_es=0.5)
    rule(AlertKind.COVERAGE_AT_ES, 1, renotify_minutes=60)
    t0 = timezone.now()
    evaluate(run, now=t0, capture=cap)
    assert evaluate(run, now=t0 + dt.timedelta(minutes=59), capture=cap)["renotified"] == []
    out = evaluate(run, now=t0 + dt.timedelta(minutes=61), capture=cap)
    assert len(out["renotified"]) == 1 and "STILL FIRING" in mail.outbox[-1].subject
    assert evaluate(run, now=t0 + dt.timedelta(minutes=100), capture=cap)["renotified"] == []
    assert len(evaluate(run, now=t0 + dt.timedelta(minutes=122), capture=cap)["renotified"]) == 1
    assert len(mail.outbox) == 3 and AlertFiring.objects.count() == 1


def test_fires_again_after_clearing_as_a_new_firing(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    rule(AlertKind.COVERAGE_AT_ES, 1)
    evaluate(make_run(coverage_at_es=0.5), capture=cap)
    evaluate(make_run(coverage_at_es=2.0), capture=cap)
    evaluate(make_run(coverage_at_es=0.7), capture=cap)
    assert AlertFiring.objects.count() == 2 and AlertFiring.objects.filter(cleared_at__isnull=True).count() == 1
    from riskgov.core.models import AuditEvent

    trail = list(
        AuditEvent.objects.filter(action__startswith="alerts.").order_by("id").values_list("action", flat=True)
    )
    assert trail == ["alerts.fired", "alerts.cleared", "alerts.fired"]  # firing and clearing are audited


def test_unknown_inputs_keep_the_state_and_disabled_rules_are_skipped(committee, django_capture_on_commit_callbacks):
    r = rule(AlertKind.COVERAGE_AT_ES, 1)
    rule(AlertKind.LIQUIDATABLE_ACCOUNTS, "0.01", enabled=False)
    assert evaluate(capture=django_capture_on_commit_callbacks)["notifications"] == []  # no run at all
    run = make_run(coverage_at_es=0.5, liquidatable_accounts=50)
    evaluate(run, capture=django_capture_on_commit_callbacks)
    assert list(AlertFiring.objects.values_list("rule", flat=True)) == [r.pk]


def test_a_notification_is_sent_once_even_when_retried(committee, django_capture_on_commit_callbacks):
    rule(AlertKind.COVERAGE_AT_ES, 1)
    run = make_run(coverage_at_es=0.5)
    with mock.patch.object(outbox.EmailMessage, "send", side_effect=ConnectionError("smtp down")):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            out = alerts_evaluate(run=run)
        with pytest.raises(ConnectionError):
            alert_notification_send(notification_id=out["notifications"][0])
    n = AlertNotification.objects.get()
    assert n.status == DeliveryStatus.FAILED and len(callbacks) == 1 and mail.outbox == []
    assert alert_notification_send(notification_id=n.pk) == 2  # the retry sends
    assert alert_notification_send(notification_id=n.pk) == 0  # a duplicate delivery does not
    assert len(mail.outbox) == 1
    n.refresh_from_db()
    assert (
        n.status == DeliveryStatus.SENT
        and n.attempts == 2
        and sorted(n.recipients) == ["m1@example.org", "m2@example.org"]
    )


def test_published_health_run_triggers_the_evaluation(committee, venue, django_capture_on_commit_callbacks):
    """The health app's ``run_published`` signal → ``alerts.evaluate`` on the new run."""
    from riskgov.health.services import health_run_create

    r = rule(AlertKind.LIQUIDATABLE_ACCOUNTS, "0.0")
    with django_capture_on_commit_callbacks(execute=True):
        run = health_run_create(snapshot=venue)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.liquidatable_accounts > 0
    f = AlertFiring.objects.get(rule=r)
    assert f.run_id == run.pk and len(mail.outbox) == 1
    assert HealthRun.objects.count() == 1


def test_default_rules_command_is_idempotent(db):
    from django.core.management import call_command

    call_command("setup_alert_rules")
    AlertRule.objects.filter(kind=AlertKind.COVERAGE_AT_ES).update(threshold=Decimal("1.5"))
    call_command("setup_alert_rules")
    assert AlertRule.objects.count() == len(alerts.DEFAULT_RULES) == len(AlertKind.values)
    assert AlertRule.objects.get(kind=AlertKind.COVERAGE_AT_ES).threshold == Decimal("1.5")


# --------------------------------------------------------------------------- review fixes
def test_a_late_trigger_of_an_older_run_is_skipped(committee, django_capture_on_commit_callbacks):
    """Run A (bad) fires, run B (good) clears; A's late or retried task must not re-fire."""
    cap = django_capture_on_commit_callbacks
    r = rule(AlertKind.COVERAGE_AT_ES, 1, renotify_minutes=0)
    a = make_run(coverage_at_es=0.5)
    evaluate(a, capture=cap)
    b = make_run(coverage_at_es=3.0)
    assert len(evaluate(b, capture=cap)["cleared"]) == 1
    assert evaluate(a, capture=cap) == {"fired": [], "renotified": [], "cleared": [], "notifications": []}
    with cap(execute=True):
        out = alerts_evaluate_task.apply(kwargs={"run_id": a.pk}, throw=True).get()
    assert out["fired"] == [] and AlertFiring.objects.filter(rule=r, cleared_at__isnull=True).count() == 0
    assert len(mail.outbox) == 2


def test_a_late_trigger_never_moves_the_firing_back_to_an_older_run(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    r = rule(AlertKind.COVERAGE_AT_ES, 1, renotify_minutes=0)
    x = make_run(coverage_at_es=0.5)
    evaluate(x, capture=cap)
    y = make_run(coverage_at_es=0.4)
    evaluate(y, capture=cap)
    evaluate(x, capture=cap)  # X's post-publication task, redelivered late
    f = AlertFiring.objects.get(rule=r)
    assert f.run_id == y.pk and f.value == Decimal("0.4")


def test_the_trigger_is_only_a_trigger_the_latest_run_is_evaluated(committee, django_capture_on_commit_callbacks):
    """A scheduled evaluation (or an impact run's) evaluates the newest publication."""
    cap = django_capture_on_commit_callbacks
    r = rule(AlertKind.COVERAGE_AT_ES, 1)
    make_run(coverage_at_es=0.5)
    newest = make_run(coverage_at_es=0.3)
    impact = make_run(coverage_at_es=5.0, kind="impact", age_hours=0.01)
    evaluate(impact, capture=cap)
    assert AlertFiring.objects.get(rule=r).run_id == newest.pk


def test_unknown_market_inputs_keep_the_firing_open_until_fixed_or_gone(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    mmf = rule(AlertKind.MMF_BELOW_RECOMMENDATION, 0, renotify_minutes=0)
    bt = rule(AlertKind.BACKTEST_FAILS, 0, renotify_minutes=0)
    evaluate(make_run(recommendations=[rec("BTC-PERP", 0.004, 0.006, reject=True)]), capture=cap)
    assert AlertFiring.objects.filter(cleared_at__isnull=True).count() == 2 and len(mail.outbox) == 2
    unknown = {"market": "BTC-PERP", "current_mmf": None, "note": "not enough price history", "h1": {"mmf_rec": None}}
    out = evaluate(make_run(recommendations=[unknown, rec("ETH-PERP", 0.01, 0.008)]), capture=cap)
    assert out["cleared"] == [] and len(mail.outbox) == 2  # unknown is not "fixed"
    out = evaluate(make_run(recommendations=[]), capture=cap)  # recommendations not computed: unknown
    assert out["cleared"] == []
    out = evaluate(make_run(recommendations=[rec("BTC-PERP", 0.007, 0.006)]), capture=cap)  # fixed
    assert sorted(out["cleared"]) == sorted(AlertFiring.objects.values_list("pk", flat=True))
    assert AlertFiring.objects.get(rule=mmf).detail["cleared_reason"] == "condition"
    assert AlertFiring.objects.get(rule=bt).detail["cleared_reason"] == "condition"


def test_a_market_that_is_gone_clears(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    r = rule(AlertKind.MMF_BELOW_RECOMMENDATION, 0, renotify_minutes=0)
    evaluate(make_run(recommendations=[rec("BTC-PERP", 0.004, 0.006)]), capture=cap)
    out = evaluate(make_run(recommendations=[rec("ETH-PERP", 0.01, 0.008)]), capture=cap)
    f = AlertFiring.objects.get(rule=r)
    assert out["cleared"] == [f.pk] and f.detail["cleared_reason"] == "gone"
    assert "BTC-PERP is no longer observed" in mail.outbox[-1].body


def test_a_failed_enqueue_is_made_up_by_the_scheduled_sweep(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    rule(AlertKind.COVERAGE_AT_ES, 1)
    make_run(coverage_at_es=0.5)
    with mock.patch("riskgov.alerts.tasks.alerts_notify_task.delay", side_effect=ConnectionError("broker down")):
        out = evaluate(capture=cap)  # robust on_commit: the error is logged, the evaluation stands
    n = AlertNotification.objects.get(pk=out["notifications"][0])
    assert n.status == DeliveryStatus.PENDING and mail.outbox == []
    assert alert_notifications_requeue() == []  # too young: its own task may still be on its way
    later = timezone.now() + dt.timedelta(minutes=10)
    assert alert_notifications_requeue(now=later) == [n.pk]
    n.refresh_from_db()
    assert n.status == DeliveryStatus.SENT and len(mail.outbox) == 1
    assert alert_notifications_requeue(now=later) == [] and len(mail.outbox) == 1  # sent: never again


def _digest(f, event="renotify", **kw):
    n = AlertNotification.objects.create(rule=f.rule, **kw)
    AlertNotificationItem.objects.create(notification=n, firing=f, event=event)
    return n


def test_failed_notifications_are_retried_but_sending_ones_never(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    r = rule(AlertKind.COVERAGE_AT_ES, 1)
    evaluate(make_run(coverage_at_es=0.5), capture=cap)
    f = AlertFiring.objects.get(rule=r)
    mail.outbox.clear()
    old = timezone.now() - dt.timedelta(minutes=30)
    failed = _digest(f, status=DeliveryStatus.FAILED, attempts=6, created_at=old)
    sending = _digest(f, status=DeliveryStatus.SENDING, created_at=old)
    ancient = _digest(f, status=DeliveryStatus.FAILED, created_at=old - dt.timedelta(days=3))
    with cap(execute=True):
        out = alerts_evaluate_task.apply(throw=True).get()  # the scheduled evaluation sweeps
    assert out["requeued_notifications"] == [failed.pk]
    status = dict(AlertNotification.objects.values_list("pk", "status"))
    assert status[failed.pk] == DeliveryStatus.SENT  # retried after its task gave up
    assert status[sending.pk] == DeliveryStatus.SENDING  # maybe sent already: never again
    assert status[ancient.pk] == DeliveryStatus.FAILED  # too old to be news
    assert len(mail.outbox) == 1


def test_a_disabled_rule_closes_its_open_firings(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    r = rule(AlertKind.COVERAGE_AT_ES, 1, renotify_minutes=0)
    evaluate(make_run(coverage_at_es=0.5), capture=cap)
    AlertRule.objects.filter(pk=r.pk).update(enabled=False)
    out = evaluate(capture=cap)
    f = AlertFiring.objects.get(rule=r)
    assert out["cleared"] == [f.pk] and f.detail["cleared_reason"] == "rule disabled"
    assert "cleared" in mail.outbox[-1].subject and "the rule was disabled" in mail.outbox[-1].body
    assert evaluate(capture=cap)["notifications"] == [] and len(mail.outbox) == 2  # nothing more while disabled


def test_a_rule_whose_kind_or_market_changed_closes_the_old_episode(committee, btc, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    eth = MarketFactory(base_asset=AssetFactory(symbol="ETH"))
    r = rule(AlertKind.MMF_BELOW_RECOMMENDATION, 0, renotify_minutes=0)
    evaluate(make_run(recommendations=[rec("BTC-PERP", 0.004, 0.006), rec("ETH-PERP", 0.005, 0.008)]), capture=cap)
    assert AlertFiring.objects.filter(rule=r, cleared_at__isnull=True).count() == 2
    AlertRule.objects.filter(pk=r.pk).update(market=eth)  # now watches ETH only
    out = evaluate(capture=cap)
    assert len(out["cleared"]) == 2 and len(out["fired"]) == 1  # both old episodes closed; ETH's reopens
    new = AlertFiring.objects.get(rule=r, cleared_at__isnull=True)
    assert new.subject == "ETH-PERP" and new.rule_market_id == eth.pk
    assert {f.detail["cleared_reason"] for f in AlertFiring.objects.filter(rule=r, cleared_at__isnull=False)} == {
        "rule changed"
    }
    AlertRule.objects.filter(pk=r.pk).update(kind=AlertKind.BACKTEST_FAILS)  # another kind
    out = evaluate(capture=cap)
    assert (
        out["cleared"] == [new.pk]
        and "changed to watch" in AlertFiring.objects.get(pk=new.pk).detail["cleared_message"]
    )


def test_saving_a_rule_in_the_admin_evaluates_soon(committee, rf, django_capture_on_commit_callbacks):
    from django.contrib.admin.sites import site

    from riskgov.alerts.admin import AlertRuleAdmin

    cap = django_capture_on_commit_callbacks
    r = rule(AlertKind.COVERAGE_AT_ES, 1)
    evaluate(make_run(coverage_at_es=0.5), capture=cap)
    r.enabled = False
    with cap(execute=True):
        AlertRuleAdmin(AlertRule, site).save_model(rf.post("/"), r, None, change=True)
    assert AlertFiring.objects.get(rule=r).detail["cleared_reason"] == "rule disabled"


@pytest.mark.parametrize(
    "kind, threshold, ok",
    [
        (AlertKind.LIQUIDATABLE_ACCOUNTS, "0.05", True),
        (AlertKind.LIQUIDATABLE_ACCOUNTS, "1", True),
        (AlertKind.LIQUIDATABLE_ACCOUNTS, "5", False),  # 5 % written as a percentage
        (AlertKind.LIQUIDATABLE_ACCOUNTS, "0", False),
        (AlertKind.LIQUIDATABLE_OI, "0.1", True),
        (AlertKind.LIQUIDATABLE_OI, "10", False),
        (AlertKind.COVERAGE_AT_ES, "1.5", True),
        (AlertKind.COVERAGE_AT_ES, "0", False),
        (AlertKind.PRICES_STALE, "-1", False),
    ],
)
def test_thresholds_are_validated_in_their_unit(kind, threshold, ok):
    r = AlertRule(name="x", kind=kind, threshold=Decimal(threshold), roles=["committee"])
    if ok:
        r.full_clean()
    else:
        with pytest.raises(ValidationError) as err:
            r.full_clean()
        assert "threshold" in err.value.message_dict


def test_liquidatable_share_labels_cite_section_5():
    for kind in (AlertKind.LIQUIDATABLE_ACCOUNTS, AlertKind.LIQUIDATABLE_OI):
        assert "§5" in kind.label and "fraction" in kind.label


def test_one_alert_email_per_address(committee, django_capture_on_commit_callbacks):
    UserFactory(username="m1-alt", roles=["committee"], email="M1@Example.org")  # same person, two accounts
    rule(AlertKind.COVERAGE_AT_ES, 1)
    out = evaluate(make_run(coverage_at_es=0.5), capture=django_capture_on_commit_callbacks)
    assert len(mail.outbox) == 1 and sorted(mail.outbox[0].to) == ["m1@example.org", "m2@example.org"]
    assert alert_notification_send(notification_id=out["notifications"][0]) == 0  # and once only


# --------------------------------------------------------------------------- digests (issue #12)
MARKETS = [f"M{i:02d}-PERP" for i in range(20)]


def _all_flagged(good=()):
    """A run whose 20 markets are all below their recommendation and fail the backtest,
    except ``good`` (fine on both)."""
    return make_run(
        recommendations=[rec(m, 0.007, 0.006) if m in good else rec(m, 0.004, 0.006, reject=True) for m in MARKETS]
    )


def _per_rule(outbox):
    """E-mails of each rule (by the rule's name in the subject) → how many each address got."""
    out = {}
    for m in outbox:
        name = "MMF fails" if "backtest" in m.subject else "MMF below"
        for to in m.to:
            out.setdefault(name, {}).setdefault(to.lower(), 0)
            out[name][to.lower()] += 1
    return out


def test_twenty_markets_flagged_at_once_are_one_digest_per_rule_and_recipient(
    committee, django_capture_on_commit_callbacks
):
    cap = django_capture_on_commit_callbacks
    UserFactory(username="m1-alt", roles=["committee"], email="M1@Example.org")  # one e-mail per address
    below = AlertRule.objects.create(name="MMF below recommendation", kind=AlertKind.MMF_BELOW_RECOMMENDATION)
    bt = AlertRule.objects.create(name="MMF fails backtest", kind=AlertKind.BACKTEST_FAILS)
    for r in (below, bt):
        r.roles = ["committee"]
        r.save()
    out = evaluate(_all_flagged(), capture=cap)
    assert len(out["fired"]) == 40 and len(out["notifications"]) == 2  # one digest per rule
    assert len(mail.outbox) == 2
    assert _per_rule(mail.outbox) == {
        "MMF below": {"m1@example.org": 1, "m2@example.org": 1},
        "MMF fails": {"m1@example.org": 1, "m2@example.org": 1},
    }
    for m in mail.outbox:
        assert "ALERT" in m.subject and "20 fired" in m.subject
        assert all(f"--- {s}: ALERT" in m.body for s in MARKETS)  # every market listed …
    body = next(m.body for m in mail.outbox if "below" in m.subject)
    assert "M07-PERP: current MMF 0.400 % below the recommended 0.600 %" in body  # … with its message,
    assert "Value: 0.004   Threshold: 0.006" in body  # value and threshold
    assert {n.items.count() for n in AlertNotification.objects.all()} == {20}
    from riskgov.core.models import AuditEvent

    assert AuditEvent.objects.filter(action="alerts.fired").count() == 40  # each firing still audited


def test_a_second_evaluation_sends_nothing_unless_renotify_is_due_then_one_digest(
    committee, django_capture_on_commit_callbacks
):
    cap = django_capture_on_commit_callbacks
    rule(AlertKind.MMF_BELOW_RECOMMENDATION, 0, renotify_minutes=60)
    run = _all_flagged()
    t0 = timezone.now()
    evaluate(run, now=t0, capture=cap)
    assert len(mail.outbox) == 1
    out = evaluate(run, now=t0 + dt.timedelta(minutes=30), capture=cap)  # nothing new
    assert out == {"fired": [], "renotified": [], "cleared": [], "notifications": []} and len(mail.outbox) == 1
    out = evaluate(run, now=t0 + dt.timedelta(minutes=61), capture=cap)  # renotify due for all 20
    assert len(out["renotified"]) == 20 and len(out["notifications"]) == 1 and len(mail.outbox) == 2
    m = mail.outbox[-1]
    assert "STILL FIRING" in m.subject and "20 still firing" in m.subject
    assert all(f"--- {s}: STILL FIRING" in m.body for s in MARKETS)


def test_a_clearing_of_three_markets_is_one_digest(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    r = rule(AlertKind.MMF_BELOW_RECOMMENDATION, 0, renotify_minutes=0)
    evaluate(_all_flagged(), capture=cap)
    fixed = MARKETS[:3]
    out = evaluate(_all_flagged(good=fixed), capture=cap)
    assert len(out["cleared"]) == 3 and len(out["notifications"]) == 1 and len(mail.outbox) == 2
    m = mail.outbox[-1]
    assert "cleared" in m.subject and "3 cleared" in m.subject
    for s in fixed:
        assert f"--- {s}: cleared" in m.body and f"Observed: {s}: current MMF 0.700 % not below" in m.body
    assert "Also still firing (17, notified before):" in m.body  # the rule's whole state
    assert all(f"- {s}: " in m.body for s in MARKETS[3:])
    assert AlertFiring.objects.filter(rule=r, cleared_at__isnull=True).count() == 17


def test_fired_and_cleared_in_one_evaluation_share_the_digest(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    rule(AlertKind.MMF_BELOW_RECOMMENDATION, 0, renotify_minutes=0)
    evaluate(make_run(recommendations=[rec("BTC-PERP", 0.004, 0.006), rec("ETH-PERP", 0.01, 0.008)]), capture=cap)
    out = evaluate(
        make_run(recommendations=[rec("BTC-PERP", 0.007, 0.006), rec("ETH-PERP", 0.005, 0.008)]), capture=cap
    )
    assert len(out["fired"]) == 1 and len(out["cleared"]) == 1 and len(out["notifications"]) == 1
    m = mail.outbox[-1]
    assert "ALERT" in m.subject and "1 fired, 1 cleared" in m.subject
    assert m.body.index("--- ETH-PERP: ALERT") < m.body.index("--- BTC-PERP: cleared")


def test_a_crash_between_claim_and_send_never_double_sends(committee, django_capture_on_commit_callbacks):
    """The worker dies after claiming a digest (before or after the SMTP call): the retried
    task and the sweep never send it again; it stays ``sending`` for a person to look at."""
    cap = django_capture_on_commit_callbacks
    rule(AlertKind.MMF_BELOW_RECOMMENDATION, 0)
    with cap(execute=False):
        out = alerts_evaluate(run=_all_flagged())
    (nid,) = out["notifications"]
    assert outbox._claim_notification(nid) is not None  # claimed … then the process is killed
    with cap(execute=True):
        assert alerts_notify_task.apply(args=[nid], throw=True).get() == 0  # acks_late redelivery
        assert alert_notifications_requeue(now=timezone.now() + dt.timedelta(minutes=10)) == []
    n = AlertNotification.objects.get(pk=nid)
    assert n.status == DeliveryStatus.SENDING and n.attempts == 1 and mail.outbox == []


def test_a_digest_whose_send_failed_is_resent_once_by_the_sweep(committee, django_capture_on_commit_callbacks):
    cap = django_capture_on_commit_callbacks
    rule(AlertKind.MMF_BELOW_RECOMMENDATION, 0)
    with mock.patch.object(outbox.EmailMessage, "send", side_effect=ConnectionError("smtp down")):
        with cap(execute=False):
            out = alerts_evaluate(run=_all_flagged())
        with pytest.raises(ConnectionError):
            alert_notification_send(notification_id=out["notifications"][0])
    later = timezone.now() + dt.timedelta(minutes=10)
    with cap(execute=True):
        assert alert_notifications_requeue(now=later) == out["notifications"]
        assert alert_notifications_requeue(now=later) == []
    assert len(mail.outbox) == 1 and "20 fired" in mail.outbox[0].subject


def test_the_admin_lists_a_digest_and_its_items(committee, client, django_capture_on_commit_callbacks):
    rule(AlertKind.MMF_BELOW_RECOMMENDATION, 0)
    out = evaluate(_all_flagged(), capture=django_capture_on_commit_callbacks)
    client.force_login(UserFactory(username="root", roles=["admin"], is_staff=True, is_superuser=True))
    page = client.get("/admin/alerts/alertnotification/")
    assert page.status_code == 200 and b">20<" in page.content  # the digest's number of firings
    page = client.get(f"/admin/alerts/alertnotification/{out['notifications'][0]}/change/")
    assert page.status_code == 200 and b"M19-PERP" in page.content

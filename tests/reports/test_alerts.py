"""Alert rules: every kind fires on constructed runs, deduplicates, re-notifies after its
interval and clears once; notifications are e-mailed once even when a task is retried."""

import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.core import mail
from django.utils import timezone

from riskgov.governance.models import Proposal, ProposalKind
from riskgov.health.models import AccountResult, HealthRun, PositionResult, RunStatus
from riskgov.markets.models import Market
from riskgov.reports import alerts
from riskgov.reports.alerts import alert_notification_send, alerts_evaluate
from riskgov.reports.models import AlertFiring, AlertKind, AlertNotification, AlertRule, DeliveryStatus
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
        )


@pytest.fixture
def committee(db):
    return [UserFactory(username="m1", roles=["committee"]), UserFactory(username="m2", roles=["committee"])]


@pytest.fixture
def btc(db):
    return MarketFactory(base_asset=AssetFactory(symbol="BTC"))


def _lifecycle(cap, kind, threshold, bad_run, good_run, *, subject=""):
    """Fire on ``bad_run``, stay quiet on a repeat, clear once on ``good_run``."""
    r = rule(kind, threshold, renotify_minutes=0)
    out = evaluate(bad_run, capture=cap)
    assert len(out["fired"]) == 1, kind
    f = AlertFiring.objects.get(rule=r)
    assert f.subject == subject and f.run_id == bad_run.pk and f.cleared_at is None
    assert len(mail.outbox) == 1 and "ALERT" in mail.outbox[0].subject
    assert set(mail.outbox[0].to) == {"m1@example.org", "m2@example.org"}
    out = evaluate(bad_run, capture=cap)  # dedup: the condition persists, nothing new
    assert out == {"fired": [], "renotified": [], "cleared": [], "notifications": []}
    assert AlertFiring.objects.filter(rule=r).count() == 1 and len(mail.outbox) == 1
    out = evaluate(good_run, capture=cap)
    assert out["cleared"] == [f.pk] and "cleared" in mail.outbox[-1].subject and len(mail.outbox) == 2
    f.refresh_from_db()
    assert f.cleared_at is not None
    assert evaluate(good_run, capture=cap)["notifications"] == [] and len(mail.outbox) == 2  # once
    return f


def test_coverage_at_es(committee, django_capture_on_commit_callbacks):
    bad = make_run(coverage_at_es=0.6)
    good = make_run(coverage_at_es=None)  # infinity: nothing to cover
    f = _lifecycle(django_capture_on_commit_callbacks, AlertKind.COVERAGE_AT_ES, 1, bad, good)
    assert f.value == Decimal("0.6") and f.threshold == Decimal(1)


def test_liquidatable_share_of_accounts(committee, django_capture_on_commit_callbacks):
    f = _lifecycle(
        django_capture_on_commit_callbacks,
        AlertKind.LIQUIDATABLE_ACCOUNTS,
        "0.05",
        make_run(liquidatable_accounts=8, n_accounts=100),
        make_run(liquidatable_accounts=2, n_accounts=100),
    )
    assert f.value == Decimal("0.08")


def test_liquidatable_share_of_open_interest(committee, btc, django_capture_on_commit_callbacks):
    bad, good = make_run(), make_run()
    accounts(bad, [(True, False, 0, 300.0), (False, False, 0, 700.0)])  # 30 % of OI liquidatable
    accounts(good, [(True, False, 0, 50.0), (False, False, 0, 950.0)])  # 5 %
    f = _lifecycle(django_capture_on_commit_callbacks, AlertKind.LIQUIDATABLE_OI, "0.1", bad, good)
    assert f.value == Decimal("0.3")


def test_bankrupt_account_above_a_size(committee, btc, django_capture_on_commit_callbacks):
    bad, good = make_run(), make_run()
    accounts(bad, [(True, True, 250_000.0, 10.0), (True, True, 10.0, 10.0)])
    accounts(good, [(True, True, 90_000.0, 10.0)])
    f = _lifecycle(django_capture_on_commit_callbacks, AlertKind.BANKRUPT_ACCOUNT, 100_000, bad, good)
    assert f.value == Decimal("250000") and f.detail["accounts_above"] == 1


def test_mmf_below_recommendation_per_market(committee, django_capture_on_commit_callbacks):
    bad = make_run(recommendations=[rec("BTC-PERP", 0.004, 0.006), rec("ETH-PERP", 0.01, 0.008)])
    good = make_run(recommendations=[rec("BTC-PERP", 0.007, 0.006), rec("ETH-PERP", 0.01, 0.008)])
    f = _lifecycle(
        django_capture_on_commit_callbacks, AlertKind.MMF_BELOW_RECOMMENDATION, 0, bad, good, subject="BTC-PERP"
    )
    assert f.value == Decimal("0.004") and f.threshold == Decimal("0.006")


def test_mmf_rule_restricted_to_one_market(committee, django_capture_on_commit_callbacks):
    eth = MarketFactory(base_asset=AssetFactory(symbol="ETH"))
    rule(AlertKind.MMF_BELOW_RECOMMENDATION, 0, market=eth)
    run = make_run(recommendations=[rec("BTC-PERP", 0.004, 0.006), rec("ETH-PERP", 0.005, 0.008)])
    evaluate(run, capture=django_capture_on_commit_callbacks)
    assert list(AlertFiring.objects.values_list("subject", flat=True)) == ["ETH-PERP"]


def test_backtest_failure(committee, django_capture_on_commit_callbacks):
    bad = make_run(recommendations=[rec("BTC-PERP", 0.004, 0.003, reject=True)])
    good = make_run(recommendations=[rec("BTC-PERP", 0.004, 0.003, reject=False)])
    f = _lifecycle(django_capture_on_commit_callbacks, AlertKind.BACKTEST_FAILS, 0, bad, good, subject="BTC-PERP")
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
    with mock.patch.object(alerts.EmailMessage, "send", side_effect=ConnectionError("smtp down")):
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

"""Issue 13 items 4–6: the Django admin cannot bend risk inputs; governance-relevant changes
outside the services (membership, beat schedule, alert rules, sign-ins) are audited; login
throttling and lock-out per user and per address, with an audited admin unlock."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from riskgov.core.models import AuditEvent
from riskgov.core.roles import ADMIN, COMMITTEE, VIEWER
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

RISK_INPUTS = [
    "markets.market",
    "markets.asset",
    "markets.dailyclose",
    "markets.pricebar",
    "snapshots.snapshot",
    "health.healthrun",
    "reports.report",
    "reports.reportdelivery",
    "alerts.alertfiring",
    "alerts.alertnotification",
    "parameters.marketparameterversion",
    "parameters.assetparameterversion",
    "governance.proposal",
    "governance.vote",
    "core.auditevent",
]


# --- item 4: risk inputs are read-only in the admin ------------------------------------------
@pytest.mark.parametrize("label", RISK_INPUTS)
def test_risk_inputs_are_read_only_in_the_admin_even_for_a_superuser(admin_client, label):
    from types import SimpleNamespace

    from django.contrib import admin
    from django.contrib.auth import get_user_model

    model_admin = admin.site._registry[apps.get_model(label)]
    request = SimpleNamespace(user=get_user_model().objects.get(username="admin"))
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    app, name = label.split(".")
    assert admin_client.get(reverse(f"admin:{app}_{name}_add")).status_code == 403


def test_superuser_cannot_move_a_markets_base_asset_or_delete_it(admin_client):
    from tests.factories import AssetFactory, MarketFactory

    sol = MarketFactory(symbol="SOL-PERP", base_asset=AssetFactory(symbol="SOL"))
    btc = AssetFactory(symbol="BTC")
    url = reverse("admin:markets_market_change", args=[sol.pk])
    admin_client.post(url, {"symbol": "SOL-PERP", "base_asset": btc.pk})
    sol.refresh_from_db()
    assert sol.base_asset.symbol == "SOL"
    r = admin_client.post(reverse("admin:markets_market_delete", args=[sol.pk]), {"post": "yes"})
    assert r.status_code == 403
    assert type(sol).objects.filter(pk=sol.pk).exists()


# --- item 5: membership, schedules, alert rules, sign-ins are audited -----------------------
def test_setup_roles_membership_is_audited():
    user = UserFactory(username="newbie")
    call_command("setup_roles", "--user", "newbie", "--role", COMMITTEE)
    e = AuditEvent.objects.get(action="auth.membership.change", object_id=str(user.pk))
    assert e.before == {"roles": []} and e.after == {"roles": [COMMITTEE]}


def test_admin_user_form_membership_is_audited_with_the_admin_as_actor(admin_client):
    user = UserFactory(username="carol", roles=[VIEWER])
    committee = Group.objects.get_or_create(name=COMMITTEE)[0]
    viewer = Group.objects.get(name=VIEWER)
    r = admin_client.post(
        reverse("admin:auth_user_change", args=[user.pk]),
        {
            "username": "carol",
            "email": "carol@example.org",
            "is_active": "on",
            "groups": [viewer.pk, committee.pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert r.status_code in (200, 302)
    events = AuditEvent.objects.filter(action="auth.membership.change", object_id=str(user.pk)).order_by("id")
    assert events.last().after == {"roles": sorted([COMMITTEE, VIEWER])}
    assert events.last().actor_name == "admin"


def test_removing_a_member_through_the_group_side_is_audited():
    user = UserFactory(username="dan", roles=[COMMITTEE])
    Group.objects.get(name=COMMITTEE).user_set.remove(user)
    e = AuditEvent.objects.filter(action="auth.membership.change", object_id=str(user.pk)).order_by("id").last()
    assert e.before == {"roles": [COMMITTEE]} and e.after == {"roles": []}


def test_beat_schedule_edits_are_audited_and_disabling_a_governance_entry_alerts(admin_client):
    from django_celery_beat.models import PeriodicTask

    UserFactory(username="cm", roles=[COMMITTEE])
    UserFactory(username="ad", roles=[ADMIN])
    call_command("setup_schedules")
    assert not AuditEvent.objects.filter(action="core.schedule.change").exists()  # creation audited once
    revert = PeriodicTask.objects.get(task="governance.revert_due")
    revert.enabled = False
    revert.save()
    e = AuditEvent.objects.get(action="core.schedule.change", object_id=str(revert.pk))
    assert e.before["enabled"] is True and e.after["enabled"] is False
    alert = AuditEvent.objects.get(action="core.schedule.governance_disabled")
    assert "revert unratified emergencies" in alert.comment
    (msg,) = [m for m in mail.outbox if "ALERT" in m.subject]
    assert sorted(msg.to) == ["ad@example.org", "cm@example.org"]
    # a non-governance entry is audited without an alert; deletion of a governance one alerts
    health = PeriodicTask.objects.get(task="health.run_scheduled")
    health.enabled = False
    health.save()
    assert AuditEvent.objects.filter(action="core.schedule.governance_disabled").count() == 1
    PeriodicTask.objects.get(task="governance.activate_due").delete()
    assert AuditEvent.objects.filter(action="core.schedule.delete").count() == 1
    assert AuditEvent.objects.filter(action="core.schedule.governance_disabled").count() == 2


def test_beat_bookkeeping_saves_are_not_audited():
    from django.utils import timezone
    from django_celery_beat.models import PeriodicTask

    call_command("setup_schedules")
    t = PeriodicTask.objects.get(task="governance.expire_due")
    t.last_run_at = timezone.now()
    t.total_run_count += 1
    t.save()
    assert not AuditEvent.objects.filter(action="core.schedule.change").exists()


def test_alert_rule_edits_in_the_admin_are_audited(admin_client):
    from riskgov.alerts.models import AlertRule

    rule = AlertRule.objects.create(name="cov", kind=AlertRule._meta.get_field("kind").choices[0][0], threshold=1)
    url = reverse("admin:alerts_alertrule_change", args=[rule.pk])
    r = admin_client.post(
        url,
        {"name": "cov", "kind": rule.kind, "threshold": "1", "enabled": "", "renotify_minutes": "60", "roles": [ADMIN]},
    )
    assert r.status_code == 302, r.content.decode()[:2000]
    e = AuditEvent.objects.get(action="alerts.rule.change")
    assert e.before["enabled"] is True and e.after["enabled"] is False and e.actor_name == "admin"
    admin_client.post(reverse("admin:alerts_alertrule_delete", args=[rule.pk]), {"post": "yes"})
    assert AuditEvent.objects.filter(action="alerts.rule.delete").count() == 1


def test_logins_and_failed_logins_are_audited(client):
    UserFactory(username="erin", roles=[VIEWER])
    client.post(reverse("login"), {"username": "erin", "password": "wrong"})
    client.post(reverse("login"), {"username": "erin", "password": "pw"})
    failed = AuditEvent.objects.get(action="auth.login_failed")
    assert failed.after["username"] == "erin" and failed.after["address"] == "127.0.0.1"
    assert "wrong" not in str(failed.after)
    assert AuditEvent.objects.get(action="auth.login").actor_name == "erin"


# --- item 6: throttling and lock-out --------------------------------------------------------
def _attempt(client, username, password, ip="127.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=ip)


def test_wrong_passwords_lock_the_user_out_even_with_the_right_one_then(client, settings):
    UserFactory(username="frank", roles=[VIEWER])
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _attempt(client, "frank", "nope")
    r = _attempt(client, "frank", "pw")
    assert r.status_code == 429 and "_auth_user_id" not in client.session
    # per user: another address does not help
    assert _attempt(client, "frank", "pw", ip="10.9.9.9").status_code == 429
    assert AuditEvent.objects.filter(action="auth.locked_out", object_id="frank").exists()


def test_one_address_guessing_many_users_is_locked_out(client, settings):
    UserFactory(username="gina", roles=[VIEWER])
    for i in range(settings.AXES_FAILURE_LIMIT):
        _attempt(client, f"user{i}", "nope", ip="10.1.2.3")
    assert _attempt(client, "gina", "pw", ip="10.1.2.3").status_code == 429
    assert _attempt(client, "gina", "pw", ip="10.1.2.4").status_code == 302  # other address, fine


def test_admin_unlock_is_audited_and_lets_the_user_in(client, admin_client, settings):
    from axes.models import AccessAttempt

    UserFactory(username="hal", roles=[VIEWER])
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _attempt(client, "hal", "nope")
    assert _attempt(client, "hal", "pw").status_code == 429
    ids = list(AccessAttempt.objects.filter(username="hal").values_list("pk", flat=True))
    r = admin_client.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": ids, "post": "yes"},
    )
    assert r.status_code == 302
    e = AuditEvent.objects.get(action="auth.unlock")
    assert e.object_id == "hal" and e.actor_name == "admin"
    assert _attempt(client, "hal", "pw").status_code == 302

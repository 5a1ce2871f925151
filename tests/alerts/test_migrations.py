"""The alert models moved from the reports app without touching the database: a database
migrated by the reports app (rules, firings, notifications in ``reports_alert*``) migrates
forward with its rows, and the content types follow the models."""

import pytest
from django.contrib.contenttypes.models import ContentType as CT
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("reports", "0002_alert_firing_rule_scope"), ("alerts", None)]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([t for t in targets if t[1] is not None]).apps


@pytest.mark.django_db(transaction=True)
def test_rows_of_the_reports_app_survive_the_move():
    leaf = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        old = _migrate(BEFORE)  # main's schema: the alert models belong to ``reports``
        CT.objects.filter(app_label="alerts").delete()  # as on main: the content types are the reports app's
        CT.objects.get_or_create(app_label="reports", model="alertrule")
        now = timezone.now()
        rule = old.get_model("reports", "AlertRule").objects.create(name="r", kind="run_failed", roles=["committee"])
        firing = old.get_model("reports", "AlertFiring").objects.create(
            rule=rule, subject="", threshold=0, message="m", fired_at=now, last_seen_at=now
        )
        old.get_model("reports", "AlertNotification").objects.create(firing=firing, event="fired", created_at=now)
    finally:
        _migrate(leaf)

    from riskgov.alerts.models import AlertFiring, AlertNotification, AlertRule

    assert AlertRule._meta.db_table == "reports_alertrule"
    n = AlertNotification.objects.get()  # since alerts.0002: a digest of one item
    assert n.items.get().firing == AlertFiring.objects.get(rule=AlertRule.objects.get(name="r"))
    assert CT.objects.filter(app_label="alerts", model="alertrule").exists()
    assert not CT.objects.filter(app_label="reports", model="alertrule").exists()


BEFORE_DIGESTS = [("alerts", "0001_initial")]


@pytest.mark.django_db(transaction=True)
def test_notifications_become_digests_of_one_item_with_their_rows(django_capture_on_commit_callbacks):
    """alerts.0002: every notification keeps its row (id, status, attempts) as a digest of
    one item; a pending one is still re-sent by the sweep; and back again."""
    import datetime as dt

    from riskgov.reports.models import DeliveryStatus
    from tests.factories import UserFactory

    leaf = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        old = _migrate(BEFORE_DIGESTS)
        now = timezone.now() - dt.timedelta(minutes=30)
        rule = old.get_model("alerts", "AlertRule").objects.create(name="r", kind="run_failed", roles=["committee"])
        Firing, Notification = old.get_model("alerts", "AlertFiring"), old.get_model("alerts", "AlertNotification")
        f = Firing.objects.create(
            rule=rule, subject="", threshold=0, message="run #1 failed", fired_at=now, last_seen_at=now
        )
        sent = Notification.objects.create(firing=f, event="fired", status="sent", attempts=1, created_at=now)
        pending = Notification.objects.create(firing=f, event="renotify", status="pending", created_at=now)
    finally:
        _migrate(leaf)

    from riskgov.alerts.models import AlertNotification
    from riskgov.alerts.sweep import alert_notifications_requeue

    rows = {n.pk: n for n in AlertNotification.objects.all()}
    assert set(rows) == {sent.pk, pending.pk}
    assert rows[sent.pk].status == DeliveryStatus.SENT and rows[sent.pk].attempts == 1
    assert rows[sent.pk].rule_id == rule.pk
    assert [(i.firing_id, i.event) for i in rows[sent.pk].items.all()] == [(f.pk, "fired")]
    assert [(i.firing_id, i.event) for i in rows[pending.pk].items.all()] == [(f.pk, "renotify")]
    UserFactory(username="m1", roles=["committee"])
    with django_capture_on_commit_callbacks(execute=True):
        assert alert_notifications_requeue() == [pending.pk]  # still re-sent: once, as before
    from django.core import mail

    assert len(mail.outbox) == 1 and "STILL FIRING" in mail.outbox[0].subject
    # back: a digest of two items becomes two notifications
    from riskgov.alerts.models import AlertNotificationItem

    f2 = rows[sent.pk].items.get().firing
    f2.pk, f2.subject, f2.cleared_at = None, "other", None
    f2.save()
    AlertNotificationItem.objects.create(notification=rows[sent.pk], firing=f2, event="fired")
    try:
        back = _migrate(BEFORE_DIGESTS)
        got = sorted(back.get_model("alerts", "AlertNotification").objects.values_list("firing_id", "event", "status"))
        assert got == sorted([(f.pk, "fired", "sent"), (f.pk, "renotify", "sent"), (f2.pk, "fired", "sent")])
    finally:
        _migrate(leaf)


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)

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
    assert AlertNotification.objects.get().firing == AlertFiring.objects.get(rule=AlertRule.objects.get(name="r"))
    assert CT.objects.filter(app_label="alerts", model="alertrule").exists()
    assert not CT.objects.filter(app_label="reports", model="alertrule").exists()


@pytest.mark.django_db
def test_no_missing_migrations():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)

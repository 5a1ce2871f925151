"""The alert models now live in the alerts app (``alerts.0001_initial``): remove them from
this app's *state* only. The tables (``reports_alert*``) and their rows stay where they are,
owned by the alerts app's models through ``Meta.db_table``."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0002_alert_firing_rule_scope'),
        ('alerts', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name='alertnotification',
                    name='firing',
                ),
                migrations.RemoveField(
                    model_name='alertrule',
                    name='market',
                ),
                migrations.DeleteModel(
                    name='AlertFiring',
                ),
                migrations.DeleteModel(
                    name='AlertNotification',
                ),
                migrations.DeleteModel(
                    name='AlertRule',
                ),
            ],
        ),
    ]

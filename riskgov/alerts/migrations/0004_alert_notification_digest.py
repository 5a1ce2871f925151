"""The digest move, last step (``0002_alert_notification_items`` docstring): a notification
no longer names one firing and event (its items do); its rule is required."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('alerts', '0003_alert_notifications_to_digests'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='alertnotification',
            name='event',
        ),
        migrations.RemoveField(
            model_name='alertnotification',
            name='firing',
        ),
        migrations.AlterField(
            model_name='alertnotification',
            name='rule',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='notifications', to='alerts.alertrule'),
        ),
    ]

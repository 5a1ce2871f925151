"""Data of the digest move (``0002_alert_notification_items`` docstring): every notification
becomes a digest of one item (its firing and event); its rule is its firing's rule."""

from django.db import migrations


def to_digests(apps, schema_editor):
    Notification = apps.get_model("alerts", "AlertNotification")
    Item = apps.get_model("alerts", "AlertNotificationItem")
    items = []
    for n in Notification.objects.select_related("firing").iterator():
        Notification.objects.filter(pk=n.pk).update(rule_id=n.firing.rule_id)
        items.append(Item(notification_id=n.pk, firing_id=n.firing_id, event=n.event))
    Item.objects.bulk_create(items, batch_size=1000)


def from_digests(apps, schema_editor):
    Notification = apps.get_model("alerts", "AlertNotification")
    Item = apps.get_model("alerts", "AlertNotificationItem")
    for n in Notification.objects.iterator():
        items = list(Item.objects.filter(notification_id=n.pk).order_by("id"))
        if not items:
            Notification.objects.filter(pk=n.pk).delete()
            continue
        first, rest = items[0], items[1:]
        Notification.objects.filter(pk=n.pk).update(firing_id=first.firing_id, event=first.event)
        for i in rest:
            Notification.objects.create(
                firing_id=i.firing_id,
                event=i.event,
                rule_id=n.rule_id,
                status=n.status,
                recipients=n.recipients,
                attempts=n.attempts,
                error=n.error,
                created_at=n.created_at,
                sent_at=n.sent_at,
            )


class Migration(migrations.Migration):

    dependencies = [
        ('alerts', '0002_alert_notification_items'),
    ]

    operations = [
        migrations.RunPython(to_digests, from_digests),
    ]

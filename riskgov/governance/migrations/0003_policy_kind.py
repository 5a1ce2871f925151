"""The policy becomes a governed subject kind ("policy", riskgov.governance.subjects).

``status`` joins the version lifecycle (existing rows: the active one ``active``, the others
``superseded``; ``activated_at`` = ``created_at``), ``is_active`` stays equal to
``status == "active"``, and the kind is registered with the database guards.
"""

from django.conf import settings
from django.db import migrations, models
from django.db.models import F

from riskgov.governance.subject_sql import kind_operations


def backfill(apps, schema_editor):
    Policy = apps.get_model("governance", "Policy")
    Policy.objects.filter(is_active=False).update(status="superseded")
    Policy.objects.filter(is_active=True).update(status="active")
    Policy.objects.update(activated_at=F("created_at"), approved_at=F("created_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_proposalchange_kind"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="policy",
            name="activated_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="policy",
            name="approved_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="policy",
            name="status",
            field=models.CharField(
                db_index=True, default="active", help_text="draft … active, superseded", max_length=16
            ),
        ),
        migrations.AddField(
            model_name="policy",
            name="superseded_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="policy",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "active"), ("is_active", True)),
                    models.Q(models.Q(("status", "active"), _negated=True), ("is_active", False)),
                    _connector="OR",
                ),
                name="policy_active_is_status_active",
            ),
        ),
        migrations.AddConstraint(
            model_name="policy",
            constraint=models.CheckConstraint(
                condition=models.Q(("status__in", ["draft", "approved", "active", "superseded", "discarded"])),
                name="policy_status_valid",
            ),
        ),
        *kind_operations("policy", "governance_policy"),
    ]

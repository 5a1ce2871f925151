"""ProposalChange becomes kind-generic: (kind, subject, version_id, base_version_id).

Data-preserving: every existing change keeps its versions — ``market_version`` /
``base_market_version`` become ``kind="market"`` + ``version_id`` / ``base_version_id``, and
likewise for assets; the reverse migration restores the foreign keys. The database guards
(``riskgov.governance.subject_sql``) replace the per-kind foreign keys.
"""

from django.db import migrations, models

from riskgov.governance.subject_sql import guard_operations, kind_operations


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":  # no pending FK events before ALTER TABLE
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    Change = apps.get_model("governance", "ProposalChange")
    for c in Change.objects.all().iterator():
        if c.market_version_id is not None:
            c.kind, c.version_id, c.base_version_id = "market", c.market_version_id, c.base_market_version_id
        else:
            c.kind, c.version_id, c.base_version_id = "asset", c.asset_version_id, c.base_asset_version_id
        c.save(update_fields=["kind", "version_id", "base_version_id"])


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    Change = apps.get_model("governance", "ProposalChange")
    for c in Change.objects.all().iterator():
        if c.kind == "market":
            c.market_version_id, c.base_market_version_id = c.version_id, c.base_version_id
        elif c.kind == "asset":
            c.asset_version_id, c.base_asset_version_id = c.version_id, c.base_version_id
        else:
            raise RuntimeError(f"proposal change {c.pk} of kind {c.kind!r} has no per-kind column to go back to")
        c.save(update_fields=["market_version", "base_market_version", "asset_version", "base_asset_version"])


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0001_initial"),
        ("parameters", "0002_version_guards"),
    ]

    operations = [
        migrations.CreateModel(
            name="GovernedKind",
            fields=[
                ("name", models.CharField(max_length=32, primary_key=True, serialize=False)),
                ("version_table", models.CharField(max_length=63)),
            ],
        ),
        migrations.AddField(
            model_name="proposalchange",
            name="kind",
            field=models.CharField(default="", help_text="registered subject kind (market, asset, …)", max_length=32),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="proposalchange",
            name="version_id",
            field=models.PositiveBigIntegerField(
                null=True, help_text="id of the proposed version in the kind's version model"
            ),
        ),
        migrations.AddField(
            model_name="proposalchange",
            name="base_version_id",
            field=models.PositiveBigIntegerField(
                blank=True, null=True, help_text="id of the version active when the change was written"
            ),
        ),
        migrations.RemoveConstraint(model_name="proposalchange", name="proposal_change_one_subject"),
        migrations.RemoveConstraint(model_name="proposalchange", name="proposal_change_market_once"),
        migrations.RemoveConstraint(model_name="proposalchange", name="proposal_change_asset_once"),
        migrations.RunPython(forward, backward),
        migrations.RemoveField(model_name="proposalchange", name="market_version"),
        migrations.RemoveField(model_name="proposalchange", name="base_market_version"),
        migrations.RemoveField(model_name="proposalchange", name="asset_version"),
        migrations.RemoveField(model_name="proposalchange", name="base_asset_version"),
        migrations.AlterField(
            model_name="proposalchange",
            name="version_id",
            field=models.PositiveBigIntegerField(help_text="id of the proposed version in the kind's version model"),
        ),
        migrations.AddConstraint(
            model_name="proposalchange",
            constraint=models.UniqueConstraint(
                fields=("proposal", "kind", "subject"), name="proposal_change_subject_once"
            ),
        ),
        migrations.AddConstraint(
            model_name="proposalchange",
            constraint=models.CheckConstraint(
                condition=models.Q(("base_version_id__isnull", True))
                | models.Q(("base_version_id", models.F("version_id")), _negated=True),
                name="proposal_change_base_differs",
            ),
        ),
        *guard_operations(),
        *kind_operations("market", "parameters_marketparameterversion"),
        *kind_operations("asset", "parameters_assetparameterversion"),
    ]

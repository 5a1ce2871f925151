"""PM parameters per underlying (RISK_MODEL §14) as the governed kind ``"pm"``.

Creates ``PMParameterVersion``; registers the kind with the governance database guards
(``kind_operations``); on PostgreSQL a trigger keeps a version's values immutable once it
has left ``draft`` and refuses to delete it; seeds the §14 defaults (Deribit's published BTC
set) as the active version of ``BTC`` when that asset exists (a fresh database gets them
from ``import_pm_parameters`` or the first import instead).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from riskgov.governance.subject_sql import kind_operations

GUARD = r"""
CREATE OR REPLACE FUNCTION riskgov_pm_version_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'PM parameter version % of underlying % is %, it cannot be deleted',
        OLD.number, OLD.underlying_id, OLD.status USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status <> 'draft' AND (
       ROW(NEW.underlying_id, NEW.number, NEW.price_range, NEW.buckets, NEW.vol_range_up, NEW.vol_range_down,
           NEW.short_term_vega_power, NEW.long_term_vega_power, NEW.dte_floor_days, NEW.min_vol_for_shock_up,
           NEW.mm_factor, NEW.short_option_contingency, NEW.perp_contingency, NEW.extended::text,
           NEW.scenarios::text, NEW.created_at)
       IS DISTINCT FROM
       ROW(OLD.underlying_id, OLD.number, OLD.price_range, OLD.buckets, OLD.vol_range_up, OLD.vol_range_down,
           OLD.short_term_vega_power, OLD.long_term_vega_power, OLD.dte_floor_days, OLD.min_vol_for_shock_up,
           OLD.mm_factor, OLD.short_option_contingency, OLD.perp_contingency, OLD.extended::text,
           OLD.scenarios::text, OLD.created_at)) THEN
    RAISE EXCEPTION 'PM parameter version % of underlying % is %, its values are immutable',
      OLD.number, OLD.underlying_id, OLD.status USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER portfolio_pmversion_guard BEFORE UPDATE OR DELETE ON portfolio_pmparameterversion
  FOR EACH ROW EXECUTE FUNCTION riskgov_pm_version_guard();
"""
UNGUARD = r"""
DROP TRIGGER IF EXISTS portfolio_pmversion_guard ON portfolio_pmparameterversion;
DROP FUNCTION IF EXISTS riskgov_pm_version_guard();
"""

#: RISK_MODEL §14 defaults (Deribit's published BTC set); extended weights 0.036/|move| to 12 places
SEED = {
    "price_range": "0.16",
    "buckets": 4,
    "vol_range_up": "0.5",
    "vol_range_down": "0.25",
    "short_term_vega_power": "0.3",
    "long_term_vega_power": "0.13",
    "dte_floor_days": "1",
    "min_vol_for_shock_up": "0.5",
    "mm_factor": "0.8",
    "short_option_contingency": "0.01",
    "perp_contingency": "0.01",
}


def guard(apps, schema_editor, sql=GUARD):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(sql, params=None)


def unguard(apps, schema_editor):
    guard(apps, schema_editor, UNGUARD)


def seed(apps, schema_editor):
    from decimal import Decimal

    from django.utils import timezone

    btc = apps.get_model("markets", "Asset").objects.filter(symbol="BTC").first()
    Version = apps.get_model("portfolio", "PMParameterVersion")
    if btc is None or Version.objects.filter(underlying=btc).exists():
        return
    moves = ("-0.66", "-0.33", "0.5", "1", "2", "3", "4", "5")
    extended = [
        {"move": m, "weight": str((Decimal("0.036") / abs(Decimal(m))).quantize(Decimal("1e-12")).normalize())}
        for m in moves
    ]
    now = timezone.now()
    Version.objects.create(
        underlying=btc,
        number=1,
        status="active",
        reason="RISK_MODEL §14 defaults (Deribit's published BTC set)",
        source="RISK_MODEL §14 defaults",
        approved_at=now,
        activated_at=now,
        extended=extended,
        scenarios=None,
        **SEED,
    )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("markets", "0002_pricebar_resolution"),
        ("parameters", "0002_version_guards"),
        ("governance", "0002_proposalchange_kind"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="PMParameterVersion",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("number", models.PositiveIntegerField(help_text="1, 2, … per subject")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("draft", "Draft"),
                            ("approved", "Approved"),
                            ("active", "Active"),
                            ("superseded", "Superseded"),
                            ("discarded", "Discarded"),
                        ],
                        db_index=True,
                        default="draft",
                        max_length=16,
                    ),
                ),
                ("reason", models.TextField(blank=True, help_text="why this version exists")),
                ("created_by_name", models.CharField(blank=True, max_length=150)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("approved_at", models.DateTimeField(blank=True, null=True)),
                ("activated_at", models.DateTimeField(blank=True, null=True)),
                ("superseded_at", models.DateTimeField(blank=True, null=True)),
                (
                    "price_range",
                    models.DecimalField(
                        decimal_places=12, help_text="R, the largest standard move (fraction)", max_digits=16
                    ),
                ),
                ("buckets", models.PositiveSmallIntegerField(help_text="n: standard moves R·i/n, i = −n..n")),
                (
                    "vol_range_up",
                    models.DecimalField(decimal_places=12, help_text="u, vol-up shock scale", max_digits=16),
                ),
                (
                    "vol_range_down",
                    models.DecimalField(
                        decimal_places=12, help_text="d, vol-down shock scale (d·x < 1)", max_digits=16
                    ),
                ),
                (
                    "short_term_vega_power",
                    models.DecimalField(decimal_places=12, help_text="p_s, below 30 days to expiry", max_digits=16),
                ),
                (
                    "long_term_vega_power",
                    models.DecimalField(decimal_places=12, help_text="p_l, 30 days and beyond", max_digits=16),
                ),
                (
                    "dte_floor_days",
                    models.DecimalField(decimal_places=12, help_text="floor of the days to expiry in x", max_digits=16),
                ),
                (
                    "min_vol_for_shock_up",
                    models.DecimalField(decimal_places=12, help_text="floor of the shocked-up vol", max_digits=16),
                ),
                ("mm_factor", models.DecimalField(decimal_places=12, help_text="MM/IM", max_digits=16)),
                (
                    "short_option_contingency",
                    models.DecimalField(
                        decimal_places=12, help_text="c_so, fraction of spot per net short", max_digits=16
                    ),
                ),
                (
                    "perp_contingency",
                    models.DecimalField(
                        decimal_places=12, help_text="c_p, fraction of spot per net perp unit", max_digits=16
                    ),
                ),
                ("extended", models.JSONField(blank=True, default=list, help_text='[{"move", "weight"}] with vol up')),
                (
                    "scenarios",
                    models.JSONField(
                        blank=True,
                        help_text='[{"move", "vol", "weight"}] replacing the grid; null = the grid',
                        null=True,
                    ),
                ),
                (
                    "source",
                    models.TextField(blank=True, help_text="where the values came from (importer, venue document)"),
                ),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "source_import",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="parameters.parameterimport",
                    ),
                ),
                (
                    "underlying",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="pm_versions", to="markets.asset"
                    ),
                ),
            ],
            options={
                "ordering": ["underlying__symbol", "-number"],
                "constraints": [
                    models.UniqueConstraint(fields=("underlying", "number"), name="pm_version_number_unique"),
                    models.UniqueConstraint(
                        condition=models.Q(("status", "active")),
                        fields=("underlying",),
                        name="one_active_pm_version_per_underlying",
                    ),
                    models.CheckConstraint(condition=models.Q(("number__gte", 1)), name="pm_version_number_positive"),
                    models.CheckConstraint(
                        condition=models.Q(("price_range__gt", 0), ("price_range__lt", 1)), name="pm_price_range"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("buckets__gte", 1), ("buckets__lte", 100)), name="pm_buckets_range"
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("mm_factor__gt", 0), ("mm_factor__lte", 1)), name="pm_mm_factor_range"
                    ),
                    models.CheckConstraint(condition=models.Q(("dte_floor_days__gt", 0)), name="pm_dte_floor_positive"),
                    models.CheckConstraint(
                        condition=models.Q(
                            ("vol_range_up__gte", 0),
                            ("vol_range_down__gte", 0),
                            ("short_term_vega_power__gte", 0),
                            ("long_term_vega_power__gte", 0),
                            ("min_vol_for_shock_up__gte", 0),
                            ("short_option_contingency__gte", 0),
                            ("perp_contingency__gte", 0),
                        ),
                        name="pm_non_negative",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(("status__in", ["draft", "approved", "active", "superseded", "discarded"])),
                        name="pm_version_status_valid",
                    ),
                ],
            },
        ),
        migrations.RunPython(guard, unguard),
        *kind_operations("pm", "portfolio_pmparameterversion"),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]

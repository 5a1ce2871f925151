"""The liquidation horizon ``h_m`` as a governed market parameter (RISK_MODEL §12).

Adds ``liquidation_horizon_minutes`` (NUMERIC(12, 4), ``> 0``, default 5 minutes: every
existing version, approved and active ones included, gets the §12 default — adding a column
with a default is not an UPDATE, so the immutability trigger does not fire; the column keeps
its database default, so rows written without it, e.g. by older code, get 5) and, on
PostgreSQL, replaces the market version guard of migration 0002 so that a version that has
left ``draft`` cannot change its horizon either.
"""

from django.db import migrations, models

_GUARD = r"""
CREATE OR REPLACE FUNCTION riskgov_market_version_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'parameter version % of market % is %, it cannot be deleted', OLD.number, OLD.market_id, OLD.status
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status <> 'draft' AND (
       NEW.market_id IS DISTINCT FROM OLD.market_id OR NEW.number IS DISTINCT FROM OLD.number
    OR NEW.liquidation_penalty IS DISTINCT FROM OLD.liquidation_penalty
    OR NEW.depth_usd_per_1pct IS DISTINCT FROM OLD.depth_usd_per_1pct
    OR NEW.oi_cap_lower_usd IS DISTINCT FROM OLD.oi_cap_lower_usd
    OR NEW.oi_cap_upper_usd IS DISTINCT FROM OLD.oi_cap_upper_usd
    OR NEW.max_position_notional_usd IS DISTINCT FROM OLD.max_position_notional_usd
    {extra}
    OR NEW.created_at IS DISTINCT FROM OLD.created_at) THEN
    RAISE EXCEPTION 'parameter version % of market % is %, its values are immutable', OLD.number, OLD.market_id, OLD.status
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;
"""

PG = _GUARD.replace("{extra}", "OR NEW.liquidation_horizon_minutes IS DISTINCT FROM OLD.liquidation_horizon_minutes")
PG_REVERSE = _GUARD.replace("{extra}", "")


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:  # no params: '%' in plpgsql stays literal
            cursor.execute(PG)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(PG_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("parameters", "0002_version_guards")]

    operations = [
        migrations.AddField(
            model_name="marketparameterversion",
            name="liquidation_horizon_minutes",
            field=models.DecimalField(
                decimal_places=4,
                default=5,
                db_default=5,
                help_text="RISK_MODEL §12 liquidation horizon h_m (minutes, > 0)",
                max_digits=12,
            ),
        ),
        migrations.AddConstraint(
            model_name="marketparameterversion",
            constraint=models.CheckConstraint(
                condition=models.Q(("liquidation_horizon_minutes__gt", 0)), name="market_version_horizon_positive"
            ),
        ),
        migrations.RunPython(forwards, backwards),
    ]

"""Database guards for parameter versions (RISK_MODEL §2, §13).

PostgreSQL only (the embedded SQLite default relies on the services' checks):

* a version that has left ``draft`` keeps its values: only ``status``, ``approved_at``,
  ``activated_at`` and ``superseded_at`` may change, and it cannot be deleted;
* brackets of a non-draft version cannot be inserted, changed or deleted;
* cross-row bracket rules, checked at commit (deferred constraint trigger): floors strictly
  increasing with the index, IMF and MMF non-decreasing, and the stored maintenance amount
  equal to the derived ``C_k = C_{k-1} + F_k·(MMF_k − MMF_{k-1})``.
"""

from django.db import migrations

PG = r"""
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
    OR NEW.created_at IS DISTINCT FROM OLD.created_at) THEN
    RAISE EXCEPTION 'parameter version % of market % is %, its values are immutable', OLD.number, OLD.market_id, OLD.status
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER parameters_marketversion_guard BEFORE UPDATE OR DELETE ON parameters_marketparameterversion
  FOR EACH ROW EXECUTE FUNCTION riskgov_market_version_guard();

CREATE OR REPLACE FUNCTION riskgov_asset_version_guard() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    IF OLD.status <> 'draft' THEN
      RAISE EXCEPTION 'asset version % is %, it cannot be deleted', OLD.id, OLD.status
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.status <> 'draft' AND (NEW.haircut IS DISTINCT FROM OLD.haircut OR NEW.asset_id IS DISTINCT FROM OLD.asset_id
      OR NEW.number IS DISTINCT FROM OLD.number) THEN
    RAISE EXCEPTION 'asset version % is %, its values are immutable', OLD.id, OLD.status
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER parameters_assetversion_guard BEFORE UPDATE OR DELETE ON parameters_assetparameterversion
  FOR EACH ROW EXECUTE FUNCTION riskgov_asset_version_guard();

CREATE OR REPLACE FUNCTION riskgov_bracket_frozen_guard() RETURNS trigger AS $$
DECLARE
  st text;
  vid bigint;
BEGIN
  vid := CASE WHEN TG_OP = 'DELETE' THEN OLD.version_id ELSE NEW.version_id END;
  SELECT status INTO st FROM parameters_marketparameterversion WHERE id = vid;
  -- st is NULL when the version itself is being deleted (cascade of a draft).
  IF st IS NOT NULL AND st <> 'draft' THEN
    RAISE EXCEPTION 'brackets of a % parameter version (id %) are immutable', st, vid
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.version_id <> NEW.version_id THEN
    SELECT status INTO st FROM parameters_marketparameterversion WHERE id = OLD.version_id;
    IF st IS NOT NULL AND st <> 'draft' THEN
      RAISE EXCEPTION 'brackets of a % parameter version (id %) are immutable', st, OLD.version_id
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER parameters_bracket_frozen BEFORE INSERT OR UPDATE OR DELETE ON parameters_bracket
  FOR EACH ROW EXECUTE FUNCTION riskgov_bracket_frozen_guard();

CREATE OR REPLACE FUNCTION riskgov_bracket_table_check() RETURNS trigger AS $$
DECLARE
  bad record;
BEGIN
  SELECT * INTO bad FROM (
    SELECT s.*, sum(step) OVER (ORDER BY index) AS cum
      FROM (
        SELECT index, notional_floor, initial_margin_fraction AS imf, maintenance_margin_fraction AS mmf,
               maintenance_amount,
               lag(notional_floor) OVER w AS prev_floor,
               lag(initial_margin_fraction) OVER w AS prev_imf,
               lag(maintenance_margin_fraction) OVER w AS prev_mmf,
               notional_floor * (maintenance_margin_fraction
                 - coalesce(lag(maintenance_margin_fraction) OVER w, maintenance_margin_fraction)) AS step
          FROM parameters_bracket WHERE version_id = NEW.version_id
        WINDOW w AS (ORDER BY index)
      ) s
  ) t
  WHERE (prev_floor IS NOT NULL AND notional_floor <= prev_floor)
     OR (prev_imf IS NOT NULL AND imf < prev_imf)
     OR (prev_mmf IS NOT NULL AND mmf < prev_mmf)
     OR abs(maintenance_amount - cum) > 0.0000000001
  LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'bracket % of parameter version %: floors must increase, IMF/MMF must not decrease and the maintenance amount must be the derived one (RISK_MODEL §2)',
      bad.index, NEW.version_id USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER parameters_bracket_table_check AFTER INSERT OR UPDATE ON parameters_bracket
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION riskgov_bracket_table_check();
"""

PG_REVERSE = """
DROP TRIGGER IF EXISTS parameters_marketversion_guard ON parameters_marketparameterversion;
DROP TRIGGER IF EXISTS parameters_assetversion_guard ON parameters_assetparameterversion;
DROP TRIGGER IF EXISTS parameters_bracket_frozen ON parameters_bracket;
DROP TRIGGER IF EXISTS parameters_bracket_table_check ON parameters_bracket;
DROP FUNCTION IF EXISTS riskgov_market_version_guard();
DROP FUNCTION IF EXISTS riskgov_asset_version_guard();
DROP FUNCTION IF EXISTS riskgov_bracket_frozen_guard();
DROP FUNCTION IF EXISTS riskgov_bracket_table_check();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:  # no params: '%' in plpgsql stays literal
            cursor.execute(PG)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute(PG_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("parameters", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]

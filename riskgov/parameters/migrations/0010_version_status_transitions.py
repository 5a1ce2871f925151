"""Version status moves only forward, and every move is audited (RISK_MODEL §13).

PostgreSQL only (the embedded SQLite default relies on the services' checks). Closes the
hole where ``UPDATE … SET status='draft'`` thawed a frozen version for editing:

* a BEFORE trigger allows only ``draft → approved | discarded``, ``approved → active |
  discarded`` and ``active → superseded`` (the services' ``VERSION_TRANSITIONS``); a new row
  may be inserted only as ``draft`` — a version is born a draft and walks the transitions;
* a deferred constraint trigger checks at commit that each status change has its audit
  event (``core_auditevent`` row for the version with ``to_state`` = the new status) written
  in the same transaction (``txid``, core migration 0003). The governance services write
  it; a hand-made UPDATE without one is rolled back.

Numbered 0010 so that parallel parameter migrations 0003… do not clash; a merge migration
joins the branches if both land.
"""

from django.db import migrations

TABLES = {
    "parameters_marketparameterversion": "parameters.marketparameterversion",
    "parameters_assetparameterversion": "parameters.assetparameterversion",
}

PG_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION riskgov_version_status_transition() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'draft' THEN
      RAISE EXCEPTION 'a parameter version is created as a draft, not %', NEW.status
        USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
       (OLD.status = 'draft' AND NEW.status IN ('approved', 'discarded'))
    OR (OLD.status = 'approved' AND NEW.status IN ('active', 'discarded'))
    OR (OLD.status = 'active' AND NEW.status = 'superseded')) THEN
    RAISE EXCEPTION 'parameter version % (%): status cannot go from % to %', OLD.id, TG_TABLE_NAME, OLD.status, NEW.status
      USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION riskgov_version_status_audited() RETURNS trigger AS $$
DECLARE
  cur text;
BEGIN
  -- the row as it is now (a later statement of the transaction may have moved it on)
  EXECUTE format('SELECT status FROM %I WHERE id = $1', TG_TABLE_NAME) INTO cur USING NEW.id;
  IF cur IS NULL OR cur <> NEW.status THEN
    RETURN NULL;  -- deleted draft, or moved on: that later change is checked by its own event
  END IF;
  IF NOT EXISTS (
      SELECT 1 FROM core_auditevent
       WHERE txid = txid_current() AND object_type = TG_ARGV[0]
         AND object_id = NEW.id::text AND to_state = NEW.status) THEN
    RAISE EXCEPTION 'status change of % % to % has no audit event in its transaction (use the governance services)',
      TG_ARGV[0], NEW.id, NEW.status USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;
"""


def _triggers(table: str, label: str) -> str:
    return f"""
CREATE TRIGGER {table}_status_transition BEFORE INSERT OR UPDATE OF status ON {table}
  FOR EACH ROW EXECUTE FUNCTION riskgov_version_status_transition();
CREATE CONSTRAINT TRIGGER {table}_status_audited AFTER UPDATE OF status ON {table}
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
  WHEN (NEW.status IS DISTINCT FROM OLD.status)
  EXECUTE FUNCTION riskgov_version_status_audited('{label}');
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:  # no params: '%' in plpgsql stays literal
            cursor.execute(PG_FUNCTIONS + "".join(_triggers(t, label) for t, label in TABLES.items()))


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            for table in TABLES:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_status_transition ON {table};")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_status_audited ON {table};")
            cursor.execute("DROP FUNCTION IF EXISTS riskgov_version_status_transition();")
            cursor.execute("DROP FUNCTION IF EXISTS riskgov_version_status_audited();")


class Migration(migrations.Migration):
    dependencies = [("parameters", "0002_version_guards"), ("core", "0003_audit_txid")]
    operations = [migrations.RunPython(forwards, backwards)]

"""Each audit row remembers the transaction that wrote it (PostgreSQL only).

``txid`` is the top-level transaction id (``txid_current()``, the same inside savepoints),
filled by the database default; the model does not declare it. Database guards use it to
ask "was this change audited in the same transaction?" (parameters migration 0010). Rows
written before this migration have NULL.
"""

from django.db import migrations

PG = """
ALTER TABLE core_auditevent ADD COLUMN txid bigint;
ALTER TABLE core_auditevent ALTER COLUMN txid SET DEFAULT txid_current();
CREATE INDEX core_auditevent_txid ON core_auditevent (txid);
"""
PG_REVERSE = """
DROP INDEX IF EXISTS core_auditevent_txid;
ALTER TABLE core_auditevent DROP COLUMN IF EXISTS txid;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_REVERSE)


class Migration(migrations.Migration):
    dependencies = [("core", "0002_audit_append_only")]
    operations = [migrations.RunPython(forwards, backwards)]

"""Database guards for governed subject kinds (used by migrations only).

``ProposalChange`` stores ``(kind, version_id, base_version_id)`` instead of one foreign key
per kind. On PostgreSQL:

- ``riskgov_proposal_change_guard`` (BEFORE INSERT OR UPDATE on
  ``governance_proposalchange``) refuses a change whose ``kind`` is not a
  ``governance_governedkind`` row or whose versions are not rows of that kind's
  ``version_table`` (dynamic SQL on the registered table name);
- ``riskgov_governed_version_guard(kind)`` (BEFORE DELETE on each kind's version table)
  refuses to delete a version a proposal change refers to — what ``on_delete=PROTECT`` did.

A new kind's migration adds its row and its delete trigger with :func:`kind_operations`.
On SQLite (the embedded demo) only the row is written; the services keep the pairing.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

GUARD_FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION riskgov_proposal_change_guard() RETURNS trigger AS $$
DECLARE
  tbl text;
  found boolean;
BEGIN
  SELECT version_table INTO tbl FROM governance_governedkind WHERE name = NEW.kind;
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'proposal change: % is not a governed subject kind', NEW.kind
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE id = $1)', tbl) INTO found USING NEW.version_id;
  IF NOT found THEN
    RAISE EXCEPTION 'proposal change: % version % does not exist', NEW.kind, NEW.version_id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  IF NEW.base_version_id IS NOT NULL THEN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I WHERE id = $1)', tbl) INTO found USING NEW.base_version_id;
    IF NOT found THEN
      RAISE EXCEPTION 'proposal change: % base version % does not exist', NEW.kind, NEW.base_version_id
        USING ERRCODE = 'foreign_key_violation';
    END IF;
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER governance_proposalchange_guard BEFORE INSERT OR UPDATE ON governance_proposalchange
  FOR EACH ROW EXECUTE FUNCTION riskgov_proposal_change_guard();

CREATE OR REPLACE FUNCTION riskgov_governed_version_guard() RETURNS trigger AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM governance_proposalchange
             WHERE kind = TG_ARGV[0] AND (version_id = OLD.id OR base_version_id = OLD.id)) THEN
    RAISE EXCEPTION '% version % is referenced by a proposal change and cannot be deleted', TG_ARGV[0], OLD.id
      USING ERRCODE = 'foreign_key_violation';
  END IF;
  RETURN OLD;
END;
$$ LANGUAGE plpgsql;
"""

DROP_GUARD_FUNCTIONS = r"""
DROP TRIGGER IF EXISTS governance_proposalchange_guard ON governance_proposalchange;
DROP FUNCTION IF EXISTS riskgov_proposal_change_guard();
DROP FUNCTION IF EXISTS riskgov_governed_version_guard() CASCADE;
"""


def _postgres_only(sql: str) -> Any:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


def guard_operations() -> list[Any]:
    """Create (and on reverse drop) the two guard functions and the proposal-change trigger."""
    return [migrations.RunPython(_postgres_only(GUARD_FUNCTIONS), _postgres_only(DROP_GUARD_FUNCTIONS))]


def kind_operations(name: str, version_table: str) -> list[Any]:
    """Register kind ``name`` (versions in ``version_table``) with the database guards.

    Returns migration operations: a ``GovernedKind`` row and the BEFORE DELETE trigger on
    ``version_table`` (PostgreSQL); reversible.
    """

    def add(apps: Any, schema_editor: Any) -> None:
        apps.get_model("governance", "GovernedKind").objects.update_or_create(
            name=name, defaults={"version_table": version_table}
        )

    def remove(apps: Any, schema_editor: Any) -> None:
        apps.get_model("governance", "GovernedKind").objects.filter(name=name).delete()

    trigger = f"governance_{name}_version_referenced"
    create = (
        f"CREATE TRIGGER {trigger} BEFORE DELETE ON {version_table} "
        f"FOR EACH ROW EXECUTE FUNCTION riskgov_governed_version_guard('{name}');"
    )
    drop = f"DROP TRIGGER IF EXISTS {trigger} ON {version_table};"
    return [
        migrations.RunPython(add, remove),
        migrations.RunPython(_postgres_only(create), _postgres_only(drop)),
    ]

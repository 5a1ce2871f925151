"""Production database roles (issue 13.11): migrations as the owner, the app as a DML-only role.

The audit trail's triggers (append-only, the parameter-version guards) hold against the
application's queries, but not against the tables' owner or a superuser, who may TRUNCATE,
``ALTER TABLE … DISABLE TRIGGER``, ``DROP TRIGGER`` or ``SET session_replication_role =
replica``. So production runs two roles:

* the **owner** (``riskgov_owner``) runs ``migrate`` and then ``grant_app_role``;
* the **app** role (``riskgov_app``; web, worker, beat) may SELECT, INSERT, UPDATE and
  DELETE — and on ``core_auditevent`` only SELECT and INSERT. It owns nothing, is not a
  superuser, and cannot TRUNCATE or create triggers.

``app_role_grants_sql`` is what ``manage.py grant_app_role`` runs; ``deploy_db_problems`` is
what ``manage.py check_deploy_db`` (and the ``riskgov.E011`` deploy system check) reports.
PostgreSQL only.
"""

from __future__ import annotations

from typing import Any

from psycopg import sql

AUDIT_TABLE = "core_auditevent"


def app_role_grants_sql(role: str, schema: str = "public") -> list[Any]:
    """The statements that give ``role`` DML on every table (audit: SELECT/INSERT only)."""
    r, s = sql.Identifier(role), sql.Identifier(schema)
    return [
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(s, r),
        sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(s, r),
        sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {} TO {}").format(s, r),
        sql.SQL("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {} TO {}").format(s, r),
        sql.SQL("REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {} FROM {}").format(s, r),
        sql.SQL("REVOKE UPDATE, DELETE ON {}.{} FROM {}").format(s, sql.Identifier(AUDIT_TABLE), r),
    ]


def deploy_db_problems(cursor: Any) -> list[str]:
    """Why the connection of ``cursor`` is not a DML-only application role ([] = it is)."""
    cursor.execute(
        "SELECT current_user, r.rolsuper, r.rolcreaterole, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user"
    )
    user, is_super, create_role, bypass_rls = cursor.fetchone()
    problems = []
    if is_super:
        problems.append(f"the application connects as {user!r}, a superuser")
    if create_role:
        problems.append(f"{user!r} may create roles")
    if bypass_rls:
        problems.append(f"{user!r} bypasses row-level security")
    cursor.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND pg_has_role(current_user, c.relowner, 'USAGE')"
    )
    (owned,) = cursor.fetchone()
    if owned:
        problems.append(
            f"{user!r} owns (or is a member of the owner of) {owned} table(s): run migrations as the owner only"
        )
    cursor.execute(
        "SELECT has_table_privilege(current_user, %s, 'TRUNCATE'), has_table_privilege(current_user, %s, 'UPDATE'), "
        "has_table_privilege(current_user, %s, 'DELETE'), has_table_privilege(current_user, %s, 'TRIGGER')",
        [AUDIT_TABLE] * 4,
    )
    truncate, update, delete, trigger = cursor.fetchone()
    for name, held in (("TRUNCATE", truncate), ("UPDATE", update), ("DELETE", delete), ("TRIGGER", trigger)):
        if held:
            problems.append(f"{user!r} holds {name} on {AUDIT_TABLE} (the audit trail must be append-only)")
    return problems

"""Issue 13.11: the production set-up is real — the app's DML-only role cannot wipe the audit
trail (TRUNCATE, DISABLE TRIGGER, session_replication_role, DROP TRIGGER, UPDATE/DELETE), and
``check_deploy_db`` fails for the owner or a superuser and passes for that role."""

from __future__ import annotations

import os
import uuid

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from riskgov.core.dbroles import deploy_db_problems

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL roles"),
]


@pytest.fixture
def app_role():
    """A throwaway LOGIN role (unique name, dropped after) with the app's grants."""
    role = f"riskgov_app_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with connection.cursor() as c:
        c.execute(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
    try:
        call_command("grant_app_role", role)
        yield role
    finally:
        with connection.cursor() as c:
            c.execute(f'DROP OWNED BY "{role}"')
            c.execute(f'DROP ROLE IF EXISTS "{role}"')


def _connect(role):
    s = connection.settings_dict
    return psycopg.connect(
        host=s["HOST"] or "127.0.0.1", port=s["PORT"] or 5432, dbname=s["NAME"], user=role, autocommit=True
    )


def test_the_app_role_cannot_wipe_the_audit_trail(app_role):
    from riskgov.core.services import audit_record

    audit_record(actor=None, action="test.keep", object_type="t", object_id="1", object_repr="keep me")
    with _connect(app_role) as conn:
        cur = conn.cursor()
        cur.execute(
            "INSERT INTO core_auditevent (created_at, actor_name, action, object_type, object_id, object_repr, "
            "from_state, to_state, comment, request_id) VALUES (now(), '', 'test.app', 't', '2', 'x', '', '', '', '')"
        )  # the app appends
        for attack in (
            "TRUNCATE core_auditevent",
            "ALTER TABLE core_auditevent DISABLE TRIGGER ALL",
            "DROP TRIGGER core_auditevent_no_update ON core_auditevent",
            "SET session_replication_role = replica",
            "UPDATE core_auditevent SET comment = 'x'",
            "DELETE FROM core_auditevent",
            "ALTER TABLE parameters_marketparameterversion DISABLE TRIGGER ALL",
            "CREATE TABLE evil (x int)",
        ):
            with pytest.raises(psycopg.Error):
                cur.execute(attack)
        cur.execute("SELECT count(*) FROM core_auditevent WHERE action IN ('test.keep', 'test.app')")
        assert cur.fetchone()[0] == 2
        assert deploy_db_problems(cur) == []


def test_check_deploy_db_fails_for_a_superuser_or_owner():
    with connection.cursor() as c:
        problems = deploy_db_problems(c)
    assert any("superuser" in p for p in problems) and any("owns" in p for p in problems)
    with pytest.raises(CommandError, match="not fit for production"):
        call_command("check_deploy_db")


def test_check_deploy_db_passes_for_the_app_role(app_role, settings):
    from django.db import connections

    saved = connections["default"].settings_dict["USER"]
    connections["default"].close()
    connections["default"].settings_dict["USER"] = app_role
    try:
        call_command("check_deploy_db")
    finally:
        connections["default"].close()
        connections["default"].settings_dict["USER"] = saved


def test_compose_runs_migrations_as_the_owner_and_the_app_as_the_dml_role():
    from pathlib import Path

    import yaml

    spec = yaml.safe_load((Path(__file__).resolve().parents[2] / "docker-compose.yml").read_text())
    services = spec["services"]
    assert "riskgov_owner" in services["migrate"]["environment"]["DATABASE_URL"]
    assert "grant_app_role riskgov_app" in services["migrate"]["command"]
    for name in ("web", "worker", "beat"):
        assert "riskgov_app" in services[name]["environment"]["DATABASE_URL"], name
        assert "migrate" not in str(services[name].get("command", "")).replace("migrate:", "")
    assert "check_deploy_db" in services["web"]["command"]

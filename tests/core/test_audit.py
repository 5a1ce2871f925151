"""The audit trail is append-only: refused by the ORM and by the database itself."""

import pytest
from django.db import IntegrityError, InternalError, connection, transaction

from riskgov.core.models import AppendOnlyError, AuditEvent
from riskgov.core.services import audit_record
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def make_event():
    return audit_record(
        actor=UserFactory(username="alice"), action="test.action", object_type="x", object_id="1", object_repr="thing"
    )


def test_records_actor_name_and_protects_the_actor():
    from django.db.models import ProtectedError

    event = make_event()
    assert event.actor_name == "alice"
    with pytest.raises(ProtectedError):
        event.actor.delete()


def test_orm_refuses_update_and_delete():
    event = make_event()
    event.comment = "rewritten"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(comment="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


@pytest.mark.parametrize("sql", ["UPDATE core_auditevent SET comment = 'x'", "DELETE FROM core_auditevent"])
def test_database_refuses_raw_update_and_delete(sql):
    make_event()
    with pytest.raises((IntegrityError, InternalError)) as exc, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql)
    assert "append-only" in str(exc.value)
    assert AuditEvent.objects.filter(comment="x").count() == 0
    assert AuditEvent.objects.count() == 1


def test_request_id_is_recorded(client, users):
    from riskgov.core import middleware

    token = middleware.set_request_id("req-123")
    try:
        event = make_event()
    finally:
        middleware._request_id.reset(token)
    assert event.request_id == "req-123"

"""Roles are Django groups, created by a command; superusers hold every role."""

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from riskgov.core.roles import ADMIN, ALL_ROLES, ANALYST, COMMITTEE, VIEWER, can_view, has_role, user_roles
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_setup_roles_creates_groups_idempotently_and_assigns():
    call_command("setup_roles")
    call_command("setup_roles")
    assert sorted(Group.objects.values_list("name", flat=True)) == sorted(ALL_ROLES)
    user = UserFactory(username="bob")
    call_command("setup_roles", user="bob", role=[ANALYST, COMMITTEE])
    assert user_roles(user) == {ANALYST, COMMITTEE}


def test_role_checks(users):
    assert has_role(users[ANALYST], ANALYST) and not has_role(users[ANALYST], COMMITTEE)
    assert can_view(users[VIEWER]) and not can_view(users["none"])
    admin = UserFactory(username="root")
    admin.is_superuser = True
    admin.save()
    assert user_roles(admin) == set(ALL_ROLES)
    inactive = UserFactory(username="gone", roles=[ADMIN])
    inactive.is_active = False
    assert user_roles(inactive) == frozenset()

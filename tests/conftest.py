"""Shared fixtures: users in each role, an API client."""

from pathlib import Path

import pytest
from rest_framework.test import APIClient

from riskgov.core.roles import ADMIN, ANALYST, COMMITTEE, VIEWER
from tests.factories import UserFactory

pytest_plugins = ["tests.governance_fixtures", "tests.venue_fixtures"]

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "data"


@pytest.fixture
def users(db):
    """One user per role, plus one with no role."""
    return {
        VIEWER: UserFactory(username="v", roles=[VIEWER]),
        ANALYST: UserFactory(username="an", roles=[ANALYST]),
        COMMITTEE: UserFactory(username="cm", roles=[COMMITTEE]),
        ADMIN: UserFactory(username="ad", roles=[ADMIN]),
        "none": UserFactory(username="nobody"),
    }


@pytest.fixture
def api():
    return APIClient()

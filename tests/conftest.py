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


def pytest_runtest_setup(item):
    """``@pytest.mark.pango``: the test writes a report PDF (WeasyPrint needs Pango and a font);
    skipped with the install command when they are missing (``tests.tools.require_pango``)."""
    if item.get_closest_marker("pango") is not None:
        from tests.tools import require_pango

        require_pango()

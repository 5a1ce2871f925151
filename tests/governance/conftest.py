"""Governance tests use the shared fixtures of ``tests/governance_fixtures.py`` (a plugin,
registered in tests/conftest.py); the names are re-exported for modules that import them."""

from tests.governance_fixtures import BRACKETS, later, make_proposal, market, people  # noqa: F401

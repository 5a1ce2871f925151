"""The ``venue`` fixture lives in ``tests/venue_fixtures.py`` (shared with the dashboards
and reports tests); its helpers are re-exported here for older imports."""

from tests.venue_fixtures import N_ACCOUNTS, closes, venue_document, write_snapshot

__all__ = ["N_ACCOUNTS", "closes", "venue_document", "write_snapshot"]

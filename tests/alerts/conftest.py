"""Fixtures of the alerts tests: those of the reports tests (the alerts read the same
published runs; e-mail to locmem), plus constructed runs (``tests.reports.conftest.make_run``)."""

from tests.reports.conftest import _reports_settings, people, published_run  # noqa: F401 — fixtures

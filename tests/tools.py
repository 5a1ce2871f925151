"""Optional tools some tests need (README, "What each optional tool adds").

``make test`` needs only PostgreSQL and Redis. A test that needs an optional tool calls
:func:`require_tool`: when the tool is missing the test is skipped with the reason and the
install command, so a fresh machine passes; with ``RISKGOV_REQUIRE_TOOLS=1`` (``.ci/run`` sets
it, CI installs every tool) a missing tool is a failure instead, so nothing is skipped there.
"""

from __future__ import annotations

import os
import shutil

import pytest

#: tool -> (what its tests cover, how to get it from the OS packages)
OPTIONAL_TOOLS = {
    "chromium": ("browser tests and PNG report charts", "apt-get install chromium"),
    "docker-compose": ("validation of docker-compose.yml", "apt-get install docker-compose"),
}


def strict() -> bool:
    return os.environ.get("RISKGOV_REQUIRE_TOOLS", "").strip().lower() in {"1", "true", "yes"}


def require_tool(name: str) -> str:
    """The tool's path; skip (or, under ``RISKGOV_REQUIRE_TOOLS=1``, fail) when it is missing."""
    path = shutil.which(name) or (
        "/usr/bin/chromium" if name == "chromium" and os.access("/usr/bin/chromium", os.X_OK) else None
    )
    if path:
        return path
    what, install = OPTIONAL_TOOLS[name]
    msg = f"{name} is not installed ({what}; get it with `{install}`)"
    if strict():
        pytest.fail(f"{msg}; RISKGOV_REQUIRE_TOOLS=1 requires it")
    pytest.skip(f"{msg}; set RISKGOV_REQUIRE_TOOLS=1 to make this a failure")


def require_pango() -> None:
    """Skip (or, under ``RISKGOV_REQUIRE_TOOLS=1``, fail) when WeasyPrint cannot load Pango:
    the report PDFs (``riskgov.reports.services.report_render_pdf``) need it."""
    from riskgov.reports.services import PANGO_INSTALL, pdf_unavailable

    reason = pdf_unavailable()
    if reason is None:
        return
    msg = f"Pango is not available (the report PDFs; get it with `{PANGO_INSTALL}`): {reason}"
    if strict():
        pytest.fail(f"{msg}; RISKGOV_REQUIRE_TOOLS=1 requires it")
    pytest.skip(f"{msg}; set RISKGOV_REQUIRE_TOOLS=1 to make this a failure")

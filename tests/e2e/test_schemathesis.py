"""Done-means of issue 13: schemathesis against the OpenAPI schema, as an admin and as a viewer,
bounded (``--max-examples 20``), on the real WSGI app in a threaded server with PostgreSQL:
0 responses ≥ 500 (check ``not_a_server_error``). The run's summary is kept in
``artifacts/schemathesis-<role>.txt``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
MAX_EXAMPLES = os.environ.get("RISKGOV_SCHEMATHESIS_EXAMPLES", "20")


@pytest.mark.parametrize("role", ["admin", "viewer"])
def test_schemathesis_finds_no_server_error(live_app, market, people, role):
    from rest_framework.authtoken.models import Token

    token = Token.objects.create(user=people[role]).key
    st = shutil.which("st", path=str(Path(sys.executable).parent)) or "st"
    out = subprocess.run(
        [
            st,
            "run",
            f"{live_app}/api/v1/schema/",
            "--url",
            f"{live_app}",
            "-H",
            f"Authorization: Token {token}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            MAX_EXAMPLES,
            "--seed",
            "13",
            "--request-timeout",
            "30",
            "--generation-database",
            "none",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=1500,
        env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"},
    )
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"schemathesis-{role}.txt").write_text(out.stdout + out.stderr)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]

"""docker-compose.yml: the full stack is declared with healthchecks, and the file is valid.

There is no Docker engine on CI; Debian's docker-compose validates the file without one
(an optional tool: ``tests/tools.py``).
"""

import subprocess
from pathlib import Path

import yaml

from tests.tools import require_tool

REPO = Path(__file__).resolve().parents[2]


def test_services_and_healthchecks():
    spec = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = spec["services"]
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)
    for name in ("postgres", "redis", "web", "worker"):
        assert "healthcheck" in services[name], name
    assert "celery" in services["worker"]["command"] and "worker" in services["worker"]["command"]
    assert "DatabaseScheduler" in services["beat"]["command"]


def test_docker_compose_config_accepts_the_file():
    exe = require_tool("docker-compose")  # skipped without it, unless RISKGOV_REQUIRE_TOOLS=1 (CI)
    out = subprocess.run([exe, "-f", str(REPO / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr

"""docker-compose.yml: the full stack is declared with healthchecks, and the file is valid.

There is no Docker engine on CI; Debian's docker-compose validates the file without one.
"""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

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
    exe = shutil.which("docker-compose")
    if exe is None:
        pytest.fail("docker-compose is not installed (.ci/run installs Debian's docker-compose)")
    out = subprocess.run([exe, "-f", str(REPO / "docker-compose.yml"), "config", "-q"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr

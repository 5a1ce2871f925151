"""``make test`` on a machine with only PostgreSQL and Redis: a missing optional tool skips
its tests with the install command; under ``RISKGOV_REQUIRE_TOOLS=1`` (CI) it fails them."""

import pytest

from tests import tools


@pytest.fixture
def no_tools(monkeypatch):
    monkeypatch.setattr(tools.shutil, "which", lambda name: None)
    monkeypatch.setattr(tools.os, "access", lambda path, mode: False)


@pytest.mark.parametrize("tool", ["chromium", "docker-compose"])
def test_missing_tool_skips_with_the_install_command(no_tools, monkeypatch, tool):
    monkeypatch.delenv("RISKGOV_REQUIRE_TOOLS", raising=False)
    with pytest.raises(pytest.skip.Exception, match=f"apt-get install {tool}.*RISKGOV_REQUIRE_TOOLS=1"):
        tools.require_tool(tool)


def test_missing_tool_fails_when_required(no_tools, monkeypatch):
    monkeypatch.setenv("RISKGOV_REQUIRE_TOOLS", "1")
    with pytest.raises(pytest.fail.Exception, match="chromium is not installed"):
        tools.require_tool("chromium")


def test_ci_requires_the_tools():
    ci = tools.__file__.rsplit("/tests/", 1)[0] + "/.ci/run"
    assert "export RISKGOV_REQUIRE_TOOLS=1" in open(ci).read()

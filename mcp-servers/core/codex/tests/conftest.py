"""Fixtures for the codex server's tests: an isolated HOME/CODEX_HOME/project per test, the fake
and the real Codex CLI, the local Responses API, and an MCP stdio session with the server
(claudex_testing)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SERVER_DIR = TESTS.parent
FAKE_CODEX = TESTS / "fake_codex.py"
RECORDED = TESTS / "recorded"

from responses_api import ResponsesAPI, codex_config  # noqa: E402

# Variables of the developer's own Codex / login that must not reach a test.
_LEAKY = ("OPENAI_API_KEY", "CODEX_API_KEY", "CODEX_BIN", "CODEX_SANDBOX", "CODEX_APPROVAL_POLICY",
          "CODEX_TIMEOUT", "CODEX_MODEL", "CODEX_PROJECT_DIR", "CLAUDEX_PROJECT_DIR", "PWD")


@dataclass
class Sandbox:
    home: Path
    codex_home: Path
    project: Path

    def env(self, **extra: str) -> dict[str, str]:
        """The environment for a server process: PATH plus this sandbox, then extra."""
        return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(self.home),
                "CODEX_HOME": str(self.codex_home), "CODEX_PROJECT_DIR": str(self.project),
                "NO_COLOR": "1", **extra}


@pytest.fixture(autouse=True)
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """A temp HOME with CODEX_HOME and a project folder; the real ones are out of reach."""
    home = tmp_path / "home"
    box = Sandbox(home=home, codex_home=home / ".codex", project=tmp_path / "project")
    box.codex_home.mkdir(parents=True)
    box.project.mkdir()
    for name in _LEAKY:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("CODEX_HOME", str(box.codex_home))
    monkeypatch.setenv("CODEX_PROJECT_DIR", str(box.project))
    return box


@pytest.fixture
def responses_api():
    with ResponsesAPI() as api:
        yield api


@pytest.fixture(scope="session")
def real_codex() -> Path:
    """The real Codex CLI from npm, installed once under .tools/clients/codex at the repository root by the
    project's integration helper (tests/integration/clients.py; skips when npm's registry is unreachable)."""
    import clients

    codex, _version = clients.ensure_codex()
    return codex


@pytest.fixture
def codex_env(sandbox: Sandbox, responses_api: ResponsesAPI, real_codex: Path) -> dict[str, str]:
    """Server environment with the real Codex pointed at the local Responses API."""
    (sandbox.codex_home / "config.toml").write_text(codex_config(responses_api.base_url))
    return sandbox.env(CODEX_BIN=str(real_codex), CLAUDEX_TEST_API_KEY="sk-test-local")


def mcp_session(env: dict[str, str]):
    """An MCP session (claudex_testing) with this folder, started from its manifest in ``env``
    alone (the server's stderr dropped); stopped on exit."""
    from claudex_testing import open_session

    return open_session(SERVER_DIR, env=env, inherit=False, stderr=os.devnull)

"""Fixtures for the codex server's tests: an isolated HOME/CODEX_HOME/project per test, the fake
and the real Codex CLI, the local Responses API, and an MCP stdio session with `server.py`."""

from __future__ import annotations

import contextlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SERVER_DIR = TESTS.parent
ROOT = SERVER_DIR.parents[2]
FAKE_CODEX = TESTS / "fake_codex.py"
RECORDED = TESTS / "recorded"
sys.path.insert(0, str(SERVER_DIR))

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
    project's integration helper (skips when npm's registry is unreachable)."""
    for path in (ROOT / "scripts", ROOT / "tests" / "integration"):
        if str(path) not in sys.path:
            sys.path.append(str(path))
    import clients

    codex, _version = clients.ensure_codex()
    return codex


@pytest.fixture
def codex_env(sandbox: Sandbox, responses_api: ResponsesAPI, real_codex: Path) -> dict[str, str]:
    """Server environment with the real Codex pointed at the local Responses API."""
    (sandbox.codex_home / "config.toml").write_text(codex_config(responses_api.base_url))
    return sandbox.env(CODEX_BIN=str(real_codex), CLAUDEX_TEST_API_KEY="sk-test-local")


@contextlib.asynccontextmanager
async def mcp_session(env: dict[str, str]):
    """An initialised SDK ClientSession with `python server.py` over stdio (stopped on exit)."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=[str(SERVER_DIR / "server.py")],
                                   env=env, cwd=str(SERVER_DIR))
    with open(os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")

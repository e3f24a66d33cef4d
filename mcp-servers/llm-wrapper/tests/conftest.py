"""Fixtures of the llm-wrapper server's tests: the fake OpenAI and Anthropic APIs on 127.0.0.1,
an environment with nothing of the developer's own (no real key can leak in), the server
installed once per session by `claudex mcp install` into a temporary registry (which vendors
../lib/claudex-llm and makes the server's own venv), and MCP stdio sessions with it started by
`claudex mcp run llm-wrapper` (claudex_testing)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from claudex_llm.pytest_fixtures import anthropic_api, openai_api  # noqa: F401 (fixtures)

TESTS = Path(__file__).resolve().parent
SERVER_DIR = TESTS.parent
ROOT = SERVER_DIR.parents[1]
CLAUDEX = [sys.executable, str(ROOT / "scripts" / "claudex")]


@dataclass
class Installed:
    registry: Path
    home: Path
    folder: Path           # the installed copy of the server
    python: Path           # its venv's interpreter

    def env(self, **extra: str) -> dict[str, str]:
        """A server environment: PATH, the temporary HOME and registry, nothing else of ours."""
        return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(self.home),
                "CLAUDEX_MCP_REGISTRY": str(self.registry), "CLAUDEX_MCP_CORE_SOURCE": "",
                "LLM_WRAPPER_MAX_RETRIES": "2", **extra}

    @property
    def log(self) -> Path:
        return self.home / ".local" / "state" / "claudex" / "logs" / "llm-wrapper.log"


def claudex(env: dict[str, str], *argv: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(CLAUDEX + ["mcp", *argv], env=env, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """llm-wrapper installed from this checkout, as `make run` does it (once: it builds a venv)."""
    root = tmp_path_factory.mktemp("claudex")
    box = Installed(registry=root / "registry", home=root / "home", folder=root / "registry" / "installed" / "llm-wrapper",
                    python=root / "registry" / "installed" / "llm-wrapper" / ".venv" / "bin" / "python")
    box.home.mkdir()
    for argv in (["init"], ["install", str(SERVER_DIR)]):
        proc = claudex(box.env(), *argv)
        assert proc.returncode == 0, f"claudex mcp {argv[0]} failed:\n{proc.stdout}\n{proc.stderr}"
    assert (box.folder / "vendor" / "claudex-llm" / "claudex_llm" / "__init__.py").is_file()
    return box


@pytest.fixture(autouse=True)
def no_real_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "ANTHROPIC_", "LLM_WRAPPER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def base_env(installed: Installed) -> dict[str, str]:
    if installed.log.exists():   # each test reads the log of its own session only
        installed.log.unlink()
    return installed.env()


@pytest.fixture
def env(base_env, openai_api, anthropic_api) -> dict[str, str]:
    return {**base_env, **openai_api.env(), **anthropic_api.env()}


def mcp_session(env: dict[str, str]):
    """An MCP session (claudex_testing) with the installed server, started over stdio by
    `claudex mcp run llm-wrapper` (which logs its stderr) in ``env`` alone; stopped on exit."""
    from claudex_testing import ServerCommand, open_session

    return open_session(ServerCommand(CLAUDEX + ["mcp", "run", "llm-wrapper"], env, env["HOME"]), stderr=os.devnull)

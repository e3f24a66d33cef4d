"""Fixtures of the llm-wrapper server's tests: the fake OpenAI and Anthropic APIs on 127.0.0.1,
an environment with nothing of the developer's own (no real key can leak in), and an MCP stdio
session with the real server."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

from claudex_llm.fake_api import FakeAPI

TESTS = Path(__file__).resolve().parent
SERVER_DIR = TESTS.parent
sys.path.insert(0, str(SERVER_DIR))


@pytest.fixture(autouse=True)
def no_real_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("OPENAI_", "ANTHROPIC_", "LLM_WRAPPER_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def openai_api():
    with FakeAPI("openai") as api:
        yield api


@pytest.fixture
def anthropic_api():
    with FakeAPI("anthropic") as api:
        yield api


@pytest.fixture
def base_env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home), "LLM_WRAPPER_MAX_RETRIES": "2"}


@pytest.fixture
def env(base_env, openai_api, anthropic_api) -> dict[str, str]:
    return {**base_env, **openai_api.env(), **anthropic_api.env()}


@contextlib.asynccontextmanager
async def mcp_session(env: dict[str, str], errlog_path: Path | None = None):
    """An initialised SDK ClientSession with `python server.py` over stdio (stopped on exit)."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=[str(SERVER_DIR / "server.py")],
                                   env=env, cwd=str(SERVER_DIR))
    with open(errlog_path or os.devnull, "w") as errlog:
        async with stdio_client(params, errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                yield session


def text_of(result) -> str:
    return "\n".join(block.text for block in result.content if getattr(block, "type", "") == "text")

"""Fixtures of the qdrant server's tests: an isolated HOME per test, a fake embedder for fast
core tests, and real MCP stdio sessions against `python server.py`."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import sys
from pathlib import Path

import pytest

SERVER_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SERVER_DIR))

ENV_PREFIXES = ("QDRANT_", "EMBEDDINGS_", "XDG_")
# Read before the autouse fixture clears it: server-mode tests run only against a real server.
REAL_QDRANT_URL = os.environ.get("QDRANT_URL")
REAL_QDRANT_API_KEY = os.environ.get("QDRANT_API_KEY")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """Every test gets its own HOME and XDG folders, and none of the caller's QDRANT_* or
    EMBEDDINGS_* settings."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))
    return home


class HashEmbedder:
    """Deterministic 8-d vectors from a hash: enough to test the store without the model."""

    name = "hash-8"
    dimension = 8

    def embed(self, texts):
        from claudex_embeddings import EmbeddingError

        out = []
        for text in texts:
            if not text.strip():
                raise EmbeddingError("cannot embed an empty text")
            digest = hashlib.sha256(text.encode()).digest()
            vector = [b - 128.0 for b in digest[:8]]
            norm = math.sqrt(sum(x * x for x in vector))
            out.append([x / norm for x in vector])
        return out


@pytest.fixture
def store(home):
    import qdrant_core

    s = qdrant_core.Store(embedder_factory=HashEmbedder)
    yield s
    s.close()


def server_env(home: Path, **extra: str) -> dict:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "XDG_DATA_HOME": str(home / ".local" / "share")}
    env.update(extra)
    return env


class Session:
    """A live MCP session; `call` returns structured content or raises ToolFailed."""

    def __init__(self, session):
        self.session = session

    async def call(self, name: str, args: dict | None = None) -> dict:
        result = await self.session.call_tool(name, args or {})
        if result.is_error:
            raise ToolFailed(name, result.content[0].text)
        return result.structured_content

    async def error(self, name: str, args: dict | None = None) -> str:
        result = await self.session.call_tool(name, args or {})
        assert result.is_error, f"{name} {args} succeeded: {result.structured_content}"
        return result.content[0].text


class ToolFailed(AssertionError):
    def __init__(self, name, text):
        super().__init__(f"{name} failed: {text}")
        self.text = text


@contextlib.asynccontextmanager
async def mcp_server(env: dict):
    """`python server.py` over stdio with the SDK's client; the process is ended when the block
    exits, whatever happened inside."""
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=[str(SERVER_DIR / "server.py")], env=env,
                                   cwd=str(SERVER_DIR))
    with anyio.fail_after(120):
        with open(Path(env["HOME"]) / "server-stderr.log", "a") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    yield Session(session)


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True)

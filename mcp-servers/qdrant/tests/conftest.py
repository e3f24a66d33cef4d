"""Fixtures of the qdrant server's tests: an isolated HOME per test, a fake embedder for fast
store tests, and real MCP stdio sessions with the server (claudex_testing)."""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SERVER_DIR = Path(__file__).resolve().parent.parent

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
    import qdrant_store

    s = qdrant_store.Store(embedder_factory=HashEmbedder)
    yield s
    s.close()


def server_env(home: Path, **extra: str) -> dict:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "XDG_DATA_HOME": str(home / ".local" / "share")}
    env.update(extra)
    return env


def mcp_server(env: dict):
    """An MCP session (claudex_testing) with this folder, started from its manifest in ``env``
    alone; the server's stderr goes to HOME/server-stderr.log, and a session lasts 120 s at most."""
    from claudex_testing import open_session

    return open_session(SERVER_DIR, env=env, inherit=False, stderr=Path(env["HOME"]) / "server-stderr.log",
                        session_timeout=120)


def dumps(value) -> str:
    return json.dumps(value, sort_keys=True)


CLAUDEX = Path(sys.executable).parent / "claudex"


def claudex(env: dict, *argv: str, timeout: float = 900):
    """`claudex mcp <argv>` in a process of its own, as a person or script runs it."""
    return subprocess.run([str(CLAUDEX), "mcp", *argv], capture_output=True, text=True, env=env,
                          stdin=subprocess.DEVNULL, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """qdrant installed by `claudex mcp install mcp-servers/qdrant` into a registry of its own,
    without its extras (no qdrant-client in its venv), as a user gets it: the environment to run it."""
    from claudex_testing.gateway import installed_registry

    base = tmp_path_factory.mktemp("installed")
    env = installed_registry(base, SERVER_DIR, str(CLAUDEX))
    python = base / "registry" / "installed" / "qdrant" / ".venv" / "bin" / "python"
    for module in ("qdrant_client", "requests"):  # the server extra's, and what the stdlib does (issue #27)
        found = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True).returncode == 0
        assert not found, f"{module} is in the venv of qdrant installed without its server extra"
    return env


@pytest.fixture
def gateway(installed):
    """The installed qdrant is shared (manifest "shared"): `claudex mcp run` starts it in the
    gateway of that registry, which outlives a session. Stopped after the test, with the server."""
    yield
    proc = claudex(installed, "gateway", "stop", timeout=60)
    assert proc.returncode == 0, proc.stderr


def installed_env(installed: dict, home: Path, **extra: str) -> dict:
    """The environment of the installed server for this test's home and data folder."""
    return dict(installed, HOME=str(home), XDG_DATA_HOME=str(home / ".local" / "share"), **extra)


def run_installed(installed: dict, home: Path, **extra: str):
    """An MCP session with the installed server, started as a client does: `claudex mcp run qdrant`."""
    from claudex_testing import open_session

    env = installed_env(installed, home, **extra)
    return open_session("qdrant", via="run", claudex=str(CLAUDEX), env=env, inherit=False,
                        stderr=Path(env["HOME"]) / "server-stderr.log", session_timeout=120)

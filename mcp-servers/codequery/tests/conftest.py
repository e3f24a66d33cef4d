"""Fixtures of the codequery server's tests: an isolated HOME, data folder and project per test,
the real embedding model (loaded once), small generated repositories, and MCP stdio sessions
(claudex_testing): with the server itself, or as clients reach it, through `claudex mcp run` and
the claudex gateway (codequery is shared) of the test's own."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
SERVER_DIR = TESTS.parent

ENV_PREFIXES = ("QDRANT_", "EMBEDDINGS_", "XDG_", "CODEQUERY_", "OPENAI_", "ANTHROPIC_", "LLM_WRAPPER_")
LEAKY = ("CLAUDEX_PROJECT_DIR", "PWD")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """Every test gets its own HOME, XDG folders and project folder, and none of the caller's
    QDRANT_*, EMBEDDINGS_*, CODEQUERY_* or LLM settings."""
    for name in list(os.environ):
        if name.startswith(ENV_PREFIXES) or name in LEAKY:
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("CLAUDEX_PROJECT_DIR", str(project))
    return home


@pytest.fixture
def project(home) -> Path:
    return Path(os.environ["CLAUDEX_PROJECT_DIR"])


@pytest.fixture(scope="session")
def model():
    """The bundled all-MiniLM-L6-v2, loaded once for the whole run."""
    import claudex_embeddings

    provider = claudex_embeddings.from_env({})
    provider.embed(["warm up"])
    return provider


@pytest.fixture
def cq(model):
    import cq_index

    state = cq_index.Codequery(embedder_factory=lambda: model)
    yield state
    state.close()  # no dense worker outlives its test, no store stays owned


SAMPLE = {
    "src/net/http_client.py": '''\
import time

import requests


def fetch_with_retry(url, attempts=3, backoff=0.5):
    for attempt in range(attempts):
        try:
            response = requests.get(url, timeout=10)
            response.raise_for_status()
            return response
        except requests.RequestException:
            time.sleep(backoff * 2 ** attempt)
    raise RuntimeError(f"{url}: gave up after {attempts} attempts")
''',
    "src/users/store.py": '''\
class UserStore:
    def __init__(self, db):
        self.db = db

    def getUserName(self, user_id):
        row = self.db.lookup(user_id)
        return row["name"]

    def delete_user(self, user_id):
        self.db.remove(user_id)
''',
    "src/geometry/shapes.ts": '''\
export interface Shape {
  area(): number;
}

export class Circle implements Shape {
  constructor(private radius: number) {}

  area(): number {
    return Math.PI * this.radius * this.radius;
  }
}
''',
    "web/stats.js": '''\
export function computeAverage(values) {
  let total = 0;
  for (const v of values) total += v;
  return total / values.length;
}
''',
    "cmd/server/main.go": '''\
package main

import "net/http"

func startServer(addr string) error {
	return http.ListenAndServe(addr, nil)
}
''',
    "docs/guide.md": "# Guide\n\nTo parse the configuration file, call load_config with the path of the TOML file.\n",
}


def write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


@pytest.fixture
def sample(project) -> Path:
    write_tree(project, SAMPLE)
    return project


def server_env(home: Path, project: Path, **extra: str) -> dict:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "XDG_DATA_HOME": str(home / ".local" / "share"), "CLAUDEX_PROJECT_DIR": str(project)}
    env.update(extra)
    return env


def session(target, env: dict, **options):
    """An MCP session (claudex_testing) with ``target`` (this folder, started from its manifest, or
    a registry name with ``via="run"``) in ``env`` alone; the server's stderr goes to
    HOME/server-stderr.log, and a session lasts 300 s at most."""
    from claudex_testing import open_session

    return open_session(target, env=env, inherit=False, stderr=Path(env["HOME"]) / "server-stderr.log",
                        session_timeout=300, **options)


def start(home: Path, project: Path, **extra: str):
    """An MCP session with the server as it is started in the dev venv."""
    return session(SERVER_DIR, server_env(home, project, **extra))


CLAUDEX = Path(sys.executable).parent / "claudex"


def claudex(env: dict, *argv: str, timeout: float = 900, cwd: Path | None = None):
    """`claudex mcp <argv>` in a process of its own (in ``cwd``), as a person or script runs it."""
    import subprocess

    return subprocess.run([str(CLAUDEX), "mcp", *argv], capture_output=True, text=True, env=env, cwd=cwd,
                          stdin=subprocess.DEVNULL, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """codequery installed by `claudex mcp install mcp-servers/codequery` into a registry of its
    own (the shared ../lib package vendored, a venv of its own): the base environment to run it."""
    from claudex_testing.gateway import installed_registry

    base = tmp_path_factory.mktemp("installed")
    env = installed_registry(base, SERVER_DIR, str(CLAUDEX))
    vendored = base / "registry" / "installed" / "codequery" / "vendor" / "claudex-embeddings"
    assert (vendored / "claudex_embeddings" / "store.py").is_file(), "the shared package was not vendored"
    return env


@pytest.fixture
def gw(installed):
    """The claudex gateway of the installed registry, this test's own (claudex_testing.gateway):
    codequery is shared, so every `claudex mcp run codequery` of the test reaches its one process
    through it; stopped, with all it started, when the test ends."""
    from claudex_testing.gateway import own_gateway

    with own_gateway(installed, claudex=str(CLAUDEX)) as gateway:
        yield gateway


def installed_env(gw, home: Path, project: Path, **extra: str) -> dict:
    """The environment of the installed server (its registry, ``gw``'s runtime folder) for this
    test's home, index folder and project."""
    env = dict(gw.env, CLAUDEX_PROJECT_DIR=str(project), **extra)
    env["XDG_DATA_HOME"] = str(home / ".local" / "share")  # this test's index folder
    return dict(env, HOME=str(home))


def run_installed(gw, home: Path, project: Path, **extra: str):
    """An MCP session with the installed server, started as a client does: `claudex mcp run
    codequery` in ``project``, a session of ``gw``'s one codequery process (the first session's
    environment, with ``extra``, is the process's)."""
    return session("codequery", installed_env(gw, home, project, **extra), via="run", claudex=str(CLAUDEX),
                   cwd=project)

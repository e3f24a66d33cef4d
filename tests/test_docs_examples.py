"""The worked examples (docs/mcp-examples/*) are servers in the shipped ones' shape that validate,
pass `claudex mcp test`, install and are healthy; the walk-through of docs/mcp-development.md runs
as written. Their own tests run in `make test` (tasks.py, server_test_dirs)."""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from claudex_mcp.store import registry as registry_mod
from conftest import ROOT
from lifecycle_helpers import GIT_ENV

EXAMPLES = ROOT / "docs" / "mcp-examples"
NAMES = ("api-wrapper", "database-query", "hello-world")
# pip's cache in the project's ignored .tools/ (shared with test_create), so each package downloads once.
CACHES = {"PIP_CACHE_DIR": str(ROOT / ".tools" / "pip-cache")}


def readme_tools(folder: Path) -> list[str]:
    """The tool names of the README's "Tools" table."""
    section = (folder / "README.md").read_text().split("## Tools", 1)[1].split("\n## ", 1)[0]
    return sorted(re.findall(r"^\| `([a-z0-9_]+)` \|", section, re.M))


def test_the_examples_are_the_ones_documented():
    assert sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()) == sorted(NAMES)
    development = (ROOT / "docs" / "mcp-development.md").read_text()
    assert all(f"(mcp-examples/{name}/)" in development for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_example_has_the_shape_of_a_shipped_server(name):
    folder = EXAMPLES / name
    for required in ("server.py", "manifest.json", "requirements.txt", "README.md", "pytest.ini"):
        assert (folder / required).is_file(), required
    assert list((folder / "tests").glob("test_*.py"))
    server = ast.parse((folder / "server.py").read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in server.body)
    cores = [p for p in folder.glob("*.py") if p.name != "server.py"]
    assert cores, "a core module beside server.py"
    for core in cores:  # the work never imports mcp
        imported = {a.name.split(".")[0] for n in ast.walk(ast.parse(core.read_text()))
                    for a in (n.names if isinstance(n, (ast.Import, ast.ImportFrom)) else [])}
        imported |= {n.module.split(".")[0] for n in ast.walk(ast.parse(core.read_text()))
                     if isinstance(n, ast.ImportFrom) and n.module}
        assert "mcp" not in imported, core.name
    assert json.loads((folder / "manifest.json").read_text())["metadata"]["name"] == name


@pytest.mark.parametrize("name", NAMES)
def test_example_validates_and_passes_claudex_mcp_test(sandbox, name):
    folder = EXAMPLES / name
    assert sandbox.run("mcp", "validate", str(folder)).returncode == 0
    tested = sandbox.run("mcp", "test", str(folder), "--json", timeout=120)
    assert tested.returncode == 0, tested.stderr
    report = json.loads(tested.stdout)
    assert report["state"] == "healthy" and report["tools"] == readme_tools(folder), tested.stdout


def test_a_folders_self_check_runs_before_install(sandbox, tmp_path):
    """healthCheck.command names the folder's .venv Python, which a folder not installed has not:
    `test PATH` runs the self-check with claudex's Python, so its verdict is the server's own."""
    folder = EXAMPLES / "database-query"
    assert not (folder / ".venv").exists()
    env = {"SQLITE_DATABASE": str(tmp_path / "missing.db")}
    tested = sandbox.run("mcp", "test", str(folder), "--json", env=env, timeout=120)
    report = json.loads(tested.stdout)
    assert report["state"] == "degraded", tested.stdout
    assert "no SQLite file at" in json.dumps(report), tested.stdout


def test_examples_install_and_are_healthy(sandbox):
    registry_mod.init(sandbox.registry)
    for name in NAMES:
        installed = sandbox.run("mcp", "install", str(EXAMPLES / name), "--json", env=CACHES, timeout=600)
        assert installed.returncode == 0, installed.stderr
    status = json.loads(sandbox.run("mcp", "status", "--json", timeout=120).stdout)
    assert {s["name"]: s["state"] for s in status} == {name: "healthy" for name in NAMES}
    # Through the launcher, as a client starts it, with its configuration from the user layer.
    import sqlite3

    db = sandbox.root / "notes.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('hello')")
    conn.close()
    assert sandbox.run("mcp", "config", "set", "database-query", "env.SQLITE_DATABASE", str(db)).returncode == 0
    from claudex_testing import connect

    with connect("database-query", via="run", claudex=str(Path(sys.executable).parent / "claudex"),
                 env=sandbox.env) as session:
        result = session.call("db_query", {"sql": "SELECT body FROM notes WHERE id = ?", "params": [1]})
        assert result.structured_content["rows"] == [["hello"]]


def walkthrough() -> list[str]:
    text = (ROOT / "docs" / "mcp-development.md").read_text()
    block = text.split("<!-- walkthrough -->\n```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_development_walkthrough(sandbox, tmp_path):
    """Every command of the walk-through, as written (no shell: `$PWD` and `cd` are done here)."""
    registry_mod.init(sandbox.registry)
    cwd = tmp_path / "work"
    cwd.mkdir()
    env = {**sandbox.env, **GIT_ENV, **CACHES, "HOME": sandbox.env["HOME"]}
    for line in walkthrough():
        argv = [a.replace("$PWD", str(cwd)) for a in shlex.split(line)]
        if argv[0] == "cd":
            cwd = cwd / argv[1]
            continue
        if argv[0] == "claudex":
            proc = sandbox.run(*argv[1:], cwd=cwd, env=env, timeout=600)
        else:
            proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"{line}\n{proc.stdout}\n{proc.stderr}"
        if argv[:3] == ["claudex", "mcp", "status"]:
            assert "healthy" in proc.stdout, proc.stdout
    listed = json.loads(sandbox.run("mcp", "list", "--json").stdout)
    weather = [s for s in (listed if isinstance(listed, list) else listed["servers"]) if s["name"] == "weather"]
    assert weather and weather[0]["version"] == "0.2.0", listed

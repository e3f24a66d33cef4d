"""Shared server packages: `../lib/<dist>` in a server's requirements.txt is vendored into the
installed server (from a folder in a git work tree, or from git with --subdir); every other
path that leaves the server folder is refused without reading it."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import sys

from conftest import ECHO_SERVER, manifest
from lifecycle_helpers import git, snapshot, write_files
from claudex_mcp.store import registry as registry_mod
from claudex_mcp.install import vendor
from claudex_mcp.errors import InvalidInput

SECRET = "TOPSECRET-do-not-echo"
LIB_PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "greetlib"
version = "0.1.0"
"""


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    return sandbox.registry


def repo_with_server(root: Path, requirements: str, git_init: bool = True) -> Path:
    """repo/servers/hello (an MCP server, run by this python: upgrade's health check needs the
    SDK) and repo/servers/lib/greetlib (a package); the server folder. The server's own venv
    holds what its requirements name."""
    repo = root / "repo"
    write_files(repo, {
        "servers/hello/manifest.json": json.dumps(manifest("hello", command=sys.executable)),
        "servers/hello/server.py": ECHO_SERVER.read_text(),
        "servers/hello/requirements.txt": requirements,
        "servers/lib/greetlib/pyproject.toml": LIB_PYPROJECT,
        "servers/lib/greetlib/greetlib/__init__.py": 'GREETING = "hello from greetlib"\n',
        "secret.txt": SECRET + "\n",
    })
    if git_init:
        git("init", "-q", "-b", "main", cwd=repo)
    return repo / "servers" / "hello"


def greeting(folder: Path) -> str:
    proc = subprocess.run([str(folder / ".venv" / "bin" / "python"), "-c", "import greetlib; print(greetlib.GREETING)"],
                          capture_output=True, text=True, cwd=folder, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_folder_in_a_git_work_tree_vendors_its_shared_package(sandbox, reg):
    src = repo_with_server(sandbox.root, "# shared\n../lib/greetlib\n")
    ok(sandbox.run("mcp", "install", str(src), "--json", timeout=300))
    target = reg / "installed" / "hello"
    assert (target / "vendor" / "greetlib" / "greetlib" / "__init__.py").is_file()
    assert (target / "requirements.txt").read_text() == "# shared\n./vendor/greetlib\n"
    assert (src / "requirements.txt").read_text() == "# shared\n../lib/greetlib\n"  # the source is untouched
    assert greeting(target) == "hello from greetlib"  # imported from the server's own venv


def test_git_with_subdir_vendors_an_editable_line_as_a_plain_install(sandbox, reg):
    src = repo_with_server(sandbox.root, "-e ../lib/greetlib\n")
    repo = src.parent.parent
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "one", cwd=repo)
    result = ok(sandbox.run("mcp", "install", f"file://{repo}", "--subdir", "servers/hello", "--json", timeout=300))
    assert result["source"]["subdir"] == "servers/hello"
    target = reg / "installed" / "hello"
    assert (target / "requirements.txt").read_text() == "./vendor/greetlib\n"  # not editable: staging moves
    assert greeting(target) == "hello from greetlib"
    assert not (target / "secret.txt").exists()


def test_upgrade_of_a_folder_source_notices_a_change_in_a_vendored_package(sandbox, reg):
    src = repo_with_server(sandbox.root, "../lib/greetlib\n")
    ok(sandbox.run("mcp", "install", str(src), "--json", timeout=300))
    assert ok(sandbox.run("mcp", "upgrade", "hello", "--check", "--json"))["available"] is False
    lib = src.parent / "lib" / "greetlib" / "greetlib" / "__init__.py"
    lib.write_text('GREETING = "changed"\n')
    assert ok(sandbox.run("mcp", "upgrade", "hello", "--check", "--json"))["available"] is True
    assert ok(sandbox.run("mcp", "upgrade", "hello", "--json", timeout=300))["upgraded"] is True
    assert greeting(reg / "installed" / "hello") == "changed"


@pytest.mark.parametrize("requirements,code", [
    ("../../../etc\n", "requirement_outside"),              # leaves the source root
    ("/usr/lib/python3/dist-packages\n", "requirement_outside"),
    ("-e /usr/lib/python3\n", "requirement_outside"),
    ("--editable=/usr/lib/python3\n", "requirement_outside"),
    ("-r /etc/shadow\n", "requirement_outside"),
    ("-r ../../secret.txt\n", "requirement_outside"),
    ("--requireme=../../secret.txt\n", "requirement_outside"),    # optparse's abbreviation of --requirement
    ("-r../../secret.txt\n", "requirement_outside"),
    ("-c ../../secret.txt\n", "requirement_outside"),
    ("-f ../../\n", "requirement_outside"),
    ("greetlib @ file:///etc\n", "requirement_outside"),
    ("file:../lib/greetlib\n", "requirement_outside"),
    ("git+file:///srv/private-repo#egg=x\n", "requirement_outside"),
    ("-e git+file:///srv/private-repo#egg=x\n", "requirement_outside"),
    ("--extra-index-url file:///etc\nx\n", "requirement_outside"),
    ("${HOME}/x\n", "requirement_outside"),
    ("requests \\\n  ; python_version > '3'\n-r \\\n ../../secret.txt\n", "requirement_outside"),
    ("../hello/server.py\n", "requirement_outside"),       # out and back in
    ("../lib\n", "requirement_outside"),                    # not a Python project
])
def test_paths_outside_are_refused_without_reading_them(sandbox, reg, requirements, code):
    src = repo_with_server(sandbox.root, requirements)
    before = snapshot(reg)
    proc = sandbox.run("mcp", "install", str(src))
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    error = json.loads(proc.stderr.splitlines()[-1])["error"]
    assert error["code"] == code and error["hint"] and "requirements.txt line" in error["message"]
    assert SECRET not in proc.stderr and "root:" not in proc.stderr
    assert snapshot(reg) == before and list((reg / ".staging").iterdir()) == []


def test_outside_the_folder_is_refused_when_no_git_work_tree_holds_it(sandbox, reg):
    src = repo_with_server(sandbox.root, "../lib/greetlib\n", git_init=False)
    proc = sandbox.run("mcp", "install", str(src))
    assert proc.returncode == 1
    assert "outside the source root" in json.loads(proc.stderr)["error"]["message"]


def test_subdir_is_checked(sandbox, reg):
    src = repo_with_server(sandbox.root, "")
    repo = src.parent.parent
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "one", cwd=repo)
    for subdir, code, exit_code in [("../x", "invalid_subdir", 1), ("/etc", "invalid_subdir", 1),
                                     ("servers/nope", "no_subdir", 4)]:
        proc = sandbox.run("mcp", "install", f"file://{repo}", "--subdir", subdir)
        assert proc.returncode == exit_code, proc.stderr
        assert json.loads(proc.stderr)["error"]["code"] == code
    proc = sandbox.run("mcp", "install", str(src), "--subdir", "servers/hello")
    assert proc.returncode == 2 and json.loads(proc.stderr)["error"]["code"] == "git_option_without_git"


def test_a_requirements_file_that_is_not_regular_is_refused(sandbox, tmp_path):
    folder = tmp_path / "server"
    folder.mkdir()
    os.mkfifo(folder / "requirements.txt")  # reading it would block forever
    with pytest.raises(InvalidInput) as caught:
        vendor.scan(folder)
    assert caught.value.code == "special-file"
    os.unlink(folder / "requirements.txt")
    os.symlink("/etc/shadow", folder / "requirements.txt")
    with pytest.raises(InvalidInput) as caught:
        vendor.scan(folder)
    assert caught.value.code == "requirement_outside"


def test_pip_lines_are_the_same_from_any_working_directory(tmp_path):
    folder = tmp_path / "mcp-servers" / "hello"
    write_files(folder, {
        "requirements.txt": "mcp>=1.0  # the SDK\n-r more.txt\n../lib/greetlib[extra] ; python_version > '3'\n",
        "more.txt": "-e ../lib/other\nrequests==2.*\n",
    })
    lib = tmp_path / "mcp-servers" / "lib"
    assert vendor.pip_lines(folder) == [
        "mcp>=1.0", f"-e {lib / 'other'}", "requests==2.*", f"{lib / 'greetlib'}[extra] ; python_version > '3'"]


def test_the_source_root_of_a_shipped_server_is_claudex_own_servers_folder(tmp_path):
    """claudex's own mcp-servers/ is the root of the servers it ships, with or without a .git
    above it (the image copies the tree without one); elsewhere the git work tree, else the folder."""
    from claudex_mcp.paths import PROJECT_ROOT

    shipped = (PROJECT_ROOT / "mcp-servers").resolve()
    assert vendor.source_root(shipped / "llm-wrapper") == shipped
    assert vendor.source_root(shipped / "core" / "codex") == shipped
    plain = tmp_path / "plain" / "server"
    plain.mkdir(parents=True)
    assert vendor.source_root(plain) == plain.resolve()
    (tmp_path / "plain" / ".git").mkdir()
    assert vendor.source_root(plain) == (tmp_path / "plain").resolve()

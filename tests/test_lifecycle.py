"""install, uninstall, upgrade, enable and disable against real git repositories and processes."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time

import pytest

from conftest import ROOT, add_server, manifest
from lifecycle_helpers import (add_release, check_invariants, git_repo, server_files, snapshot, write_files)
from claudex_mcp.store import registry as registry_mod

CLAUDEX = [sys.executable, str(ROOT / "scripts" / "claudex")]


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    return sandbox.registry


def cli(sandbox, *argv, env=None, timeout=120):
    return sandbox.run("mcp", *argv, env=env, timeout=timeout)


def ok(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout) if proc.stdout.startswith(("{", "[")) else proc.stdout


def records(reg):
    return json.loads((reg / "registry.json").read_text())["servers"]


def folder_source(sandbox, name="hello", version="1.0.0", mcp=False, **server) -> str:
    src = sandbox.root / "src" / name
    src.mkdir(parents=True, exist_ok=True)
    write_files(src, server_files(name, version, mcp, **server))
    return str(src)


# ---- install ---------------------------------------------------------------------------------

def test_install_from_a_folder(sandbox, reg):
    src = folder_source(sandbox)
    (sandbox.root / "src" / "hello" / "bin").mkdir()
    tool = sandbox.root / "src" / "hello" / "bin" / "tool"
    tool.write_text("#!/bin/sh\n")
    os.chmod(tool, 0o700)
    os.chmod(sandbox.root / "src" / "hello" / "VERSION", 0o600)
    (sandbox.root / "src" / "hello" / ".git").mkdir()
    result = ok(cli(sandbox, "install", src, "--json"))
    target = reg / "installed" / "hello"
    assert result["folder"] == str(target) and result["version"] == "1.0.0"
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert stat.S_IMODE((target / "VERSION").stat().st_mode) == 0o600  # owner-only stays owner-only
    assert stat.S_IMODE((target / "bin" / "tool").stat().st_mode) == 0o700
    assert stat.S_IMODE((target / "server.py").stat().st_mode) == 0o644
    assert not (target / ".git").exists()
    record = records(reg)["hello"]
    assert record["source"] == {"type": "path", "path": src} and record["location"] == "installed"
    assert record["manifestDigest"].startswith("sha256:") and record["installedAt"].endswith("Z")
    assert list((reg / ".staging").iterdir()) == []
    listed = ok(cli(sandbox, "list", "--json"))
    assert [(r["name"], r["version"], r["enabled"]) for r in listed] == [("hello", "1.0.0", True)]


def test_install_from_git_at_a_tag(sandbox, reg):
    url = git_repo(sandbox.root, "hello", ["1.0.0", "1.1.0"], mcp=False)
    result = ok(cli(sandbox, "install", f"{url}@v1.0.0", "--json"))
    assert result["version"] == "1.0.0"
    source = records(reg)["hello"]["source"]
    assert source["type"] == "git" and source["url"] == url and source["ref"] == "v1.0.0"
    assert len(source["commit"]) == 40
    assert not (reg / "installed" / "hello" / ".git").exists()


def test_install_a_python_server_gets_its_own_venv(sandbox, reg):
    src = folder_source(sandbox, command="${SERVER_DIR}/.venv/bin/python")
    (sandbox.root / "src" / "hello" / "requirements.txt").write_text("# no dependencies\n")
    ok(cli(sandbox, "install", src))
    python = reg / "installed" / "hello" / ".venv" / "bin" / "python"
    proc = subprocess.run([str(python), "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True)
    assert proc.stdout.strip() == str(reg / "installed" / "hello" / ".venv")  # works after the move


@pytest.mark.parametrize("case,code,error", [
    ("again", 3, "already_installed"),
    ("core", 3, "core_name"),
    ("invalid", 1, "invalid_server"),
    ("missing", 4, "not_found"),
    ("dash", 2, "invalid_source"),
    ("ext", 1, "invalid_source"),
    ("http", 1, "invalid_source"),
    ("bad-ref", 1, "invalid_ref"),
    ("no-repo", 5, "git_failed"),
    ("no-such-tag", 5, "no_ref"),
    ("escape", 1, "symlink-escape"),
    ("world-writable", 1, "invalid_server"),
    ("claudex-range", 1, "incompatible"),
    ("mcp-range", 1, "incompatible"),
    ("no-command", 5, "missing_runtime"),
    ("too-large", 1, "too_large"),
    ("bad-deps", 5, "dependencies_failed"),
])
def test_bad_installs_change_nothing(sandbox, reg, case, code, error):
    add_server(reg, "codex", "core")
    ok(cli(sandbox, "install", folder_source(sandbox, "present")))
    src = folder_source(sandbox)
    folder = sandbox.root / "src" / "hello"
    env = None
    spec = src
    if case == "again":
        spec = folder_source(sandbox, "present", "2.0.0")
    elif case == "core":
        spec = folder_source(sandbox, "codex")
    elif case == "invalid":
        (folder / "manifest.json").write_text(json.dumps({"apiVersion": "v1", "metadata": {"name": "x"}}))
    elif case == "missing":
        spec = str(sandbox.root / "nope")
    elif case == "dash":
        spec = "--upload-pack=touch /tmp/pwned"
    elif case == "ext":
        spec = "ext::sh -c touch% /tmp/pwned"
    elif case == "http":
        spec = "http://example.com/x.git"
    elif case == "bad-ref":
        spec = git_repo(sandbox.root, "r", ["1.0.0"], mcp=False) + "@--orphan"
    elif case == "no-repo":
        spec = f"file://{sandbox.root}/nothing.git"
    elif case == "no-such-tag":
        spec = git_repo(sandbox.root, "r", ["1.0.0"], mcp=False) + "@v9.9.9"
    elif case == "escape":
        os.symlink("/etc/passwd", folder / "passwd")
    elif case == "world-writable":
        os.chmod(folder / "VERSION", 0o666)
    elif case in ("claudex-range", "mcp-range"):
        doc = json.loads((folder / "manifest.json").read_text())
        doc["compatibility"] = {"claudex": ">=99.0.0"} if case == "claudex-range" else {"mcp": ">=2099-01-01"}
        (folder / "manifest.json").write_text(json.dumps(doc))
    elif case == "no-command":
        write_files(folder, server_files("hello", "1.0.0", False, command="no-such-runtime-xyz"))
    elif case == "too-large":
        env = {"CLAUDEX_MCP_MAX_SOURCE_BYTES": "10"}
    elif case == "bad-deps":
        (folder / "requirements.txt").write_text("this is not a requirement ===\n")
    before = snapshot(reg)
    proc = cli(sandbox, "install", spec, env=env)
    assert proc.returncode == code, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == error
    assert snapshot(reg) == before
    assert not os.path.exists("/tmp/pwned")
    assert list((reg / ".staging").iterdir()) == []


# ---- uninstall -------------------------------------------------------------------------------

def test_uninstall_keeps_user_config_unless_purged(sandbox, reg):
    ok(cli(sandbox, "install", folder_source(sandbox)))
    ok(cli(sandbox, "config", "set", "hello", "settings.x", "1"))
    user = sandbox.config / "claudex" / "mcp.json"
    ok(cli(sandbox, "uninstall", "hello"))
    assert not (reg / "installed" / "hello").exists() and "hello" not in records(reg)
    assert "hello" in json.loads(user.read_text())["servers"]
    ok(cli(sandbox, "install", folder_source(sandbox)))
    assert ok(cli(sandbox, "uninstall", "hello", "--purge", "--json"))["purged"] is True
    assert "hello" not in json.loads(user.read_text())["servers"]


def test_uninstall_refusals(sandbox, reg):
    add_server(reg, "codex", "core")
    before = snapshot(reg)
    core = cli(sandbox, "uninstall", "codex")
    assert core.returncode == 3 and "disable" in json.loads(core.stderr)["error"]["hint"]
    assert cli(sandbox, "uninstall", "nope").returncode == 4
    assert cli(sandbox, "uninstall", "../etc").returncode == 2
    assert snapshot(reg) == before


# ---- upgrade ---------------------------------------------------------------------------------

def test_upgrade_git_to_the_newest_tag_after_a_health_check(sandbox, reg):
    url = git_repo(sandbox.root, "echo", ["1.0.0"])
    ok(cli(sandbox, "install", f"{url}@v1.0.0"))
    assert ok(cli(sandbox, "upgrade", "echo", "--json"))["upgraded"] is False
    add_release(url, sandbox.root, "echo", "1.1.0")
    add_release(url, sandbox.root, "echo", "1.2.0")
    checked = ok(cli(sandbox, "upgrade", "--all", "--check", "--json"))
    assert checked == [dict(checked[0], name="echo", available=True, upgraded=False)]
    assert (reg / "installed" / "echo" / "VERSION").read_text() == "1.0.0\n"
    result = ok(cli(sandbox, "upgrade", "echo", "--json"))
    assert (result["from"], result["to"], result["upgraded"]) == ("1.0.0", "1.2.0", True)
    assert result["health"]["tools"] == ["add", "echo"]
    record = records(reg)["echo"]
    assert record["source"]["ref"] == "v1.2.0" and record["version"] == "1.2.0" and "updatedAt" in record
    assert (reg / "installed" / "echo" / "VERSION").read_text() == "1.2.0\n"


def test_upgrade_follows_a_branch(sandbox, reg):
    url = git_repo(sandbox.root, "echo", ["1.0.0"])
    ok(cli(sandbox, "install", f"{url}@main"))
    add_release(url, sandbox.root, "echo", "1.0.1", tag=False)
    result = ok(cli(sandbox, "upgrade", "echo", "--json"))
    assert result["to"] == "1.0.1" and "main moved to" in result["reason"]


def test_a_failed_health_check_keeps_the_old_version(sandbox, reg):
    url = git_repo(sandbox.root, "echo", ["1.0.0"])
    ok(cli(sandbox, "install", f"{url}@v1.0.0"))
    add_release(url, sandbox.root, "echo", "2.0.0", mcp=False)  # 2.0.0 is not an MCP server
    before = snapshot(reg)
    proc = cli(sandbox, "upgrade", "echo")
    assert proc.returncode == 5 and json.loads(proc.stderr)["error"]["code"] in ("not_mcp", "health_failed")
    assert snapshot(reg) == before


def test_folder_upgrade_and_downgrade_needs_force(sandbox, reg):
    src = folder_source(sandbox, "echo", "1.0.0", mcp=True)
    ok(cli(sandbox, "install", src))
    write_files(sandbox.root / "src" / "echo", server_files("echo", "1.5.0"))
    assert ok(cli(sandbox, "upgrade", "echo", "--json"))["to"] == "1.5.0"
    write_files(sandbox.root / "src" / "echo", server_files("echo", "1.1.0"))
    before = snapshot(reg)
    refused = cli(sandbox, "upgrade", "echo")
    assert refused.returncode == 3 and json.loads(refused.stderr)["error"]["code"] == "downgrade"
    assert snapshot(reg) == before
    assert ok(cli(sandbox, "upgrade", "echo", "--force", "--json"))["to"] == "1.1.0"


# ---- enable / disable ------------------------------------------------------------------------

def test_disable_and_enable_move_the_folder_and_keep_config(sandbox, reg):
    ok(cli(sandbox, "install", folder_source(sandbox)))
    ok(cli(sandbox, "config", "set", "hello", "settings.x", "1"))
    ok(cli(sandbox, "disable", "hello"))
    assert (reg / "disabled" / "hello").is_dir() and records(reg)["hello"]["location"] == "disabled"
    assert ok(cli(sandbox, "list", "--json"))[0]["enabled"] is False
    assert "already disabled" in ok(cli(sandbox, "disable", "hello"))
    ok(cli(sandbox, "enable", "hello"))
    assert (reg / "installed" / "hello").is_dir() and records(reg)["hello"]["location"] == "installed"
    assert ok(cli(sandbox, "config", "show", "hello", "--json"))["config"]["settings"] == {"x": 1}


def test_core_servers_and_projects_use_layers(sandbox, reg):
    add_server(reg, "codex", "core")
    ok(cli(sandbox, "disable", "codex"))
    assert json.loads((reg / "config.json").read_text())["servers"]["codex"]["enabled"] is False
    assert (reg / "core" / "codex").is_dir()
    ok(cli(sandbox, "enable", "codex"))
    assert "codex" not in json.loads((reg / "config.json").read_text()).get("servers", {})
    project = sandbox.home / "claudex" / "demo"
    project.mkdir(parents=True)
    ok(cli(sandbox, "disable", "codex", "--project", "demo"))
    assert json.loads((project / ".claudex" / "mcp.json").read_text())["servers"]["codex"]["enabled"] is False
    assert ok(cli(sandbox, "list", "--json", "--project", "demo"))[0]["enabled"] is False
    assert ok(cli(sandbox, "list", "--json"))[0]["enabled"] is True


def test_disable_stops_the_running_server(sandbox, reg):
    ok(cli(sandbox, "install", folder_source(sandbox, "echo", mcp=True)))
    proc = subprocess.Popen(CLAUDEX + ["mcp", "run", "echo"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=sandbox.env)
    try:
        record = sandbox.state / "claudex" / "run" / "echo.json"
        for _ in range(100):
            if record.exists() and os.path.exists(f"/proc/{proc.pid}/exe") and \
                    os.readlink(f"/proc/{proc.pid}/exe") == os.path.realpath(sys.executable):
                break
            time.sleep(0.05)
        result = ok(cli(sandbox, "disable", "echo", "--json"))
        assert result["stopped"] == [proc.pid]
        assert proc.wait(timeout=10) in (-15, 0, 1, 143)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_install_regenerates_the_client_configs_written_before(sandbox, reg):
    ok(cli(sandbox, "generate"))
    assert json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"] == {}
    ok(cli(sandbox, "install", folder_source(sandbox)))
    assert list(json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"]) == ["hello"]
    ok(cli(sandbox, "disable", "hello"))
    assert json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"] == {}


def test_submodules_only_when_asked_and_never_over_the_file_transport(sandbox, reg):
    from lifecycle_helpers import git

    sub = git_repo(sandbox.root, "sub", ["1.0.0"], mcp=False)
    url = git_repo(sandbox.root, "hello", ["1.0.0"], mcp=False)
    work = sandbox.root / "hello-work"
    git("-c", "protocol.file.allow=always", "submodule", "add", "-q", sub, "vendor", cwd=work)
    git("commit", "-q", "-m", "sub", cwd=work)
    git("push", "-q", url.removeprefix("file://"), "main", cwd=work)
    ok(cli(sandbox, "install", url))
    assert not (reg / "installed" / "hello" / "vendor" / "VERSION").exists()
    ok(cli(sandbox, "uninstall", "hello"))
    # A submodule on this machine (file transport) is never fetched: a hostile .gitmodules
    # could name any local repository. Submodules come over https or ssh only.
    before = snapshot(reg)
    proc = cli(sandbox, "install", url, "--submodules")
    assert proc.returncode == 1 and json.loads(proc.stderr)["error"]["code"] == "submodule_transport"
    assert snapshot(reg) == before and list((reg / ".staging").iterdir()) == []


def test_init_puts_the_core_servers_in_core_and_keeps_them_current(sandbox, tmp_path):
    shipped = tmp_path / "shipped"
    write_files(shipped / "codex", server_files("codex", "1.0.0"))
    env = {"CLAUDEX_MCP_CORE_SOURCE": str(shipped)}
    result = ok(cli(sandbox, "init", "--json", env=env))
    reg = sandbox.registry
    assert result["core"] == ["codex"] and (reg / "core" / "codex" / "server.py").exists()
    assert records(reg)["codex"]["source"] == {"type": "core"} and records(reg)["codex"]["location"] == "core"
    before = snapshot(reg)
    assert ok(cli(sandbox, "init", "--json", env=env))["core"] == []  # unchanged: nothing to do
    assert snapshot(reg) == before
    write_files(shipped / "codex", server_files("codex", "1.1.0"))
    assert ok(cli(sandbox, "init", "--json", env=env))["core"] == ["codex"]
    assert (reg / "core" / "codex" / "VERSION").read_text() == "1.1.0\n"
    assert ok(cli(sandbox, "test", "codex", "--json"))["state"] == "healthy"


def test_install_a_node_server_runs_npm(sandbox, reg):
    import shutil

    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    src = folder_source(sandbox, "noder", command="node", args=["${SERVER_DIR}/server.js"])
    folder = sandbox.root / "src" / "noder"
    (folder / "server.js").write_text("console.log('hi')\n")
    (folder / "package.json").write_text(json.dumps({"name": "noder", "version": "1.0.0", "private": True}))
    ok(cli(sandbox, "install", src))
    target = reg / "installed" / "noder"
    assert (target / "package-lock.json").exists()  # npm install ran in the staged folder
    assert records(reg)["noder"]["location"] == "installed"

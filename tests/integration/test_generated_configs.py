"""Generated configs work in the real clients: Claude Code's own `claude mcp list` connects to
every server claudex wrote (project .mcp.json, ~/.claude.json, ~/.mcp.json), and Codex's
`codex mcp list --json` reads back the config.toml claudex wrote. A project's decisions reach
Claude Code in the project's folder (its local scope), and a server removed with the client's own
`mcp remove` stays removed after `claudex mcp generate`."""

from __future__ import annotations

import json
import sys

import pytest

from clients import claude_mcp, claude_mcp_list, codex_mcp, codex_mcp_list
from clients import real_clients as clients  # noqa: F401  (the session fixture)
from conftest import ECHO_SERVER, add_echo_servers, add_server
from claudex_mcp.store import registry as registry_mod

ENABLED = {"echo", "echo-core", "echo-key"}


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    add_echo_servers(sandbox.registry)
    add_server(sandbox.registry, "web", "installed", {
        "apiVersion": "v1", "metadata": {"name": "web", "version": "1.0.0", "description": "remote"},
        "server": {"transport": "http", "url": "https://mcp.example.com/mcp",
                   "headers": {"Authorization": "Bearer ${WEB_TOKEN}"}}}, files={})
    project = sandbox.home / "claudex" / "demo"
    (project / ".claudex").mkdir(parents=True)
    return project


def generate(sandbox, *argv):
    proc = sandbox.run("mcp", "generate", "--json", *argv)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def launch_env(sandbox) -> dict:
    return {"CLAUDEX_MCP_REGISTRY": str(sandbox.registry), "ECHO_TOKEN": "tok"}


def stdio(statuses: dict) -> dict:
    return {name: status for name, status in statuses.items() if name != "web"}


def test_claude_connects_to_a_generated_project_config(sandbox, reg, clients):
    result = generate(sandbox, "--project", "demo", "--scope", "project")
    assert result["target"] == str(reg / ".mcp.json")
    statuses = claude_mcp_list(clients.claude, reg, sandbox.home, launch_env(sandbox))
    assert stdio(statuses) == {name: "connected" for name in ENABLED}, statuses
    assert "web" in statuses  # listed; its host is unreachable here, so it cannot connect


def test_claude_connects_to_generated_user_scope_servers(sandbox, reg, clients):
    (sandbox.home / ".claude.json").write_text(json.dumps({"numStartups": 3, "mcpServers": {
        "mine": {"type": "stdio", "command": "true", "args": []}}}))
    generate(sandbox, "--scope", "user")
    elsewhere = sandbox.root / "elsewhere"  # not under HOME: only the user scope applies
    elsewhere.mkdir()
    statuses = claude_mcp_list(clients.claude, elsewhere, sandbox.home, launch_env(sandbox))
    assert {n: s for n, s in stdio(statuses).items() if n != "mine"} == {name: "connected" for name in ENABLED}
    assert "mine" in statuses  # the user's own entry was kept


def test_claude_reads_the_default_home_mcp_json_below_home(sandbox, reg, clients):
    generate(sandbox)
    statuses = claude_mcp_list(clients.claude, reg, sandbox.home, launch_env(sandbox))
    assert stdio(statuses) == {name: "connected" for name in ENABLED}


def test_a_missing_required_variable_fails_only_that_server(sandbox, reg, clients):
    generate(sandbox, "--project", "demo", "--scope", "project")
    statuses = claude_mcp_list(clients.claude, reg, sandbox.home, {"CLAUDEX_MCP_REGISTRY": str(sandbox.registry)})
    assert statuses["echo-key"] == "failed"
    assert statuses["echo"] == statuses["echo-core"] == "connected"


def test_codex_reads_the_generated_config(sandbox, reg, clients):
    codex_home = sandbox.home / ".codex"
    sandbox.env["CODEX_HOME"] = str(codex_home)
    generate(sandbox, "--client", "codex")
    listed = {entry["name"]: entry for entry in codex_mcp_list(clients.codex, codex_home, {"HOME": str(sandbox.home)})}
    assert set(listed) == ENABLED | {"web"}
    echo = listed["echo-key"]["transport"]
    assert echo["type"] == "stdio" and echo["args"][-3:] == ["mcp", "run", "echo-key"]
    assert echo["env"] == {"CLAUDEX_MCP_REGISTRY": str(sandbox.registry)}
    assert "ECHO_TOKEN" in echo["env_vars"]
    web = listed["web"]["transport"]
    assert web["type"] == "streamable_http" and web["bearer_token_env_var"] == "WEB_TOKEN"
    assert all(entry["enabled"] for entry in listed.values())


def test_the_entrypoint_trusts_the_named_workspaces_for_claude(sandbox, reg, clients):
    """CLAUDEX_CLAUDE_TRUSTED_FOLDERS (off by default): the image's entrypoint marks those folders
    trusted, so Claude Code starts claudex's servers there without its dialog; elsewhere not."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from clients import folder_trusted

    root = Path(__file__).resolve().parents[2]
    workspace, other = sandbox.root / "workspace", sandbox.root / "other"
    workspace.mkdir()
    other.mkdir()
    (sandbox.home / ".claude.json").write_text(json.dumps({"numStartups": 9}))
    env = dict(sandbox.env, PATH=f"{os.path.dirname(sys.executable)}:/usr/bin:/bin",
               CLAUDEX_CLAUDE_TRUSTED_FOLDERS=str(workspace))
    proc = subprocess.run([str(root / "scripts" / "docker-entrypoint.sh"), "true"], capture_output=True,
                          text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert folder_trusted(sandbox.home, workspace) and not folder_trusted(sandbox.home, other)
    assert json.loads((sandbox.home / ".claude.json").read_text())["numStartups"] == 9
    statuses = claude_mcp_list(clients.claude, workspace, sandbox.home, launch_env(sandbox), trust=False)
    assert stdio(statuses) == {name: "connected" for name in ENABLED}, statuses
    untrusted = claude_mcp_list(clients.claude, other, sandbox.home, launch_env(sandbox), trust=False)
    assert set(stdio(untrusted).values()) == {"not-checked"}, untrusted


# ---- project decisions, and what the user removed in the client ----------------------------

def elsewhere(sandbox):
    """A folder outside HOME: only the user scope (and its own local scope) applies there."""
    folder = sandbox.root / "elsewhere"
    folder.mkdir(exist_ok=True)
    return folder


def test_claude_honours_a_projects_decisions_in_its_folder_only(sandbox, reg, clients):
    generate(sandbox)
    for argv in (("disable", "echo", "--project", "demo"), ("enable", "echo-off", "--project", "demo")):
        proc = sandbox.run("mcp", *argv)
        assert proc.returncode == 0, proc.stderr
    here = stdio(claude_mcp_list(clients.claude, reg, sandbox.home, launch_env(sandbox)))
    assert here == {"echo": "disabled", "echo-core": "connected", "echo-key": "connected", "echo-off": "connected"}
    there = stdio(claude_mcp_list(clients.claude, elsewhere(sandbox), sandbox.home, launch_env(sandbox)))
    assert there == {name: "connected" for name in ENABLED}
    assert sandbox.run("mcp", "enable", "echo", "--project", "demo").returncode == 0
    assert claude_mcp_list(clients.claude, reg, sandbox.home, launch_env(sandbox))["echo"] == "connected"


def test_claude_starts_a_server_added_for_a_project_in_that_folder(sandbox, reg, clients):
    generate(sandbox)
    app = sandbox.root / "work" / "app"
    app.mkdir(parents=True)
    proc = sandbox.run("mcp", "add", "echo-app", "--project-dir", str(app), "--", sys.executable, str(ECHO_SERVER))
    assert proc.returncode == 0, proc.stderr
    assert claude_mcp_list(clients.claude, app, sandbox.home, launch_env(sandbox))["echo-app"] == "connected"
    assert "echo-app" not in claude_mcp_list(clients.claude, elsewhere(sandbox), sandbox.home, launch_env(sandbox))


def test_a_server_removed_with_claude_mcp_remove_stays_removed(sandbox, reg, clients):
    generate(sandbox)
    claude_mcp(clients.claude, elsewhere(sandbox), sandbox.home, "remove", "-s", "user", "echo")
    proc = sandbox.run("mcp", "generate")
    assert proc.returncode == 0, proc.stderr
    assert f"warning: echo was removed from {sandbox.home / '.claude.json'} outside claudex" in proc.stderr
    statuses = stdio(claude_mcp_list(clients.claude, elsewhere(sandbox), sandbox.home, launch_env(sandbox)))
    assert statuses == {"echo-core": "connected", "echo-key": "connected"}
    assert sandbox.run("mcp", "generate").stderr == ""  # said once
    assert sandbox.run("mcp", "enable", "echo").returncode == 0  # the way back
    assert claude_mcp_list(clients.claude, elsewhere(sandbox), sandbox.home, launch_env(sandbox))["echo"] == "connected"


def test_a_local_server_removed_with_claude_mcp_remove_stays_removed(sandbox, reg, clients):
    generate(sandbox)
    assert sandbox.run("mcp", "enable", "echo-off", "--project", "demo").returncode == 0
    claude_mcp(clients.claude, reg, sandbox.home, "remove", "-s", "local", "echo-off")
    proc = sandbox.run("mcp", "generate")
    assert f"echo-off was removed from the local scope of {reg}" in proc.stderr
    assert "echo-off" not in claude_mcp_list(clients.claude, reg, sandbox.home, launch_env(sandbox))


def test_a_server_removed_with_codex_mcp_remove_stays_removed(sandbox, reg, clients):
    codex_home = sandbox.home / ".codex"
    sandbox.env["CODEX_HOME"] = str(codex_home)
    generate(sandbox, "--client", "codex")
    removed = codex_mcp(clients.codex, codex_home, "remove", "echo", env_extra={"HOME": str(sandbox.home)})
    assert removed.returncode == 0, removed.stderr
    proc = sandbox.run("mcp", "generate", "--client", "codex")
    assert f"warning: echo was removed from {codex_home / 'config.toml'} outside claudex" in proc.stderr
    listed = codex_mcp_list(clients.codex, codex_home, {"HOME": str(sandbox.home)})
    assert {entry["name"] for entry in listed} == ENABLED - {"echo"} | {"web"}


def test_codex_honours_a_projects_decisions_in_a_folder_it_trusts(sandbox, reg, clients):
    codex_home = sandbox.home / ".codex"
    sandbox.env["CODEX_HOME"] = str(codex_home)
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(f'[projects."{reg}"]\ntrust_level = "trusted"\n')  # as Codex asks
    generate(sandbox)
    for argv in (("disable", "echo", "--project", "demo"), ("enable", "echo-off", "--project", "demo")):
        proc = sandbox.run("mcp", *argv)
        assert proc.returncode == 0, proc.stderr
    env = {"HOME": str(sandbox.home)}
    here = {e["name"]: e["enabled"] for e in codex_mcp_list(clients.codex, codex_home, env, cwd=reg)}
    assert here == {"echo": False, "echo-core": True, "echo-key": True, "echo-off": True, "web": True}
    there = {e["name"]: e["enabled"] for e in codex_mcp_list(clients.codex, codex_home, env, cwd=elsewhere(sandbox))}
    assert there == {"echo": True, "echo-core": True, "echo-key": True, "web": True}
    # Whole tables: with the user-level echo gone, Codex still reads the folder's file.
    assert codex_mcp(clients.codex, codex_home, "remove", "echo", env_extra=env).returncode == 0
    assert {e["name"]: e["enabled"] for e in codex_mcp_list(clients.codex, codex_home, env, cwd=reg)}["echo"] is False

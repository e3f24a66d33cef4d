"""`claudex mcp migrate`, then the real Claude Code writes ~/.claude.json as it does all the time
(`claude mcp list` in a trusted folder, `claude mcp add -s user`: its own keys, a new server, its
own format), then `migrate --rollback`: the migrated entries are back, and every write of Claude
Code's is kept."""

from __future__ import annotations

import json
import subprocess
import sys

from clients import client_env, claude_mcp_list_full
from clients import real_clients as clients  # noqa: F401  (the session fixture)
from conftest import ECHO_SERVER
from claudex_mcp.store import registry as registry_mod

SECRET = "sk-integration-0123456789abcdef"


def _claude(clients, sandbox, *argv: str, cwd) -> subprocess.CompletedProcess:
    """`claude ARGV` with HOME in the sandbox (it starts no server: stdin closed, a timeout)."""
    env = client_env(sandbox.home, {"CLAUDEX_MCP_REGISTRY": str(sandbox.registry), "DISABLE_AUTOUPDATER": "1",
                                    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1"})
    proc = subprocess.run([str(clients.claude), *argv], cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def test_rollback_keeps_what_claude_code_wrote_since(sandbox, clients):
    registry_mod.init(sandbox.registry)
    project = sandbox.home / "code" / "demo"
    project.mkdir(parents=True)
    echo = {"type": "stdio", "command": sys.executable, "args": [str(ECHO_SERVER)], "env": {}}
    (sandbox.home / ".claude.json").write_text(json.dumps({
        "numStartups": 5,
        "mcpServers": {"greeter": dict(echo, env={"ECHO_PREFIX": SECRET})},
        # Claude Code checks a folder's servers only once the folder is trusted.
        "projects": {str(project): {"allowedTools": [], "hasTrustDialogAccepted": True,
                                    "mcpServers": {"local-echo": echo}}}}, indent=2) + "\n")
    original = json.loads((sandbox.home / ".claude.json").read_text())
    proc = sandbox.run("mcp", "migrate", "--json", cwd=project, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in (sandbox.home / ".claude.json").read_text()
    env = {"CLAUDEX_MCP_REGISTRY": str(sandbox.registry)}
    listed = claude_mcp_list_full(clients.claude, project, sandbox.home, env)
    assert listed.statuses == {"greeter": "connected", "local-echo": "connected"}, listed.stdout
    assert "mcp run greeter" in listed.targets["greeter"]
    _claude(clients, sandbox, "mcp", "add", "-s", "user", "later", "--", "true", cwd=project)
    written = json.loads((sandbox.home / ".claude.json").read_text())
    own = set(written) - set(original)  # the keys Claude Code added (firstStartTime, userID, ...)
    assert own and "later" in written["mcpServers"]

    proc = sandbox.run("mcp", "migrate", "--rollback", cwd=project, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "every other change since the migration kept" in proc.stdout
    doc = json.loads((sandbox.home / ".claude.json").read_text())
    assert doc["mcpServers"]["greeter"] == original["mcpServers"]["greeter"]
    assert doc["projects"][str(project)]["mcpServers"] == original["projects"][str(project)]["mcpServers"]
    assert doc["mcpServers"]["later"] == written["mcpServers"]["later"]
    assert {key: doc[key] for key in own} == {key: written[key] for key in own}
    # Claude Code reads the file back: the user's own entries again, and its own server.
    listed = claude_mcp_list_full(clients.claude, project, sandbox.home, env)
    assert listed.statuses["greeter"] == "connected" and listed.statuses["local-echo"] == "connected", listed.stdout
    assert "mcp run" not in listed.targets["greeter"] and "later" in listed.statuses

"""Secrets given to `claudex mcp add` reach the servers through the real clients: a command's env
value through `claudex mcp run`, a remote server's header through Claude Code's headersHelper and
Codex's http_headers_helper, which run `claudex mcp headers NAME` (it reads the user layer). Neither
the clients' files nor their environment hold the token, and no file in the sandbox but the user
layer does."""

from __future__ import annotations

import json
import sys

from clients import claude_mcp_list, codex_server_status
from clients import real_clients as clients  # noqa: F401  (the session fixture)
from conftest import ECHO_SERVER, http_mcp_server
from claudex_mcp.store import registry as registry_mod

TOKEN = "sk-helpertest-0123456789abcdef"


def test_claude_code_and_codex_send_the_header_kept_in_the_user_layer(sandbox, clients):
    registry_mod.init(sandbox.registry)
    work = sandbox.root / "work"
    work.mkdir()
    # Claude Code asks before it trusts a folder; the sandbox's answer is yes.
    (sandbox.home / ".claude.json").write_text(json.dumps({"projects": {str(work): {"hasTrustDialogAccepted": True}}}))
    assert sandbox.run("mcp", "generate").returncode == 0
    with http_mcp_server(TOKEN) as port:
        added = sandbox.run("mcp", "add", "--transport", "http", "docs", f"http://127.0.0.1:{port}/mcp",
                            "--header", f"Authorization: Bearer {TOKEN}")
        assert added.returncode == 0, added.stderr
        assert "kept in your user layer (mode 600): DOCS_TOKEN" in added.stdout
        # A command's secret: the echo server exits at once without ECHO_TOKEN in its environment.
        keyed = sandbox.run("mcp", "add", "keyed", "-e", "ECHO_REQUIRE=ECHO_TOKEN", "-e", f"ECHO_TOKEN={TOKEN}",
                            "--", sys.executable, str(ECHO_SERVER))
        assert keyed.returncode == 0 and "kept in your user layer (mode 600): ECHO_TOKEN" in keyed.stdout, keyed.stderr
        located = {"CLAUDEX_MCP_REGISTRY": str(sandbox.registry)}
        statuses = claude_mcp_list(clients.claude, work, sandbox.home, located)
        assert statuses["docs"] == statuses["keyed"] == "connected", statuses
        codex = codex_server_status(clients.codex, sandbox.home / ".codex", {"HOME": str(sandbox.home)})
        assert sorted(codex["docs"].get("tools") or {}) == ["echo"], codex["docs"].get("toolsError")
        assert sorted(codex["keyed"].get("tools") or {}) == ["add", "echo"], codex["keyed"].get("toolsError")
        # The token is checked: without the user layer's value neither client gets in.
        assert sandbox.run("mcp", "config", "set", "docs", "env.DOCS_TOKEN", "sk-wrong-0123456789").returncode == 0
        assert claude_mcp_list(clients.claude, work, sandbox.home, located)["docs"] != "connected"
        assert not codex_server_status(clients.codex, sandbox.home / ".codex", {"HOME": str(sandbox.home)})["docs"].get("tools")
    user = sandbox.config / "claudex" / "mcp.json"
    leaked = [str(p) for p in sandbox.root.rglob("*") if p.is_file() and not p.is_symlink() and p != user
              and TOKEN.encode() in p.read_bytes()]
    assert leaked == []

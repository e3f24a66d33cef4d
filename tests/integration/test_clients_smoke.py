"""The integration harness works against the real clients: the echo server speaks MCP with the
SDK's client, `claude mcp list` connects to it from a project .mcp.json and from the user
scope of ~/.claude.json, and `codex mcp list --json` reads back a config.toml."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import anyio
import pytest

from clients import (ECHO_SERVER, claude_mcp_list, claude_mcp_list_full, codex_mcp_list,
                     codex_mcp_list_raw, echo_server_entry, parse_claude_diagnostics,
                     parse_claude_mcp_list, python_for_servers)
from clients import real_clients as clients  # noqa: F401  (the session fixture)
import clients as clients_module


def _write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def _toml(value) -> str:
    """A TOML value for str, list of str or dict of str (JSON's string escapes are TOML's)."""
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def _codex_config(servers: dict[str, dict]) -> str:
    return "".join(f"[mcp_servers.{json.dumps(name)}]\n"
                   + "".join(f"{key} = {_toml(val)}\n" for key, val in entry.items()) + "\n"
                   for name, entry in servers.items())


def _processes_with(marker: str) -> list[str]:
    """Command lines of live processes that mention marker."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if marker in cmdline:
            found.append(f"{pid}: {cmdline}")
    return found


# --------------------------------------------------------------------------------------------
# The echo server on its own, with the SDK's stdio client


def test_echo_server_handshake(tmp_path):
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=str(python_for_servers()), args=[str(ECHO_SERVER)],
                                   env={"ECHO_PREFIX": "pre:"})
    seen: dict = {}

    async def talk() -> None:
        with anyio.fail_after(60), open(tmp_path / "server-stderr.log", "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    seen["init"] = await session.initialize()
                    seen["tools"] = (await session.list_tools()).tools
                    seen["echo"] = await session.call_tool("echo", {"text": "hello"})
                    seen["add"] = await session.call_tool("add", {"a": 2, "b": 40})

    anyio.run(talk)
    assert seen["init"].server_info.name == "echo"
    tools = {tool.name: tool for tool in seen["tools"]}
    assert set(tools) == {"echo", "add"}
    assert tools["echo"].description == "Return the text, preceded by $ECHO_PREFIX when it is set."
    assert set(tools["add"].input_schema["properties"]) == {"a", "b"}
    assert not seen["echo"].is_error
    assert seen["echo"].content[0].text == "pre:hello"
    assert seen["add"].content[0].text == "42"


def test_echo_server_exits_when_required_env_is_missing():
    env = {**os.environ, "ECHO_REQUIRE": "ECHO_TEST_NEEDED"}
    env.pop("ECHO_TEST_NEEDED", None)
    proc = subprocess.run([str(python_for_servers()), str(ECHO_SERVER)], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "ECHO_TEST_NEEDED" in proc.stderr


def test_parse_claude_mcp_list_output():
    out = ("Checking MCP server health…\n\n"
           "a: /usr/bin/python3 /x/echo.py - ✔ Connected\n"
           "b: /nonexistent/cmd  - ✘ Failed to connect — ENOENT: no such file or directory\n"
           "c: http://127.0.0.1:9/mcp (HTTP) - ✘ Failed to connect — ECONNREFUSED: Unable to connect\n"
           "d: /usr/bin/python3 /x/echo.py - ⏸ Pending approval (run `claude` to approve)\n"
           "e: https://example.invalid/mcp (HTTP) - ! Needs authentication\n"
           "f: cmd - x - ✔ Connected\n"
           "g: /usr/bin/python3 /x/echo.py - - Not checked (folder not trusted; run `claude` here)\n"
           "\nMCP config diagnostics ⚠\n\n[Has warnings] User config\n"
           "Location: /h/.claude.json\n └ [Warning] [c] mcpServers.c: Missing environment variables: T\n")
    statuses, raw, targets = parse_claude_mcp_list(out)
    assert statuses == {"a": "connected", "b": "failed", "c": "failed", "d": "pending",
                        "e": "needs-auth", "f": "connected", "g": "not-checked"}
    assert raw["b"].startswith("✘ Failed to connect — ENOENT")
    assert targets["c"] == "http://127.0.0.1:9/mcp (HTTP)"
    assert targets["f"] == "cmd - x"
    assert targets["g"] == "/usr/bin/python3 /x/echo.py"
    assert parse_claude_diagnostics(out) == [
        "[Warning] [c] mcpServers.c: Missing environment variables: T"]
    assert parse_claude_mcp_list("No MCP servers configured. Use `claude mcp add` to add a server.\n")[0] == {}


def test_run_kills_the_whole_process_group_on_timeout():
    """clients._run, which runs the CLIs, leaves nothing behind: not a child, not a grandchild."""
    marker = f"sleep-marker-{uuid.uuid4().hex}"
    seconds = f"299.{uuid.uuid4().int % 10**9:09d}"  # a duration no other sleep has
    script = f"sleep {seconds} & exec -a {marker} sleep 300"
    with pytest.raises(subprocess.TimeoutExpired):
        clients_module._run(["bash", "-c", script], timeout=1)
    assert not _processes_with(marker)
    assert not _processes_with(f"sleep {seconds}")


# --------------------------------------------------------------------------------------------
# Claude Code


def test_claude_project_mcp_json(clients, sandbox, tmp_path):
    project = tmp_path / "project"
    marker = f"--marker={uuid.uuid4().hex}"  # the echo server ignores its arguments
    echo = echo_server_entry()
    echo["args"].append(marker)
    _write_json(project / ".mcp.json", {"mcpServers": {
        "echo": echo,
        "missing-command": {"command": str(tmp_path / "no-such-command"), "args": []},
        "missing-env": echo_server_entry(ECHO_REQUIRE="ECHO_TEST_NEEDED"),
        "given-env": echo_server_entry(ECHO_REQUIRE="ECHO_TEST_NEEDED", ECHO_TEST_NEEDED="1"),
        "no-command": {"args": ["x"]},
    }})

    listing = claude_mcp_list_full(clients.claude, project, sandbox.home)
    assert listing.returncode == 0
    assert listing.statuses == {"echo": "connected", "missing-command": "failed",
                                "missing-env": "failed", "given-env": "connected"}, listing.stdout
    assert any("no-command" in line and line.startswith("[Warning]")
               for line in listing.diagnostics), listing.stdout
    assert listing.targets["echo"] == f"{python_for_servers()} {ECHO_SERVER} {marker}"
    assert not _processes_with(marker), "claude mcp list left an echo server running"

    # The servers inherit claude's environment: a variable set there satisfies ECHO_REQUIRE.
    passed = claude_mcp_list(clients.claude, project, sandbox.home, {"ECHO_TEST_NEEDED": "x"})
    assert passed["missing-env"] == "connected"

    # Without enableAllProjectMcpServers, .mcp.json servers wait for approval, unstarted.
    pending = claude_mcp_list(clients.claude, project, sandbox.home, approve_project=False)
    assert set(pending.values()) == {"pending"}, pending


def test_claude_user_scope(clients, sandbox, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    _write_json(sandbox.home / ".claude.json", {"mcpServers": {
        "user-echo": echo_server_entry(),
        "user-broken": {"type": "stdio", "command": str(tmp_path / "no-such-command")},
        "user-http": {"type": "http", "url": "http://127.0.0.1:9/mcp"},
    }})
    statuses = claude_mcp_list(clients.claude, project, sandbox.home)
    assert statuses == {"user-echo": "connected", "user-broken": "failed",
                        "user-http": "failed"}, statuses


def test_claude_checks_servers_only_in_a_trusted_folder(clients, sandbox, tmp_path):
    """Claude Code (2.1.33x on) starts no server in a folder the user has not trusted, user scope
    included; trusting the folder (what its dialog writes) covers the folders below it, and HOME
    counts as trusted. docs/mcp-troubleshooting.md tells users the same."""
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    _write_json(sandbox.home / ".claude.json", {"numStartups": 4, "mcpServers": {"user-echo": echo_server_entry()}})
    assert claude_mcp_list(clients.claude, project, sandbox.home, trust=False) == {"user-echo": "not-checked"}
    assert not clients_module.folder_trusted(sandbox.home, project)
    clients_module.trust_folder(sandbox.home, project)
    assert json.loads((sandbox.home / ".claude.json").read_text())["numStartups"] == 4
    assert claude_mcp_list(clients.claude, project / "sub", sandbox.home, trust=False) == {"user-echo": "connected"}
    assert claude_mcp_list(clients.claude, sandbox.home, sandbox.home, trust=False) == {"user-echo": "connected"}


def test_claude_reads_home_mcp_json_only_from_home_or_below(clients, sandbox, tmp_path):
    """.mcp.json is looked for in cwd and every directory above it, so ~/.mcp.json counts for
    a cwd inside HOME only."""
    _write_json(sandbox.home / ".mcp.json", {"mcpServers": {"home-file": echo_server_entry()}})
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    below = sandbox.home / "work" / "repo"
    below.mkdir(parents=True)
    assert "home-file" not in claude_mcp_list(clients.claude, outside, sandbox.home)
    assert claude_mcp_list(clients.claude, sandbox.home, sandbox.home) == {"home-file": "connected"}
    assert claude_mcp_list(clients.claude, below, sandbox.home) == {"home-file": "connected"}


# --------------------------------------------------------------------------------------------
# Codex


def test_codex_mcp_list_json(clients, sandbox):
    codex_home = sandbox.home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(_codex_config({
        "echo": {"command": str(python_for_servers()), "args": [str(ECHO_SERVER)],
                 "env": {"ECHO_PREFIX": "p:"}, "env_vars": ["ECHO_TEST_NEEDED"]},
        "remote": {"url": "http://127.0.0.1:9/mcp", "bearer_token_env_var": "REMOTE_TOKEN",
                   "http_headers": {"X-Static": "v"}, "env_http_headers": {"X-Env": "HDR_VAR"}},
    }))
    servers = {s["name"]: s for s in codex_mcp_list(clients.codex, codex_home)}
    assert set(servers) == {"echo", "remote"}
    echo, remote = servers["echo"], servers["remote"]
    assert echo["enabled"] is True
    assert echo["transport"] == {"type": "stdio", "command": str(python_for_servers()),
                                 "args": [str(ECHO_SERVER)], "env": {"ECHO_PREFIX": "p:"},
                                 "env_vars": ["ECHO_TEST_NEEDED"], "cwd": None}
    assert remote["transport"]["type"] == "streamable_http"
    assert remote["transport"]["url"] == "http://127.0.0.1:9/mcp"
    assert remote["transport"]["bearer_token_env_var"] == "REMOTE_TOKEN"
    assert remote["transport"]["http_headers"] == {"X-Static": "v"}
    assert remote["transport"]["env_http_headers"] == {"X-Env": "HDR_VAR"}
    assert remote["auth_status"] == "bearer_token"


@pytest.mark.parametrize("extra", [
    {"bearer_token": "literal-secret"},   # only bearer_token_env_var is allowed
    {"env": {"A": "b"}},                  # stdio-only keys on an HTTP server
    {"env_vars": ["A"]},
    {"command": "/bin/true"},
])
def test_codex_rejects_bad_http_entry(clients, sandbox, extra):
    codex_home = sandbox.home / ".codex"
    codex_home.mkdir()
    (codex_home / "config.toml").write_text(_codex_config(
        {"remote": {"url": "http://127.0.0.1:9/mcp", **extra}}))
    proc = codex_mcp_list_raw(clients.codex, codex_home)
    assert proc.returncode != 0, proc.stdout
    assert "mcp_servers.remote" in proc.stderr


def test_codex_empty_config(clients, sandbox):
    assert codex_mcp_list(clients.codex, sandbox.home / ".codex") == []

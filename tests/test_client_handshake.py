"""A generated config really starts its servers: every entry of ~/.mcp.json is launched exactly
as a client would (command, args and env of the entry) and answers a real MCP handshake with the
official SDK's stdio client, through `claudex mcp run`."""

from __future__ import annotations

import json
import anyio
import pytest

from conftest import add_echo_servers
from claudex_mcp.store import registry as registry_mod

async def handshake(entry: dict, extra_env: dict) -> dict:
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=entry["command"], args=entry["args"],
                                   env={**entry.get("env", {}), **extra_env})
    with anyio.fail_after(60):
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                tools = await session.list_tools()
                called = await session.call_tool("echo", {"text": "hi"})
                return {"name": init.server_info.name, "tools": sorted(t.name for t in tools.tools),
                        "echo": called.content[0].text}


@pytest.fixture
def registry_with_echo_servers(sandbox):
    registry_mod.init(sandbox.registry)
    add_echo_servers(sandbox.registry)
    return sandbox.registry


def test_every_generated_entry_answers_a_handshake(sandbox, registry_with_echo_servers):
    proc = sandbox.run("mcp", "generate", "--json")
    assert proc.returncode == 0, proc.stderr
    entries = json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"]
    assert sorted(entries) == ["echo", "echo-core", "echo-key"]
    client_env = {"HOME": str(sandbox.home), "ECHO_TOKEN": "tok"}
    results = {name: anyio.run(handshake, entry, client_env) for name, entry in entries.items()}
    for name, result in results.items():
        assert result["name"] == "echo" and result["tools"] == ["add", "echo"], name
    assert results["echo"]["echo"] == "hey hi"
    assert results["echo-key"]["echo"] == "[tok] hi"
    assert results["echo-core"]["echo"] == "hi"
    log = (sandbox.state / "claudex" / "logs" / "echo.log").read_text()
    assert "claudex mcp run echo" in log


def test_a_missing_required_variable_fails_the_start_with_one_line(sandbox, registry_with_echo_servers):
    sandbox.run("mcp", "generate")
    entry = json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"]["echo-key"]
    import subprocess

    proc = subprocess.run([entry["command"], *entry["args"]], capture_output=True, text=True, input="",
                          env={**entry["env"], "HOME": str(sandbox.home), "PATH": "/usr/bin:/bin"}, timeout=30)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "ECHO_TOKEN" in proc.stderr

"""`claudex mcp test` and `status` agree with third-party clients on the same servers: the MCP
Inspector's CLI (tools/list through the same launcher command) and Claude Code's own
`claude mcp list` on the generated config."""

from __future__ import annotations

import json
import sys

import pytest

from clients import claude_mcp_list, client_env, ensure_inspector, inspector_tools
from clients import real_clients as clients  # noqa: F401  (the session fixture)
from conftest import ECHO_SERVER, add_echo_servers, add_server, manifest
from claudex_mcp.store import registry as registry_mod

PY = sys.executable


@pytest.fixture
def zoo(sandbox):
    reg = sandbox.registry
    registry_mod.init(reg)
    add_echo_servers(reg)
    add_server(reg, "crash", doc=manifest("crash", command=PY),
               files={"server.py": "import sys\nprint('boom', file=sys.stderr)\nsys.exit(3)\n"})
    add_server(reg, "garbage", doc=manifest("garbage", command=PY),
               files={"server.py": "print('hello there', flush=True)\nimport time\ntime.sleep(3)\n"})
    return reg


@pytest.fixture(scope="module")
def inspector():
    return ensure_inspector()


def ours(sandbox) -> dict[str, str]:
    proc = sandbox.run("mcp", "status", "--json", "--refresh", timeout=120)
    return {r["name"]: r["state"] for r in json.loads(proc.stdout)}


def test_status_and_test_agree_with_the_mcp_inspector(sandbox, zoo, inspector):
    sandbox.env["ECHO_TOKEN"] = "tok"
    states = ours(sandbox)
    assert states == {"echo": "healthy", "echo-core": "healthy", "echo-key": "healthy",
                      "crash": "unhealthy", "garbage": "unhealthy"}
    env = client_env(sandbox.home, {"CLAUDEX_MCP_REGISTRY": str(sandbox.registry), "ECHO_TOKEN": "tok"})
    claudex = str(sys.executable.rsplit("/", 1)[0] + "/claudex")
    for name, state in states.items():
        code, tools, err = inspector_tools(inspector, [claudex, "mcp", "run", name], env, timeout=60)
        ours_test = json.loads(sandbox.run("mcp", "test", name, "--json", timeout=60).stdout)
        assert (code == 0 and bool(tools)) == (state == "healthy"), (name, code, err[-300:])
        assert (ours_test["state"] == "healthy") == (state == "healthy"), name
        if state == "healthy":
            assert tools == ours_test["tools"] == ["add", "echo"], name


def test_status_agrees_with_claude_mcp_list(sandbox, zoo, clients):
    project = sandbox.home / "claudex" / "demo"
    (project / ".claudex").mkdir(parents=True)
    assert sandbox.run("mcp", "generate", "--project", "demo", "--scope", "project").returncode == 0
    states = ours(sandbox)  # echo-key lacks ECHO_TOKEN here
    listed = claude_mcp_list(clients.claude, project, sandbox.home, {"CLAUDEX_MCP_REGISTRY": str(sandbox.registry)})
    assert set(listed) == set(states)
    for name, state in states.items():
        assert (listed[name] == "connected") == (state == "healthy"), (name, state, listed[name])

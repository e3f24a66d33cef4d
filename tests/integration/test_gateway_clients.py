"""The gateway with the real clients: two Claude Code sessions at once in two folders connect to
a shared server through `claudex mcp run` (one server process for both), and Claude Code
connects to the gateway's aggregate HTTP endpoint through the entry `generate --via-gateway`
writes (its token from the headers helper)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import pytest

from clients import claude_mcp_list, trust_folder
from clients import real_clients as clients  # noqa: F401  (the session fixture)
from conftest import ROOT, add_server, manifest
from test_gateway import processes_of, status, wait_for
from claudex_mcp.store import registry as registry_mod

MULTI = ROOT / "tests" / "servers" / "multi_server.py"


@pytest.fixture
def shared(sandbox):
    registry_mod.init(sandbox.registry)
    mark = sandbox.root / "starts"
    add_server(sandbox.registry, "multi", "installed",
               manifest("multi", command=sys.executable, shared=True, env={"MULTI_MARK": str(mark)}),
               files={"server.py": MULTI.read_text()})
    sandbox.mark = mark
    yield sandbox
    sandbox.run("mcp", "gateway", "stop", timeout=30)
    for pid in processes_of(sandbox.registry):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_two_claude_sessions_share_one_server_process(shared, clients):
    assert shared.run("mcp", "generate", "--scope", "user").returncode == 0
    folders = [shared.root / "one", shared.root / "two"]
    found: dict = {}

    for folder in folders:  # one after the other: both write ~/.claude.json
        folder.mkdir()
        trust_folder(shared.home, folder)

    def listing(folder):
        found[folder.name] = claude_mcp_list(clients.claude, folder, shared.home,
                                             {"CLAUDEX_MCP_REGISTRY": str(shared.registry)}, trust=False)

    threads = [threading.Thread(target=listing, args=(f,)) for f in folders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found["one"]["multi"] == found["two"]["multi"] == "connected", found
    assert len(shared.mark.read_text().split()) == 1  # one process served both
    (server,) = status(shared)["servers"]
    assert server["pid"] == int(shared.mark.read_text().split()[0])


def test_claude_connects_to_the_aggregate_endpoint(shared, clients):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "gateway", "serve", "--http",
                             f"127.0.0.1:{port}"], env=shared.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: status(shared).get("http"))
        written = shared.run("mcp", "generate", "--scope", "user", "--via-gateway")
        assert written.returncode == 0, written.stderr
        folder = shared.root / "work"
        folder.mkdir()
        statuses = claude_mcp_list(clients.claude, folder, shared.home, {"CLAUDEX_MCP_REGISTRY": str(shared.registry)})
        assert statuses.get("claudex") == "connected", statuses
        assert "multi" not in statuses
    finally:
        shared.run("mcp", "gateway", "stop", timeout=30)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert wait_for(lambda: not processes_of(shared.registry), timeout=10)

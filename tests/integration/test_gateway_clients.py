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

from clients import claude_mcp_list, trust_folder
from clients import real_clients as clients  # noqa: F401  (the session fixture)
from conftest import ROOT
from test_gateway import gw, processes_of, status, wait_for  # noqa: F401  (gw: the fixture)

def test_two_claude_sessions_share_one_server_process(gw, clients):
    assert gw.run("mcp", "generate", "--scope", "user").returncode == 0
    folders = [gw.root / "one", gw.root / "two"]
    found: dict = {}

    for folder in folders:  # one after the other: both write ~/.claude.json
        folder.mkdir()
        trust_folder(gw.home, folder)

    def listing(folder):
        found[folder.name] = claude_mcp_list(clients.claude, folder, gw.home,
                                             {"CLAUDEX_MCP_REGISTRY": str(gw.registry)}, trust=False)

    threads = [threading.Thread(target=listing, args=(f,)) for f in folders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert found["one"]["multi"] == found["two"]["multi"] == "connected", found
    assert len(gw.mark.read_text().split()) == 1  # one process served both
    (server,) = status(gw)["servers"]
    assert server["pid"] == int(gw.mark.read_text().split()[0])


def test_claude_connects_to_the_aggregate_endpoint(gw, clients):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "gateway", "serve", "--http",
                             f"127.0.0.1:{port}"], env=gw.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: status(gw).get("http"))
        written = gw.run("mcp", "generate", "--scope", "user", "--via-gateway")
        assert written.returncode == 0, written.stderr
        folder = gw.root / "work"
        folder.mkdir()
        statuses = claude_mcp_list(clients.claude, folder, gw.home, {"CLAUDEX_MCP_REGISTRY": str(gw.registry)})
        assert statuses.get("claudex") == "connected", statuses
        assert "multi" not in statuses
    finally:
        gw.run("mcp", "gateway", "stop", timeout=30)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert wait_for(lambda: not processes_of(gw.registry), timeout=10)


def test_claude_in_a_project_with_its_own_env_gets_its_own_process(gw, clients):
    assert gw.run("mcp", "generate", "--scope", "user").returncode == 0
    own, plain = gw.root / "own", gw.root / "plain"
    for folder in (own, plain):
        folder.mkdir()
        trust_folder(gw.home, folder)
    assert gw.run("mcp", "config", "trust", str(own)).returncode == 0
    assert gw.run("mcp", "config", "set", "multi", "env.MULTI_FLAVOUR", "own", "--project-dir", str(own)).returncode == 0
    env = {"CLAUDEX_MCP_REGISTRY": str(gw.registry)}
    for folder in (own, plain, own):  # the second listing in own reaches the process the first started
        assert claude_mcp_list(clients.claude, folder, gw.home, env, trust=False)["multi"] == "connected"
    assert len(gw.mark.read_text().split()) == 2
    servers = sorted(status(gw)["servers"], key=lambda s: s["default"])
    assert [(s["default"], s["projects"]) for s in servers] == [(False, [str(own)]), (True, [])]
    assert {str(s["pid"]) for s in servers} == set(gw.mark.read_text().split())

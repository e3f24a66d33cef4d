"""The gateway: shared servers reached through `claudex mcp run` (the bridge) by real MCP
sessions of the official SDK; one process for every agent, each agent's folder in its requests,
ids, progress, cancellation, list_changed and sampling routed, timeouts, crash and restart, idle
stop, status and stop, and no process left behind."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import anyio
import pytest

from conftest import ROOT, add_server, live_processes, manifest
from claudex_mcp.store import registry as registry_mod

MULTI = ROOT / "tests" / "servers" / "multi_server.py"
CLAUDEX = ROOT / "scripts" / "claudex"


def processes_of(registry: Path) -> list[int]:
    """Live processes started for this test's registry (its variable is in their environment)."""
    mine = f"CLAUDEX_MCP_REGISTRY={registry}".encode()
    return live_processes(lambda env: mine in env)


def wait_for(predicate, timeout: float = 10.0, step: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


@pytest.fixture
def gw(sandbox, monkeypatch):
    """A registry with the shared server `multi` (tests/servers/multi_server.py); the gateway the
    test starts is stopped afterwards, and whatever is left of it killed, pass or fail."""
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


def starts(box) -> list[str]:
    return box.mark.read_text().split() if box.mark.exists() else []


def set_env(box, monkeypatch, **values):
    for name, value in values.items():
        box.env[name] = value
        monkeypatch.setenv(name, value)


async def in_session(box, folder: Path, talk, *args, **session_kwargs):
    """``await talk(session)`` in an SDK session with `claudex mcp run multi` started in ``folder``."""
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    folder.mkdir(parents=True, exist_ok=True)
    params = StdioServerParameters(command=sys.executable, args=[str(CLAUDEX), "mcp", "run", "multi", *args],
                                   env=box.env, cwd=str(folder))
    with open(box.root / "bridge.err", "a") as err:
        async with stdio_client(params, errlog=err) as (read, write):
            async with ClientSession(read, write, **session_kwargs) as session:
                await session.initialize()
                return await talk(session)


def text(result) -> str:
    return result.content[0].text


def status(box) -> dict:
    proc = box.run("mcp", "gateway", "status", "--json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_two_agents_in_two_folders_share_one_process(gw):
    seen = {}

    async def agent(name: str):
        async def talk(session):
            tools = [t.name for t in (await session.list_tools()).tools]
            here = [text(await session.call_tool("where", {})) for _ in range(3)]
            return tools, here, text(await session.call_tool("pid", {}))
        seen[name] = await in_session(gw, gw.root / name, talk)

    async def both():
        async with anyio.create_task_group() as group:
            group.start_soon(agent, "a")
            group.start_soon(agent, "b")

    anyio.run(both)
    assert seen["a"][1] == [str(gw.root / "a")] * 3
    assert seen["b"][1] == [str(gw.root / "b")] * 3
    assert seen["a"][2] == seen["b"][2]  # one process
    assert "where" in seen["a"][0] and seen["a"][0] == seen["b"][0]
    assert starts(gw) == [seen["a"][2]]
    found = status(gw)
    assert found["running"] is True
    (server,) = found["servers"]
    assert server["name"] == "multi" and server["state"] == "ready" and server["pid"] == int(seen["a"][2])
    assert server["calls"] >= 8 and server["sessions"] == [] and server["restarts"] == 0
    assert os.stat(found["socket"]).st_mode & 0o777 == 0o600
    assert os.stat(Path(found["socket"]).parent).st_mode & 0o777 == 0o700
    shown = gw.run("mcp", "gateway", "status").stdout
    assert f"gateway pid {found['pid']}" in shown and f"multi\tready\t{seen['a'][2]}\t0\t" in shown, shown
    stopped = gw.run("mcp", "gateway", "stop")
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    assert wait_for(lambda: not processes_of(gw.registry)), processes_of(gw.registry)
    assert status(gw) == {"running": False}


def test_a_shared_server_knows_it_is_shared_and_gets_no_project(gw):
    async def talk(session):
        return [text(await session.call_tool("getenv", {"name": name}))
                for name in ("CLAUDEX_MCP_GATEWAY", "CLAUDEX_PROJECT_DIR")]

    assert anyio.run(in_session, gw, gw.root / "a", talk) == ["1", ""]


def test_project_dir_is_the_folder_told(gw):
    async def talk(session):
        return text(await session.call_tool("where", {}))

    project = gw.root / "proj"
    project.mkdir()
    assert anyio.run(in_session, gw, gw.root / "elsewhere", talk, "--project-dir", str(project)) == str(project)


def test_progress_reaches_its_own_session_and_resets_the_timeout(gw, monkeypatch):
    set_env(gw, monkeypatch, CLAUDEX_MCP_GATEWAY_CALL_TIMEOUT="1")
    got = {"a": [], "b": []}
    answers = {}

    async def agent(name: str, steps: int):
        async def talk(session):
            async def progress(value, total, message):
                got[name].append((value, total, message))
            # 4 steps 0.4 s apart: 1.6 s in all, longer than the timeout, which progress resets
            return text(await session.call_tool("slow", {"steps": steps, "delay": 0.4}, progress_callback=progress))
        answers[name] = await in_session(gw, gw.root / name, talk)

    async def both():
        async with anyio.create_task_group() as group:
            group.start_soon(agent, "a", 4)
            group.start_soon(agent, "b", 3)

    anyio.run(both)
    assert answers == {"a": "done after 4", "b": "done after 3"}
    assert [v for v, _, _ in got["a"]] == [1, 2, 3, 4] and {t for _, t, _ in got["a"]} == {4}
    assert [v for v, _, _ in got["b"]] == [1, 2, 3] and {t for _, t, _ in got["b"]} == {3}


def test_a_silent_call_times_out_and_the_session_goes_on(gw, monkeypatch):
    from mcp.shared.exceptions import MCPError

    set_env(gw, monkeypatch, CLAUDEX_MCP_GATEWAY_CALL_TIMEOUT="1")

    async def talk(session):
        try:
            await session.call_tool("slow", {"steps": 1, "delay": 3})
        except MCPError as exc:
            failed = str(exc)
        else:
            failed = None
        return failed, text(await session.call_tool("echo", {"text": "still here"}))

    failed, after = anyio.run(in_session, gw, gw.root / "a", talk)
    assert failed is not None and "did not answer tools/call within 1 s" in failed
    assert after == "still here"


def test_list_changed_goes_to_every_session(gw):
    changed = []

    async def run():
        from mcp import types

        async def watcher_handler(message):
            if isinstance(message, types.ToolListChangedNotification):
                changed.append("b")

        async def watcher(session):
            for _ in range(100):
                if changed:
                    break
                await anyio.sleep(0.05)
            return [t.name for t in (await session.list_tools()).tools]

        async def grower(session):
            await anyio.sleep(0.5)  # the watcher has initialized
            return text(await session.call_tool("grow", {}))

        out = {}

        async def go_b():
            out["b"] = await in_session(gw, gw.root / "b", watcher, message_handler=watcher_handler)

        async def go_a():
            out["a"] = await in_session(gw, gw.root / "a", grower)

        async with anyio.create_task_group() as group:
            group.start_soon(go_b)
            group.start_soon(go_a)
        return out

    out = anyio.run(run)
    assert out["a"] == "grown"
    assert changed == ["b"]
    assert "grown" in out["b"]


def test_sampling_goes_to_the_caller_and_is_refused_when_ambiguous(gw):
    from mcp import types

    def sampler(name):
        async def sample(context, params):
            return types.CreateMessageResult(role="assistant", model="test",
                                             content=types.TextContent(type="text", text=f"answer for {name}"))
        return sample

    async def asker(session):
        return text(await session.call_tool("ask", {"question": "who?"}))

    assert anyio.run(lambda: in_session(gw, gw.root / "a", asker, sampling_callback=sampler("a"))) == "answer for a"

    async def busy_and_ask():
        out = {}

        async def busy(session):
            return text(await session.call_tool("slow", {"steps": 1, "delay": 2}))

        async def ask_while_busy(session):
            await anyio.sleep(0.8)  # the other session's call is in flight by now
            from mcp.shared.exceptions import MCPError

            try:
                result = await session.call_tool("ask", {"question": "who?"})
            except MCPError as exc:  # the server passes the refusal on as the call's error
                return True, str(exc)
            return result.is_error, text(result)

        async def go(name, talk, sampler=None):
            out[name] = await in_session(gw, gw.root / name, talk, sampling_callback=sampler)

        async with anyio.create_task_group() as group:
            group.start_soon(go, "a", busy)
            group.start_soon(go, "b", ask_while_busy, sampler("b"))
        return out

    out = anyio.run(busy_and_ask)
    assert out["a"] == "done after 1"
    is_error, message = out["b"]
    assert is_error and "refused by the claudex gateway" in message and "2 sessions have calls in flight" in message


def test_a_crashed_server_is_restarted_and_its_sessions_told(gw):
    from mcp.shared.exceptions import MCPError

    told = []

    async def logging_callback(params):
        told.append(params.data)

    async def talk(session):
        before = text(await session.call_tool("pid", {}))
        try:
            await session.call_tool("crash", {})
            crash = None
        except MCPError as exc:
            crash = str(exc)
        started = time.monotonic()
        after = text(await session.call_tool("pid", {}))  # waits for the restart
        return before, crash, after, time.monotonic() - started

    before, crash, after, waited = anyio.run(lambda: in_session(gw, gw.root / "a", talk,
                                                                logging_callback=logging_callback))
    assert crash is not None and "exited with code 3" in crash and "restarted" in crash
    assert after != before and 0.5 < waited < 5  # the first restart waits 1 s
    assert any("restarts it in 1 s" in str(line) for line in told), told
    assert starts(gw) == [before, after]
    (server,) = status(gw)["servers"]
    assert server["restarts"] == 1 and server["pid"] == int(after)


def test_an_idle_server_is_stopped_and_the_gateway_exits(gw, monkeypatch):
    set_env(gw, monkeypatch, CLAUDEX_MCP_GATEWAY_IDLE="1")

    async def talk(session):
        return text(await session.call_tool("pid", {}))

    pid = int(anyio.run(in_session, gw, gw.root / "a", talk))
    assert wait_for(lambda: not os.path.exists(f"/proc/{pid}") or _zombie(pid), timeout=10)
    assert wait_for(lambda: not processes_of(gw.registry), timeout=10), processes_of(gw.registry)
    assert not list((gw.root / "run" / "claudex").glob("*.sock"))


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_direct_starts_its_own_process(gw):
    async def talk(session):
        return text(await session.call_tool("pid", {}))

    own = anyio.run(in_session, gw, gw.root / "a", talk, "--direct")
    assert starts(gw) == [own]
    assert status(gw) == {"running": False}


def test_status_and_stop_when_no_gateway_runs(gw):
    proc = gw.run("mcp", "gateway", "status")
    assert proc.returncode == 0 and "no gateway runs" in proc.stdout
    proc = gw.run("mcp", "gateway", "stop", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout) == {"pid": None, "stopped": False}


def test_a_second_gateway_is_refused(gw):
    import subprocess

    first = subprocess.Popen([sys.executable, str(CLAUDEX), "mcp", "gateway", "serve"], env=gw.env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    try:
        assert wait_for(lambda: status(gw)["running"])
        second = gw.run("mcp", "gateway", "serve")
        assert second.returncode == 3
        assert json.loads(second.stderr)["error"]["code"] == "gateway_running"
        assert gw.run("mcp", "gateway", "stop").returncode == 0
        assert first.wait(timeout=15) == 0
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        first.stderr.close()


def test_a_config_layer_shares_a_server_or_unshares_it(gw):
    async def talk(session):
        return text(await session.call_tool("pid", {}))

    assert gw.run("mcp", "config", "set", "multi", "shared", "false").returncode == 0
    first = anyio.run(in_session, gw, gw.root / "a", talk)
    assert status(gw) == {"running": False} and starts(gw) == [first]
    assert gw.run("mcp", "config", "set", "multi", "shared", "true").returncode == 0
    pids = {anyio.run(in_session, gw, gw.root / name, talk) for name in ("a", "b")}
    assert len(pids) == 1 and status(gw)["servers"][0]["pid"] == int(pids.pop())
    refused = gw.run("mcp", "config", "set", "multi", "shared.x", "true")
    assert refused.returncode == 1 and json.loads(refused.stderr)["error"]["code"] == "unknown_key"


def test_call_reaches_a_shared_server_and_leaves_nothing_it_started(gw):
    called = gw.run("mcp", "call", "multi", "where", cwd=gw.root)
    assert called.returncode == 0, called.stderr
    assert called.stdout.strip() == str(gw.root)
    assert wait_for(lambda: not processes_of(gw.registry)), processes_of(gw.registry)


@pytest.fixture
def served(gw):
    """`gateway serve --http` on a free loopback port, with the echo server beside multi (both
    have a tool named echo); yields (base URL, token); stopped on the way out."""
    import socket
    import subprocess

    from conftest import ECHO_SERVER

    add_server(gw.registry, "echo", "installed", manifest("echo", command=sys.executable),
               files={"server.py": ECHO_SERVER.read_text()})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(CLAUDEX), "mcp", "gateway", "serve", "--http", f"127.0.0.1:{port}"],
                            env=gw.env, stdout=subprocess.DEVNULL, stderr=open(gw.root / "serve.err", "w"),
                            start_new_session=True)
    try:
        assert wait_for(lambda: status(gw).get("http")), (gw.root / "serve.err").read_text()
        token = gw.run("mcp", "gateway", "token").stdout.strip()
        yield f"http://127.0.0.1:{port}", token
    finally:
        gw.run("mcp", "gateway", "stop", timeout=30)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def over_http(url: str, token: str | None, talk, **session_kwargs):
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with create_mcp_http_client(headers=headers) as http:
        async with streamable_http_client(url, http_client=http) as streams:
            async with ClientSession(streams[0], streams[1], **session_kwargs) as session:
                session.init = await session.initialize()
                return await talk(session)


def test_http_aggregate_and_one_server(served, gw):
    base, token = served

    async def aggregate(session):
        names = [t.name for t in (await session.list_tools()).tools]
        return names, text(await session.call_tool("multi__echo", {"text": "via multi"})), \
            text(await session.call_tool("echo", {"text": "via echo"})), \
            text(await session.call_tool("where", {}))

    names, via_multi, via_echo, where = anyio.run(over_http, f"{base}/mcp", token, aggregate)
    assert "echo" in names and "multi__echo" in names and "where" in names and "add" in names
    assert via_multi == "via multi" and via_echo == "via echo"
    assert where  # no folder told: the server's own answer
    owners = json.loads((gw.state / "claudex" / "gateway-names.json").read_text())["owners"]
    assert owners["echo"] == "echo" and owners["where"] == "multi"

    async def one(session):
        return [t.name for t in (await session.list_tools()).tools], text(await session.call_tool("echo", {"text": "x"}))

    names, echoed = anyio.run(over_http, f"{base}/servers/multi/mcp", token, one)
    assert "where" in names and "echo" in names and "add" not in names and echoed == "x"
    (multi,) = [s for s in status(gw)["servers"] if s["name"] == "multi"]
    assert multi["state"] == "ready" and starts(gw) == [str(multi["pid"])]


def test_http_refuses_without_token_or_from_a_foreign_origin(served):
    import urllib.error
    import urllib.request

    base, token = served
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()

    def post(headers):
        request = urllib.request.Request(f"{base}/mcp", data=body, method="POST", headers={
            "Content-Type": "application/json", "Accept": "application/json, text/event-stream", **headers})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    assert post({}) == 401
    assert post({"Authorization": "Bearer " + "0" * 64}) == 401
    assert post({"Authorization": f"Bearer {token}", "Origin": "http://evil.example"}) == 403
    assert post({"Authorization": f"Bearer {token}", "Origin": "http://127.0.0.1:1"}) != 403


def test_http_needs_an_explicit_flag_for_a_remote_bind(gw):
    proc = gw.run("mcp", "gateway", "serve", "--http", "0.0.0.0:8765")
    assert proc.returncode == 2
    error = json.loads(proc.stderr)["error"]
    assert error["code"] == "remote_bind" and "TLS" in error["hint"]
    assert gw.run("mcp", "gateway", "status", "--http", "127.0.0.1:1").returncode == 2


def test_the_token_file_is_private_and_kept(gw):
    first = gw.run("mcp", "gateway", "token", "--json")
    found = json.loads(first.stdout)
    assert len(found["token"]) == 64 and os.stat(found["file"]).st_mode & 0o777 == 0o600
    assert gw.run("mcp", "gateway", "token").stdout.strip() == found["token"]


def test_http_list_changed_is_passed_on(served):
    from mcp import types

    base, token = served
    changed = []

    async def handler(message):
        if isinstance(message, types.ToolListChangedNotification):
            changed.append(1)

    async def grow(session):
        assert session.init.capabilities.tools.list_changed is True
        before = {t.name for t in (await session.list_tools()).tools}
        assert text(await session.call_tool("grow", {})) == "grown"
        for _ in range(100):
            if changed:
                break
            await anyio.sleep(0.05)
        return before, {t.name for t in (await session.list_tools()).tools}

    before, after = anyio.run(lambda: over_http(f"{base}/mcp", token, grow, message_handler=handler))
    assert changed == [1] and after - before == {"grown"}


def test_disable_and_enable_show_in_the_aggregate_with_one_list_changed(served, gw):
    from mcp import types

    base, token = served
    changed = []

    async def handler(message):
        if isinstance(message, types.ToolListChangedNotification):
            changed.append(time.monotonic())

    async def until(count: int, timeout: float = 2.0) -> None:
        with anyio.move_on_after(timeout):
            while len(changed) < count:
                await anyio.sleep(0.02)

    async def talk(session):
        names = lambda result: {t.name for t in result.tools}  # noqa: E731
        before = names(await session.list_tools())
        pid = text(await session.call_tool("pid", {}))
        asked = time.monotonic()
        assert (await anyio.to_thread.run_sync(lambda: gw.run("mcp", "disable", "echo"))).returncode == 0
        await until(1)
        took = changed[0] - asked if changed else None
        await anyio.sleep(1.2)  # no second notification for the same change
        without = names(await session.list_tools())
        count = len(changed)
        assert (await anyio.to_thread.run_sync(lambda: gw.run("mcp", "enable", "echo"))).returncode == 0
        await until(count + 1)
        again = names(await session.list_tools())
        return before, without, again, count, took, pid, text(await session.call_tool("pid", {}))

    before, without, again, count, took, pid, pid_after = anyio.run(
        lambda: over_http(f"{base}/mcp", token, talk, message_handler=handler))
    assert "echo" in before and "add" in before
    assert count == 1 and took is not None and took < 2.0 + 1.0  # the verb's own run included
    assert "add" not in without and "echo" not in without and "multi__echo" in without
    assert again == before and len(changed) == 2
    assert pid == pid_after  # nothing else restarted


def test_status_marks_a_shared_server_and_its_gateway_process(gw):
    async def talk(session):
        return text(await session.call_tool("pid", {}))

    pid = int(anyio.run(in_session, gw, gw.root / "a", talk))
    proc = gw.run("mcp", "status", "--json", "--refresh")
    (row,) = [r for r in json.loads(proc.stdout) if r["name"] == "multi"]
    assert row["shared"] is True and row["pid"] == pid and row["state"] == "healthy"
    shown = gw.run("mcp", "status", "multi")
    assert "shared: one process for every agent" in shown.stdout and str(pid) in shown.stdout
    logs = gw.run("mcp", "logs", "multi")
    assert logs.returncode == 0 and "claudex mcp run multi" in logs.stdout
    logs = gw.run("mcp", "logs", "--gateway")
    assert logs.returncode == 0 and "listening on" in logs.stdout and f"multi: started, pid {pid}" in logs.stdout
    assert gw.run("mcp", "logs").returncode == 2


def test_generate_via_gateway_writes_one_entry_without_the_token(served, gw):
    base, token = served
    written = gw.run("mcp", "generate", "--client", "claude-code", "--scope", "user", "--via-gateway", "--json")
    assert written.returncode == 0, written.stderr
    doc = json.loads((gw.home / ".claude.json").read_text())
    servers = doc["mcpServers"]
    assert set(servers) == {"claudex"}
    assert servers["claudex"]["type"] == "http" and servers["claudex"]["url"] == f"{base}/mcp"
    assert token not in (gw.home / ".claude.json").read_text()
    helper = servers["claudex"]["headersHelper"]
    import subprocess

    printed = subprocess.run(helper, shell=True, capture_output=True, text=True, env={"PATH": os.environ["PATH"],
                                                                                      "HOME": str(gw.home)})
    assert json.loads(printed.stdout) == {"Authorization": f"Bearer {token}"}, printed.stderr

    codex = gw.run("mcp", "generate", "--client", "codex", "--output", "-", "--via-gateway")
    assert codex.returncode == 0 and "[mcp_servers.claudex]" in codex.stdout and "http_headers_helper" in codex.stdout
    assert "[mcp_servers.multi]" not in codex.stdout and token not in codex.stdout

    project = gw.root / "proj"
    (project / ".claudex").mkdir(parents=True)
    (project / ".claudex" / "mcp.json").write_text(json.dumps({"apiVersion": "v1",
                                                               "servers": {"echo": {"enabled": False}}}))

    async def names(session):
        return {t.name for t in (await session.list_tools()).tools}

    everything = anyio.run(over_http, f"{base}/mcp", token, names)
    only_project = anyio.run(over_http, f"{base}/mcp?project={project}", token, names)
    assert "add" in everything and "add" not in only_project and "where" in only_project


def test_generate_via_gateway_needs_a_url_when_no_gateway_serves_http(gw):
    proc = gw.run("mcp", "generate", "--via-gateway")
    assert proc.returncode == 1 and json.loads(proc.stderr)["error"]["code"] == "no_gateway_http"
    assert not (gw.home / ".claude.json").exists()


def test_a_server_stopped_from_outside_waits_for_the_next_request(gw):
    async def talk(session):
        first = int(text(await session.call_tool("pid", {})))
        os.kill(first, signal.SIGTERM)
        for _ in range(100):
            if status(gw)["servers"][0]["state"] == "stopped":
                break
            await anyio.sleep(0.05)
        stopped = status(gw)["servers"][0]
        return first, stopped, int(text(await session.call_tool("pid", {})))

    first, stopped, second = anyio.run(in_session, gw, gw.root / "a", talk)
    assert stopped["state"] == "stopped" and stopped["restarts"] == 0 and stopped["pid"] is None
    assert second != first and starts(gw) == [str(first), str(second)]


def test_the_bridge_imports_no_sdk(gw):
    import subprocess

    for _ in range(2):  # the first run after a change validates the files (jsonschema), as any run does
        proc = subprocess.run([sys.executable, "-X", "importtime", str(CLAUDEX), "mcp", "run", "multi"], env=gw.env,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, cwd=gw.root)
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    assert "claudex_mcp" in loaded
    assert not loaded & {"mcp", "anyio", "pydantic", "httpx", "jsonschema", "asyncio", "uvicorn"}, \
        loaded & {"mcp", "anyio", "pydantic", "httpx", "jsonschema", "asyncio", "uvicorn"}


def test_status_warns_about_a_tool_name_claude_code_would_refuse(gw):
    long_name = "a" * 50
    server = MULTI.read_text().replace('@server.tool()\ndef pid()', f'@server.tool(name="{long_name}")\ndef pid()')
    add_server(gw.registry, "long-one", "installed", manifest("long-one", command=sys.executable),
               files={"server.py": server})
    proc = gw.run("mcp", "status", "long-one", "--json")
    assert proc.returncode == 0, proc.stderr
    assert f"mcp__long-one__{long_name} is over the 64 characters" in proc.stderr
    assert f"mcp__claudex__{long_name}" not in proc.stderr  # 64 characters: fits the aggregate


def test_a_linked_or_shared_runtime_folder_is_refused(gw, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (gw.root / "run" / "claudex").symlink_to(elsewhere)
    proc = gw.run("mcp", "gateway", "status", "--json")
    assert proc.returncode == 1 and json.loads(proc.stderr)["error"]["code"] == "unsafe_path"
    ran = gw.run("mcp", "run", "multi", input="")
    assert ran.returncode == 1 and "is a symbolic link" in ran.stderr and "Traceback" not in ran.stderr
    assert list(elsewhere.iterdir()) == []
    (gw.root / "run" / "claudex").unlink()
    (gw.root / "run" / "claudex").mkdir(mode=0o755)
    assert gw.run("mcp", "gateway", "status").returncode == 0
    assert os.stat(gw.root / "run" / "claudex").st_mode & 0o777 == 0o700  # made private again


def test_a_socket_path_too_long_is_said(gw, tmp_path):
    deep = tmp_path / ("d" * 100)
    deep.mkdir()
    proc = gw.run("mcp", "run", "multi", input="", env={"XDG_RUNTIME_DIR": str(deep)})
    assert proc.returncode == 1 and "longer than the 107 bytes" in proc.stderr


def test_a_cancelled_call_is_cancelled_at_the_server(gw):
    async def talk(session):
        with anyio.move_on_after(1.0):
            await session.call_tool("slow", {"steps": 20, "delay": 0.5})
        for _ in range(100):
            if Path(str(gw.mark) + ".cancelled").exists():
                break
            await anyio.sleep(0.05)
        return text(await session.call_tool("echo", {"text": "after"}))

    assert anyio.run(in_session, gw, gw.root / "a", talk) == "after"
    assert Path(str(gw.mark) + ".cancelled").read_text().split() == ["20"]
    assert status(gw)["servers"][0]["inFlight"] == 0


def test_a_server_request_with_no_call_in_flight_is_refused(gw):
    add_server(gw.registry, "asking", "installed",
               manifest("asking", command=sys.executable, shared=True),
               files={"server.py": (ROOT / "tests" / "servers" / "asking_server.py").read_text()})
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    async def run():
        params = StdioServerParameters(command=sys.executable, args=[str(CLAUDEX), "mcp", "run", "asking"],
                                       env=gw.env, cwd=str(gw.root))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await anyio.sleep(0.5)
                return json.loads(text(await session.call_tool("answers", {})))

    (answer,) = anyio.run(run)
    assert answer["error"]["code"] == -32002
    assert "roots/list refused by the claudex gateway: no session has a call in flight" in answer["error"]["message"]


def test_a_server_that_keeps_crashing_is_given_up_after_five_restarts(sandbox, monkeypatch):
    """In process, with the backoff shortened: six starts (the first and five restarts), then
    the session's initialize is answered with the reason, and a new session tries again."""
    import asyncio

    from claudex_mcp.gateway import upstream
    from claudex_mcp.runtime import launcher

    monkeypatch.setattr(upstream, "BACKOFF", (0.01, 0.01, 0.01, 0.01, 0.01))
    mark = sandbox.root / "starts"
    script = f"open({str(mark)!r}, 'a').write('x'); raise SystemExit(3)"
    launch = launcher.Launch("crasher", [sys.executable, "-c", script], dict(os.environ), str(sandbox.root),
                             sandbox.state / "claudex" / "logs" / "crasher.log")
    said = []

    async def run():
        server = upstream.Upstream("crasher", lambda: launch, 30, said.append)
        got = []
        session = upstream.Session(1, "crasher", str(sandbox.root), got.append, "test")
        server.attach(session)
        await server.from_session(session, {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                                            "params": upstream.default_init()})
        first = (server.state, server.restarts, got[-1])
        server.attach(upstream.Session(2, "crasher", str(sandbox.root), got.append, "test"))
        return first, server.state

    (state, restarts, answer), after = asyncio.run(run())
    assert state == "failed" and restarts == 5 and len(mark.read_text()) == 6
    assert answer["id"] == 1 and answer["error"]["code"] == upstream.SERVER_DOWN
    assert "exited with code 3" in answer["error"]["message"]
    assert after == "stopped"  # a new session gives it another chance
    assert any("gave up" in line or "exited with code 3" in line for line in said)


def project_with(box, name: str, trusted: bool, **values) -> Path:
    """A project folder whose layer sets servers.multi.<key> for each value (env.X as env__X)."""
    folder = box.root / name
    folder.mkdir(exist_ok=True)
    if trusted:
        assert box.run("mcp", "config", "trust", str(folder)).returncode == 0
    for key, value in values.items():
        done = box.run("mcp", "config", "set", "multi", key.replace("__", "."), value, "--project-dir", str(folder))
        assert done.returncode == 0, done.stderr
    return folder


async def report(session) -> tuple[str, str, str]:
    """(pid, $MULTI_FLAVOUR, folder) as the shared server sees this session."""
    return (text(await session.call_tool("pid", {})), text(await session.call_tool("getenv", {"name": "MULTI_FLAVOUR"})),
            text(await session.call_tool("where", {})))


def test_a_project_layer_that_changes_env_gets_its_own_process(gw):
    secret = "sk-" + "7f3a9c" * 6
    assert gw.run("mcp", "config", "set", "multi", "env.MULTI_API_KEY", secret).returncode == 0  # the user layer
    own = project_with(gw, "own", True, env__MULTI_FLAVOUR="project-own")
    only_enabled = project_with(gw, "only-enabled", True, enabled="true")  # trusted, leaves env and args alone
    untrusted = project_with(gw, "untrusted", False, env__MULTI_FLAVOUR="ignored")
    plain = gw.root / "plain"  # no project at all
    plain.mkdir()
    seen: dict = {}

    async def agent(key, folder):
        async def talk(session):
            found = await report(session)
            return (*found, text(await session.call_tool("getenv", {"name": "MULTI_API_KEY"})))
        seen[key] = await in_session(gw, folder, talk)

    async def all_at_once():
        async with anyio.create_task_group() as group:
            for key, folder in (("own1", own), ("own2", own), ("enabled", only_enabled), ("untrusted", untrusted),
                                ("plain", plain)):
                group.start_soon(agent, key, folder)

    anyio.run(all_at_once)
    assert seen["own1"][:3] == (seen["own1"][0], "project-own", str(own)) and seen["own2"][:2] == seen["own1"][:2]
    default = seen["plain"][0]
    assert default != seen["own1"][0]
    for key in ("enabled", "untrusted", "plain"):
        assert seen[key][0] == default and seen[key][1] == "", (key, seen[key])
    assert {found[3] for found in seen.values()} == {secret}  # expanded for the server, in memory
    assert sorted(starts(gw)) == sorted([default, seen["own1"][0]])  # two processes in all
    found = status(gw)
    by_pid = {str(s["pid"]): s for s in found["servers"]}
    assert [s["name"] for s in found["servers"]] == ["multi", "multi"]
    assert by_pid[default]["default"] is True
    assert by_pid[default]["projects"] == sorted([str(only_enabled), str(untrusted)])
    assert by_pid[seen["own1"][0]]["default"] is False and by_pid[seen["own1"][0]]["projects"] == [str(own)]
    shown = gw.run("mcp", "gateway", "status").stdout
    rows = {line.split("\t")[2]: line.split("\t")[-1] for line in shown.splitlines() if line.startswith("multi\t")}
    assert rows == {default: "default", seen["own1"][0]: str(own)}, shown
    log = (gw.state / "claudex" / "logs" / "_gateway.log").read_text()
    assert f"(the process of {own})" in log
    for written in (json.dumps(found), shown, log, gw.run("mcp", "logs", "multi").stdout):
        assert secret not in written


def test_each_process_of_a_server_restarts_and_stops_on_its_own(gw, monkeypatch):
    from mcp.shared.exceptions import MCPError

    set_env(gw, monkeypatch, CLAUDEX_MCP_GATEWAY_IDLE="1")
    own = project_with(gw, "own", True, env__MULTI_FLAVOUR="project-own")
    plain = gw.root / "plain"
    plain.mkdir()
    out: dict = {}

    async def run():
        own_done, plain_may_end = anyio.Event(), anyio.Event()

        async def keeps_the_default(session):
            out["default"] = text(await session.call_tool("pid", {}))
            await plain_may_end.wait()
            out["default after"] = text(await session.call_tool("pid", {}))

        async def crashes_its_own(session):
            await anyio.sleep(0.5)
            out["own"] = text(await session.call_tool("pid", {}))
            with pytest.raises(MCPError):
                await session.call_tool("crash", {})
            out["own after"] = text(await session.call_tool("pid", {}))  # restarted after 1 s

        async def own_then_wait():
            await in_session(gw, own, crashes_its_own)
            own_done.set()
            own_pid = int(out["own after"])
            with anyio.fail_after(10):  # stopped once idle while the default one serves on
                while os.path.exists(f"/proc/{own_pid}") and not _zombie(own_pid):
                    await anyio.sleep(0.1)
            out["servers while default runs"] = await anyio.to_thread.run_sync(lambda: status(gw)["servers"])
            plain_may_end.set()

        async with anyio.create_task_group() as group:
            group.start_soon(in_session, gw, plain, keeps_the_default)
            group.start_soon(own_then_wait)

    anyio.run(run)
    assert out["own after"] != out["own"] and out["default after"] == out["default"]
    assert sorted(starts(gw)) == sorted([out["default"], out["own"], out["own after"]])
    (left,) = out["servers while default runs"]
    assert left["default"] is True and left["pid"] == int(out["default"]) and left["restarts"] == 0
    assert wait_for(lambda: not processes_of(gw.registry), timeout=15), processes_of(gw.registry)


def test_a_project_layer_change_tells_only_that_projects_http_sessions(served, gw):
    from contextlib import AsyncExitStack

    from mcp import ClientSession, types
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    base, token = served
    folders = {name: gw.root / name for name in ("a", "b")}
    for folder in folders.values():
        folder.mkdir()
    urls = {"a": f"{base}/mcp?project={folders['a']}", "b": f"{base}/mcp?project={folders['b']}", "none": f"{base}/mcp",
            "one": f"{base}/servers/multi/mcp?project={folders['a']}"}
    changed: dict = {key: [] for key in urls}

    def handler(key):
        async def handle(message):
            if isinstance(message, types.ToolListChangedNotification):
                changed[key].append(time.monotonic())
        return handle

    async def run():
        async with AsyncExitStack() as stack:
            sessions = {}
            for key, url in urls.items():
                http = await stack.enter_async_context(create_mcp_http_client(headers={"Authorization": f"Bearer {token}"}))
                streams = await stack.enter_async_context(streamable_http_client(url, http_client=http))
                sessions[key] = await stack.enter_async_context(ClientSession(streams[0], streams[1],
                                                                              message_handler=handler(key)))
                await sessions[key].initialize()
            names = {key: {t.name for t in (await s.list_tools()).tools} for key, s in sessions.items()}
            pid = text(await sessions["a"].call_tool("pid", {}))
            asked = time.monotonic()
            done = await anyio.to_thread.run_sync(lambda: gw.run("mcp", "disable", "echo", "--project-dir",
                                                                 str(folders["a"])))
            assert done.returncode == 0, done.stderr
            with anyio.move_on_after(2.0):
                while not changed["a"]:
                    await anyio.sleep(0.02)
            await anyio.sleep(1.5)  # nothing more comes, to anyone
            after = {key: {t.name for t in (await s.list_tools()).tools} for key, s in sessions.items()}
            return names, after, asked, pid, text(await sessions["a"].call_tool("pid", {})), \
                text(await sessions["none"].call_tool("pid", {}))

    names, after, asked, pid, pid_a, pid_none = anyio.run(run)
    assert len(changed["a"]) == 1 and changed["a"][0] - asked < 2.0 + 1.0, changed  # the verb's own run included
    assert changed["b"] == changed["none"] == changed["one"] == []
    assert "add" in names["a"] and "add" not in after["a"] and "multi__echo" in after["a"]
    assert after["b"] == names["b"] == after["none"] == names["none"] and "add" in after["b"]
    assert pid == pid_a == pid_none  # nothing restarted: every session here uses multi's default process


def test_http_sessions_get_their_project_folder_or_their_root(served, gw):
    import urllib.error
    import urllib.request

    from mcp import types

    base, token = served
    first = project_with(gw, "first", True, env__MULTI_FLAVOUR="first's")
    second = gw.root / "second"
    second.mkdir()
    rooted = gw.root / "rooted"
    rooted.mkdir()

    async def roots(context):
        return types.ListRootsResult(roots=[types.Root(uri=f"file://{rooted}")])

    async def both():
        out = {}

        async def go(key, url, with_roots=False):
            out[key] = await over_http(url, token, report, **({"list_roots_callback": roots} if with_roots else {}))

        async with anyio.create_task_group() as group:
            group.start_soon(go, "first", f"{base}/servers/multi/mcp?project={first}")
            group.start_soon(go, "second", f"{base}/mcp?project={second}")
            group.start_soon(go, "rooted", f"{base}/servers/multi/mcp", True)
        return out

    out = anyio.run(both)
    assert out["first"][1:] == ("first's", str(first))
    assert out["second"][1:] == ("", str(second))
    assert out["rooted"][1:] == ("", str(rooted))
    assert out["second"][0] == out["rooted"][0] != out["first"][0]  # the project's env: a process of its own

    def post(query):
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
        request = urllib.request.Request(f"{base}/mcp?{query}", data=body, method="POST", headers={
            "Content-Type": "application/json", "Accept": "application/json, text/event-stream",
            "Authorization": f"Bearer {token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status, None
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())["error"]

    a_file = gw.root / "a-file"
    a_file.write_text("")
    cases = [("project=relative/dir", "is not an absolute path"), (f"project={gw.root}/gone", "does not exist"),
             (f"project={a_file}", "is not a folder"), (f"project={first}&project={second}", "once")]
    if os.geteuid() == 0:  # only root can make a folder another user's
        theirs = gw.root / "theirs"
        theirs.mkdir()
        os.chown(theirs, 65534, 65534)
        cases.append((f"project={theirs}", "belongs to another user"))
    for query, why in cases:
        status_code, found = post(query)
        assert status_code == 400 and found["code"] == "invalid_project" and why in found["message"], (query, found)
    assert "Traceback" not in (gw.root / "serve.err").read_text()


def test_an_http_session_moves_to_the_process_of_its_projects_new_config(served, gw):
    from mcp import types

    base, token = served
    folder = project_with(gw, "moving", True)
    changed = []

    async def handler(message):
        if isinstance(message, types.ToolListChangedNotification):
            changed.append(1)

    async def talk(session):
        before = await report(session)
        done = await anyio.to_thread.run_sync(lambda: gw.run("mcp", "config", "set", "multi", "env.MULTI_FLAVOUR",
                                                             "new", "--project-dir", str(folder)))
        assert done.returncode == 0, done.stderr
        after = before
        with anyio.move_on_after(3.0):
            while after[1] != "new":
                await anyio.sleep(0.1)
                after = await report(session)
        return before, after

    before, after = anyio.run(lambda: over_http(f"{base}/mcp?project={folder}", token, talk, message_handler=handler))
    assert before[1:] == ("", str(folder)) and after[1:] == ("new", str(folder)) and after[0] != before[0]
    assert changed == []  # the enabled set is the same: nothing to tell
    servers = {s["pid"]: s for s in status(gw)["servers"] if s["name"] == "multi"}
    assert servers[int(before[0])]["default"] is True and servers[int(before[0])]["sessions"] == []
    assert servers[int(after[0])]["default"] is False and servers[int(after[0])]["projects"] == [str(folder)]


def test_a_lone_surrogate_is_passed_on_escaped():
    """JSON may carry "\\ud800" (not UTF-8): the gateway passes it on as the escape it came as, so
    the server answers it as without the gateway (codequery's tests send one through the bridge);
    other text stays UTF-8."""
    from claudex_mcp.gateway.upstream import encode

    message = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"arguments": {"diff": "+# \ud800é"}}}
    line = encode(message)
    assert line.endswith(b"\n") and b"\\ud800" in line and json.loads(line) == message
    assert encode({"text": "é"}) == '{"text":"é"}\n'.encode()

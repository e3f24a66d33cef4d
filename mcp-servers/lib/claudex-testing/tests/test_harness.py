"""claudex_testing against real MCP servers over stdio: a session, its tool errors, the stdout
check that catches a stray print, and the server stopped when the block fails."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from claudex_testing import ServerCommand, ToolFailed, assert_stdout_is_jsonrpc, connect, open_session, server_command

SERVER = textwrap.dedent('''
    import os, sys
    from pathlib import Path
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    Path(os.environ["PID_FILE"]).write_text(str(os.getpid()))
    if os.environ.get("NOISY"):
        print("starting up")
    server = MCPServer("demo", version="1.2.3")

    if os.environ.get("SAY"):
        print(os.environ["SAY"], file=sys.stderr, flush=True)

    @server.tool()
    def shout(text: str) -> str:
        """Upper-case the text."""
        if not text:
            raise ToolError("text must not be empty")
        return text.upper() + os.environ.get("SUFFIX", "")

    @server.tool()
    def variable(name: str) -> dict[str, str | None]:
        """A variable of the server's environment."""
        return {"name": name, "value": os.environ.get(name)}

    @server.tool()
    async def nap(seconds: float) -> str:
        """Sleep."""
        import anyio
        await anyio.sleep(seconds)
        return "rested"

    server.run("stdio")
''')


def make_server(tmp_path: Path, **env: str) -> Path:
    folder = tmp_path / "demo"
    folder.mkdir(parents=True)
    (folder / "server.py").write_text(SERVER)
    (folder / "manifest.json").write_text(json.dumps({
        "apiVersion": "v1", "metadata": {"name": "demo", "version": "1.2.3", "description": "demo"},
        "server": {"command": "${SERVER_DIR}/.venv/bin/python", "args": ["${SERVER_DIR}/server.py"],
                   "env": {"PID_FILE": "${SERVER_DIR}/pid", **env}}}))
    return folder


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()


def test_session_with_a_folder(tmp_path):
    folder = make_server(tmp_path, SUFFIX="${SUFFIX_WORD:-!}")
    with connect(folder) as session:
        assert session.server_name == "demo"
        assert session.tool_names() == ["nap", "shout", "variable"]
        assert session.call_text("shout", {"text": "hi"}) == "HI!"
        failed = session.call("shout", {"text": ""})
        assert failed.is_error and session.text(failed).endswith("text must not be empty")
        with pytest.raises(AssertionError, match="tool shout failed: .*text must not be empty"):
            session.call_text("shout", {"text": ""})
        assert session.error_text("shout", {"text": ""}).endswith("text must not be empty")
        assert session.call_data("variable", {"name": "SUFFIX"}) == {"name": "SUFFIX", "value": "!"}
        session.ping()


def test_the_server_is_stopped_when_the_block_fails(tmp_path):
    folder = make_server(tmp_path)
    with pytest.raises(RuntimeError, match="boom"):
        with connect(folder):
            pid = int((folder / "pid").read_text())
            assert alive(pid)
            raise RuntimeError("boom")
    assert not alive(pid)


def test_stdout_check_passes_a_clean_server_and_catches_a_print(tmp_path):
    folder = make_server(tmp_path)
    messages = assert_stdout_is_jsonrpc(folder)
    assert [m.get("id") for m in messages if "id" in m] == [1, 2, 3]
    noisy = make_server(tmp_path / "noisy", NOISY="1")
    with pytest.raises(AssertionError, match="not JSON-RPC to stdout: 'starting up'"):
        assert_stdout_is_jsonrpc(noisy)
    pid = int((noisy / "pid").read_text())
    assert not alive(pid)


def test_server_command(tmp_path):
    folder = make_server(tmp_path, SUFFIX="${SUFFIX_WORD:-?}")
    command = server_command(folder, env={"SUFFIX_WORD": "."})
    # No .venv yet (claudex mcp install makes it): the interpreter running the tests starts it.
    assert command.argv == [sys.executable, str(folder.resolve() / "server.py")]
    assert command.env["SUFFIX"] == "." and command.env["SERVER_DIR"] == str(folder.resolve())
    via_run = server_command("demo", via="run", claudex="/opt/bin/claudex", cwd=tmp_path)
    assert via_run.argv == ["/opt/bin/claudex", "mcp", "run", "demo"] and via_run.cwd == str(tmp_path)
    hermetic = server_command(folder, env={"HOME": "/h"}, inherit=False)
    assert hermetic.env == {"HOME": "/h", "SERVER_DIR": str(folder.resolve()), "PID_FILE": str(folder.resolve() / "pid"),
                            "SUFFIX": "?"}
    with pytest.raises(ValueError, match="via must be"):
        server_command(folder, via="docker")


def test_the_async_session_runs_calls_side_by_side(tmp_path):
    import anyio

    folder = make_server(tmp_path)

    async def main():
        async with open_session(folder) as session:
            assert await session.tool_names() == ["nap", "shout", "variable"]
            results = {}

            async def one(name, args):
                results[name] = await session.call_text(name, args)

            with anyio.fail_after(20):   # two naps of 1 s side by side, not one after the other
                started = anyio.current_time()
                async with anyio.create_task_group() as group:
                    group.start_soon(one, "nap", {"seconds": 1})
                    group.start_soon(one, "shout", {"text": "hi"})
                    group.start_soon(session.call_data, "nap", {"seconds": 1})
                took = anyio.current_time() - started
            assert results == {"nap": "rested", "shout": "HI"} and took < 1.9
            with pytest.raises(ToolFailed) as failed:
                await session.call_data("shout", {"text": ""})
            assert failed.value.text.endswith("text must not be empty")
            with pytest.raises(AssertionError, match="succeeded"):
                await session.error_text("shout", {"text": "x"})

    anyio.run(main)


def test_a_hermetic_environment_and_the_servers_stderr_in_a_file(tmp_path, monkeypatch):
    import anyio

    folder = make_server(tmp_path)
    monkeypatch.setenv("DEVELOPERS_OWN", "leaks")
    log = tmp_path / "server-stderr.log"
    log.write_text("earlier run\n")

    async def main():
        async with open_session(folder, env={"SAY": "hello from the server"}, inherit=False, stderr=log) as s:
            return (await s.call_data("variable", {"name": "DEVELOPERS_OWN"}),
                    await s.call_data("variable", {"name": "SERVER_DIR"}))

    own, server_dir = anyio.run(main)
    assert own["value"] is None and server_dir["value"] == str(folder.resolve())
    assert log.read_text().startswith("earlier run\nhello from the server\n")
    with connect(folder) as session:   # inherited by default
        assert session.call_data("variable", {"name": "DEVELOPERS_OWN"})["value"] == "leaks"


def test_a_command_of_ones_own_and_the_session_timeout(tmp_path):
    folder = make_server(tmp_path)
    command = ServerCommand([sys.executable, str(folder / "server.py")],
                            {"PID_FILE": str(tmp_path / "own.pid"), "SUFFIX": "?"}, str(tmp_path))
    with pytest.raises(TimeoutError):
        with connect(command, session_timeout=3) as session:
            assert session.call_text("shout", {"text": "a"}) == "A?"
            session.call("nap", {"seconds": 30})
    assert not alive(int((tmp_path / "own.pid").read_text()))


def test_own_gateway_stops_all_it_started_even_when_the_block_fails(tmp_path):
    """A shared server reached through `claudex mcp run`: both sessions on one process of the
    block's gateway, and after a failing block neither the gateway nor its server runs, and its
    runtime folder is gone."""
    from claudex_testing.gateway import own_gateway

    registry = tmp_path / "registry"
    for location in ("core", "installed", "disabled"):
        (registry / location).mkdir(parents=True)
    (registry / "registry.json").write_text('{"apiVersion": "v1", "servers": {}}')
    folder = make_server(registry / "installed")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["server"].update(command=sys.executable, shared=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    home = tmp_path / "home"
    home.mkdir()
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "XDG_CONFIG_HOME": str(home / ".config"), "XDG_STATE_HOME": str(home / ".state"),
           "CLAUDEX_MCP_REGISTRY": str(registry)}
    seen = {}
    with pytest.raises(RuntimeError, match="the block failed"):
        with own_gateway(env, claudex=str(Path(sys.executable).parent / "claudex")) as gw:
            with connect("demo", via="run", env=gw.env, inherit=False, cwd=tmp_path) as one, \
                    connect("demo", via="run", env=gw.env, inherit=False, cwd=tmp_path) as two:
                shared = [s.call_data("variable", {"name": "CLAUDEX_MCP_GATEWAY"})["value"] for s in (one, two)]
            seen.update(shared=shared, pids=gw.server_pids("demo"), gateway=gw.status()["pid"], runtime=gw.runtime)
            raise RuntimeError("the block failed")
    assert seen["shared"] == ["1", "1"] and seen["pids"] == [int((folder / "pid").read_text())]
    assert not alive(seen["pids"][0]) and not alive(seen["gateway"])
    assert not seen["runtime"].exists()

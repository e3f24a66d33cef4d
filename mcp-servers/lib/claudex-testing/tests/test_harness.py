"""claudex_testing against real MCP servers over stdio: a session, its tool errors, the stdout
check that catches a stray print, and the server stopped when the block fails."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from claudex_testing import assert_stdout_is_jsonrpc, connect, server_command

SERVER = textwrap.dedent('''
    import os, sys
    from pathlib import Path
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    Path(os.environ["PID_FILE"]).write_text(str(os.getpid()))
    if os.environ.get("NOISY"):
        print("starting up")
    server = MCPServer("demo", version="1.2.3")

    @server.tool()
    def shout(text: str) -> str:
        """Upper-case the text."""
        if not text:
            raise ToolError("text must not be empty")
        return text.upper() + os.environ.get("SUFFIX", "")

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
        assert session.tool_names() == ["shout"]
        assert session.call_text("shout", {"text": "hi"}) == "HI!"
        failed = session.call("shout", {"text": ""})
        assert failed.is_error and session.text(failed).endswith("text must not be empty")
        with pytest.raises(AssertionError, match="tool shout failed: .*text must not be empty"):
            session.call_text("shout", {"text": ""})
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
    via_run = server_command("demo", via="run", claudex="/opt/bin/claudex")
    assert via_run.argv == ["/opt/bin/claudex", "mcp", "run", "demo"]
    with pytest.raises(ValueError, match="via must be"):
        server_command(folder, via="docker")

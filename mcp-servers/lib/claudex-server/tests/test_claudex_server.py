"""claudex_server: the self-check and main() of every shipped server, in process with a stand-in
server object, and in a real server script (the SDK's MCPServer) run as clients and `status` run it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import claudex_server

LIB = Path(__file__).resolve().parent.parent


class StandIn:
    """An MCPServer's run("stdio"), recorded, doing what it is told."""

    def __init__(self, raises: BaseException | None = None) -> None:
        self.raises, self.calls = raises, []

    def run(self, transport: str) -> None:
        self.calls.append(("run", transport))
        if self.raises is not None:
            raise self.raises


@pytest.mark.parametrize("report,code", [({"ok": True, "problems": []}, 0),
                                         ({"ok": False, "problems": ["no key"], "hint": "set it"}, 1),
                                         ({"problems": []}, 1), ({"ok": "yes"}, 1)])
def test_self_check_prints_the_report_and_exits_by_it(capsys, report, code):
    assert claudex_server.self_check(lambda: report) == code
    out = capsys.readouterr().out
    assert json.loads(out) == report and out == json.dumps(report, indent=2, sort_keys=True) + "\n"


def test_serve_runs_on_stdio_between_start_and_stop():
    server, events = StandIn(), []
    code = claudex_server.serve(server, [], lambda: {"ok": True}, start=lambda: events.append("start"),
                                stop=lambda: events.append("stop"))
    assert code == 0 and server.calls == [("run", "stdio")] and events == ["start", "stop"]


def test_serve_check_and_usage_never_run_the_server(capsys):
    server = StandIn()
    assert claudex_server.serve(server, ["--check"], lambda: {"ok": False, "problems": ["x"]}) == 1
    assert json.loads(capsys.readouterr().out)["problems"] == ["x"]
    assert claudex_server.serve(server, ["--verbose"], lambda: {"ok": True}) == 2
    assert capsys.readouterr().err == claudex_server.USAGE
    assert server.calls == []


def test_ctrl_c_is_130_and_a_failure_propagates_both_after_stop():
    stopped = []
    assert claudex_server.serve(StandIn(KeyboardInterrupt()), [], dict, stop=lambda: stopped.append(1)) == 130
    with pytest.raises(RuntimeError):
        claudex_server.serve(StandIn(RuntimeError("boom")), [], dict, stop=lambda: stopped.append(2))
    assert stopped == [1, 2]


SERVER = '''
import sys

import claudex_server


def check():
    return {"ok": "mcp" not in sys.modules and "pydantic" not in sys.modules, "problems": []}


if __name__ == "__main__" and sys.argv[1:] == ["--check"]:
    sys.exit(claudex_server.self_check(check))

from mcp.server.mcpserver import MCPServer

server = MCPServer("demo")


@server.tool()
def hello(name: str) -> str:
    """Say hello."""
    return f"hello {name}"


def main(argv=None):
    return claudex_server.serve(server, argv, check)


if __name__ == "__main__":
    sys.exit(main())
'''


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "server.py"
    path.write_text(SERVER)
    return path


def env():
    import os

    return dict(os.environ, PYTHONPATH=str(LIB))


def test_a_server_answers_its_self_check_before_importing_the_sdk(script):
    proc = subprocess.run([sys.executable, str(script), "--check"], capture_output=True, text=True, env=env(),
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"ok": True, "problems": []}


def test_the_same_server_speaks_mcp_on_stdio_and_ctrl_c_ends_it_with_130(script):
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env())
    try:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
        proc.stdin.write((json.dumps(init) + "\n").encode())
        proc.stdin.flush()
        answer = json.loads(proc.stdout.readline())
        assert answer["id"] == 1 and answer["result"]["serverInfo"]["name"] == "demo"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert b"Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

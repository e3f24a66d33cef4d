"""claudex_server: the self-check and main() of every shipped server, in process with a stand-in
server object, and in a real server script (the SDK's MCPServer) run as clients and `status` run it."""

from __future__ import annotations

import json
import signal
import os
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


def test_ctrl_c_is_130_and_a_failure_is_its_traceback_and_1_both_after_stop(capfd):
    stopped = []
    assert claudex_server.serve(StandIn(KeyboardInterrupt()), [], dict, stop=lambda: stopped.append(1)) == 130
    assert claudex_server.serve(StandIn(RuntimeError("boom")), [], dict, stop=lambda: stopped.append(2)) == 1
    assert stopped == [1, 2]
    err = capfd.readouterr().err
    assert "Traceback" in err and "RuntimeError: boom" in err


SECRET = "plain-configured-value-0451"

LEAKY = '''
import json, subprocess, sys, time

import claudex_server

SECRET = sys.argv[1]


class Leaky:
    """Gives its key away every way it can: an MCP message on stdout, its log (a line written
    in two pieces), a child process's stderr, and the exception it dies of."""

    def run(self, transport):
        message = {"jsonrpc": "2.0", "method": "notifications/progress",
                   "params": {"message": f"retrying: 401 (request headers: Authorization: Bearer {SECRET}; "
                                         "x-api-key: other-token-value)", "n": 12345678, "key": SECRET}}
        print(json.dumps(message), flush=True)
        sys.stderr.write(f"log: 'authorization': 'Bearer {SECRET[:10]}")
        sys.stderr.flush()
        time.sleep(0.2)   # the pump waits for the end of the line
        sys.stderr.write(f"{SECRET[10:]}' and sk-abcdef0123456789 in https://user:hunter2hunter2@example.org/x\\n")
        subprocess.run(["sh", "-c", 'echo "child says $MY_API_KEY" >&2'], check=True)
        raise RuntimeError(f"provider said: {SECRET}")


class Echo:
    def run(self, transport):
        print(json.dumps({"text": sys.argv[2], "secret": SECRET}))


full = claudex_server.Scrubber.from_env(headers=True, shapes=True)
code = claudex_server.serve(Leaky(), [], dict, scrubber=full) if len(sys.argv) == 2 else claudex_server.serve(Echo(), [], dict)
print("after", SECRET, code)
'''


def run_script(tmp_path, *argv, **env):
    script = tmp_path / "leaky.py"
    script.write_text(LEAKY)
    return subprocess.run([sys.executable, str(script), SECRET, *argv], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(LIB), **env}, stdin=subprocess.DEVNULL)


def test_everything_a_server_writes_is_scrubbed(tmp_path):
    proc = run_script(tmp_path, MY_API_KEY=SECRET)
    out, err = proc.stdout, proc.stderr
    message, after = out.splitlines()
    assert after == f"after {SECRET} 1"   # afterwards the descriptors are the process's own again
    assert SECRET not in message + err and SECRET[:10] not in message + err
    assert "other-token-value" not in message and "hunter2" not in err and "sk-abcdef" not in err
    # masked member by member: still the same JSON-RPC message
    assert json.loads(message)["params"] == {
        "message": "retrying: 401 (request headers: Authorization: Bearer ********; x-api-key: ********)",
        "n": 12345678, "key": "********"}
    assert "log: 'authorization': 'Bearer ********' and ******** in https://user:********@example.org/x\n" in err
    assert "child says ********" in err and "RuntimeError: provider said: ********" in err


def test_by_default_only_the_secret_variables_values_are_masked(tmp_path):
    """A server whose results carry people's code keeps their headers and token-shaped text."""
    code = 'headers = {"Authorization": "Bearer sk-abcdef0123456789"}; token = "abc"'
    proc = run_script(tmp_path, code, QDRANT_API_KEY=SECRET, SHORT_TOKEN="abc")
    message, _after = proc.stdout.splitlines()
    assert json.loads(message) == {"text": code, "secret": "********"}


@pytest.mark.parametrize("text,shown", [
    ("Authorization: Bearer abc.def-123", "Authorization: Bearer ********"),
    ('{"x-api-key": "abc123", "other": "kept"}', '{"x-api-key": "********", "other": "kept"}'),
    ("{'api-key': 'abc123'}", "{'api-key': '********'}"),
    ("GET /v1?api_key=abc123&q=1", "GET /v1?api_key=********&q=1"),
    ("proxy-authorization=Basic dXNlcjpwYXNz", "proxy-authorization=Basic ********"),
    ("see https://u:pass1234@host/x", "see https://u:********@host/x"),
    ("token ghp_0123456789abcdefABCD here", "token ******** here"),
    ("an authorization header was missing", "an authorization header was missing"),
])
def test_the_rules_of_the_full_scrubber(text, shown):
    assert claudex_server.Scrubber(headers=True, shapes=True).text(text) == shown


def test_a_short_value_is_not_masked_and_a_longer_key_is_masked_whole():
    scrubber = claudex_server.Scrubber(["k", "abcdefgh", "abcdefgh-longer"])
    assert scrubber.text("k abcdefgh-longer abcdefgh") == "k ******** ********"


SERVER = '''
import sys

import claudex_server


def check():
    return {"ok": "mcp" not in sys.modules and "pydantic" not in sys.modules, "problems": []}


claudex_server.check_first(__name__, check)

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


def test_a_request_with_a_lone_surrogate_is_answered_and_the_session_goes_on(script):
    """The SDK's transport drops a line whose JSON holds "\\ud800" without an answer, and the
    client waits forever: the server answers it (a tool error for tools/call, else invalid params)."""
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env())

    def send(message):
        proc.stdin.write((json.dumps(message) + "\n").encode())
        proc.stdin.flush()

    def call(id_, name):
        send({"jsonrpc": "2.0", "id": id_, "method": "tools/call", "params": {"name": "hello", "arguments": {"name": name}}})
        return json.loads(proc.stdout.readline())

    try:
        send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        assert json.loads(proc.stdout.readline())["id"] == 1
        send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 9, "reason": "\udfff"}})
        bad = call(2, "Ada \ud800")
        assert bad["id"] == 2 and bad["result"]["isError"] is True
        assert "lone surrogate in /params/arguments/name" in bad["result"]["content"][0]["text"]
        send({"jsonrpc": "2.0", "id": 3, "method": "ping", "params": {"\udc80": 1}})
        assert json.loads(proc.stdout.readline()) == {"jsonrpc": "2.0", "id": 3, "error": {
            "code": -32602, "message": "the request holds a lone surrogate in /params/\\udc80: that string is not "
                                       "Unicode text, so nothing was done; send valid text (a surrogate only as half of a pair)"}}
        good = call(4, "Ada \U0001F600")   # a pair is fine
        assert good["id"] == 4 and good["result"]["content"][0]["text"] == "hello Ada \U0001F600"
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_check_first_returns_when_imported_or_given_other_arguments(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["server.py", "--check"])
    assert claudex_server.check_first("server", lambda: pytest.fail("checked")) is None
    monkeypatch.setattr(sys, "argv", ["server.py"])
    assert claudex_server.check_first("__main__", lambda: pytest.fail("checked")) is None


def test_check_first_answers_and_exits_as_the_program(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["server.py", "--check"])
    with pytest.raises(SystemExit) as ended:
        claudex_server.check_first("__main__", lambda: {"ok": False, "problems": ["no key"]})
    assert ended.value.code == 1 and json.loads(capsys.readouterr().out)["problems"] == ["no key"]


def test_a_domain_error_reads_code_message_and_hint():
    error = claudex_server.NotFound("collection 'x' does not exist", hint="create it first", path="x")
    assert (error.code, error.path, str(error)) == ("not_found", "x", "collection 'x' does not exist (hint: create it first)")
    assert claudex_server.error_text(error) == "not_found: collection 'x' does not exist (hint: create it first)"
    assert claudex_server.error_text(claudex_server.ServerError("refused", code="refused")) == "refused: refused"
    assert claudex_server.error_text(ValueError("plain")) == "plain"
    assert issubclass(claudex_server.Conflict, claudex_server.ServerError)


def test_tools_needs_the_domain_errors():
    with pytest.raises(TypeError, match="domain error"):
        claudex_server.tools(StandIn())


TOOLS_SERVER = '''
import sys
from typing import Annotated

import claudex_server
from claudex_server import NotFound

claudex_server.check_first(__name__, dict)

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field


class ProviderError(Exception):
    """A library's error with a code of its own (claudex_llm's, say)."""
    code = "provider_error"


server = MCPServer("tools-demo")
tool = claudex_server.tools(server, claudex_server.ServerError, ProviderError)
Limit = Annotated[int, Field(ge=1, le=50, description="How many.")]


@tool()
def find(name: str, limit: Limit = 5) -> dict:
    """Find a thing."""
    if name == "ghost":
        raise NotFound(f"{name} does not exist", hint="list the things first")
    if name == "crash":
        raise RuntimeError("a secret detail of the crash")
    return {"name": name, "limit": limit}


@tool()
async def ask(question: str, ctx: Context) -> str:
    """Ask the provider."""
    await ctx.info("asking")
    if question == "fail":
        raise ProviderError("HTTP 401 from the provider")
    return f"answer to {question}"


def start():
    if len(sys.argv) > 1 and sys.argv[1] == "bad-setting":
        raise claudex_server.InvalidInput("DEMO_MODE='maybe' is not a mode: use on or off")


def main():
    return claudex_server.serve(server, [], dict, start=start)


if __name__ == "__main__":
    sys.exit(main())
'''


def test_tools_turn_the_declared_errors_into_tool_errors_with_their_code(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(TOOLS_SERVER)
    proc = subprocess.Popen([sys.executable, str(script)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=env())

    def ask(id_, method, params):
        proc.stdin.write((json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}) + "\n").encode())
        proc.stdin.flush()
        while True:
            message = json.loads(proc.stdout.readline())
            if message.get("id") == id_:
                return message["result"]

    def call(id_, name, arguments):
        result = ask(id_, "tools/call", {"name": name, "arguments": arguments})
        return result.get("isError", False), result["content"][0]["text"] if result["content"] else ""

    try:
        ask(1, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                              "clientInfo": {"name": "t", "version": "1"}})
        proc.stdin.write(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}\n')
        listed = {t["name"]: t for t in ask(2, "tools/list", {})["tools"]}
        # the schema is still built from the tool's own signature: Field bounds, no ctx
        assert listed["find"]["inputSchema"]["properties"]["limit"]["maximum"] == 50
        assert listed["find"]["description"] == "Find a thing."
        assert listed["ask"]["inputSchema"]["required"] == ["question"]
        assert call(3, "find", {"name": "a"}) == (False, '{\n  "name": "a",\n  "limit": 5\n}')
        assert call(4, "find", {"name": "ghost"}) == (
            True, "Error executing tool find: not_found: ghost does not exist (hint: list the things first)")
        assert call(5, "ask", {"question": "why"}) == (False, "answer to why")
        assert call(6, "ask", {"question": "fail"}) == (True, "Error executing tool ask: provider_error: HTTP 401 from the provider")
        crashed, text = call(7, "find", {"name": "crash"})
        assert crashed and "secret detail" not in text   # not declared: a crash, its text kept from the client
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def test_a_declared_error_from_start_is_one_line_and_exit_1(tmp_path):
    script = tmp_path / "server.py"
    script.write_text(TOOLS_SERVER)
    proc = subprocess.run([sys.executable, str(script), "bad-setting"], capture_output=True, text=True,
                          env=env(), timeout=60, stdin=subprocess.DEVNULL)
    assert (proc.returncode, proc.stdout) == (1, "")
    assert proc.stderr == "tools-demo: DEMO_MODE='maybe' is not a mode: use on or off\n"


def test_write_atomic_replaces_the_file_whole(tmp_path):
    from claudex_server.files import write_atomic

    target = tmp_path / "state.json"
    write_atomic(target, b"one")
    old_umask = os.umask(0o027)
    try:
        write_atomic(target, b"two")
        assert (target.stat().st_mode & 0o777) == 0o640   # a new file's mode under the umask
    finally:
        os.umask(old_umask)
    write_atomic(target, b"three", mode=0o600)
    assert target.read_bytes() == b"three" and (target.stat().st_mode & 0o777) == 0o600
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("kept")
    link = tmp_path / "link"
    link.symlink_to(elsewhere)
    write_atomic(link, b"new")   # the link is replaced, never followed
    assert elsewhere.read_text() == "kept" and not link.is_symlink() and link.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["elsewhere", "link", "state.json"]


def test_write_atomic_leaves_nothing_when_it_fails(tmp_path):
    from claudex_server.files import write_atomic

    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    with pytest.raises(TypeError):
        write_atomic(target, "not bytes")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["state.json"]

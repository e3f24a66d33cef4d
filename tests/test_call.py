"""call: one tool of a real server through a real MCP session started by the launcher; its text
or its whole result, tool errors, unknown tools and servers, bad arguments, crashes, timeouts,
and no server process left behind."""

from __future__ import annotations

import json
import os
import sys

import pytest

from conftest import add_echo_servers, add_server, live_processes, manifest
from test_status import remote  # noqa: F401  (the HTTP test server fixture)
from claudex_mcp.runtime import sdk_probe
from claudex_mcp.store import registry as registry_mod

PY = sys.executable


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    add_echo_servers(sandbox.registry)
    return sandbox.registry


def probed_processes(registry) -> list[int]:
    """Live processes that a call against ``registry`` started (tagged by the probe, with this
    test's registry: other tests on the machine probe servers too)."""
    mine = f"CLAUDEX_MCP_REGISTRY={registry}".encode()
    tag = sdk_probe.PROBE_TAG.encode() + b"="
    return live_processes(lambda env: mine in env and any(v.startswith(tag) for v in env))


def none_left(registry, grace: float = 5.0) -> bool:
    """Whether every process a call started is gone, allowing ``grace`` seconds: the launcher's
    log writer drains the server's last stderr before it exits on its own."""
    import time

    deadline = time.monotonic() + grace
    while probed_processes(registry):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def error_of(proc) -> dict:
    assert proc.stdout == ""
    [line] = proc.stderr.splitlines()
    return json.loads(line)["error"]


def test_call_prints_the_text_content(sandbox, reg):
    proc = sandbox.run("mcp", "call", "echo", "echo", "--args", '{"text": "hi"}')
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "hey hi\n", "")
    assert none_left(reg)


def test_call_json_has_the_structured_content(sandbox, reg):
    proc = sandbox.run("mcp", "call", "echo", "add", "--args", '{"a": 2, "b": 40}', "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["structuredContent"] == {"result": 42}
    assert result["content"] == [{"type": "text", "text": "42"}]
    assert (result["server"], result["tool"], result["isError"]) == ("echo", "add", False)


def test_call_reads_the_arguments_from_stdin(sandbox, reg):
    proc = sandbox.run("mcp", "call", "echo", "echo", "--args", "-", input='{"text": "piped"}')
    assert (proc.returncode, proc.stdout) == (0, "hey piped\n")


def test_call_uses_the_config_layers_and_the_environment(sandbox, reg):
    """As the launcher starts it: the user layer's value, expanded from the environment."""
    proc = sandbox.run("mcp", "config", "set", "echo", "env.ECHO_PREFIX", "${WHO}: ")
    assert proc.returncode == 0, proc.stderr
    proc = sandbox.run("mcp", "call", "echo", "echo", "--args", '{"text": "x"}', env={"WHO": "ann"})
    assert (proc.returncode, proc.stdout) == (0, "ann: x\n")


def test_a_tool_error_exits_1_with_the_tools_message(sandbox, reg):
    proc = sandbox.run("mcp", "call", "echo", "add", "--args", '{"a": "not a number"}')
    assert proc.returncode == 1
    error = error_of(proc)
    assert error["code"] == "tool_error" and "validation error" in error["message"]
    assert "claudex mcp info echo" in error["hint"]


def test_an_unknown_tool_exits_4_with_did_you_mean(sandbox, reg):
    proc = sandbox.run("mcp", "call", "echo", "ecko")
    assert proc.returncode == 4
    error = error_of(proc)
    assert error["code"] == "no_tool" and "did you mean echo?" in error["hint"] and "add, echo" in error["hint"]
    assert none_left(reg)


def test_an_unknown_server_exits_4(sandbox, reg):
    proc = sandbox.run("mcp", "call", "ecoh", "echo")
    assert proc.returncode == 4 and error_of(proc)["code"] == "no_server"


@pytest.mark.parametrize("raw,code", [("{", "invalid_json"), ("[1, 2]", "invalid_arguments"),
                                      ('{"a": 1, "a": 2}', "duplicate_key")])
def test_bad_arguments_exit_1_before_starting_anything(sandbox, reg, raw, code):
    proc = sandbox.run("mcp", "call", "echo", "echo", "--args", raw)
    assert proc.returncode == 1 and error_of(proc)["code"] == code
    assert not (sandbox.state / "claudex" / "run" / "echo.json").exists()  # the server never started


def test_missing_required_env_exits_1_and_says_how_to_set_it(sandbox, reg):
    proc = sandbox.run("mcp", "call", "echo-key", "echo", "--args", '{"text": "x"}')
    assert proc.returncode == 1
    error = error_of(proc)
    assert error["code"] == "missing_env" and "ECHO_TOKEN" in error["message"]
    proc = sandbox.run("mcp", "call", "echo-key", "echo", "--args", '{"text": "x"}', env={"ECHO_TOKEN": "t0k"})
    assert (proc.returncode, proc.stdout) == (0, "[t0k] x\n")


def test_a_disabled_server_is_refused(sandbox, reg):
    proc = sandbox.run("mcp", "call", "echo-off", "echo")
    assert proc.returncode == 1 and error_of(proc)["code"] == "disabled"


def test_a_server_that_crashes_exits_5_with_its_last_words(sandbox, reg):
    add_server(reg, "crash", doc=manifest("crash", command=PY),
               files={"server.py": "import sys\nprint('boom: no config', file=sys.stderr)\nsys.exit(3)\n"})
    proc = sandbox.run("mcp", "call", "crash", "anything")
    assert proc.returncode == 5
    error = error_of(proc)
    assert error["code"] == "crashed" and "boom: no config" in error["message"]


def test_a_hanging_server_times_out_and_is_ended(sandbox, reg):
    add_server(reg, "hang", doc=manifest("hang", command=PY),
               files={"server.py": "import subprocess, sys, time\n"
                                   "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
                                   "time.sleep(60)\n"})
    proc = sandbox.run("mcp", "call", "hang", "x", "--timeout", "2")
    assert proc.returncode == 5
    assert error_of(proc)["code"] == "timeout"
    assert none_left(reg)  # the server and the child it started are gone


@pytest.mark.parametrize("argv", [("echo",), ("echo", "echo", "--timeout", "0"), ("echo", "echo", "--timeout", "x")])
def test_usage_errors_exit_2(sandbox, reg, argv):
    proc = sandbox.run("mcp", "call", *argv)
    assert proc.returncode == 2 and error_of(proc)["code"] == "usage"


def test_stdin_that_is_a_terminal_is_refused(sandbox, reg):
    import pty

    leader, follower = pty.openpty()
    try:
        import subprocess

        proc = subprocess.run([sys.executable, "-m", "claudex_mcp.cli.dispatch", "mcp", "call", "echo", "echo",
                               "--args", "-"], stdin=follower, capture_output=True, text=True, env=sandbox.env,
                              timeout=60)
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 1 and error_of(proc)["code"] == "stdin_is_terminal"


def test_ctrl_c_ends_the_call_and_the_server(sandbox, reg):
    import signal
    import subprocess
    import time

    add_server(reg, "hang", doc=manifest("hang", command=PY),
               files={"server.py": "import time\ntime.sleep(60)\n"})
    proc = subprocess.Popen([sys.executable, "-m", "claudex_mcp.cli.dispatch", "mcp", "call", "hang", "x"],
                            env=sandbox.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not probed_processes(reg) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert probed_processes(reg), "the server never started"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130 and out == "" and "Traceback" not in err, err
    assert json.loads(err.splitlines()[-1])["error"]["code"] == "interrupted"
    assert none_left(reg)


def test_call_a_remote_server_at_its_url(sandbox, remote):
    registry_mod.init(sandbox.registry)
    doc = {"apiVersion": "v1", "metadata": {"name": "far", "version": "1.0.0", "description": "remote"},
           "server": {"transport": "http", "url": f"http://127.0.0.1:{remote}/mcp",
                      "headers": {"Authorization": "Bearer ${FAR_TOKEN}"}}}
    add_server(sandbox.registry, "far", doc=doc, files={})
    proc = sandbox.run("mcp", "call", "far", "echo", "--args", '{"text": "over http"}', env={"FAR_TOKEN": "tok-9"})
    assert (proc.returncode, proc.stdout) == (0, "over http\n"), proc.stderr
    proc = sandbox.run("mcp", "call", "far", "echo", "--args", "{}", env={"FAR_TOKEN": "tok-9"})
    assert proc.returncode == 1 and error_of(proc)["code"] == "tool_error"


def test_a_server_that_is_not_mcp_is_said_at_once(sandbox, reg):
    import time

    add_server(reg, "garbage", doc=manifest("garbage", command=PY),
               files={"server.py": "print('hello there', flush=True)\nimport time\ntime.sleep(60)\n"})
    started = time.monotonic()
    proc = sandbox.run("mcp", "call", "garbage", "x", "--timeout", "50")
    assert time.monotonic() - started < 45  # not the timeout: the first bad line ends it
    assert proc.returncode == 5
    error = error_of(proc)
    assert error["code"] == "not_mcp" and "hello there" in error["message"]
    assert none_left(reg)


HOSTILE = "\x1b]52;c;cHduZWQ=\x07\x1b]0;owned\x07\x1b[2J\x1b[31mred\rover\u202eevil\x9b1m"
SHOWN = r"\x1b]52;c;cHduZWQ=\x07\x1b]0;owned\x07\x1b[2J\x1b[31mred\rover\u202eevil\x9b1m"


def on_a_terminal(sandbox, *argv: str) -> tuple[int, bytes, bytes]:
    """`claudex mcp <argv>` with stdout and stderr on a pseudo-terminal each: (exit code, what
    each terminal showed)."""
    import pty
    import select
    import subprocess

    terminals = [pty.openpty(), pty.openpty()]
    shown = [b"", b""]
    proc = subprocess.Popen([PY, "-m", "claudex_mcp.cli.dispatch", "mcp", *argv], stdin=subprocess.DEVNULL,
                            stdout=terminals[0][1], stderr=terminals[1][1], env=sandbox.env)
    try:
        for _, follower in terminals:
            os.close(follower)
        leaders = [leader for leader, _ in terminals]
        while leaders:
            for leader in select.select(leaders, [], [], 60)[0]:
                try:
                    data = os.read(leader, 65536)
                except OSError:   # EIO: the command closed the terminal
                    data = b""
                if data:
                    shown[terminals.index(next(t for t in terminals if t[0] == leader))] += data
                else:
                    leaders.remove(leader)
        return proc.wait(timeout=60), shown[0], shown[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for leader, _ in terminals:
            os.close(leader)


def test_on_a_terminal_a_servers_control_characters_are_written_out(sandbox, reg):
    """OSC 52 would set the clipboard, OSC 0 the title, CSI clear the screen: on a terminal the
    text is shown with them written out; a pipe and --json get it exact."""
    arguments = json.dumps({"text": HOSTILE})
    code, out, _ = on_a_terminal(sandbox, "call", "echo", "echo", "--args", arguments)
    assert code == 0 and out == f"hey {SHOWN}\r\n".encode(), out
    proc = sandbox.run("mcp", "call", "echo", "echo", "--args", arguments)
    assert (proc.returncode, proc.stdout) == (0, f"hey {HOSTILE}\n")
    proc = sandbox.run("mcp", "call", "echo", "echo", "--args", arguments, "--json")
    assert json.loads(proc.stdout)["content"][0]["text"] == f"hey {HOSTILE}"


def test_on_a_terminal_a_servers_words_in_an_error_are_written_out(sandbox, reg):
    add_server(reg, "crash", doc=manifest("crash", command=PY),
               files={"server.py": f"import sys\nsys.stderr.write({HOSTILE!r} + '\\n')\nsys.exit(3)\n"})
    code, _, err = on_a_terminal(sandbox, "call", "crash", "anything")
    assert code == 5 and b"exited before answering" in err, err
    head, tail = SHOWN.split(r"\r")   # the log is read in lines: a carriage return ends one
    assert head.encode() in err and tail.encode() in err
    assert b"\x1b]" not in err and b"\x07" not in err and "\u202e".encode() not in err and b"\r " not in err

"""The launcher: `claudex mcp run` checks, expands, logs, records and execs the server."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, add_server, manifest
from claudex_mcp.store import registry as registry_mod

SERVER = """
import json, os, sys
line = sys.stdin.readline()
print(json.dumps({"pid": os.getpid(), "script": sys.argv[0], "argv": sys.argv[1:], "cwd": os.getcwd(), "stdin": line,
                  "token": os.environ.get("TOKEN"), "mode": os.environ.get("MODE")}), flush=True)
print("a line for the log", file=sys.stderr)
"""


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    add_server(sandbox.registry, "probe", doc=manifest(
        "probe", command=sys.executable, args=["${SERVER_DIR}/server.py", "--greeting", "${GREETING:-hello}"],
        env={"TOKEN": "${PROBE_TOKEN}", "MODE": "plain"}, requiredEnv=["PROBE_TOKEN"]),
        files={"server.py": SERVER})
    return sandbox.registry


def start(sandbox, *argv, env=None, input="ping\n"):
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "run", *argv],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**sandbox.env, **(env or {})})
    try:
        out, err = proc.communicate(input, timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc, out, err


def wait_for_log(path, text: str, timeout: float = 10) -> str:
    """The log once it holds ``text``: the log writer process drains the server's stderr
    pipe on its own schedule, a moment after the server wrote it."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        log = path.read_text() if path.exists() else ""
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.02)


def test_run_execs_the_server_with_expanded_config(sandbox, reg):
    proc, out, err = start(sandbox, "probe", env={"PROBE_TOKEN": "tok-123"})
    assert proc.returncode == 0, err
    seen = json.loads(out)
    assert seen["pid"] == proc.pid  # exec: no process in between
    assert seen["argv"] == ["--greeting", "hello"]
    assert seen["script"] == str(reg / "installed" / "probe" / "server.py")
    assert seen["cwd"] == str(reg / "installed" / "probe")
    assert seen["stdin"] == "ping\n"
    assert (seen["token"], seen["mode"]) == ("tok-123", "plain")
    assert err == ""  # the server's stderr went to its log
    log = wait_for_log(sandbox.state / "claudex" / "logs" / "probe.log", "a line for the log")
    assert "claudex mcp run probe" in log and "a line for the log" in log
    record = json.loads((sandbox.state / "claudex" / "run" / "probe.json").read_text())
    assert record["pid"] == proc.pid and record["command"] == sys.executable
    assert "tok-123" not in json.dumps(record)


def test_layers_apply_to_the_launch(sandbox, reg):
    assert sandbox.run("mcp", "config", "set", "probe", "env.MODE", "from-user").returncode == 0
    assert sandbox.run("mcp", "config", "set", "probe", "args", '["${SERVER_DIR}/server.py", "x"]').returncode == 0
    proc, out, err = start(sandbox, "probe", env={"PROBE_TOKEN": "t"})
    seen = json.loads(out)
    assert seen["mode"] == "from-user" and seen["argv"] == ["x"]


def test_a_manifest_cwd_is_where_the_server_starts(sandbox, tmp_path):
    registry_mod.init(sandbox.registry)
    work = tmp_path / "notes"
    work.mkdir()
    add_server(sandbox.registry, "here", doc=manifest(
        "here", command=sys.executable, args=["${SERVER_DIR}/server.py"], cwd="${NOTES_DIR}"),
        files={"server.py": SERVER})
    proc, out, err = start(sandbox, "here", env={"NOTES_DIR": str(work)})
    assert proc.returncode == 0, err
    seen = json.loads(out)
    assert seen["cwd"] == str(work) and seen["script"] == str(sandbox.registry / "installed" / "here" / "server.py")
    # Unset (so relative after expansion) or gone: one line naming server.cwd, nothing started.
    for env in ({}, {"NOTES_DIR": str(tmp_path / "gone")}):
        proc, out, err = start(sandbox, "here", env=env)
        assert proc.returncode == 4 and out == ""
        assert "server.cwd" in err and "Traceback" not in err
        assert len(err.splitlines()) == 1


def test_missing_required_variable_is_one_clear_line(sandbox, reg):
    proc, out, err = start(sandbox, "probe")
    assert proc.returncode == 1 and out == ""
    [line] = err.splitlines()
    assert "PROBE_TOKEN" in line and "claudex mcp config set probe env.PROBE_TOKEN" in line
    assert not (sandbox.state / "claudex" / "run" / "probe.json").exists()


def test_required_variable_may_come_from_the_config(sandbox, reg):
    sandbox.run("mcp", "config", "set", "probe", "env.PROBE_TOKEN", "from-config")
    proc, out, err = start(sandbox, "probe")
    assert proc.returncode == 0, err


@pytest.mark.parametrize("case,code", [("unknown", 4), ("disabled", 1), ("no-command", 4), ("remote", 2)])
def test_refusals(sandbox, reg, case, code):
    name = "probe"
    if case == "unknown":
        name = "nope"
    elif case == "disabled":
        sandbox.run("mcp", "config", "set", "probe", "enabled", "false")
    elif case == "no-command":
        add_server(reg, "ghost", doc=manifest("ghost", command="no-such-binary-xyz", args=[]), files={})
        name = "ghost"
    else:
        add_server(reg, "far", doc={"apiVersion": "v1", "metadata": {"name": "far", "version": "1.0.0",
                                    "description": "remote"}, "server": {"transport": "http", "url": "https://x.example/mcp"}},
                   files={})
        name = "far"
    proc, out, err = start(sandbox, name, env={"PROBE_TOKEN": "t"})
    assert proc.returncode == code, err
    assert out == "" and len(err.splitlines()) == 1 and "Traceback" not in err


def test_log_is_rotated_at_the_cap(sandbox, reg):
    logs = sandbox.state / "claudex" / "logs"
    logs.mkdir(parents=True)
    (logs / "probe.log").write_text("old\n" * 100)
    proc, _, err = start(sandbox, "probe", env={"PROBE_TOKEN": "t", "CLAUDEX_MCP_LOG_MAX_BYTES": "100"})
    assert proc.returncode == 0, err
    assert (logs / "probe.log.1").read_text() == "old\n" * 100
    assert "old" not in (logs / "probe.log").read_text()


def test_warm_run_and_list_do_not_import_heavy_modules(sandbox, reg):
    sandbox.run("mcp", "list")  # fills the cache and the validation memo
    for argv in (["mcp", "list"], ["mcp", "run", "probe"]):
        proc = subprocess.run([sys.executable, "-X", "importtime", str(ROOT / "scripts" / "claudex"), *argv],
                              input="x\n", capture_output=True, text=True, env={**sandbox.env, "PROBE_TOKEN": "t"})
        assert proc.returncode == 0, proc.stderr[-400:]
        loaded = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in proc.stderr.splitlines()
                  if line.startswith("import time:")}
        assert "claudex_mcp" in loaded
        assert not loaded & {"jsonschema", "jq", "copier", "requests", "mcp", "qdrant_client", "docker"}, argv


FLOOD = """
import sys
chunk = "x" * 1023 + "\\n"
for _ in range(3 * 1024):  # 3 MiB to stderr
    sys.stderr.write(chunk)
sys.stderr.flush()
print("flooded", flush=True)
sys.stdin.readline()  # stays running until the test lets it go
"""


def test_the_log_stays_under_the_cap_while_the_server_runs(sandbox, reg):
    add_server(reg, "flood", doc=manifest("flood", command=sys.executable, args=["${SERVER_DIR}/server.py"]),
               files={"server.py": FLOOD})
    cap = 64 * 1024
    logs = sandbox.state / "claudex" / "logs"
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "run", "flood"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**sandbox.env, "CLAUDEX_MCP_LOG_MAX_BYTES": str(cap)})
    try:
        assert proc.stdout.readline() == "flooded\n"
        import time

        time.sleep(0.5)  # the writer drains the pipe
        assert proc.poll() is None  # still running: the cap holds while it runs, not at the next start
        sizes = [(logs / name).stat().st_size for name in ("flood.log", "flood.log.1")]
        assert all(0 < size <= cap for size in sizes), sizes
        proc.stdin.write("\n")
        proc.stdin.flush()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


CHATTY = """
import sys
for line in sys.stdin:
    sys.stderr.write("y" * 100_000 + "\\\\n")
    sys.stderr.flush()
    print("ok", flush=True)
"""


def test_a_log_that_cannot_be_written_does_not_stop_the_server(sandbox, reg):
    import shutil

    add_server(reg, "chatty", doc=manifest("chatty", command=sys.executable, args=["${SERVER_DIR}/server.py"]),
               files={"server.py": CHATTY})
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "run", "chatty"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**sandbox.env, "CLAUDEX_MCP_LOG_MAX_BYTES": "150000"})
    try:
        for round_ in range(6):
            if round_ == 2:
                shutil.rmtree(sandbox.state / "claudex" / "logs")  # rotation and reopening now fail
            proc.stdin.write("go\n")
            proc.stdin.flush()
            assert proc.stdout.readline() == "ok\n"
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()

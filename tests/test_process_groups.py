"""#11.6: what a server starts does not outlive `status`, `test` or `disable`. The server here
forks a child it forgets; the test counts the processes that carry its mark before and after."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

from conftest import ECHO_SERVER, ROOT, add_server, live_processes, manifest
from claudex_mcp.store import registry as registry_mod

FORKING = """
import os, runpy, subprocess
subprocess.Popen(["sleep", "300"])  # a child the server forgets
runpy.run_path(os.path.join(os.path.dirname(__file__), "echo.py"), run_name="__main__")
"""


@pytest.fixture
def mark(sandbox):
    """A value in the environment of everything these tests start, to count it by."""
    value = uuid.uuid4().hex
    sandbox.env["CLAUDEX_TEST_MARK"] = value
    return value


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    add_server(sandbox.registry, "forker", doc=manifest("forker", command=sys.executable, args=["${SERVER_DIR}/server.py"]),
               files={"server.py": FORKING, "echo.py": ECHO_SERVER.read_text()})
    return sandbox.registry


def marked(value: str) -> list[int]:
    wanted = f"CLAUDEX_TEST_MARK={value}".encode()
    return live_processes(lambda env: wanted in env)


def settled(value: str, timeout: float = 10) -> list[int]:
    """The marked processes once none is left, or what is still there after ``timeout``."""
    deadline = time.monotonic() + timeout
    while marked(value) and time.monotonic() < deadline:
        time.sleep(0.05)
    return marked(value)


@pytest.mark.parametrize("verb", ["status", "test"])
def test_probes_leave_nothing_behind(sandbox, reg, mark, verb):
    assert marked(mark) == []
    for _ in range(3):
        proc = sandbox.run("mcp", verb, "forker", "--json", timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert settled(mark) == []


def test_disable_ends_what_the_server_started(sandbox, reg, mark):
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "run", "forker"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sandbox.env)
    try:
        deadline = time.monotonic() + 30
        while len(marked(mark)) < 3 and time.monotonic() < deadline:  # server, its child, the log writer
            time.sleep(0.05)
        assert len(marked(mark)) >= 3
        result = sandbox.run("mcp", "disable", "forker", "--json", timeout=60)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["stopped"] == [proc.pid]
        proc.wait(timeout=10)
        assert settled(mark) == []
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()

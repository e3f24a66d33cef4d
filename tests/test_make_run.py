"""`make install` and `make run` in a fresh clone, as a newcomer runs them: uv builds the venv
(fetching uv with pip when there is none), progress only on a terminal, a closing summary that
says what degraded means, and client configs that start servers through the `claudex` of uv's
tool install, so that `make clean` leaves them working. The HOME, registry and XDG folders are
new; uv's and pip's caches are the real user's (warm), as on a machine that set claudex up before."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT
from claudex_testing import fresh_clone

CACHES = fresh_clone.warm_caches(os.environ)  # read before the sandbox replaces HOME
SHIPPED = sorted(p.parent.name for p in (ROOT / "mcp-servers").glob("*/manifest.json"))
PROGRESS = re.compile(r"^make (install|run) +\d+\.\ds  ", re.M)


def on_a_terminal(argv: list[str], cwd: Path, env: dict, timeout: float) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on one pseudo-terminal; (exit code, what it showed)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            start_new_session=True)
    os.close(slave)
    shown = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal's last writer is gone
                    break
                if not chunk:
                    break
                shown += chunk
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=max(1, deadline - time.monotonic())), shown.decode(errors="replace")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
        os.close(master)


def test_make_run_in_a_fresh_clone_survives_make_clean(sandbox, tmp_path):
    from claudex_testing import connect

    clone = fresh_clone.copy_checkout(tmp_path / "clone")
    home = tmp_path / "machine"
    home.mkdir()
    env = fresh_clone.environment(os.environ, home, tmp_path / "machine-registry", CACHES)

    # Piped (a log, CI): make echoes its commands, the steps themselves say nothing.
    install = subprocess.run(["make", "install"], cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stdout + install.stderr
    assert not PROGRESS.search(install.stdout + install.stderr), install.stderr
    assert "pip install" not in install.stdout  # the venv is uv's
    venv = clone / ".venv"
    assert (venv / "pyvenv.cfg").read_text().count("uv = ") == 1
    # What `make test` needs: pytest, the servers' requirements, the shared packages (editable).
    imported = subprocess.run([str(venv / "bin" / "python"), "-c", "import pytest, qdrant_client, docker, "
                               "claudex_testing, claudex_server; print(claudex_testing.__file__)"],
                              capture_output=True, text=True, env=env)
    assert imported.returncode == 0 and imported.stdout.startswith(str(clone / "mcp-servers" / "lib")), imported.stderr

    # On a terminal: a line per step with the time since make run began, and each server by name.
    code, shown = on_a_terminal(["make", "run"], clone, dict(env, NO_COLOR="1"), timeout=900)
    assert code == 0, shown
    steps = [line for line in shown.splitlines() if PROGRESS.match(line)]
    assert any(s.split()[3] == "init" for s in steps), shown
    for number, name in enumerate(SHIPPED, 1):
        assert any(s.split()[3:5] == ["install", name] and s.endswith(f"({number}/{len(SHIPPED)})") for s in steps)
    assert any(s.split()[3] == "status" for s in steps)
    assert "degraded = runs, but its self-check found something missing" in shown  # the closing summary
    assert "`claudex mcp status NAME` for details" in shown

    # The clients start servers with the claudex of uv's tool install: outside the clone's .venv.
    command = home / ".local" / "bin" / "claudex"
    entries = json.loads((home / ".claude.json").read_text())["mcpServers"]
    assert {e["command"] for e in entries.values()} == {str(command)}
    assert f"Clients start servers with {command}" in shown

    clean = subprocess.run(["make", "clean"], cwd=clone, env=env, capture_output=True, text=True)
    assert clean.returncode == 0 and not venv.exists()
    entry = entries["docker-mgmt"]
    assert entry["args"] == ["mcp", "run", "docker-mgmt"]
    with connect("docker-mgmt", via="run", claudex=entry["command"], env=env | entry.get("env", {})) as session:
        assert "docker_ps" in session.tool_names()
        session.ping()


def test_generate_points_the_clients_at_claudexs_uv_tool_install(sandbox, tmp_path):
    """A real `uv tool install --editable .` (into UV_TOOL_BIN_DIR, which uv and generate both
    read): the generated entries start servers with its claudex, a path outside .venv. Any
    other `claudex` in uv's bin folder is not taken for it."""
    from conftest import add_echo_servers
    from claudex_mcp.store import registry

    registry.init(sandbox.registry)
    add_echo_servers(sandbox.registry)

    def generated(env: dict) -> set[str]:
        proc = sandbox.run("mcp", "generate", env=env)
        assert proc.returncode == 0, proc.stderr
        return {e["command"] for e in json.loads((sandbox.home / ".claude.json").read_text())["mcpServers"].values()}

    # Not a tool install: a script of the user's called claudex in ~/.local/bin.
    own = sandbox.home / ".local" / "bin" / "claudex"
    own.parent.mkdir(parents=True)
    own.write_text("#!/bin/sh\nexit 0\n")
    own.chmod(0o755)
    assert generated({}) == {str(Path(sys.executable).parent / "claudex")}  # the venv's, beside its Python

    tools = {"UV_TOOL_BIN_DIR": str(tmp_path / "bin"), "UV_TOOL_DIR": str(tmp_path / "tools")}
    uv = str(ROOT / ".venv" / "bin" / "uv")
    installed = subprocess.run([uv, "tool", "install", "--quiet", "--python", "python3", "--editable", str(ROOT)],
                               env={**sandbox.env, **CACHES, **tools, "UV_PYTHON_DOWNLOADS": "never"},
                               capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr
    assert generated(tools) == {str(tmp_path / "bin" / "claudex")}

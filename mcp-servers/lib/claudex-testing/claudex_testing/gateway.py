"""A claudex gateway of the test's own (docs/gateway.md): `claudex mcp run` of a shared server
connects to the gateway of its registry, starting one when none runs, and that gateway outlives
the session. Here it lives in a runtime folder of the block's own and is stopped when the block
ends, pass or fail, with whatever still runs with that folder in its environment.

    from claudex_testing import open_session
    from claudex_testing.gateway import own_gateway

    with own_gateway(env) as gw:                       # gw.env: env with the runtime folder
        async with open_session("codequery", via="run", env=gw.env, inherit=False) as s:
            ...
        assert len(gw.server_pids("codequery")) == 1  # one process for every session
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Gateway", "installed_registry", "live_processes", "own_gateway"]

INSTALL_TIMEOUT = 900.0  # seconds `claudex mcp install` of a server with a venv may take


def installed_registry(base: Path, folder: Path, claudex: str) -> dict[str, str]:
    """A registry of its own under ``base`` (HOME, XDG folders, no core servers) with the server
    ``folder`` installed by `claudex mcp install`, as a user gets it: the environment to run it
    (the base for ``own_gateway``). AssertionError with claudex's stderr when a step fails."""
    home = base / "home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ.get("PATH", os.defpath), "HOME": str(home),
           "XDG_CACHE_HOME": str(home / ".cache"), "XDG_CONFIG_HOME": str(home / ".config"),
           "XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_STATE_HOME": str(home / ".local" / "state"),
           "CLAUDEX_MCP_REGISTRY": str(base / "registry"), "CLAUDEX_PROJECTS_DIR": str(home / "claudex"),
           "CLAUDEX_MCP_CORE_SOURCE": ""}
    for argv in (("init",), ("install", str(folder))):
        proc = subprocess.run([claudex, "mcp", *argv], capture_output=True, text=True, env=env,
                              stdin=subprocess.DEVNULL, timeout=INSTALL_TIMEOUT)
        assert proc.returncode == 0, f"claudex mcp {' '.join(argv)}: {proc.stderr}"
    return env


STOP_TIMEOUT = 60.0  # seconds `gateway stop` may take: it stops every server, SIGKILL after 5 s each


def live_processes(match: Callable[[list[bytes]], bool]) -> list[int]:
    """The live processes (not this one, no zombie) whose environment, a list of b"NAME=value",
    ``match`` accepts: how a test finds what it started (and must have stopped) among the
    machine's other processes."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
            with open(f"/proc/{entry}/stat") as st:
                alive = st.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
        except OSError:
            continue
        if alive and match(env):
            found.append(int(entry))
    return found


class Gateway:
    """The gateway of ``env`` (its registry, its runtime folder): ``env`` to start sessions with,
    ``claudex(...)`` to run a verb there, ``status()`` and ``server_pids(name)`` to look at it."""

    def __init__(self, env: dict[str, str], claudex: str):
        self.env, self.exe = env, claudex
        self.runtime = Path(env["XDG_RUNTIME_DIR"])

    def claudex(self, *argv: str, cwd: str | os.PathLike | None = None, timeout: float = 120,
                env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess:
        """`claudex mcp <argv>` in this gateway's environment (``env`` over it), text in and out."""
        return subprocess.run([self.exe, "mcp", *argv], capture_output=True, text=True, env={**self.env, **(env or {})},
                              cwd=cwd, stdin=subprocess.DEVNULL, timeout=timeout)

    def status(self) -> dict:
        """`claudex mcp gateway status --json`: ``{"running": false}`` when none runs."""
        proc = self.claudex("gateway", "status", "--json")
        if proc.returncode != 0:
            raise AssertionError(f"claudex mcp gateway status failed: {proc.stderr}")
        return json.loads(proc.stdout)

    def server_pids(self, name: str) -> list[int]:
        """The pids of the processes of server ``name`` that the gateway runs (one when shared)."""
        return [s["pid"] for s in self.status().get("servers", []) if s.get("name") == name and s.get("pid")]

    def left(self) -> list[int]:
        """What still runs with this gateway's runtime folder in its environment: the gateway,
        its servers, bridges."""
        mark = f"XDG_RUNTIME_DIR={self.runtime}".encode()
        return live_processes(lambda environ: mark in environ)

    def stop(self) -> None:
        """`claudex mcp gateway stop`, then SIGKILL to whatever is left of it."""
        try:
            self.claudex("gateway", "stop", timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        for pid in self.left():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@contextmanager
def own_gateway(env: Mapping[str, str], *, claudex: str | None = None) -> Iterator[Gateway]:
    """``env`` (a registry's: CLAUDEX_MCP_REGISTRY, HOME ...) with a runtime folder of its own
    (XDG_RUNTIME_DIR), so that the gateway started in the block is the block's alone; stopped
    when the block ends, whatever happens in it. ``claudex``: the command (default: the one beside
    this Python)."""
    exe = claudex or env.get("CLAUDEX_BIN") or shutil.which("claudex") or str(Path(sys.executable).parent / "claudex")
    # Under /tmp and short: the socket's path must fit in the 107 bytes of a unix socket's name.
    runtime = tempfile.mkdtemp(prefix="cxgw-", dir="/tmp")
    gateway = Gateway(dict(env, XDG_RUNTIME_DIR=runtime), exe)
    try:
        yield gateway
    finally:
        gateway.stop()
        shutil.rmtree(runtime, ignore_errors=True)

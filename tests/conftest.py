"""Shared fixtures: every test gets its own HOME, registry, config, cache and state, and any
attempt to touch the real home directory from the test process fails."""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from claudex_testing import gateway as _gateway

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
sys.path.insert(0, str(ROOT / "scripts"))

# How a test finds what it started among the machine's processes: the one /proc scan, shared with
# the servers' suites (claudex_testing.gateway).
live_processes = _gateway.live_processes

REAL_HOME = os.path.realpath(os.path.expanduser("~"))
_ALLOWED = tuple(os.path.realpath(p) for p in {sys.prefix, sys.base_prefix, sys.exec_prefix,
                                                 tempfile.gettempdir(), str(ROOT)})
_PATH_EVENTS = {"open", "os.mkdir", "os.remove", "os.rmdir", "os.rename", "os.replace", "os.chmod",
                "os.symlink", "os.link", "os.truncate", "os.listdir", "os.scandir", "shutil.rmtree",
                "shutil.copyfile", "shutil.move", "os.utime", "os.chown"}


class RealHomeTouched(AssertionError):
    """A test reached into the real home directory."""


class _Guard:
    active = False


def _audit(event: str, args: tuple) -> None:
    if not _Guard.active or event not in _PATH_EVENTS or not args:
        return
    target = args[0]
    if isinstance(target, int) or target is None:
        return
    try:
        path = os.path.realpath(os.fsdecode(target))
    except (TypeError, ValueError):
        return
    if (path == REAL_HOME or path.startswith(REAL_HOME + os.sep)) and not any(
            path == a or path.startswith(a + os.sep) for a in _ALLOWED):
        raise RealHomeTouched(f"test touched the real home directory: {event} {path}")


sys.addaudithook(_audit)


@dataclass
class Sandbox:
    root: Path
    home: Path
    registry: Path
    env: dict = field(default_factory=dict)

    @property
    def cache(self) -> Path:
        return Path(self.env["XDG_CACHE_HOME"])

    @property
    def config(self) -> Path:
        return Path(self.env["XDG_CONFIG_HOME"])

    @property
    def state(self) -> Path:
        return Path(self.env["XDG_STATE_HOME"])

    def run(self, *argv: str, input: str | bytes | None = None, cwd: Path | None = None,
            env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run `claudex <argv>` in a subprocess with this sandbox's environment."""
        return run_script("claudex", *argv, input=input, cwd=cwd, env={**self.env, **(env or {})},
                          timeout=timeout)

    def run_tty(self, *argv: str, env: dict | None = None, timeout: float = 60,
                columns: int = 120) -> tuple[int, str]:
        """Run `claudex <argv>` with stdout and stderr on one pseudo-terminal ``columns`` wide, as
        a person sees it: (exit code, what the terminal showed, with plain newlines)."""
        return run_on_terminal([sys.executable, str(ROOT / "scripts" / "claudex"), *argv],
                               {**self.env, **(env or {})}, timeout, columns)


def stderr_on_terminal(argv: list[str], env: dict, timeout: float = 300, columns: int = 200,
                       **kwargs) -> tuple[subprocess.CompletedProcess, str]:
    """Run ``argv`` with stderr on a pseudo-terminal ``columns`` wide and stdout piped (progress
    shows on a terminal, the result stays apart): (the process, what the terminal showed)."""
    import fcntl
    import pty
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, columns, 0, 0))
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=follower, env=env, timeout=timeout, **kwargs)
    finally:
        os.close(follower)
    shown = b""
    try:
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the process is gone and the terminal drained
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    return proc, shown.decode("utf-8", "replace")


def run_on_terminal(argv: list[str], env: dict, timeout: float = 60, columns: int = 120) -> tuple[int, str]:
    """Run ``argv`` with stdout and stderr on a pseudo-terminal, read while it runs (a full
    terminal would block it); the process group is ended on every way out."""
    import fcntl
    import pty
    import select
    import signal
    import struct
    import termios
    import time

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=follower, stderr=follower, env=env,
                                start_new_session=True)
    finally:
        os.close(follower)
    shown = b""
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([leader], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError(f"{argv} still runs after {timeout} s; it showed: {shown[-2000:]!r}")
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        os.close(leader)
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, shown.decode("utf-8", "replace").replace("\r\n", "\n")


@contextmanager
def umask(value: int):
    """Run the block under this umask, restoring the old one whatever happens."""
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def run_script(name: str, *argv: str, input=None, cwd=None, env=None, timeout: float = 60):
    """Run one of scripts/ with this interpreter (the venv's), text in and out."""
    if isinstance(input, str):
        input = input.encode()
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / name), *argv], input=input,
                          capture_output=True, cwd=cwd, env=env, timeout=timeout)
    proc.stdout = proc.stdout.decode("utf-8", "replace")
    proc.stderr = proc.stderr.decode("utf-8", "replace")
    return proc


@pytest.fixture(autouse=True)
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    home = tmp_path / "home"
    home.mkdir()
    (tmp_path / "run").mkdir(mode=0o700)  # the gateway's socket folder: this test's own, never the user's
    env = {
        "XDG_RUNTIME_DIR": str(tmp_path / "run"),
        "HOME": str(home),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_STATE_HOME": str(home / ".local" / "state"),
        "CLAUDEX_MCP_REGISTRY": str(tmp_path / "registry"),
        "CLAUDEX_PROJECTS_DIR": str(home / "claudex"),
        "CLAUDEX_MCP_LOCK_TIMEOUT": "5",
        "CLAUDEX_MCP_CORE_SOURCE": "",  # no shipped core servers (each needs a venv) unless a test asks
        "CLAUDEX_MCP_CATALOG_URL": "http://127.0.0.1:9",  # never the real MCP Registry: nothing listens there
    }
    for name in ("CLAUDEX_DEBUG", "NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE", "CODEX_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    box = Sandbox(root=tmp_path, home=home, registry=tmp_path / "registry", env=dict(os.environ))
    _Guard.active = True
    try:
        yield box
    finally:
        _Guard.active = False


def manifest(name: str, version: str = "1.0.0", **server) -> dict:
    """A valid stdio manifest; keyword arguments replace keys of "server"."""
    body = {"command": "python3", "args": ["${SERVER_DIR}/server.py"]}
    body.update(server)
    return {"apiVersion": "v1", "metadata": {"name": name, "version": version, "description": f"The {name} server"},
            "server": body}


def add_server(registry: Path, name: str, location: str = "installed", doc: dict | None = None,
               files: dict | None = None) -> Path:
    """Put a server folder into a registry (creating the registry layout when missing)."""
    import json

    for sub in ("core", "installed", "disabled"):
        (registry / sub).mkdir(parents=True, exist_ok=True)
    folder = registry / location / name
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(doc or manifest(name)))
    for rel, text in (files if files is not None else {"server.py": "print('hi')\n"}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    return folder


ECHO_SERVER = Path(__file__).resolve().parent / "servers" / "echo_server.py"


def add_echo_servers(registry: Path) -> None:
    """Real MCP servers (tests/servers/echo_server.py) in core/, installed/ and disabled/; one
    needs ECHO_TOKEN. They run on this interpreter, which has the mcp SDK."""
    echo = {"server.py": ECHO_SERVER.read_text()}
    python = sys.executable
    add_server(registry, "echo-core", "core", manifest("echo-core", command=python), files=echo)
    add_server(registry, "echo", "installed",
               manifest("echo", command=python, env={"ECHO_PREFIX": "${GREETING:-hey }"}), files=echo)
    add_server(registry, "echo-key", "installed", manifest(
        "echo-key", command=python, env={"ECHO_REQUIRE": "ECHO_TOKEN", "ECHO_PREFIX": "[${ECHO_TOKEN}] "},
        requiredEnv=["ECHO_TOKEN"]), files=echo)
    add_server(registry, "echo-off", "disabled", manifest("echo-off", command=python), files=echo)


@contextmanager
def http_mcp_server(token: str | None = None):
    """tests/servers/http_server.py (a real MCP server over streamable HTTP) on a free port of
    127.0.0.1; with ``token``, every request must carry "Authorization: Bearer TOKEN". Yields
    the port; the server is stopped on the way out, even when the test fails."""
    import signal
    import socket
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "servers" / "http_server.py"), str(port),
                             *([token] if token else [])],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except urllib.error.HTTPError:
                break  # 401: it is up
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

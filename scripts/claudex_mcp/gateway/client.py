"""The gateway's clients on this machine: the bridge (`claudex mcp run NAME` of a shared server:
stdio to a session on the gateway's socket, starting the gateway when none runs) and the control
requests of `gateway status` and `gateway stop`. Standard library only: a bridge starts on every
agent's start, and its memory is the price of each agent's server entry."""

from __future__ import annotations

import fcntl
import json
import os
import selectors
import socket
import sys
import time

from claudex_mcp import paths, safepath
from claudex_mcp.errors import ClaudexError, ExternalFailure
from claudex_mcp.gateway import place

PROTOCOL = 1
START_TIMEOUT = 15.0  # seconds a bridge waits for the gateway it started (CLAUDEX_MCP_GATEWAY_START_TIMEOUT)
CHUNK = 65536


def log_file():
    """The log of a gateway a bridge started (no server can be named so: "_" is not in server names)."""
    return paths.logs_dir() / "_gateway.log"


def _connect(path) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(os.fspath(path))
    except (FileNotFoundError, ConnectionRefusedError):
        sock.close()
        return None
    except OSError as exc:
        sock.close()
        raise ExternalFailure(f"cannot connect to the claudex gateway at {path}: {exc.strerror}",
                              code="gateway_unreachable", path=str(path)) from None
    return sock


def _read_line(sock: socket.socket, limit: int = 1024 * 1024) -> tuple[bytes, bytes]:
    """One line from ``sock`` and what came after it."""
    data = b""
    while b"\n" not in data:
        chunk = sock.recv(CHUNK)
        if not chunk or len(data) > limit:
            break
        data += chunk
    line, _, rest = data.partition(b"\n")
    return line, rest


def running() -> socket.socket | None:
    """A connection to the running gateway, None when none runs."""
    return _connect(place.socket_path())


def running_pid() -> int | None:
    """The pid of the gateway that holds its lock, None when none does."""
    fd = place.open_lock(place.SERVE_LOCK)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            return int(text) if text.isdigit() else -1
    finally:
        os.close(fd)


def connect(start: bool = True) -> socket.socket:
    """A connection to the gateway; when none runs (and ``start``), the first bridge to take the
    start lock starts one, detached, and the others wait for it under that lock."""
    path = place.socket_path()
    sock = _connect(path)
    if sock is not None or not start:
        if sock is None:
            raise ExternalFailure("no claudex gateway runs", code="gateway_not_running",
                                  hint="a shared server's 'claudex mcp run' starts it; or 'claudex mcp gateway serve'")
        return sock
    fd = place.open_lock(place.START_LOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        sock = _connect(path)  # another bridge may have started it while this one waited
        if sock is None:
            _spawn()
            deadline = time.monotonic() + paths.env_number("CLAUDEX_MCP_GATEWAY_START_TIMEOUT", START_TIMEOUT)
            while sock is None and time.monotonic() < deadline:
                time.sleep(0.02)
                sock = _connect(path)
            if sock is None:
                raise ExternalFailure(f"the claudex gateway did not start within {START_TIMEOUT:g} s",
                                      code="gateway_failed", hint=f"its log says why: {log_file()}")
    finally:
        os.close(fd)
    return sock


def _spawn() -> None:
    """Start the gateway detached (double fork, its own session), its output to gateway.log."""
    log = log_file()
    log.parent.parent.mkdir(parents=True, exist_ok=True)
    safepath.real_dir(log.parent, create=0o700)
    log_fd = safepath.open_regular(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    argv = [sys.executable, "-c", "from claudex_mcp.gateway.daemon import auto; raise SystemExit(auto())"]
    middle = os.fork()
    if middle == 0:
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDONLY)
                os.dup2(null, 0)
                os.dup2(log_fd, 1)
                os.dup2(log_fd, 2)
                os.closerange(3, 65536)
                os.chdir("/")
                os.execve(argv[0], argv, env)
            os._exit(0)
        except BaseException:
            os._exit(1)
    os.waitpid(middle, 0)
    os.close(log_fd)


def request(sock: socket.socket, hello: dict) -> tuple[dict, bytes]:
    """Send the first line and read the gateway's answer (and what followed it)."""
    sock.sendall(json.dumps({"gateway": PROTOCOL, **hello}).encode() + b"\n")
    line, rest = _read_line(sock)
    try:
        answer = json.loads(line)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise ExternalFailure("the claudex gateway did not answer", code="gateway_failed",
                              hint=f"its log may say why: {log_file()}")
    return answer, rest


def control(what: str) -> dict | None:
    """The answer of the running gateway to a control request; None when none runs."""
    sock = running()
    if sock is None:
        return None
    with sock:
        sock.settimeout(10)
        return request(sock, {"control": what})[0]


def open_session(server: str, folder: str, project: str | None = None) -> tuple[socket.socket, bytes]:
    """A session of ``server`` for an agent in ``folder``; ``project``, the folder of the project
    whose layers `run` applied, chooses the server's process (its env and args)."""
    sock = connect()
    try:
        answer, rest = request(sock, {"session": {"server": server, "folder": folder, "project": project}})
    except BaseException:
        sock.close()
        raise
    if "error" in answer:
        sock.close()
        found = answer["error"] if isinstance(answer["error"], dict) else {}
        exc = ClaudexError(str(found.get("message", "the gateway refused the session")), code=found.get("code"),
                           hint=found.get("hint"), path=found.get("path"))
        exc.exit_code = answer.get("exitCode", 5) if isinstance(answer.get("exitCode"), int) else 5
        raise exc
    return sock, rest


def bridge(server: str, folder: str, project: str | None = None) -> int:
    """stdin to the gateway's session of ``server``, its answers to stdout, until either ends."""
    sock, rest = open_session(server, folder, project)
    try:
        return _pump(server, sock, rest)
    except (BrokenPipeError, ConnectionResetError):  # the client or the gateway went away
        return 0
    finally:
        sock.close()


def _pump(server: str, sock: socket.socket, rest: bytes) -> int:
    _write_all(1, rest)
    selector = selectors.PollSelector()  # epoll refuses a regular file or /dev/null as stdin
    selector.register(0, selectors.EVENT_READ, "in")
    selector.register(sock, selectors.EVENT_READ, "gateway")
    reading = True
    while True:
        for key, _ in selector.select():
            if key.data == "in":
                data = os.read(0, CHUNK)
                if data:
                    sock.sendall(data)
                    continue
                selector.unregister(0)
                reading = False
                sock.shutdown(socket.SHUT_WR)  # the gateway ends the session, then closes
            else:
                data = sock.recv(CHUNK)
                if data:
                    _write_all(1, data)
                    continue
                if reading:
                    os.write(2, f"claudex mcp run {server}: the claudex gateway closed the session; "
                                f"its log: {log_file()}\n".encode())
                    return 5
                return 0


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]

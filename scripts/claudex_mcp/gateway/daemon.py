"""The gateway process: one per user. It listens on a unix socket (mode 600, in a private folder)
for bridges (`claudex mcp run NAME` of a shared server) and control requests (`gateway status`,
`gateway stop`), keeps one Upstream per shared server, stops servers idle for a while, and, when
it was started by a bridge, exits once nothing has used it for that long.

The socket speaks JSON lines. A connection's first line says what it is:
``{"gateway": 1, "session": {"server": NAME, "folder": DIR, "project": DIR | null}}`` (then MCP
messages both ways, after the gateway's ``{"ok": true}``), or ``{"gateway": 1, "control": "status" |
"stop"}``.

A server's process is its launch spec: the command line, environment and folder that `run` would
exec for the session's project (launcher.prepare with that project's layers, trusted or not as for
`run`), secrets expanded in memory only. Sessions whose spec is the same share one process (every
project without a layer that changes the server's env or args shares the default one); a project
whose layer changes it gets a process of its own."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import signal
import socket
import stat
import struct
import sys
import time

from claudex_mcp import atomic, paths
from claudex_mcp.errors import ClaudexError, Conflict
from claudex_mcp.gateway import place
from claudex_mcp.gateway.upstream import INTERNAL, LINE_LIMIT, Session, Upstream, encode, error

PROTOCOL = 1
HELLO_TIMEOUT = 10.0
DEFAULT_IDLE = 600.0  # seconds a server runs without sessions before it is stopped (CLAUDEX_MCP_GATEWAY_IDLE)
DEFAULT_CALL_TIMEOUT = 300.0  # seconds a call may go without answer or progress (CLAUDEX_MCP_GATEWAY_CALL_TIMEOUT)
TICK = 0.25
NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


def idle_seconds() -> float:
    return paths.env_number("CLAUDEX_MCP_GATEWAY_IDLE", DEFAULT_IDLE)


def call_timeout() -> float:
    return paths.env_number("CLAUDEX_MCP_GATEWAY_CALL_TIMEOUT", DEFAULT_CALL_TIMEOUT)


def say(text: str) -> None:
    sys.stderr.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} gateway[{os.getpid()}]: {text}\n")
    sys.stderr.flush()


def launch_for(name: str, project_dir: str | None):
    """What a shared server starts with for a session of the project at ``project_dir`` (None:
    no project): what `run` would exec there, from the same layers (a project's env and args only
    when the user trusts its folder), without the project's folder in the environment (each
    request names its session's folder) and with CLAUDEX_MCP_GATEWAY=1. Raises what `run` would
    refuse."""
    from claudex_mcp.runtime import launcher
    from claudex_mcp.settings import config, project
    from claudex_mcp.store import cache, index as index_mod

    registry = paths.registry_dir()
    index, _ = cache.load(registry)
    entry = index_mod.server_entry(index, name)
    where = project.by_dir(project_dir) if project_dir else None
    launch = launcher.prepare(entry, config.Layers(registry, where), dict(os.environ), check_enabled=False)
    launch.env.pop("CLAUDEX_PROJECT_DIR", None)  # one process may serve several projects
    launch.env["CLAUDEX_MCP_GATEWAY"] = "1"  # the server may know it is the one process of its kind
    return launch


def spec(launch) -> tuple:
    """What makes two starts of a server the same process: its command line, environment and
    folder (a key kept in memory only: the environment holds the expanded secrets)."""
    return launch.name, tuple(launch.argv), tuple(sorted(launch.env.items())), launch.cwd


def starter(name: str, project_dir: str | None, launch):
    """The start of one process of a shared server: ``launch`` (a process is its spec; a changed
    config gives new sessions a new process), after checking that the server can still start
    (uninstalled, a broken layer: refused with the reason, as `run` would)."""
    def prepare():
        launch_for(name, project_dir)
        return launch
    return prepare


class Gateway:
    log = staticmethod(say)

    def __init__(self, *, idle: float, timeout: float, exit_when_idle: bool) -> None:
        self.idle, self.timeout, self.exit_when_idle = idle, timeout, exit_when_idle
        self.upstreams: dict[tuple, Upstream] = {}  # by spec()
        self.sessions: dict[int, Session] = {}
        self.attached: dict[int, Upstream] = {}  # session id -> its process
        self.next_session = 0
        self.started = time.time()
        self.last_active = time.monotonic()
        self.done = asyncio.Event()
        self.http_url: str | None = None
        self.endpoint = None  # web.Endpoint with --http
        self.socket: str = ""
        self.registry = str(paths.registry_dir())

    # -- sessions, whatever their transport ----------------------------------------------------

    def open_session(self, server: str, folder: str, send, origin: str, project: str | None = None) -> Session:
        """A session of ``server`` for a client in ``folder`` (of the project at ``project``),
        attached to the process whose spec is that project's; ClaudexError when the server cannot
        start there (nothing is kept then)."""
        launch = launch_for(server, project)
        key = spec(launch)
        upstream = self.upstreams.get(key)
        if upstream is None:
            default = project is None or key == _default_spec(server)
            log = say if default else (lambda text: say(f"{text} (the process of {project})"))
            upstream = self.upstreams[key] = Upstream(server, starter(server, project, launch), self.timeout, log)
            upstream.default = default
        self.next_session += 1
        session = Session(self.next_session, server, folder, send, origin, project)
        self.sessions[session.id] = session
        self.attached[session.id] = upstream
        upstream.attach(session)
        return session

    @staticmethod
    def spec_for(server: str, project: str | None) -> tuple:
        """The spec of ``server``'s process for a session of ``project`` now (ClaudexError when it
        cannot start there): the HTTP side asks it without importing this module."""
        return spec(launch_for(server, project))

    def upstream_of(self, session: Session) -> Upstream:
        return self.attached[session.id]

    def close_session(self, session: Session) -> None:
        self.sessions.pop(session.id, None)
        upstream = self.attached.pop(session.id, None)
        if upstream is not None:
            upstream.detach(session)
        self.last_active = time.monotonic()

    def status(self) -> dict:
        return {"pid": os.getpid(), "since": self.started, "uptime": round(time.time() - self.started, 3),
                "socket": self.socket, "registry": self.registry, "http": self.http_url, "idleStop": self.idle, "callTimeout": self.timeout,
                "exitWhenIdle": self.exit_when_idle, "sessions": len(self.sessions),
                "servers": [u.describe() for u in sorted(self.upstreams.values(), key=lambda u: (u.name, not u.default,
                                                                                                 u.created))]}

    # -- the unix socket -----------------------------------------------------------------------

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None and _peer_uid(sock) not in (os.geteuid(), None):
            return  # the folder is private; this is a second lock on the door
        try:
            hello = json.loads(await asyncio.wait_for(reader.readline(), HELLO_TIMEOUT))
        except (ValueError, asyncio.TimeoutError):
            return
        if not isinstance(hello, dict) or hello.get("gateway") != PROTOCOL:
            writer.write(encode({"error": {"code": "protocol", "message": "not a claudex gateway hello"}}))
            return
        control = hello.get("control")
        if control == "status":
            writer.write(encode(self.status()))
            await writer.drain()
            return
        if control == "stop":
            writer.write(encode({"stopping": True, "pid": os.getpid()}))
            await writer.drain()
            self.done.set()
            return
        wanted = hello.get("session") or {}
        server, folder, project = wanted.get("server"), wanted.get("folder"), wanted.get("project")
        if not isinstance(server, str) or not NAME.match(server) or not isinstance(folder, str) \
                or not os.path.isabs(folder) or not (project is None or isinstance(project, str)
                                                     and os.path.isabs(project)):
            writer.write(encode({"error": {"code": "protocol", "message": "a session needs a server name and an "
                                                                          "absolute folder (and project, if any)"}}))
            return

        def send(message: dict) -> None:
            if not writer.is_closing():
                writer.write(encode(message))

        pid = _peer_pid(sock) if sock is not None else None
        try:  # refused now, with the reason, when it could never start
            session = self.open_session(server, folder, send, f"socket (pid {pid})" if pid else "socket", project)
        except ClaudexError as exc:
            writer.write(encode({**exc.to_dict(), "exitCode": exc.exit_code}))
            return
        writer.write(encode({"ok": True}))
        upstream = self.upstream_of(session)
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    break
                if not line:
                    break
                try:
                    message = json.loads(line)
                except ValueError:
                    send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
                    continue
                if not isinstance(message, dict):
                    send(error(None, -32600, "one JSON-RPC message per line (no batches)"))
                    continue
                try:
                    await upstream.from_session(session, message)
                except Exception as exc:  # a bug here must not take the other sessions down
                    say(f"{server}: session {session.id}: {type(exc).__name__}: {exc}")
                    if "id" in message and "method" in message:
                        send(error(message["id"], INTERNAL, "the claudex gateway failed; see its log"))
                await writer.drain()
        finally:
            self.close_session(session)

    # -- life ----------------------------------------------------------------------------------

    async def watch(self) -> None:
        while not self.done.is_set():
            try:
                await asyncio.wait_for(self.done.wait(), TICK)
            except asyncio.TimeoutError:
                pass
            now = time.monotonic()
            for key, upstream in list(self.upstreams.items()):
                upstream.expire(now)
                if not upstream.sessions and now - upstream.idle_since >= self.idle:
                    if upstream.proc is not None:
                        upstream.log(f"{upstream.name}: no session for {self.idle:g} s: stopped")
                        await upstream.stop()
                    del self.upstreams[key]
            if self.exit_when_idle and not self.sessions and not self.upstreams \
                    and now - self.last_active >= self.idle:
                say(f"nothing used the gateway for {self.idle:g} s: it exits")
                self.done.set()

    async def shutdown(self) -> None:
        await asyncio.gather(*(u.stop() for u in self.upstreams.values()), return_exceptions=True)


def _default_spec(server: str) -> tuple | None:
    """The spec of ``server`` without a project's layer; None when it cannot start so."""
    try:
        return spec(launch_for(server, None))
    except ClaudexError:
        return None


def _peer_uid(sock: socket.socket) -> int | None:
    try:
        _, uid, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        return uid
    except (OSError, AttributeError):
        return None


def _peer_pid(sock: socket.socket) -> int | None:
    try:
        pid, _, _ = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
        return pid
    except (OSError, AttributeError):
        return None


def take_lock() -> int:
    """The gateway's lock, held for its whole life; Conflict (exit 3) when another gateway holds it."""
    fd = place.open_lock(place.SERVE_LOCK)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        holder = read_state().get("pid")
        raise Conflict(f"a claudex gateway already runs{f' (pid {holder})' if holder else ''}", code="gateway_running",
                       hint="'claudex mcp gateway status' shows it; 'claudex mcp gateway stop' ends it") from None
    return fd


def read_state() -> dict:
    from claudex_mcp import jsonio

    try:
        found = jsonio.parse(jsonio.read_bytes(place.file(place.STATE), limit=64 * 1024,
                                               follow_symlinks=False))
    except ClaudexError:
        return {}
    return found if isinstance(found, dict) else {}


def bind(path) -> socket.socket:
    """The listening socket at ``path`` (mode 600); a stale socket left by a dead gateway is
    replaced (the caller holds the lock, so no live gateway owns it); anything else there is refused."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        st = None
    if st is not None:
        if not stat.S_ISSOCK(st.st_mode):
            raise place.unsafe(path, "is not a socket")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o177)
    try:
        sock.bind(os.fspath(path))
    finally:
        os.umask(old)
    sock.listen(128)
    return sock


async def main_async(gateway: Gateway, lock_fd: int, http: tuple[str, int] | None, on_ready=None) -> None:
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        loop.add_signal_handler(signum, gateway.done.set)
    path = place.socket_path()
    listener = bind(path)
    gateway.socket = str(path)
    server = await asyncio.start_unix_server(gateway.handle, sock=listener, limit=LINE_LIMIT)
    http_stop = None
    if http is not None:
        from claudex_mcp.gateway import web

        gateway.http_url, http_stop = await web.start(gateway, *http)
    atomic.write_json(place.file(place.STATE), {"pid": os.getpid(), "since": gateway.started, "socket": str(path),
                                                "http": gateway.http_url, "registry": gateway.registry}, mode=0o600)
    os.ftruncate(lock_fd, 0)
    os.pwrite(lock_fd, f"{os.getpid()}\n".encode(), 0)
    say(f"listening on {path}" + (f" and {gateway.http_url}" if gateway.http_url else ""))
    if on_ready is not None:
        on_ready(gateway)
    watcher = asyncio.ensure_future(gateway.watch())
    try:
        await gateway.done.wait()
    finally:
        server.close()
        say("stopping")
        for name in (place.STATE, place.SOCKET):
            try:
                os.unlink(place.file(name))
            except FileNotFoundError:
                pass
        if http_stop is not None:
            await http_stop()
        await gateway.shutdown()
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        say("stopped")


def serve(*, http: tuple[str, int] | None = None, exit_when_idle: bool = False, on_ready=None) -> int:
    """Run the gateway in this process until `gateway stop`, a signal, or (``exit_when_idle``)
    nothing used it for the idle time. Conflict when one runs already."""
    lock_fd = take_lock()
    try:
        gateway = Gateway(idle=idle_seconds(), timeout=call_timeout(), exit_when_idle=exit_when_idle)
        asyncio.run(main_async(gateway, lock_fd, http, on_ready))
    finally:
        os.close(lock_fd)
    return 0


def auto() -> int:
    """What a bridge starts (detached, in its own session): serve until idle. A second one that
    lost the race for the lock exits quietly: the bridge connects to the winner."""
    try:
        return serve(exit_when_idle=True)
    except Conflict:
        return 0
    except ClaudexError as exc:
        say(exc.message)
        return exc.exit_code


if __name__ == "__main__":
    raise SystemExit(auto())


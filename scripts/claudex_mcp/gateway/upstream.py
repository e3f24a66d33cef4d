"""One shared server process and the sessions multiplexed onto it.

Every session speaks MCP as if the server were its own; here the messages are rewritten so that
one process serves them all (the rules are in docs/gateway.md):
- request ids are the gateway's own on the server's side (a counter), mapped back on the answer;
- a progress token is replaced by the gateway's request id, so progress reaches the session whose
  call it is, and resets that call's timeout;
- a cancellation names the gateway's id of the session's request;
- the first InitializeResult is kept and answered to every later session;
- every request carries the session's folder as ``params._meta["claudex/folder"]``;
- notifications (list_changed, log messages, resource updates) go to every session;
- a request from the server (sampling, elicitation, roots) goes to the one session that has a
  call in flight, and is refused with a JSON-RPC error when none has, or several have;
- a crash answers the calls in flight with an error, tells every session, and restarts the
  server after 1, 2, 4, 8, 16 s; after that it stays down until a new session comes.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable

BACKOFF = (1, 2, 4, 8, 16)  # seconds before each restart after a crash; then the server stays down
STABLE_AFTER = 60.0  # a server that ran this long has its crash count reset
STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL when a server is stopped
START_TIMEOUT = 60.0  # seconds a server may take from its start to its answer to initialize
LINE_LIMIT = 64 * 1024 * 1024  # the longest JSON-RPC message read from a server or a session
FOLDER_KEY = "claudex/folder"

# JSON-RPC error codes the gateway answers with (the -32000 to -32099 range is the implementation's)
SERVER_DOWN = -32000  # the server crashed, is restarting, or could not be started
CALL_TIMEOUT = -32001  # no answer (and no progress) within the call timeout
NO_SESSION = -32002  # a server-to-client request that no session can take
INTERNAL = -32603


def encode(message: dict) -> bytes:
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode() + b"\n"
    except UnicodeEncodeError:
        # A lone surrogate ("\ud800") is valid JSON but not UTF-8: passed on escaped, as it came,
        # so that the server (or the session) answers it as it would without the gateway.
        return json.dumps(message, separators=(",", ":")).encode() + b"\n"


def error(id_, code: int, message: str) -> dict:
    return {"jsonrpc": "2.0", "id": id_, "error": {"code": code, "message": message}}


class Session:
    """One client of the gateway (a bridge, or an HTTP session): what it is sent goes to ``send``."""

    def __init__(self, sid: int, server: str, folder: str, send: Callable[[dict], None], origin: str,
                 project: str | None = None) -> None:
        self.id, self.server, self.folder, self.send, self.origin = sid, server, folder, send, origin
        self.project = project  # the folder of the project whose layers chose its process
        self.since = time.time()
        self.initialized = False
        self.calls = 0

    def describe(self) -> dict:
        return {"id": self.id, "folder": self.folder, "project": self.project, "origin": self.origin,
                "since": self.since, "calls": self.calls}


class Pending:
    __slots__ = ("session", "id", "method", "token", "deadline", "started")

    def __init__(self, session: Session, id_, method: str, token, deadline: float) -> None:
        self.session, self.id, self.method, self.token, self.deadline = session, id_, method, token, deadline
        self.started = time.monotonic()


class Upstream:
    """A shared server: its process (started on the first session's initialize), its sessions."""

    def __init__(self, name: str, prepare: Callable[[], object], call_timeout: float, log: Callable[[str], None]
                 ) -> None:
        self.name = name
        self.prepare = prepare  # -> launcher.Launch (argv, env, cwd, log); raises ClaudexError
        self.call_timeout = call_timeout
        self.log = log
        self.sessions: dict[int, Session] = {}
        self.default = True  # started as without a project's layer (else a project's layer changed it)
        self.projects: set[str] = set()  # the projects of the sessions it served
        self.created = time.monotonic()
        self.proc: asyncio.subprocess.Process | None = None
        self.state = "stopped"  # starting, ready, restarting, failed, stopping
        self.ready = asyncio.Event()
        self.init_params: dict | None = None
        self.init_result: dict | None = None
        self.failure = ""  # why the server is down, for errors and status
        self.pending: dict[int, Pending] = {}
        self.by_session: dict[tuple[int, object], int] = {}
        self.server_requests: dict[object, Session] = {}
        self.own: dict[int, asyncio.Future] = {}  # the gateway's own requests (initialize)
        self.next_id = 0
        self.crashes = 0
        self.restarts = 0
        self.started_at = 0.0
        self.idle_since = time.monotonic()
        self.calls = 0
        self._starting: asyncio.Task | None = None
        self._reader: asyncio.Task | None = None

    # -- sessions ----------------------------------------------------------------------------

    def attach(self, session: Session) -> None:
        self.sessions[session.id] = session
        if session.project:
            self.projects.add(session.project)
        if self.state == "failed":  # a new session gives a server that gave up one more chance
            self.state, self.crashes = "stopped", 0
            self.ready.clear()

    def detach(self, session: Session) -> None:
        self.sessions.pop(session.id, None)
        for gid, call in list(self.pending.items()):
            if call.session is session:  # its answer has no one to go to: tell the server
                self._forget(gid)
                self._to_server({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                 "params": {"requestId": gid, "reason": "the client went away"}})
        for rid, owner in list(self.server_requests.items()):
            if owner is session:
                del self.server_requests[rid]
                self._to_server(error(rid, NO_SESSION, "the client went away"))
        if not self.sessions:
            self.idle_since = time.monotonic()

    def describe(self) -> dict:
        return {"name": self.name, "default": self.default, "projects": sorted(self.projects),
                "state": self.state, "pid": self.proc.pid if self.proc else None,
                "since": self.started_at or None, "restarts": self.restarts, "calls": self.calls,
                "inFlight": len(self.pending), "error": self.failure or None,
                "sessions": [s.describe() for s in self.sessions.values()]}

    # -- from a session ----------------------------------------------------------------------

    async def from_session(self, session: Session, message: dict) -> None:
        method = message.get("method")
        if method is not None and "id" in message:
            await self._session_request(session, message)
        elif method is not None:
            self._session_notification(session, message)
        elif "id" in message:  # the answer to a request the server sent this session
            owner = self.server_requests.get(message["id"])
            if owner is session:
                del self.server_requests[message["id"]]
                self._to_server(message)

    async def _session_request(self, session: Session, message: dict) -> None:
        id_, method = message["id"], message["method"]
        if method == "initialize":
            if not await self._ensure(message.get("params") or {}):
                session.send(error(id_, SERVER_DOWN, self.failure))
                return
            session.initialized = True
            session.send({"jsonrpc": "2.0", "id": id_, "result": self.init_result})
            return
        if method == "ping":
            session.send({"jsonrpc": "2.0", "id": id_, "result": {}})
            return
        if not await self._ensure(None):
            session.send(error(id_, SERVER_DOWN, self.failure))
            return
        params = dict(message.get("params") or {})
        meta = dict(params.get("_meta") or {})
        gid = self._new_id()
        token = meta.get("progressToken")
        if token is not None:
            meta["progressToken"] = gid
        if session.folder:  # an HTTP caller has none here: its own _meta may say it
            meta[FOLDER_KEY] = session.folder
        params["_meta"] = meta
        self.pending[gid] = Pending(session, id_, method, token, time.monotonic() + self.call_timeout)
        self.by_session[(session.id, _key(id_))] = gid
        session.calls += 1
        self.calls += 1
        self._to_server({"jsonrpc": "2.0", "id": gid, "method": method, "params": params})

    def _session_notification(self, session: Session, message: dict) -> None:
        method = message["method"]
        if method == "notifications/initialized":
            return  # the gateway said it once, for all
        if method == "notifications/cancelled":
            params = message.get("params") or {}
            gid = self.by_session.get((session.id, _key(params.get("requestId"))))
            if gid is None:
                return
            self._forget(gid)
            self._to_server({"jsonrpc": "2.0", "method": method, "params": {**params, "requestId": gid}})
            return
        if self.state == "ready":
            self._to_server(message)

    # -- from the server ---------------------------------------------------------------------

    def from_server(self, message: dict) -> None:
        method = message.get("method")
        if method is None:
            self._server_answer(message)
        elif "id" in message:
            self._server_request(message)
        elif method == "notifications/progress":
            params = message.get("params") or {}
            call = self.pending.get(params.get("progressToken"))  # the token is the gateway's id
            if call is not None and call.token is not None:
                call.deadline = time.monotonic() + self.call_timeout
                call.session.send({**message, "params": {**params, "progressToken": call.token}})
        elif method == "notifications/cancelled":
            params = message.get("params") or {}
            owner = self.server_requests.pop(params.get("requestId"), None)
            if owner is not None:
                owner.send(message)
        else:  # list_changed, log messages, resource updates: every session's business
            for session in list(self.sessions.values()):
                if session.initialized:
                    session.send(message)

    def _server_answer(self, message: dict) -> None:
        gid = message.get("id")
        future = self.own.pop(gid, None) if isinstance(gid, int) else None
        if future is not None:
            if not future.done():
                future.set_result(message)
            return
        call = self.pending.get(gid) if isinstance(gid, int) else None
        if call is None:
            return  # cancelled or timed out: the session was answered already
        self._forget(gid)
        call.session.send({**message, "id": call.id})

    def _server_request(self, message: dict) -> None:
        if message["method"] == "ping":
            self._to_server({"jsonrpc": "2.0", "id": message["id"], "result": {}})
            return
        waiting = {call.session.id: call.session for call in self.pending.values()}
        if len(waiting) != 1:
            why = ("no session has a call in flight" if not waiting else
                   f"{len(waiting)} sessions have calls in flight, and a stdio request does not say for which")
            self._to_server(error(message["id"], NO_SESSION, f"{message['method']} refused by the claudex gateway: {why}"))
            return
        session = next(iter(waiting.values()))
        for call in self.pending.values():  # the call waits for its client: that is not silence
            if call.session is session:
                call.deadline = time.monotonic() + self.call_timeout
        self.server_requests[message["id"]] = session
        session.send(message)

    # -- the process ---------------------------------------------------------------------------

    def _new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def _forget(self, gid: int) -> None:
        call = self.pending.pop(gid, None)
        if call is not None:
            self.by_session.pop((call.session.id, _key(call.id)), None)

    def _to_server(self, message: dict) -> None:
        proc = self.proc
        if proc is None or proc.stdin is None or proc.stdin.is_closing():
            return
        try:
            proc.stdin.write(encode(message))
        except (ConnectionError, RuntimeError):
            pass

    async def _ensure(self, params: dict | None) -> bool:
        """Wait until the server is ready (starting it with ``params``, the first session's
        initialize, when it is not running); False, with ``failure`` set, when it cannot be."""
        if self.state == "ready":
            return True
        if self.state == "failed":
            return False
        if self.init_params is None:
            self.init_params = params if params is not None else default_init()
        if self._starting is None or self._starting.done():
            if self.state in ("stopped", "stopping"):
                self.ready.clear()
                self._starting = asyncio.ensure_future(self._start())
        try:
            await asyncio.wait_for(self.ready.wait(), START_TIMEOUT + BACKOFF[-1])
        except asyncio.TimeoutError:
            self.failure = self.failure or f"{self.name} did not become ready within {START_TIMEOUT:g} s"
            return False
        if self.state != "ready":
            self.failure = self.failure or f"{self.name} is {self.state}"
        return self.state == "ready"

    async def _start(self) -> None:
        from claudex_mcp.errors import ClaudexError
        from claudex_mcp.runtime import launcher

        self.state = "starting"
        self.ready.clear()
        try:
            launch = self.prepare()
            # stderr through the launcher's log writer: the log is kept under its cap while the server runs
            log_fd = launcher.log_pipe(launch)
        except ClaudexError as exc:
            self._give_up(f"{self.name} cannot be started: {exc.message}")
            return
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *launch.argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=log_fd,
                env=launch.env, cwd=launch.cwd, start_new_session=True, limit=LINE_LIMIT)
        except OSError as exc:
            self._give_up(f"{self.name} cannot be started: {launch.argv[0]}: {exc.strerror}")
            return
        finally:
            os.close(log_fd)
        self.started_at = time.time()
        self._ran_from = time.monotonic()
        try:
            launcher.record_start(launch, None, self.proc.pid)
        except ClaudexError as exc:
            self.log(f"{self.name}: run record not written: {exc.message}")
        self.log(f"{self.name}: started, pid {self.proc.pid}")
        self._reader = asyncio.ensure_future(self._read(self.proc))
        gid = self._new_id()
        future = asyncio.get_running_loop().create_future()
        self.own[gid] = future
        self._to_server({"jsonrpc": "2.0", "id": gid, "method": "initialize", "params": self.init_params})
        try:
            answer = await asyncio.wait_for(future, START_TIMEOUT)
        except asyncio.TimeoutError:
            self.failure = f"{self.name} did not answer initialize within {START_TIMEOUT:g} s"
            await self.stop(crashed=True)
            return
        except asyncio.CancelledError:  # the process ended first: _read handles it
            return
        if "result" not in answer:
            self.failure = f"{self.name} refused initialize: {(answer.get('error') or {}).get('message', answer)}"
            await self.stop(crashed=True)
            return
        self.init_result = answer["result"]
        self._to_server({"jsonrpc": "2.0", "method": "notifications/initialized"})
        self.state, self.failure = "ready", ""
        self.ready.set()

    def _give_up(self, why: str) -> None:
        self.state, self.failure = "failed", why
        self.log(why)
        self.ready.set()  # waiters see the state

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while True:
            try:
                line = await proc.stdout.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self.log(f"{self.name}: a message over {LINE_LIMIT} bytes; the server is restarted")
                break
            if not line:
                break
            try:
                message = json.loads(line)
            except ValueError:
                self.log(f"{self.name}: not JSON-RPC on stdout: {line[:200]!r}")
                continue
            if isinstance(message, dict):
                self.from_server(message)
        code = await proc.wait()
        if proc is self.proc:
            self._ended(code)

    def _ended(self, code: int) -> None:
        """The process is gone: answer what waited, and restart it unless it was stopped on purpose."""
        self.proc = None
        for future in self.own.values():
            if not future.done():
                future.cancel()
        self.own.clear()
        wanted = self.state == "stopping"
        # SIGTERM from elsewhere is someone's decision (disable, uninstall, a kill by hand), not a
        # crash: the server stays down until a session asks for it again.
        asked = not wanted and code == -signal.SIGTERM
        why = f"{self.name} exited with code {code}" if code >= 0 else f"{self.name} was ended by signal {-code}"
        after = "" if wanted else ("; the next request starts it again" if asked else "; it is being restarted")
        for gid, call in list(self.pending.items()):
            self._forget(gid)
            call.session.send(error(call.id, SERVER_DOWN, why + after))
        self.server_requests.clear()
        if wanted or asked:
            if asked:
                self.log(f"{why} (from outside the gateway): not restarted until asked for")
                self._tell(why + after)
            self.state = "stopped"
            self.ready.clear()
            return
        self.failure = self.failure or why
        self.log(f"{why} (unexpected)")
        if time.monotonic() - getattr(self, "_ran_from", 0.0) > STABLE_AFTER:
            self.crashes = 0
        if self.crashes >= len(BACKOFF) or not self.sessions:
            self._tell(f"{why}; the claudex gateway gave up restarting it: {self.failure}" if self.sessions else why)
            self._give_up(self.failure if self.crashes >= len(BACKOFF) else why)
            if not self.sessions:
                self.state = "stopped"
                self.ready.clear()
            return
        delay = BACKOFF[self.crashes]
        self.crashes += 1
        self.state = "restarting"
        self.ready.clear()
        self._tell(f"{why}; the claudex gateway restarts it in {delay} s")
        self._starting = asyncio.ensure_future(self._restart(delay))

    async def _restart(self, delay: float) -> None:
        await asyncio.sleep(delay)
        if self.state != "restarting":
            return
        self.restarts += 1
        self.state = "stopped"
        await self._start()

    def _tell(self, text: str) -> None:
        note = {"jsonrpc": "2.0", "method": "notifications/message",
                "params": {"level": "warning", "logger": "claudex-gateway", "data": text}}
        for session in list(self.sessions.values()):
            if session.initialized:
                session.send(note)

    def expire(self, now: float) -> None:
        """Answer the calls whose time ran out (no answer, no progress) and cancel them at the server."""
        for gid, call in list(self.pending.items()):
            if call.deadline <= now:
                self._forget(gid)
                call.session.send(error(call.id, CALL_TIMEOUT, f"{self.name} did not answer {call.method} within "
                                                               f"{self.call_timeout:g} s (progress resets the time)"))
                self._to_server({"jsonrpc": "2.0", "method": "notifications/cancelled",
                                 "params": {"requestId": gid, "reason": "timed out at the claudex gateway"}})

    async def stop(self, crashed: bool = False) -> None:
        """Stop the process: its stdin closed, SIGTERM to its group, SIGKILL after STOP_GRACE."""
        proc = self.proc
        if proc is None:
            if not crashed:
                self.state = "stopped"
            return
        if not crashed:
            self.state = "stopping"
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            os.killpg(proc.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            await asyncio.wait_for(proc.wait(), STOP_GRACE)
        except asyncio.TimeoutError:
            pass
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # what it started in its group goes with it
        except (ProcessLookupError, PermissionError):
            pass
        await proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def _key(id_) -> object:
    """A JSON-RPC id as a dict key: 1 and "1" are different ids."""
    return (type(id_).__name__, id_)


def default_init() -> dict:
    """The initialize params when a session sends a request before its initialize (a probe)."""
    return {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "claudex-gateway",
                                                                               "version": "1"}}

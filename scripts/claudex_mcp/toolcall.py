"""Calling one tool of a registry server from the shell: the server started through the launcher
(`claudex mcp run NAME`, as its clients start it) or reached at its URL, one real MCP session
with the official SDK (imported only here), initialize, tools/list, tools/call, shutdown.

Everything the server starts carries CLAUDEX_MCP_PROBE_ID (health.PROBE_TAG) and is ended with
it, whatever way the call ends (success, tool error, timeout, Ctrl-C).
"""

from __future__ import annotations

import difflib
import logging
import os
import time

from . import config, effective, expand, health, launcher
from .errors import ExternalFailure, InvalidInput, NotFound

DEFAULT_TIMEOUT = 60.0  # the whole call: start, handshake and the tool's own work


class _Noise(logging.Handler):
    """What the SDK logs instead of raising: a line on the server's stdout that is not JSON-RPC."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        try:
            self.lines.append(str(error.errors()[0].get("input", "")))  # pydantic's ValidationError
        except (AttributeError, IndexError, TypeError):
            self.lines.append(str(error) if error is not None else record.getMessage())


def _first_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def parse_arguments(data: bytes, name: str) -> dict:
    """The tool's arguments: a JSON object."""
    from . import jsonio

    arguments = jsonio.parse(data, name)
    if not isinstance(arguments, dict):
        raise InvalidInput(f"{name}: the tool's arguments must be a JSON object, not {type(arguments).__name__}",
                           path=name, code="invalid_arguments", hint='e.g. --args \'{"text": "hi"}\'')
    return arguments


def call(entry: dict, layers: config.Layers, environ: dict, tool: str, arguments: dict,
         timeout: float | None = None) -> dict:
    """Call ``tool`` of the registry server ``entry`` with ``arguments``. Returns the CallToolResult
    as JSON (content, structuredContent, isError) with server and tool; raises NotFound for a tool
    the server does not list (with the closest names), ExternalFailure when the session fails."""
    name = entry["name"]
    server = entry["manifest"]["server"]
    timeout = timeout or DEFAULT_TIMEOUT
    if server.get("transport", "stdio") == "stdio":
        launcher.prepare(entry, layers, environ)  # disabled, missing env, missing command: said plainly
        argv = effective.run_argv(name, layers.project)
        env = dict(environ, CLAUDEX_MCP_REGISTRY=str(layers.registry))
        return _session(name, tool, arguments, timeout, argv=argv, env=env)
    merged, _ = config.merge(layers.sources(entry))
    if not merged.get("enabled"):
        launcher.prepare(entry, layers, environ)  # the one "disabled here" error
    url = expand.expand(server["url"], environ)
    headers = {k: expand.expand(v, environ) for k, v in (merged.get("headers") or {}).items()}
    return _session(name, tool, arguments, timeout, url=url, headers=headers)


def _session(name: str, tool: str, arguments: dict, timeout: float, argv: list[str] | None = None,
             env: dict | None = None, url: str | None = None, headers: dict | None = None) -> dict:
    import anyio

    async def talk(streams) -> dict:
        from mcp import ClientSession

        async with ClientSession(streams[0], streams[1]) as client:
            await client.initialize()
            listed = [t.name for t in (await client.list_tools()).tools]
            if tool not in listed:
                return {"missing": listed}
            started = time.perf_counter()
            result = await client.call_tool(tool, arguments)
            elapsed = (time.perf_counter() - started) * 1000
        return {"result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
                "ms": round(elapsed, 1)}

    async def connect() -> dict:
        if url is None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(command=argv[0], args=argv[1:], env=env)
            with open(os.devnull, "w") as err:  # the launcher sends the server's stderr to its log
                async with stdio_client(params, errlog=err) as streams:
                    return await talk(streams)
        if url.rstrip("/").endswith("/sse"):
            from mcp.client.sse import sse_client

            async with sse_client(url, headers=headers) as streams:
                return await talk(streams)
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        async with create_mcp_http_client(headers=headers) as http:
            async with streamable_http_client(url, http_client=http) as streams:
                return await talk(streams)

    async def session() -> dict:
        answer: dict = {}
        with anyio.fail_after(timeout):
            async with anyio.create_task_group() as group:
                async def run() -> None:
                    answer.update(await connect())
                    group.cancel_scope.cancel()

                async def watch() -> None:  # a line that is not JSON-RPC will never be answered: stop now
                    while not noise.lines:
                        await anyio.sleep(0.05)
                    group.cancel_scope.cancel()

                group.start_soon(run)
                group.start_soon(watch)
        return answer

    noise = _Noise()
    logger = logging.getLogger("mcp")
    logger.addHandler(noise)  # also keeps the SDK's tracebacks about such lines off stderr
    probe_id = None
    if url is None:
        import secrets

        probe_id = secrets.token_hex(8)
        env = {**(env or {}), health.PROBE_TAG: probe_id}
    try:
        answer = anyio.run(session)
    except TimeoutError:
        raise ExternalFailure(f"{name}: no answer within {timeout:g} s", code="timeout",
                              hint=f"give it longer (--timeout), or see 'claudex mcp logs {name}'") from None
    except Exception as exc:  # the SDK raises many kinds; the cause is what matters here
        cause = _first_cause(exc)
        if noise.lines:
            answer = {}
        elif "Connection closed" in str(cause) or isinstance(cause, (BrokenPipeError, EOFError)):
            said = _last_words(name) if url is None else ""
            raise ExternalFailure(f"{name} exited before answering" + (f"; its log ends: {said}" if said else ""),
                                  code="crashed", hint=f"see the whole log: claudex mcp logs {name}") from None
        else:
            raise ExternalFailure(f"the MCP session with {name} failed: {type(cause).__name__}: {cause}",
                                  code="session_failed", hint=f"see 'claudex mcp logs {name}'") from None
    finally:
        logger.removeHandler(noise)
        if probe_id is not None:
            from . import procs

            procs.stop_tagged(health.PROBE_TAG, probe_id)
    if noise.lines and not answer:
        raise ExternalFailure(f"{name} answered with something that is not MCP: {noise.lines[0][:200]}",
                              code="not_mcp", hint="a stdio server may write only JSON-RPC on stdout; logs go to stderr")
    if "missing" in answer:
        close = difflib.get_close_matches(tool, answer["missing"], n=3)
        raise NotFound(f"{name} has no tool {tool!r}", code="no_tool",
                       hint=(f"did you mean {', '.join(close)}? " if close else "")
                       + f"its tools: {', '.join(sorted(answer['missing'])) or 'none'}")
    result = answer["result"]
    return {"server": name, "tool": tool, "isError": bool(result.get("isError")),
            "content": result.get("content", []), "structuredContent": result.get("structuredContent"),
            "latencyMs": answer["ms"]}


def _last_words(name: str) -> str:
    """The last lines the server wrote to its log in this run (after the launcher's header)."""
    from . import checks

    lines = checks.log_tail(name, 40)
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("--- "):
            lines = lines[i + 1:]
            break
    return " | ".join(line.strip() for line in lines[-3:])[:500]


def text_of(result: dict) -> str:
    """The result's text content, one block a line; other content kinds said in brackets."""
    lines = []
    for block in result.get("content", []):
        kind = block.get("type")
        if kind == "text":
            lines.append(block.get("text", ""))
        elif kind == "resource" and isinstance(block.get("resource"), dict) and "text" in block["resource"]:
            lines.append(block["resource"]["text"])
        else:
            where = block.get("uri") or block.get("mimeType") or ""
            lines.append(f"[{kind}{' ' + where if where else ''}]")
    return "\n".join(lines)

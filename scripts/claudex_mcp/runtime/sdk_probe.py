"""Real MCP sessions with servers through the official SDK (imported only when called):
initialize, tools/list (prompts/list and resources/list for what the server serves), ping,
clean shutdown. Used by `test`, upgrade's health check and `status` of a remote server;
`status` of a stdio server speaks the same steps without the SDK (stdio_probe, which says why).
``finish`` checks the report of either: declared capabilities served, tool schemas valid."""

from __future__ import annotations

import logging
import os
import threading
import time

from claudex_mcp.errors import ExternalFailure

DEFAULT_TIMEOUT = 30.0
PROBE_TAG = "CLAUDEX_MCP_PROBE_ID"  # in the environment of a probed server and all it starts
CAPABILITY_FIELDS = {"tools": "tools", "prompts": "prompts", "resources": "resources", "logging": "logging",
                     "completions": "completions"}


class ProbeFailure(ExternalFailure):
    """The server did not pass: ``code`` says how (timeout, not_mcp, crashed, capability, schema)."""


def _first_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


class _Capture(logging.Handler):
    """What the SDK logs instead of raising: a line on stdout that is not JSON-RPC. Probes run
    in parallel threads, each with its own event loop: a handler keeps its own thread's records."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []
        self.thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and hasattr(error, "errors"):
            try:
                self.lines.append(str(error.errors()[0].get("input", "")))
                return
            except (IndexError, TypeError, AttributeError):
                pass
        self.lines.append(str(error) if error is not None else record.getMessage())


_QUIET = {"count": 0, "saved": (logging.NOTSET, True)}
_QUIET_LOCK = threading.Lock()


def _quiet_sdk(logger: logging.Logger, step: int) -> None:
    """Keep the SDK's parse errors (and their tracebacks) off stderr while any probe runs."""
    with _QUIET_LOCK:
        if step > 0 and _QUIET["count"] == 0:
            _QUIET["saved"] = (logger.level, logger.propagate)
            logger.setLevel(logging.ERROR)
            logger.propagate = False
        _QUIET["count"] += step
        if step < 0 and _QUIET["count"] == 0:
            logger.setLevel(_QUIET["saved"][0])
            logger.propagate = _QUIET["saved"][1]


def _check_schemas(tools: list[tuple]) -> list[str]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    bad = []
    for name, _, schema in tools:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            bad.append(f"{name}: {exc.message}")
    return bad


def finish(report: dict, what: str, missing: list[str], tools: list[tuple]) -> dict:
    """The report of a session that answered, once it is known to keep its promises: every
    capability its manifest declares is served (else ``capability``), every tool's input schema
    is a JSON Schema (else ``schema``). ``tools``: (name, description, input schema)."""
    report["missingCapabilities"] = missing
    report["toolDescriptions"] = {name: (description or "").strip() for name, description, _ in tools}  # for `info`
    report["toolSchemas"] = {name: schema for name, _, schema in tools}
    if missing:
        raise ProbeFailure(f"{what} does not serve the capabilities its manifest declares: "
                           f"{', '.join(missing)}", code="capability",
                           hint="fix server.capabilities in the manifest, or serve them")
    bad = _check_schemas(tools)
    if bad:
        raise ProbeFailure(f"invalid tool input schema: {'; '.join(bad)}", code="schema",
                           hint="a tool's inputSchema must be a valid JSON Schema")
    return report


def sdk_session(talk, *, argv: list[str] | None = None, env: dict[str, str] | None = None,
                cwd: str | None = None, errlog: str | None = None, url: str | None = None,
                headers: dict | None = None, timeout: float = DEFAULT_TIMEOUT, label: str | None = None):
    """``await talk(client, started)`` in one SDK session (a ClientSession, not yet initialized;
    ``started``: perf_counter before the connection): stdio with ``argv``, or streamable
    HTTP/SSE at ``url``. Its value, or ProbeFailure with the cause (timeout, not_mcp, crashed,
    command_not_found, failed). The SDK runs a stdio server in its own process group; what
    it starts carries PROBE_TAG and is ended with the session, on every way out. Used by
    `probe` (test, upgrade, remote status) and toolcall (`call`)."""
    import anyio

    async def connect():
        from mcp import ClientSession

        started = time.perf_counter()
        if url is None:
            from mcp.client.stdio import StdioServerParameters, stdio_client

            params = StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=cwd)
            with open(errlog or os.devnull, "a") as err:
                async with stdio_client(params, errlog=err) as streams:
                    async with ClientSession(streams[0], streams[1]) as client:
                        return await talk(client, started)
        if url.rstrip("/").endswith("/sse"):
            from mcp.client.sse import sse_client

            async with sse_client(url, headers=headers) as streams:
                async with ClientSession(streams[0], streams[1]) as client:
                    return await talk(client, started)
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        async with create_mcp_http_client(headers=headers) as http:
            async with streamable_http_client(url, http_client=http) as streams:
                async with ClientSession(streams[0], streams[1]) as client:
                    return await talk(client, started)

    async def bounded():
        answer: list = []
        with anyio.fail_after(timeout):
            async with anyio.create_task_group() as group:
                async def run() -> None:
                    answer.append(await connect())
                    group.cancel_scope.cancel()

                async def watch() -> None:  # a non-MCP line will never be answered: stop at once
                    while not noise.lines:
                        await anyio.sleep(0.05)
                    group.cancel_scope.cancel()

                group.start_soon(run)
                group.start_soon(watch)
        if not answer:
            raise RuntimeError("no answer")
        return answer[0]

    # Everything the probed server starts carries this mark, so that what it forked and forgot
    # is ended with it: the SDK kills the process group only when the server outlives the
    # closing of its stdin, and a child may leave the group.
    probe_id = None
    if url is None:
        import secrets

        from mcp.client.stdio import get_default_environment

        probe_id = secrets.token_hex(8)
        env = {**(get_default_environment() if env is None else env), PROBE_TAG: probe_id}
    noise = _Capture()
    logger = logging.getLogger("mcp")
    _quiet_sdk(logger, +1)
    logger.addHandler(noise)
    what = label or url or argv[0]
    try:
        return anyio.run(bounded)
    except TimeoutError:
        raise ProbeFailure(f"no MCP answer from {what} within {timeout:g} s", code="timeout",
                           hint="the server may wait for something, or start too slowly; see its log") from None
    except Exception as exc:  # the SDK raises many kinds; the cause is what matters here
        if noise.lines:
            raise ProbeFailure(f"{what} answered with something that is not MCP: {noise.lines[0][:200]}",
                               code="not_mcp", hint="a stdio server may write only JSON-RPC on stdout; "
                               "logs go to stderr") from None
        cause = _first_cause(exc)
        if "Connection closed" in str(cause) or isinstance(cause, (BrokenPipeError, EOFError)):
            raise ProbeFailure(f"{what} exited before completing the MCP handshake", code="crashed",
                               hint="its stderr says why") from None
        if isinstance(cause, (FileNotFoundError, PermissionError)):
            raise ProbeFailure(f"{what} could not be started: {cause}", code="command_not_found") from None
        raise ProbeFailure(f"the MCP session with {what} failed: {type(cause).__name__}: {cause}",
                           code="failed", hint="see the server's stderr") from None
    finally:
        logger.removeHandler(noise)
        _quiet_sdk(logger, -1)
        if probe_id is not None:
            from claudex_mcp import procs

            procs.stop_tagged(PROBE_TAG, probe_id)


def probe(argv: list[str], env: dict[str, str] | None = None, cwd: str | None = None,
          timeout: float = DEFAULT_TIMEOUT, declared: list[str] | tuple = (), errlog: str | None = None,
          url: str | None = None, headers: dict | None = None, label: str | None = None) -> dict:
    """One MCP session (stdio with ``argv``, or streamable HTTP/SSE at ``url``): initialize,
    the listings the server serves, ping; the report, or ProbeFailure with the cause."""

    async def talk(client, started: float) -> dict:
        init = await client.initialize()
        latency = (time.perf_counter() - started) * 1000
        served = init.capabilities
        missing = [c for c in declared if getattr(served, CAPABILITY_FIELDS.get(c, c), None) is None]
        tools = (await client.list_tools()).tools if served.tools is not None else []
        prompts = (await client.list_prompts()).prompts if served.prompts is not None else []
        resources = (await client.list_resources()).resources if served.resources is not None else []
        await client.send_ping()
        return {"server": init.server_info.name, "version": init.server_info.version,
                "protocolVersion": init.protocol_version, "latencyMs": round(latency, 1),
                "tools": sorted(t.name for t in tools), "prompts": sorted(p.name for p in prompts),
                "resources": sorted(str(r.uri) for r in resources), "_missing": missing,
                "_tools": [(t.name, t.description, t.input_schema) for t in tools]}

    result = sdk_session(talk, argv=argv, env=env, cwd=cwd, errlog=errlog, url=url, headers=headers,
                         timeout=timeout, label=label)
    tools, missing = result.pop("_tools"), result.pop("_missing")
    return finish(result, label or url or argv[0], missing, tools)


def handshake(argv: list[str], env: dict[str, str], cwd: str, timeout: float = DEFAULT_TIMEOUT,
              label: str | None = None) -> dict:
    """initialize, tools/list and ping (upgrade's health check)."""
    return probe(argv, env, cwd, timeout, label=label)

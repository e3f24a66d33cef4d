"""A real MCP session with a stdio server through the official SDK: initialize, tools/list,
ping. Used by upgrade's health check (and by test/status). Imports mcp only when called."""

from __future__ import annotations

import logging
import os
import time

from .errors import ExternalFailure

DEFAULT_TIMEOUT = 30.0


def handshake(argv: list[str], env: dict[str, str], cwd: str, timeout: float = DEFAULT_TIMEOUT) -> dict:
    """Start ``argv`` and talk MCP to it; raise ExternalFailure (exit 5) with the cause."""
    import anyio

    async def session() -> dict:
        from mcp import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=cwd)
        started = time.perf_counter()
        with open(os.devnull, "w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as client:
                    init = await client.initialize()
                    latency = (time.perf_counter() - started) * 1000
                    tools = await client.list_tools()
                    await client.send_ping()
        return {"server": init.server_info.name, "version": init.server_info.version,
                "protocolVersion": init.protocol_version, "latencyMs": round(latency, 1),
                "tools": sorted(t.name for t in tools.tools)}

    async def bounded() -> dict:
        with anyio.fail_after(timeout):
            return await session()

    # The SDK logs what it cannot parse (with a traceback) instead of raising: keep it quiet and
    # remember it, because "the server printed something that is not MCP" is the cause to show.
    noise = _Capture()
    logger = logging.getLogger("mcp")
    saved = (logger.level, logger.propagate)
    logger.addHandler(noise)
    logger.setLevel(logging.ERROR)
    logger.propagate = False
    try:
        return anyio.run(bounded)
    except TimeoutError:
        raise ExternalFailure(f"no MCP answer from {argv[0]} within {timeout:g} s", code="health_timeout") from None
    except Exception as exc:  # the SDK raises many kinds; the cause is what matters here
        cause = exc
        while isinstance(cause, BaseExceptionGroup) and cause.exceptions:
            cause = cause.exceptions[0]
        if noise.lines:
            raise ExternalFailure(f"{argv[0]} answered with something that is not MCP: {noise.lines[0][:200]}",
                                  code="not_mcp", hint="a stdio server may write only JSON-RPC on stdout; "
                                  "logs go to stderr") from None
        raise ExternalFailure(f"MCP handshake with {argv[0]} failed: {type(cause).__name__}: {cause}",
                              code="health_failed") from None
    finally:
        logger.removeHandler(noise)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            text = str(getattr(record.exc_info[1], "errors", lambda: [{}])()[0].get("input", "")) \
                if hasattr(record.exc_info[1], "errors") else str(record.exc_info[1])
            self.lines.append(text or record.getMessage())
        else:
            self.lines.append(record.getMessage())

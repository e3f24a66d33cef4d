"""Calling one tool of a registry server from the shell: the server started through the launcher
(`claudex mcp run NAME`, as its clients start it) or reached at its URL, one real MCP session
with the official SDK (imported only here), initialize, tools/list, tools/call, shutdown.

The session is sdk_probe.sdk_session's: everything the server starts carries CLAUDEX_MCP_PROBE_ID
(sdk_probe.PROBE_TAG) and is ended with it, whatever way the call ends (success, tool error,
timeout, Ctrl-C).
"""

from __future__ import annotations

import difflib
import time

from claudex_mcp.settings import config, effective
from claudex_mcp.runtime import sdk_probe, launcher
from claudex_mcp.errors import ExternalFailure, InvalidInput, NotFound

DEFAULT_TIMEOUT = 60.0  # the whole call: start, handshake and the tool's own work


def parse_arguments(data: bytes, name: str) -> dict:
    """The tool's arguments: a JSON object."""
    from claudex_mcp import jsonio

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
        return _session(name, tool, arguments, timeout, argv=argv, env=env, server=server)
    url, headers = launcher.remote(entry, layers, environ)  # disabled, missing env: said plainly
    return _session(name, tool, arguments, timeout, url=url, headers=headers, server=server)


def _session(name: str, tool: str, arguments: dict, timeout: float, argv: list[str] | None = None,
             env: dict | None = None, url: str | None = None, headers: dict | None = None,
             server: dict | None = None) -> dict:
    async def talk(client, _started: float) -> dict:
        await client.initialize()
        listed = [t.name for t in (await client.list_tools()).tools]
        if tool not in listed:
            return {"missing": listed}
        started = time.perf_counter()
        result = await client.call_tool(tool, arguments)
        elapsed = (time.perf_counter() - started) * 1000
        return {"result": result.model_dump(mode="json", by_alias=True, exclude_none=True),
                "ms": round(elapsed, 1)}

    try:  # the launcher sends a stdio server's stderr to its log: no errlog here
        answer = sdk_probe.sdk_session(talk, argv=argv, env=env, url=url, headers=headers, timeout=timeout, label=name)
    except sdk_probe.ProbeFailure as exc:
        if exc.code == "timeout":
            from claudex_mcp.runtime.runners import first_download_hint

            raise ExternalFailure(f"{name}: no answer within {timeout:g} s", code="timeout",
                                  hint=first_download_hint(server or {})
                                  or f"give it longer (--timeout), or see 'claudex mcp logs {name}'") from None
        if exc.code == "crashed":
            said = _last_words(name) if url is None else ""
            raise ExternalFailure(f"{name} exited before answering" + (f"; its log ends: {said}" if said else ""),
                                  code="crashed", hint=f"see the whole log: claudex mcp logs {name}") from None
        if exc.code == "not_mcp":
            raise
        raise ExternalFailure(exc.message, code="session_failed", hint=f"see 'claudex mcp logs {name}'") from None
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
    from claudex_mcp.runtime import checks

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

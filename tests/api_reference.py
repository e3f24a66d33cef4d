"""Generates docs/mcp-api-reference.md from the shipped servers themselves: each one is started
from its manifest for a real MCP session (the official SDK's stdio client), and what it answers to
initialize and tools/list is written down, so the reference cannot drift from the code.
`python tests/api_reference.py --write` (or `make docs`) rewrites it; tests/test_docs.py fails
when it is stale.

The servers start with a fixed, minimal environment (a temporary HOME and XDG folders, no API
keys, no DOCKER_HOST): the answer depends on the code only, needs no network and no Docker daemon.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "mcp-api-reference.md"
sys.path.insert(0, str(ROOT / "mcp-servers" / "lib" / "claudex-testing"))

# The shipped servers, in the order the reference shows them (core first).
SERVERS = ("core/codex", "qdrant", "docker-mgmt", "llm-wrapper", "codequery")
# One bound on starting a server and listing its tools (the embedded stores load lazily).
LIST_TIMEOUT = 60.0


def _environment(home: str) -> dict[str, str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": home, "LANG": "C.UTF-8",
           "PYTHONDONTWRITEBYTECODE": "1"}
    for name, sub in (("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache"), ("XDG_CONFIG_HOME", "config"),
                      ("XDG_STATE_HOME", "state")):
        env[name] = os.path.join(home, sub)
    return env


def list_server(folder: Path) -> dict:
    """initialize and tools/list with the server in ``folder``: its info, instructions and tools
    (as JSON, the wire format)."""
    import anyio
    from claudex_testing import server_command
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    with tempfile.TemporaryDirectory(prefix="claudex-api-ref-") as home:
        command = server_command(folder)
        params = StdioServerParameters(command=command.argv[0], args=command.argv[1:],
                                       env=dict(_environment(home), SERVER_DIR=str(folder)), cwd=command.cwd)

        async def session() -> dict:
            with anyio.fail_after(LIST_TIMEOUT):
                with open(os.devnull, "w") as quiet:
                    async with stdio_client(params, errlog=quiet) as (read, write):
                        async with ClientSession(read, write) as client:
                            init = await client.initialize()
                            tools = (await client.list_tools()).tools
            return {"name": init.server_info.name, "version": init.server_info.version,
                    "instructions": init.instructions,
                    "tools": [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]}

        return anyio.run(session)


def _type(schema: dict) -> str:
    """A JSON Schema as a short readable type: `string`, `integer ≥ 1`, `"a" | "b"`, `array of Message`."""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " \\| ".join(_type(s) for s in schema["anyOf"])
    if "enum" in schema:
        return " \\| ".join(json.dumps(v) for v in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"])
    kind = schema.get("type", "any")
    if isinstance(kind, list):
        kind = " \\| ".join(kind)
    if kind == "array":
        kind = f"array of {_type(schema.get('items', {}))}"
        if "maxItems" in schema:
            kind += f" (≤ {schema['maxItems']} items)"
    bounds = [f"≥ {schema['minimum']}" if "minimum" in schema else "",
              f"> {schema['exclusiveMinimum']}" if "exclusiveMinimum" in schema else "",
              f"≤ {schema['maximum']}" if "maximum" in schema else "",
              f"length ≥ {schema['minLength']}" if "minLength" in schema else "",
              f"length ≤ {schema['maxLength']}" if "maxLength" in schema else "",
              f"pattern `{schema['pattern']}`" if "pattern" in schema else ""]
    bounds = [b for b in bounds if b]
    return f"{kind} ({', '.join(bounds)})" if bounds else kind


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _properties(schema: dict, what: str) -> list[str]:
    props = schema.get("properties") or {}
    if not props:
        return [f"{what}: an object with any keys." if schema.get("type") == "object" else f"{what}: none.", ""]
    required = set(schema.get("required", []))
    rows = [f"| {what.lower()} | type | required | default | description |", "| --- | --- | --- | --- | --- |"]
    for name, prop in props.items():
        default = f"`{json.dumps(prop['default'])}`" if "default" in prop else ""
        rows.append(f"| `{name}` | {_type(prop)} | {'yes' if name in required else 'no'} | {_cell(default)} "
                    f"| {_cell(prop.get('description', ''))} |")
    for name, sub in (schema.get("$defs") or {}).items():
        fields = ", ".join(f"`{k}`: {_type(v)}" for k, v in (sub.get("properties") or {}).items())
        rows.append(f"| *{name}* | {fields or _type(sub)} | | | {_cell(sub.get('description', ''))} |")
    return rows + [""]


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


HINTS = (("readOnlyHint", "read-only"), ("destructiveHint", "destructive"), ("idempotentHint", "idempotent"),
         ("openWorldHint", "open world"))


def render_server(path: str, listing: dict) -> list[str]:
    folder = ROOT / "mcp-servers" / path
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    lines = [f"## {listing['name']}", "",
             f"`mcp-servers/{path}/` · version {listing['version']} · "
             f"[README](../mcp-servers/{path}/README.md) · {manifest['metadata']['description']}", ""]
    if listing.get("instructions"):
        lines += ["Instructions the server gives its clients:", "", f"> {listing['instructions']}", ""]
    lines += ["| tool | what it does |", "| --- | --- |"]
    lines += [f"| [`{t['name']}`](#{t['name']}) | {_cell(_first_line(t.get('description', '')))} |" for t in listing["tools"]]
    lines.append("")
    for tool in listing["tools"]:
        lines += [f"### {tool['name']}", "", tool.get("description", "").strip(), ""]
        hints = tool.get("annotations") or {}
        said = [f"{label}: {'yes' if hints[key] else 'no'}" for key, label in HINTS if key in hints]
        if said:
            lines += ["Annotations: " + " · ".join(said), ""]
        lines += _properties(tool["inputSchema"], "Argument")
        if "outputSchema" in tool:
            lines += _properties(tool["outputSchema"], "Result")
        schemas = {"inputSchema": tool["inputSchema"], **({"outputSchema": tool["outputSchema"]}
                                                          if "outputSchema" in tool else {})}
        lines += ["<details><summary>JSON schemas (as tools/list gives them)</summary>", "", "```json",
                  json.dumps(schemas, indent=2, ensure_ascii=False), "```", "", "</details>", ""]
    return lines


def render(listings: dict[str, dict] | None = None) -> str:
    listings = listings or {path: list_server(ROOT / "mcp-servers" / path) for path in SERVERS}
    lines = ["# MCP API reference", "",
             "<!-- Generated by `make docs` (tests/api_reference.py) from a real MCP session with each "
             "server. Do not edit by hand. -->", "",
             "The tools of every shipped server, as the server itself lists them (`tools/list`): names, "
             "descriptions, annotations, and the input and output JSON Schemas the MCP SDK builds from "
             "the tool functions' type hints. Tool names and arguments are the servers' public contract. "
             "A tool that fails answers with `isError: true` and one readable message.", "",
             "The command-line reference (`claudex mcp <verb>` and the pipe scripts) is [cli.md](cli.md), "
             "generated from `--help` the same way.", "",
             "| server | tools |", "| --- | --- |"]
    for path in SERVERS:
        listing = listings[path]
        lines.append(f"| [{listing['name']}](#{listing['name']}) | "
                     + ", ".join(f"`{t['name']}`" for t in listing["tools"]) + " |")
    lines.append("")
    for path in SERVERS:
        lines += render_server(path, listings[path])
    return "\n".join(lines).rstrip("\n") + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        TARGET.write_text(render(), encoding="utf-8")
    else:
        sys.stdout.write(render())

"""Pure renderers: an effective config in, each MCP client's server entries out (no I/O, no printing).

Only enabled servers are rendered. A stdio server is always rendered from its ``launch`` (our
launcher, which resolves secrets when the client starts it), never from the raw command/args/env,
so no secret value reaches a generated file. Remote servers keep their ``${VAR}`` references,
translated to the client's own syntax, or are skipped with a warning when the client cannot
express them.

The formats, and where each was confirmed:

``claude-code``  ``{"mcpServers": {name: entry}}`` in ``.mcp.json`` (project), ``~/.mcp.json``
    or the top-level ``mcpServers`` of ``~/.claude.json`` (user scope). Entries:
    ``{"type": "stdio", "command", "args", "env"}`` and ``{"type": "http"|"sse", "url",
    "headers"}``. Claude Code expands ``${VAR}`` and ``${VAR:-default}`` in command, args, env,
    url and headers, so remote values are written unchanged.
    https://code.claude.com/docs/en/mcp ("Environment variable expansion in .mcp.json", "MCP
    installation scopes"; user scope = top-level ``mcpServers`` of ~/.claude.json).

``codex``  ``[mcp_servers.<name>]`` tables in ``$CODEX_HOME/config.toml`` (default ~/.codex).
    stdio: ``command``, ``args``, ``env`` (literal values), ``env_vars`` (names Codex forwards
    from its own environment), ``cwd``. Streamable HTTP: ``url``, ``bearer_token_env_var``,
    ``http_headers`` (literal), ``env_http_headers`` (header -> variable name). Shared:
    ``startup_timeout_sec``, ``tool_timeout_sec``, ``enabled``, ``enabled_tools``,
    ``disabled_tools``. Codex has no SSE transport and does not expand ``${VAR}`` anywhere in
    config.toml. https://developers.openai.com/codex/mcp and openai/codex ``docs/config.md``
    ("MCP integration"); the parser is ``RawMcpServerConfig`` / ``McpServerTransportConfig``
    in ``codex-rs/core/src/config/types.rs`` (a table with ``command`` is stdio, with ``url``
    streamable HTTP; anything else is "invalid transport").

``claude-desktop``  ``{"mcpServers": {name: {"command", "args", "env"}}}`` in
    ``claude_desktop_config.json``: local (stdio) servers only, no variable expansion; remote
    servers are added in the app (Settings > Connectors), not in this file.
    https://modelcontextprotocol.io/quickstart/user (macOS
    ``~/Library/Application Support/Claude/``, Windows ``%APPDATA%\\Claude\\``). Linux has no
    official build; the community builds use Electron's userData, ``$XDG_CONFIG_HOME/Claude/``.

``cursor``  ``{"mcpServers": {name: entry}}`` in ``<project>/.cursor/mcp.json`` or
    ``~/.cursor/mcp.json``. stdio ``{"command", "args", "env"}``; remote ``{"url", "headers"}``
    (Cursor tells Streamable HTTP from SSE itself). Cursor interpolates ``${env:NAME}`` (and
    ``${userHome}``, ``${workspaceFolder}``) in command, args, env, url and headers, so
    ``${VAR}`` is written as ``${env:VAR}``; ``${VAR:-default}`` has no equivalent.
    https://cursor.com/docs/mcp ("Using mcp.json", "Config interpolation").

``vscode``  ``{"servers": {name: entry}, "inputs": [...]}`` in ``<project>/.vscode/mcp.json``.
    Entries ``{"type": "stdio", "command", "args", "env"}`` and ``{"type": "http"|"sse", "url",
    "headers"}``. VS Code resolves its predefined variables, ``${input:id}`` and
    ``${env:NAME}``, not a bare ``${VAR}``.
    https://code.visualstudio.com/docs/copilot/reference/mcp-configuration and
    microsoft/vscode#245237 (``${env:...}`` is supported in mcp.json).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from .errors import InvalidInput

CLAUDE_CODE = "claude-code"
CODEX = "codex"
CLAUDE_DESKTOP = "claude-desktop"
CURSOR = "cursor"
VSCODE = "vscode"
CLIENTS = (CLAUDE_CODE, CODEX, CLAUDE_DESKTOP, CURSOR, VSCODE)
TRANSPORTS = ("stdio", "http", "sse")

SERVER_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_BEARER = re.compile(r"Bearer \$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def servers_key(client: str) -> str:
    """The key under which a client keeps its servers."""
    return {VSCODE: "servers", CODEX: "mcp_servers"}.get(client, "mcpServers")


class Rendered:
    """One client's entries for the enabled servers, in name order, and why any were skipped."""

    def __init__(self, client: str) -> None:
        self.client = client
        self.entries: dict[str, dict] = {}
        self.warnings: list[str] = []


class _Skip(Exception):
    """This server cannot be expressed in this client's format; the message says why."""


def render(client: str, effective: Mapping[str, Any]) -> Rendered:
    """The entries ``client`` gets for the enabled servers of a checked effective config."""
    renderer = _RENDERERS[client]
    result = Rendered(client)
    servers = effective.get("servers") or {}
    for name in sorted(servers):
        server = servers[name]
        if server.get("enabled") is not True:
            continue
        try:
            result.entries[name] = renderer(server)
        except _Skip as why:
            result.warnings.append(f"skipped {name}: {why}")
    return result


# ---- per-client entries -------------------------------------------------------------------

def _launch(server: Mapping) -> tuple[str, list[str], dict[str, str]]:
    launch = server["launch"]
    env = launch.get("env") or {}
    return launch["command"], list(launch.get("args") or []), {k: env[k] for k in sorted(env)}


def _headers(server: Mapping, client: str) -> dict[str, str]:
    """The headers of a remote server, refusing any that would put a secret in the file: one
    the merge step withheld, or one the secret detector recognises."""
    from . import secrets

    headers = server.get("headers") or {}
    withheld = set(server.get("withheld") or [])
    for name in sorted(headers):
        value = headers[name]
        if f"/headers/{name}" in withheld or secrets.is_secret(("headers", name), value):
            raise _Skip(f"header {name} holds a literal value from the config (a secret, or set in the user "
                        f"layer), and {client} would get it in plain text in a shared file; set it as a "
                        f"reference, e.g. 'claudex mcp config set SERVER headers.{name} \"Bearer ${{TOKEN}}\"' "
                        f"with TOKEN exported where {client} starts")
        if "$${" in value:
            raise _Skip(f"header {name} holds an escaped '$${{', which {client} cannot write literally")
    if "$${" in server.get("url", ""):
        raise _Skip(f"its url holds an escaped '$${{', which {client} cannot write literally")
    return {k: headers[k] for k in sorted(headers)}


def _claude_code(server: Mapping) -> dict:
    if server["transport"] == "stdio":
        command, args, env = _launch(server)
        return {"type": "stdio", "command": command, "args": args, "env": env}
    entry = {"type": server["transport"], "url": server["url"]}
    headers = _headers(server, "Claude Code")
    if headers:
        entry["headers"] = headers
    return entry


def _claude_desktop(server: Mapping) -> dict:
    if server["transport"] != "stdio":
        raise _Skip(f"Claude Desktop reads only local (stdio) servers from its config file; "
                    f"add this {server['transport']} server in the app under Settings > Connectors")
    command, args, env = _launch(server)
    return {"command": command, "args": args, "env": env}


def _env_colon(value: str, what: str, client: str) -> str:
    """``${VAR}`` written as ``${env:VAR}``, the only variable form Cursor and VS Code expand."""
    converted = _REFERENCE.sub(r"${env:\1}", value)
    if "${" in _REFERENCE.sub("", value):
        raise _Skip(f"{what} uses a variable form other than ${{NAME}} (such as ${{NAME:-default}}), "
                    f"which {client} cannot expand")
    return converted


def _remote_with_env_colon(server: Mapping, client: str) -> dict:
    entry = {"url": _env_colon(server["url"], "its url", client)}
    headers = _headers(server, client)
    if headers:
        entry["headers"] = {k: _env_colon(v, f"header {k}", client) for k, v in headers.items()}
    return entry


def _cursor(server: Mapping) -> dict:
    if server["transport"] == "stdio":
        command, args, env = _launch(server)
        return {"command": command, "args": args, "env": env}
    return _remote_with_env_colon(server, "Cursor")


def _vscode(server: Mapping) -> dict:
    if server["transport"] == "stdio":
        command, args, env = _launch(server)
        return {"type": "stdio", "command": command, "args": args, "env": env}
    return {"type": server["transport"], **_remote_with_env_colon(server, "VS Code")}


def _codex(server: Mapping) -> dict:
    transport = server["transport"]
    if transport == "stdio":
        command, args, env = _launch(server)
        entry: dict[str, Any] = {"command": command, "args": args}
        if env:
            entry["env"] = env
        if server.get("passEnv"):
            # Codex does not expand ${VAR}; env_vars makes it forward these from its own
            # environment to our launcher, which reads the secrets itself.
            entry["env_vars"] = sorted(server["passEnv"])
        return entry
    if transport != "http":
        raise _Skip(f"Codex connects to stdio and streamable HTTP servers only, not {transport}")
    if "${" in server["url"]:
        raise _Skip("its url uses variables, and Codex does not expand variables in config.toml")
    bearer: str | None = None
    literal: dict[str, str] = {}
    from_env: dict[str, str] = {}
    for header, value in _headers(server, "Codex").items():
        bearer_match = _BEARER.fullmatch(value)
        whole_match = _REFERENCE.fullmatch(value)
        if header.lower() == "authorization" and bearer_match:
            bearer = bearer_match.group(1)
        elif whole_match:
            from_env[header] = whole_match.group(1)
        elif "${" not in value:
            literal[header] = value
        else:
            raise _Skip(f"header {header} mixes text and variables or uses a default; Codex takes a "
                        f"header literally, whole from one variable, or as 'Authorization: Bearer ${{VAR}}'")
    entry = {"url": server["url"]}
    if bearer:
        entry["bearer_token_env_var"] = bearer
    if literal:
        entry["http_headers"] = literal
    if from_env:
        entry["env_http_headers"] = from_env
    return entry


_RENDERERS = {CLAUDE_CODE: _claude_code, CODEX: _codex, CLAUDE_DESKTOP: _claude_desktop,
              CURSOR: _cursor, VSCODE: _vscode}


# ---- JSON documents -----------------------------------------------------------------------

def merge_servers(current: Mapping[str, Any], remove: Iterable[str], put: Mapping[str, Any]) -> dict:
    """``current`` with ``remove`` dropped and ``put`` written: an entry that is already there
    keeps its place, new ones follow in the order given; every other entry is left as it was."""
    remove = set(remove)
    merged = {}
    for name, value in current.items():
        if name in put:
            merged[name] = put[name]
        elif name not in remove:
            merged[name] = value
    for name, value in put.items():
        if name not in merged:
            merged[name] = value
    return merged


def dump_json(doc: Any) -> bytes:
    """A client's JSON file: 2-space indent, the document's own key order, UTF-8, final newline."""
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# ---- TOML (Codex) -------------------------------------------------------------------------

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SHORT_ESCAPES = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}


def toml_string(text: str) -> str:
    """A TOML basic string; control characters are escaped, other non-ASCII stays as it is."""
    out = []
    for ch in text:
        if ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else toml_string(key)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def toml_table(path: Iterable[str], entry: Mapping[str, Any]) -> str:
    header = "[" + ".".join(toml_key(p) for p in path) + "]\n"
    return header + "".join(f"{toml_key(k)} = {toml_value(v)}\n" for k, v in entry.items())


def render_codex(entries: Mapping[str, Mapping]) -> str:
    """The ``[mcp_servers.<name>]`` tables for ``entries``, one blank line between them."""
    return "\n".join(toml_table(("mcp_servers", name), entry) for name, entry in entries.items())


class _Line:
    __slots__ = ("start", "end", "kind", "path")

    def __init__(self, start: int, end: int, kind: str, path: tuple[str, ...] = ()) -> None:
        self.start, self.end, self.path = start, end, path
        self.kind = kind  # "header", "blank", "comment" or "content"


def _header_path(line: str) -> tuple[str, ...]:
    """The dotted key of a ``[table]`` or ``[[array]]`` header line, decoded by tomllib itself."""
    import tomllib

    body = line.strip()
    double = body.startswith("[[")
    i = 2 if double else 1
    quote = None
    while i < len(body):
        ch = body[i]
        if quote:
            if ch == "\\" and quote == '"':
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "]":
            break
        i += 1
    key_text = body[2 if double else 1:i]
    node: Any = tomllib.loads(f"{key_text} = 0")
    path = []
    while isinstance(node, dict):
        (name, node), = node.items()
        path.append(name)
    return tuple(path)


def _scan_toml(text: str) -> list[_Line]:
    """Every line of a valid TOML document, classified; multi-line strings and arrays are
    followed so that a '[' inside a value is never taken for a table header."""
    lines: list[_Line] = []
    in_multiline: str | None = None  # '"""' or "'''"
    depth = 0
    pos = 0
    for raw in text.splitlines(keepends=True):
        start, pos = pos, pos + len(raw)
        stripped = raw.strip()
        if in_multiline is None and depth == 0:
            if not stripped:
                lines.append(_Line(start, pos, "blank"))
                continue
            if stripped.startswith("#"):
                lines.append(_Line(start, pos, "comment"))
                continue
            if stripped.startswith("["):
                lines.append(_Line(start, pos, "header", _header_path(raw)))
                continue
        lines.append(_Line(start, pos, "content"))
        i, n = 0, len(raw)
        quote = None  # a one-line string: '"' or "'"
        while i < n:
            ch = raw[i]
            if in_multiline:
                if in_multiline == '"""' and ch == "\\":
                    i += 2
                    continue
                if raw.startswith(in_multiline, i):
                    i += 3
                    while i < n and raw[i] == in_multiline[0]:  # up to two quotes end the content
                        i += 1
                    in_multiline = None
                    continue
            elif quote:
                if quote == '"' and ch == "\\":
                    i += 2
                    continue
                if ch == quote:
                    quote = None
            elif ch == "#":
                break
            elif raw.startswith('"""', i) or raw.startswith("'''", i):
                in_multiline = raw[i:i + 3]
                i += 3
                continue
            elif ch in "\"'":
                quote = ch
            elif ch in "[{":
                depth += 1
            elif ch in "]}":
                depth -= 1
            i += 1
    return lines


def codex_blocks(text: str) -> dict[str, list[tuple[int, int]]]:
    """For each ``[mcp_servers.<name>]`` table (and its sub-tables), the character ranges of its
    text: the header through its last key line, plus the blank lines right after it. Comments
    and blank lines that precede the next header stay with that header."""
    lines = _scan_toml(text)
    blocks: dict[str, list[tuple[int, int]]] = {}
    for index, line in enumerate(lines):
        if line.kind != "header" or len(line.path) < 2 or line.path[0] != "mcp_servers":
            continue
        last = index
        following = index + 1
        while following < len(lines) and lines[following].kind != "header":
            if lines[following].kind == "content":
                last = following
            following += 1
        end = last + 1
        while end < len(lines) and lines[end].kind == "blank":
            end += 1
        stop = lines[end].start if end < len(lines) else len(text)
        blocks.setdefault(line.path[1], []).append((line.start, stop))
    return blocks


def splice_codex(text: str, remove: Iterable[str], tables: str) -> str:
    """``text`` without the blocks of the ``remove`` servers, with ``tables`` appended at the end
    after one blank line. Everything else keeps its bytes."""
    cuts = sorted(span for name, spans in codex_blocks(text).items() if name in set(remove) for span in spans)
    kept, pos = [], 0
    for start, stop in cuts:
        kept.append(text[pos:start])
        pos = stop
    kept.append(text[pos:])
    rest = "".join(kept)
    if not tables:
        return rest
    if not rest.strip():
        return tables
    if not rest.endswith("\n"):
        rest += "\n"
    if not rest.endswith("\n\n"):
        rest += "\n"
    return rest + tables


# ---- the effective config -----------------------------------------------------------------

def _fail(name: str, pointer: str, message: str) -> InvalidInput:
    return InvalidInput(f"{name} {pointer or '/'}: {message}", path=name, code="invalid_effective_config",
                        hint="pipe in the effective config that claudex's merge step produces "
                             "(apiVersion, project, registry, servers)")


def _pointer(*parts: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _string_map(value: Any, name: str, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, dict):
        raise _fail(name, where, f"expected an object of strings, got {_type(value)}")
    for key, item in value.items():
        if not isinstance(item, str):
            raise _fail(name, where + _pointer(key), f"expected a string, got {_type(item)}")


def _string_list(value: Any, name: str, where: str) -> None:
    if value is None:
        return
    if not isinstance(value, list):
        raise _fail(name, where, f"expected a list of strings, got {_type(value)}")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise _fail(name, where + _pointer(index), f"expected a string, got {_type(item)}")


def _type(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            type(None): "null"}.get(type(value), "a number")


def check_effective(doc: Any, name: str = "<input>") -> None:
    """Raise InvalidInput, naming the JSON pointer, when ``doc`` is not an effective config
    that can be rendered. Disabled servers are only checked for ``enabled``."""
    if not isinstance(doc, dict):
        raise _fail(name, "", f"expected an object, got {_type(doc)}")
    if doc.get("apiVersion") != "v1":
        raise _fail(name, "/apiVersion", f"expected \"v1\", got {json.dumps(doc.get('apiVersion'))}")
    project = doc.get("project")
    if project is not None:
        if not isinstance(project, dict):
            raise _fail(name, "/project", f"expected an object or null, got {_type(project)}")
        directory = project.get("dir")
        if not isinstance(directory, str) or not directory.startswith("/"):
            raise _fail(name, "/project/dir", "expected the project's absolute path")
    servers = doc.get("servers")
    if not isinstance(servers, dict):
        raise _fail(name, "/servers", f"expected an object, got {_type(servers)}")
    for server_name, server in servers.items():
        where = _pointer("servers", server_name)
        if not SERVER_NAME.fullmatch(server_name):
            raise _fail(name, where, "a server name is lowercase letters, digits and dashes, 1-63 characters")
        if not isinstance(server, dict):
            raise _fail(name, where, f"expected an object, got {_type(server)}")
        if not isinstance(server.get("enabled"), bool):
            raise _fail(name, where + "/enabled", f"expected true or false, got {_type(server.get('enabled'))}")
        if not server["enabled"]:
            continue
        transport = server.get("transport")
        if transport not in TRANSPORTS:
            raise _fail(name, where + "/transport", f"expected one of {', '.join(TRANSPORTS)}, "
                                                    f"got {json.dumps(transport)}")
        _string_list(server.get("passEnv"), name, where + "/passEnv")
        for index, variable in enumerate(server.get("passEnv") or []):
            if not ENV_NAME.fullmatch(variable):
                raise _fail(name, where + _pointer("passEnv", index), f"{variable!r} is not a variable name")
        if transport == "stdio":
            launch = server.get("launch")
            if not isinstance(launch, dict):
                raise _fail(name, where + "/launch", f"a stdio server needs launch {{command, args, env}}, "
                                                     f"got {_type(launch)}")
            if not isinstance(launch.get("command"), str) or not launch["command"]:
                raise _fail(name, where + "/launch/command", "expected the launcher's command")
            _string_list(launch.get("args"), name, where + "/launch/args")
            _string_map(launch.get("env"), name, where + "/launch/env")
        else:
            if not isinstance(server.get("url"), str) or not server["url"]:
                raise _fail(name, where + "/url", f"a {transport} server needs a url")
            _string_map(server.get("headers"), name, where + "/headers")

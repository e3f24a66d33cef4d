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
    url and headers, so remote values are written unchanged. ``headersHelper`` (http/sse): a
    shell command line whose stdout is a JSON object of headers, run at each connection in
    ``~/.claude`` with Claude Code's environment; its headers win over ``headers`` (tried with
    Claude Code 2.1). It carries the headers whose values the layers keep (``claudex mcp
    headers NAME``), so no secret is written in the file.
    https://code.claude.com/docs/en/mcp ("Environment variable expansion in .mcp.json", "MCP
    installation scopes"; user scope = top-level ``mcpServers`` of ~/.claude.json).

``codex``  ``[mcp_servers.<name>]`` tables in ``$CODEX_HOME/config.toml`` (default ~/.codex).
    stdio: ``command``, ``args``, ``env`` (literal values), ``env_vars`` (names Codex forwards
    from its own environment), ``cwd``. Streamable HTTP: ``url``, ``bearer_token_env_var``,
    ``http_headers`` (literal), ``env_http_headers`` (header -> variable name),
    ``http_headers_helper`` (a shell command line printing a JSON object of headers, run in
    ``$CODEX_HOME`` with only HOME and PATH of Codex's environment, so the helper's own
    variables are written before it; ``http_headers`` win over its headers; tried with Codex
    0.171 through ``codex app-server``'s ``mcpServerStatus/list``). Shared:
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
from collections.abc import Callable, Iterable, Mapping
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from claudex_mcp import expand

CLAUDE_CODE = "claude-code"
CODEX = "codex"
CLAUDE_DESKTOP = "claude-desktop"
CURSOR = "cursor"
VSCODE = "vscode"
CLIENTS = (CLAUDE_CODE, CODEX, CLAUDE_DESKTOP, CURSOR, VSCODE)
TRANSPORTS = ("stdio", "http", "sse")
PRIVATE = 0o600
PUBLIC = 0o644

# A reference without a default: the one form every client that expands variables reads.
_REFERENCE = re.compile(r"\$\{(" + expand.NAME + r")\}")
_BEARER = re.compile(r"Bearer \$\{(" + expand.NAME + r")\}")


def servers_key(client: str) -> str:
    """The key under which a client keeps its servers."""
    return TABLE[client].servers_key  # TABLE is at the end, after the renderers it names


class Rendered:
    """One client's entries for the enabled servers, in name order, and why any were skipped."""

    def __init__(self, client: str) -> None:
        self.client = client
        self.entries: dict[str, dict] = {}
        self.warnings: list[str] = []
        # VS Code only: the prompts (``inputs``) its entries refer to as ${input:id}, by id.
        self.inputs: dict[str, dict] = {}


class _Skip(Exception):
    """This server cannot be expressed in this client's format; the message says why."""


def render(client: str, effective: Mapping[str, Any]) -> Rendered:
    """The entries ``client`` gets for the enabled servers of a checked effective config."""
    renderer = TABLE[client].render
    result = Rendered(client)
    servers = effective.get("servers") or {}
    for name in sorted(servers):
        server = servers[name]
        if server.get("enabled") is not True:
            continue
        try:
            result.entries[name] = renderer(server, name, result)
        except _Skip as why:
            result.warnings.append(f"skipped {name}: {why}")
    return result


# ---- per-client entries -------------------------------------------------------------------

def _launch(server: Mapping) -> tuple[str, list[str], dict[str, str]]:
    launch = server["launch"]
    env = launch.get("env") or {}
    return launch["command"], list(launch.get("args") or []), {k: env[k] for k in sorted(env)}


INPUT_PREFIX = "claudex-"  # the VS Code inputs claudex writes (and may remove) have ids starting so
_SCHEME = re.compile(r"^(Bearer|Basic|Token)\s+", re.I)
_INPUT = re.compile(r"\$\{input:claudex-[a-z0-9-]+\}")  # a prompt of ours, written by _headers


def _headers(server: Mapping, client: str, prompts: dict[str, dict] | None = None,
             server_name: str = "") -> dict[str, str]:
    """The headers of a remote server, with none that would put a secret in the file: one the
    merge step withheld, or one the secret detector recognises. With ``prompts`` (VS Code), such
    a header becomes a ``${input:id}`` prompt that VS Code asks for once and keeps in its secret
    storage; without, the server is skipped with the reason."""
    from claudex_mcp import secrets

    headers = dict(server.get("headers") or {})
    withheld = set(server.get("withheld") or [])
    for name in sorted(headers):
        value = headers[name]
        if (f"/headers/{name}" in withheld or secrets.is_secret(("headers", name), value)) and prompts is not None:
            ident = INPUT_PREFIX + re.sub(r"[^a-z0-9]+", "-", f"{server_name}-{name}".lower()).strip("-")
            scheme = _SCHEME.match(value)
            headers[name] = (scheme.group(0) if scheme else "") + "${input:" + ident + "}"
            prompts[ident] = {"type": "promptString", "id": ident, "password": True,
                              "description": f"{name} header for the MCP server {server_name}"
                                             + (f" (after '{scheme.group(1)} ')" if scheme else "")}
            continue
        if f"/headers/{name}" in withheld or secrets.is_secret(("headers", name), value):
            raise _Skip(f"header {name} holds a literal value from the config (a secret, or set in the user "
                        f"layer), and {client} would get it in plain text in a shared file; set it as a "
                        f"reference, e.g. 'claudex mcp config set SERVER headers.{name} \"Bearer ${{TOKEN}}\"' "
                        f"with TOKEN exported where {client} starts")
        if "$${" in value:
            raise _Skip(f"header {name} holds an escaped '$${{', which {client} cannot write literally")
    if "$${" in server.get("url", ""):
        raise _Skip(f"its url holds an escaped '$${{', which {client} cannot write literally")
    if secrets.secret_shape(server.get("url", "")):
        raise _Skip(f"its url holds a password or token, which {client} would get in plain text; put it in "
                    f"a header that refers to a variable instead")
    return {k: headers[k] for k in sorted(headers)}


def _helper(server: Mapping) -> tuple[Mapping, str | None]:
    """``server`` without the headers its headers helper prints, and the helper as one shell
    command line (what Claude Code's headersHelper and Codex's http_headers_helper run: both
    through a shell, so every word is quoted), or None when it has none."""
    helper = server.get("headersHelper")
    if not helper:
        return server, None
    import shlex

    helped = set(helper["headers"])
    rest = dict(server, headers={k: v for k, v in (server.get("headers") or {}).items() if k not in helped})
    rest["withheld"] = [p for p in server.get("withheld") or [] if p.removeprefix("/headers/") not in helped]
    env = helper.get("env") or {}
    words = [f"{k}={shlex.quote(env[k])}" for k in sorted(env)] + [shlex.quote(helper["command"])]
    return rest, " ".join(words + [shlex.quote(a) for a in helper.get("args") or []])


def _layer_headers_warning(server: Mapping, name: str, client: str, out: Rendered) -> None:
    withheld = set(server.get("withheld") or [])
    missed = [h for h in (server.get("headersHelper") or {}).get("headers", []) if f"/headers/{h}" not in withheld]
    if missed:
        out.warnings.append(f"{name}: {client} runs no headers helper, so it does not get {', '.join(missed)} "
                            f"from your config layers; export the variables those headers name where {client} "
                            f"starts (Claude Code and Codex get them from 'claudex mcp headers {name}')")


def _claude_code(server: Mapping, name: str, out: Rendered) -> dict:
    if server["transport"] == "stdio":
        command, args, env = _launch(server)
        return {"type": "stdio", "command": command, "args": args, "env": env}
    entry = {"type": server["transport"], "url": server["url"]}
    server, helper = _helper(server)
    headers = _headers(server, "Claude Code")
    if headers:
        entry["headers"] = headers
    if helper:
        entry["headersHelper"] = helper
    return entry


def _claude_desktop(server: Mapping, name: str, out: Rendered) -> dict:
    if server["transport"] != "stdio":
        raise _Skip(f"Claude Desktop reads only local (stdio) servers from its config file; "
                    f"add this {server['transport']} server in the app under Settings > Connectors")
    command, args, env = _launch(server)
    return {"command": command, "args": args, "env": env}


def _env_colon(value: str, what: str, client: str) -> str:
    """``${VAR}`` written as ``${env:VAR}``, the only variable form Cursor and VS Code expand."""
    converted = _REFERENCE.sub(r"${env:\1}", value)
    if "${" in _INPUT.sub("", _REFERENCE.sub("", value)):
        raise _Skip(f"{what} uses a variable form other than ${{NAME}} (such as ${{NAME:-default}}), "
                    f"which {client} cannot expand")
    return converted


def _remote_with_env_colon(server: Mapping, client: str, prompts: dict[str, dict] | None = None,
                           name: str = "") -> dict:
    entry = {"url": _env_colon(server["url"], "its url", client)}
    headers = _headers(server, client, prompts, name)
    if headers:
        entry["headers"] = {k: _env_colon(v, f"header {k}", client) for k, v in headers.items()}
    return entry


def _cursor(server: Mapping, name: str, out: Rendered) -> dict:
    if server["transport"] == "stdio":
        command, args, env = _launch(server)
        return {"command": command, "args": args, "env": env}
    entry = _remote_with_env_colon(server, "Cursor")
    _layer_headers_warning(server, name, "Cursor", out)
    return entry


def _vscode(server: Mapping, name: str, out: Rendered) -> dict:
    if server["transport"] == "stdio":
        command, args, env = _launch(server)
        return {"type": "stdio", "command": command, "args": args, "env": env}
    entry = {"type": server["transport"], **_remote_with_env_colon(server, "VS Code", out.inputs, name)}
    _layer_headers_warning(server, name, "VS Code", out)
    return entry


def _codex(server: Mapping, name: str, out: Rendered) -> dict:
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
    server, helper = _helper(server)
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
    if helper:
        entry["http_headers_helper"] = helper
    return entry


# ---- the clients: where their files live and how their entries are rendered ----------------

class Client:
    """One client: its name in messages, its file format, the key that holds its servers, and
    where its files live per scope: (base folder, path under it, mode of a new file). The base is
    "home", "project", "codex_home" (``$CODEX_HOME``, default ~/.codex) or "config_home"
    (``$XDG_CONFIG_HOME``). A scope the client does not have is missing; "default" is the
    client's usual file (for Cursor: the project's when there is one). ``render`` turns one
    enabled server into the client's entry, or raises _Skip with the reason it cannot."""

    __slots__ = ("name", "label", "format", "servers_key", "files", "render")

    def __init__(self, name: str, label: str, format: str, servers_key: str,
                 files: dict[str, tuple[str, str, int]], render: Callable[[Mapping], dict]) -> None:
        self.name, self.label, self.format, self.servers_key, self.files = name, label, format, servers_key, files
        self.render = render  # one enabled server of the effective config -> the client's entry


TABLE = {
    CLAUDE_CODE: Client(CLAUDE_CODE, "Claude Code", "json", "mcpServers", {
        "default": ("home", ".mcp.json", PUBLIC),
        "project": ("project", ".mcp.json", PUBLIC),
        "user": ("home", ".claude.json", PRIVATE)}, _claude_code),
    CODEX: Client(CODEX, "Codex", "toml", "mcp_servers", {
        "default": ("codex_home", "config.toml", PRIVATE),
        "project": ("project", ".codex/config.toml", PRIVATE),
        "user": ("codex_home", "config.toml", PRIVATE)}, _codex),
    CLAUDE_DESKTOP: Client(CLAUDE_DESKTOP, "Claude Desktop", "json", "mcpServers", {
        "default": ("config_home", "Claude/claude_desktop_config.json", PUBLIC),
        "user": ("config_home", "Claude/claude_desktop_config.json", PUBLIC)}, _claude_desktop),
    CURSOR: Client(CURSOR, "Cursor", "json", "mcpServers", {
        "project": ("project", ".cursor/mcp.json", PUBLIC),
        "user": ("home", ".cursor/mcp.json", PUBLIC)}, _cursor),
    VSCODE: Client(VSCODE, "VS Code", "json", "servers", {
        "default": ("project", ".vscode/mcp.json", PUBLIC),
        "project": ("project", ".vscode/mcp.json", PUBLIC)}, _vscode),
}


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

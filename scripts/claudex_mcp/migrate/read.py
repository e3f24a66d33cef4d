"""Reading the clients' files: where they are (``discover``), each parsed once into its server
entries (``read_source``), an entry turned into a definition ``add`` would take
(``to_definition``), and the text of an entry as the file writes it. Reads only; nothing here
prints.

Sources: Claude Code ``~/.claude.json`` (``mcpServers`` and each ``projects[<dir>].mcpServers``),
``.mcp.json`` (home and the working folder), Claude Desktop
``$XDG_CONFIG_HOME/Claude/claude_desktop_config.json``, Codex ``$CODEX_HOME/config.toml``
(``[mcp_servers.*]``), Cursor ``~/.cursor/mcp.json`` and ``.cursor/mcp.json``, VS Code
``.vscode/mcp.json`` (``servers``; JSON with comments).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from claudex_mcp.install import adopt
from claudex_mcp import jsonio, paths
from claudex_mcp.clients import jsonedit
from claudex_mcp.migrate import backup
from claudex_mcp.errors import ClaudexError, InvalidInput

_LEGACY_RUNNERS = {"node", "nodejs", "npx", "bunx", "pnpx"}
_LEGACY_CODEX = re.compile(r"(^|[/@])codex-mcp(-server)?([/@.]|$)|^@openai/codex(@[^/]*)?$|^codex$")


# ---- the clients' files -----------------------------------------------------------------------

class Source:
    """One client file: what it is, its bytes (read once, digested), and its server entries."""

    def __init__(self, path: Path, kind: str, client: str, project: Path | None) -> None:
        self.path, self.kind, self.client, self.project = path, kind, client, project
        self.data = b""
        self.digest = ""
        self.entries: list[Entry] = []
        self.problem: str | None = None
        self.jsonc = False  # comments or trailing commas: positions are found in its stripped text

    def describe(self) -> dict:
        return {"file": str(self.path), "client": self.client, "kind": self.kind, "digest": self.digest or None,
                "servers": len(self.entries), **({"problem": self.problem} if self.problem else {})}


class Entry:
    """One server entry of a source: its key, where it is (the keys down to the servers object,
    or the TOML table), its raw value, and the project it is scoped to."""

    def __init__(self, source: Source, container: tuple[str, ...], key: str, raw, project: Path | None) -> None:
        self.source, self.container, self.key, self.raw, self.project = source, container, key, raw, project

    @property
    def pointer(self) -> str:
        if self.source.kind == "codex":
            return "mcp_servers." + self.key
        return "".join("/" + p.replace("~", "~0").replace("/", "~1") for p in self.container + (self.key,))


def codex_home() -> Path:
    value = os.environ.get("CODEX_HOME")
    return Path(value) if value and os.path.isabs(value) else paths.home() / ".codex"


def discover(cwd: Path | None = None) -> list[tuple[Path, str]]:
    """The client files that exist, home ones first, then the working folder's project files."""
    home = paths.home()
    found = [(home / ".claude.json", "claude-json"), (home / ".mcp.json", "mcp-json"),
             (paths.config_home() / "Claude" / "claude_desktop_config.json", "claude-desktop"),
             (codex_home() / "config.toml", "codex"), (home / ".cursor" / "mcp.json", "cursor")]
    where = (cwd or Path.cwd()).absolute()
    if where != home:
        found += [(where / ".mcp.json", "mcp-json"), (where / ".cursor" / "mcp.json", "cursor"),
                  (where / ".vscode" / "mcp.json", "vscode")]
    return [(path, kind) for path, kind in found if os.path.lexists(path)]


def kind_of(path: Path) -> str:
    """What a file given with --from is, by its name."""
    if path.name == ".claude.json":
        return "claude-json"
    if path.suffix == ".toml":
        return "codex"
    if path.name == "claude_desktop_config.json":
        return "claude-desktop"
    if path.parent.name == ".cursor":
        return "cursor"
    if path.parent.name == ".vscode":
        return "vscode"
    return "mcp-json"


_CLIENT = {"claude-json": "claude-code", "mcp-json": "claude-code", "claude-desktop": "claude-desktop",
           "codex": "codex", "cursor": "cursor", "vscode": "vscode"}


def _project_of(path: Path, kind: str) -> Path | None:
    """The project a project file belongs to (None for a user-level file)."""
    home = paths.home().absolute()
    if kind in ("cursor", "vscode"):
        folder = path.absolute().parent.parent
    elif kind == "mcp-json":
        folder = path.absolute().parent
    else:
        return None
    return None if folder == home else folder


def read_source(path: Path, kind: str) -> Source:
    """Read and parse one client file; a problem (unreadable, invalid) is kept on the Source."""
    source = Source(path, kind, _CLIENT[kind], _project_of(path, kind))
    try:
        # A link to a regular file is read (and later written) through; whether it may be
        # written is checked when it is (atomic.target_of), so the dry run shows it too.
        source.data = jsonio.read_bytes(os.path.realpath(path), limit=backup.MAX_FILE)
    except ClaudexError as exc:
        source.problem = exc.message
        return source
    source.digest = backup.digest(source.data)
    try:
        text = source.data.decode("utf-8-sig")
    except UnicodeDecodeError:
        source.problem = f"{path}: not UTF-8"
        return source
    if kind == "codex":
        import tomllib

        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            source.problem = f"{path}: invalid TOML: {exc}"
            return source
        for key, raw in (doc.get("mcp_servers") or {}).items():
            source.entries.append(Entry(source, ("mcp_servers",), key, raw, None))
        return source
    try:
        doc, source.jsonc = jsonio.parse_json_or_jsonc(source.data, str(path))
    except ClaudexError as exc:
        source.problem = exc.message
        return source
    if not isinstance(doc, dict):
        source.problem = f"{path}: the top level is not a JSON object"
        return source
    key = "servers" if kind == "vscode" else "mcpServers"
    containers = [((key,), doc.get(key), source.project)]
    projects = doc.get("projects") if kind == "claude-json" else None
    if isinstance(projects, dict):
        for folder, settings in projects.items():
            if isinstance(settings, dict) and settings.get("mcpServers"):
                containers.append((("projects", folder, "mcpServers"), settings["mcpServers"], Path(folder)))
    for container, servers, project in containers:
        if servers is None:
            continue
        if not isinstance(servers, dict):
            source.problem = f"{path} {'/'.join(container)}: expected an object of servers"
            return source
        for name, raw in servers.items():
            source.entries.append(Entry(source, container, name, raw, project))
    return source


# ---- one entry -> a definition ----------------------------------------------------------------

def is_launcher(raw: dict) -> bool:
    """Whether an entry is already claudex's launcher (`claudex mcp run NAME`)."""
    command, args = str(raw.get("command") or ""), [str(a) for a in raw.get("args") or []]
    starts = os.path.basename(command) == "claudex" or any("claudex_mcp" in a for a in args)
    return starts and any(args[i:i + 2] == ["mcp", "run"] for i in range(len(args)))


def is_legacy_codex(raw: dict) -> bool:
    """The original Claudex's static Node codex entry: run by node/npx/bunx with an argument that
    names the codex MCP package (``.../codex-mcp-server/...``, ``codex-mcp``, ``@openai/codex``,
    or ``codex`` itself)."""
    command = os.path.basename(str(raw.get("command") or ""))
    return command in _LEGACY_RUNNERS and any(_LEGACY_CODEX.search(str(a)) for a in raw.get("args") or [])


_CLIENT_VAR = re.compile(r"\$\{(env|input):([^}]+)\}|\$\{(workspaceFolder|userHome)\}")


def _translate(value: str, entry: Entry, inputs: list[str]) -> str:
    """A client's own variable forms in claudex's: ${env:X} -> ${X}; ${input:id} -> ${ID} (to
    export); ${workspaceFolder} and ${userHome} -> the folders."""
    def one(match: re.Match) -> str:
        if match.group(1) == "env":
            return "${" + match.group(2) + "}"
        if match.group(1) == "input":
            name = adopt.variable(match.group(2))
            inputs.append(name)
            return "${" + name + "}"
        if match.group(3) == "userHome":
            return str(paths.home())
        if entry.project is None:
            raise InvalidInput("it uses ${workspaceFolder} outside a project", code="invalid_definition",
                               hint="give the folder as an absolute path")
        return str(entry.project)
    return _CLIENT_VAR.sub(one, value)


def to_definition(entry: Entry) -> tuple[dict, list[str]]:
    """The checked definition of an entry, and the variables that VS Code prompted for."""
    raw = entry.raw
    if not isinstance(raw, dict):
        raise InvalidInput("the entry is not an object", code="invalid_definition", hint="fix the entry")
    inputs: list[str] = []
    tr = lambda v: _translate(v, entry, inputs) if isinstance(v, str) else v
    trd = lambda d: {k: tr(v) for k, v in d.items()} if isinstance(d, dict) else d
    if entry.source.kind == "codex":
        if raw.get("enabled") is False:
            raise InvalidInput("it is disabled in Codex", code="disabled", hint="enable it there first to migrate it")
        env = dict(raw.get("env") or {})
        for name in raw.get("env_vars") or []:
            env.setdefault(name, "${" + name + "}")
        headers = dict(raw.get("http_headers") or {})
        headers.update({h: "${" + v + "}" for h, v in (raw.get("env_http_headers") or {}).items()})
        if raw.get("bearer_token_env_var"):
            headers["Authorization"] = "Bearer ${" + raw["bearer_token_env_var"] + "}"
        if "url" in raw:
            return adopt.definition(url=raw["url"], transport="http", headers=headers), inputs
        return adopt.definition(command=raw.get("command"), args=raw.get("args"), env=env, cwd=raw.get("cwd")), inputs
    kind = raw.get("type")
    if kind in ("streamable-http", "streamableHttp", "http"):
        kind = "http"
    if "url" in raw or kind in ("http", "sse"):
        url = tr(raw.get("url"))
        if kind is None:  # Cursor tells the transports apart itself; an /sse path is SSE
            kind = "sse" if isinstance(url, str) and url.rstrip("/").endswith("/sse") else "http"
        return adopt.definition(url=url, transport=kind, headers=trd(raw.get("headers"))), inputs
    if kind not in (None, "stdio"):
        raise InvalidInput(f"unknown type {kind!r}", code="invalid_transport", hint="stdio, http or sse")
    args = raw.get("args")
    return adopt.definition(command=tr(raw.get("command")), args=[tr(a) for a in args] if isinstance(args, list) else args,
                            env=trd(raw.get("env")), cwd=tr(raw.get("cwd"))), inputs


# ---- an entry's text --------------------------------------------------------------------------

def entry_texts(source: Source, text: str, entries: list[Entry]) -> list[str | None]:
    """The text of each entry as the file writes it: its JSON value, or its TOML table(s); None
    when it is not where a rewrite would find it (then it is not rewritten either)."""
    if source.kind == "codex":
        from claudex_mcp.clients import codex_toml

        blocks = codex_toml.codex_blocks(text)
        return ["".join(text[start:stop] for start, stop in sorted(blocks[e.key])) if e.key in blocks else None
                for e in entries]
    found: dict[tuple, dict] = {}
    for entry in entries:
        if entry.container not in found:
            found[entry.container] = {m.key: m for m in jsonedit.object_members(text, entry.container, source.jsonc)}
    members = [found[e.container].get(e.key) for e in entries]
    return [text[m.value_start:m.value_end] if m is not None else None for m in members]


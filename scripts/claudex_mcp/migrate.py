"""Migration: the servers that clients already define in their own files become registry servers
(through adopt.py), and each entry in those files becomes the launcher entry of its server, with
every other byte of the file kept (comments too). Backed up first, rolled back on any failure,
and by hand with ``rollback(ID)``. Nothing here prints.

Sources (``discover``): Claude Code ``~/.claude.json`` (``mcpServers`` and each
``projects[<dir>].mcpServers``), ``.mcp.json`` (home and the working folder), Claude Desktop
``$XDG_CONFIG_HOME/Claude/claude_desktop_config.json``, Codex ``$CODEX_HOME/config.toml``
(``[mcp_servers.*]``), Cursor ``~/.cursor/mcp.json`` and ``.cursor/mcp.json``, VS Code
``.vscode/mcp.json`` (``servers``; JSON with comments).

The order of a migration, each step safe to kill: plan (read only) -> backup set (every file
that any later step may touch, with its digest; folder 700, files 600) -> the servers, one
mutation each, their origin naming the backup set -> the client files, one atomic write each ->
the backup set marked complete. A failure or Ctrl-C after the backup rolls everything back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from pathlib import Path

from . import adopt, atomic, jsonedit, jsonio, paths
from .errors import ClaudexError, Conflict, InvalidInput, NotFound, UsageError
from .mutation import Report, quiet
from .staging import fault

CONFLICT_POLICIES = ("skip", "rename", "replace")
BACKUPS = "migrations"
_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4,16}")
_LEGACY_RUNNERS = {"node", "nodejs", "npx", "bunx", "pnpx"}
_LEGACY_CODEX = re.compile(r"(^|[/@])codex-mcp(-server)?([/@.]|$)|^@openai/codex(@[^/]*)?$|^codex$")


# ---- reading the clients' files -------------------------------------------------------------

class Source:
    """One client file: what it is, its bytes (read once, digested), and its server entries."""

    def __init__(self, path: Path, kind: str, client: str, project: Path | None) -> None:
        self.path, self.kind, self.client, self.project = path, kind, client, project
        self.data = b""
        self.digest = ""
        self.entries: list[Entry] = []
        self.problem: str | None = None

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


def blank_jsonc(text: str) -> str:
    """``text`` with its comments and trailing commas turned into spaces (newlines kept): the
    same length, so that every position found in it is a position in ``text``."""
    out = list(text)
    i, n = 0, len(text)
    last_comma = None
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            i += 1
            last_comma = None
            continue
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                out[i] = " "
                i += 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            for j in range(i, end):
                if out[j] != "\n":
                    out[j] = " "
            i = end
            continue
        if ch == ",":
            last_comma = i
        elif ch in "}]" and last_comma is not None:
            out[last_comma] = " "
            last_comma = None
        elif not ch.isspace():
            last_comma = None
        i += 1
    return "".join(out)


def read_source(path: Path, kind: str) -> Source:
    """Read and parse one client file; a problem (unreadable, invalid) is kept on the Source."""
    source = Source(path, kind, _CLIENT[kind], _project_of(path, kind))
    try:
        # A link to a regular file is read (and later written) through; whether it may be
        # written is checked when it is (atomic.target_of), so the dry run shows it too.
        source.data = jsonio.read_bytes(os.path.realpath(path), limit=256 * 1024 * 1024)
    except ClaudexError as exc:
        source.problem = exc.message
        return source
    source.digest = "sha256:" + hashlib.sha256(source.data).hexdigest()
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
        doc = jsonio.parse(blank_jsonc(text).encode("utf-8"), str(path))
    except ClaudexError as exc:
        source.problem = exc.message
        return source
    if not isinstance(doc, dict):
        source.problem = f"{path}: the top level is not a JSON object"
        return source
    key = "servers" if kind == "vscode" else "mcpServers"
    containers = [((key,), doc.get(key), source.project)]
    if kind == "claude-json":
        for folder, settings in (doc.get("projects") or {}).items():
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


# ---- the plan ---------------------------------------------------------------------------------

def _where(entry: Entry) -> str:
    return f"{entry.source.path}#{entry.pointer}"


def plan(registry: Path, files: list[str] | None = None, on_conflict: str = "skip",
         cwd: Path | None = None, auto: bool = False) -> dict:
    """What a migration would do, read-only: {sources, servers, files, skipped, warnings}, plus
    the internal parts apply() needs (under "_"). ``files`` (None: auto) are read, and with
    ``auto`` also every client file found."""
    from . import registry as registry_mod

    if on_conflict not in CONFLICT_POLICIES:
        raise UsageError(f"unknown conflict policy {on_conflict!r}", hint="skip, rename or replace")
    wanted = discover(cwd) if auto or not files else []
    if files:
        for given in files:
            path = Path(given).expanduser().absolute()
            if not os.path.lexists(path):
                raise NotFound(f"no such file: {given}", path=given, hint="give a client's config file, or --from auto")
            wanted.append((path, kind_of(path)))
    sources, seen = [], set()
    for path, kind in wanted:
        source = read_source(path, kind)
        real = os.path.realpath(path)
        if real in seen:
            continue  # the same file twice (a symlink and its target)
        seen.add(real)
        if source.problem and files and path in [Path(f).expanduser().absolute() for f in files]:
            raise InvalidInput(f"cannot migrate from {path}: {source.problem}", path=str(path), code="invalid_source",
                               hint="fix the file, or leave it out of --from; nothing was changed")
        sources.append(source)
    recorded = registry_mod.reconciled(registry) if paths.registry_file(registry).exists() else {}
    servers: dict[str, dict] = {}  # registry name -> {adopted, spec, entries, projects, global, action}
    skipped: list[dict] = []
    warnings: list[str] = []
    codex: dict = {"entries": [], "env": {}}
    taken = set(recorded)
    from . import generate

    try:
        written = generate.load_state()
    except ClaudexError:
        written = {}
    for source in sources:
        ours = set((written.get(os.path.realpath(source.path)) or {}).get("servers") or [])
        for entry in source.entries:
            raw = entry.raw if isinstance(entry.raw, dict) else {}
            if is_launcher(raw) or (len(entry.container) == 1 and entry.key in ours):
                skipped.append({"entry": _where(entry), "reason": "already a claudex launcher entry" if is_launcher(raw)
                                else "written by claudex (generate)"})
                continue
            if is_legacy_codex(raw):
                if "codex" not in recorded:
                    skipped.append({"entry": _where(entry), "reason": "the original Claudex codex entry; the core "
                                    "codex server that replaces it is not in the registry ('claudex mcp init')"})
                    continue
                from . import secrets

                codex["entries"].append(entry)
                for key, value in (raw.get("env") or {}).items():
                    if isinstance(value, str) and secrets.is_secret(("env", key), value):
                        codex["env"][key] = value
                continue
            name = adopt.suggest_name(entry.key)
            try:
                if entry.project is not None and not entry.project.is_dir():
                    raise NotFound(f"its project folder {entry.project} does not exist", code="no_project",
                                   hint="remove the stale project from the client's file")
                if name is None:
                    raise InvalidInput(f"{entry.key!r} cannot be made a server name", code="invalid_name",
                                       hint="rename the entry: lowercase letters, digits and dashes")
                spec, inputs = to_definition(entry)
                adopted = adopt.to_manifest(name, spec, f"Migrated from {entry.source.path} ({entry.pointer}).")
            except ClaudexError as exc:
                skipped.append({"entry": _where(entry), "reason": exc.message, "hint": exc.hint})
                continue
            for var in inputs:
                adopted.export.setdefault(var, "")
            identity = json.dumps([spec], sort_keys=True)
            if spec["transport"] != "stdio" and _same(recorded, name, identity):
                # A remote server's entry reads the same before and after its migration.
                skipped.append({"entry": _where(entry), "reason": f"already migrated (the registry's {name})"})
                continue
            chosen = _resolve(name, identity, entry, servers, recorded, taken, on_conflict, skipped)
            if chosen is None:
                continue
            item = servers.get(chosen)
            if item is None or item["identity"] != identity:
                if chosen != name:
                    adopted = adopt.to_manifest(chosen, spec, adopted.manifest["metadata"]["description"])
                    for var in inputs:
                        adopted.export.setdefault(var, "")
                item = servers[chosen] = {"name": chosen, "adopted": adopted, "identity": identity, "entries": [],
                                          "projects": [], "global": False,
                                          "replace": chosen in recorded and chosen not in _same(recorded, chosen, identity),
                                          "existing": chosen in _same(recorded, chosen, identity)}
            item["entries"].append(entry)
            if entry.project is None:
                item["global"] = True
            elif entry.project not in item["projects"]:
                item["projects"].append(entry.project)
            warnings += [w for w in adopted.warnings if w not in warnings]
    files_plan: dict[str, dict] = {}
    for item in servers.values():
        for entry in item["entries"]:
            files_plan.setdefault(str(entry.source.path), {"source": entry.source, "entries": []})["entries"].append(
                (entry, item["name"]))
    for entry in codex["entries"]:
        files_plan.setdefault(str(entry.source.path), {"source": entry.source, "entries": []})["entries"].append(
            (entry, "codex"))
    for item in servers.values():
        if item["global"]:
            item["projects"] = []
    for path in files_plan:
        atomic.target_of(path)  # refused (read-only, not a file, a dangling link) before anything changes
    return {"sources": [s.describe() for s in sources],
            "servers": [_describe(item) for item in servers.values()],
            "codex": {"entries": [_where(e) for e in codex["entries"]], "secrets": sorted(codex["env"])} if codex["entries"] else None,
            "files": [{"file": path, "client": f["source"].client,
                       "entries": [{"entry": e.pointer, "server": n} for e, n in f["entries"]]}
                      for path, f in files_plan.items()],
            "skipped": skipped, "warnings": warnings,
            "_": {"servers": servers, "files": files_plan, "codex": codex}}


def _same(recorded: dict, name: str, identity: str) -> set[str]:
    """{name} when the registry's server ``name`` was migrated from the same definition before."""
    source = (recorded.get(name) or {}).get("source") or {}
    return {name} if source.get("type") == "migrated" and (source.get("origin") or {}).get("identity") == \
        hashlib.sha256(identity.encode()).hexdigest() else set()


def _resolve(name: str, identity: str, entry: Entry, servers: dict, recorded: dict, taken: set,
             on_conflict: str, skipped: list) -> str | None:
    """The registry name an entry goes to under the conflict policy, or None (skipped)."""
    item = servers.get(name)
    clash = None
    if item is not None and item["identity"] != identity:
        clash = f"{name} is defined differently in {_where(item['entries'][0])}"
    elif item is None and name in recorded and not _same(recorded, name, identity):
        location = recorded[name].get("location")
        clash = f"{name} is already in the registry ({location}/)"
        if location == "core" and on_conflict == "replace":
            skipped.append({"entry": _where(entry), "reason": clash + "; a core server is never replaced",
                            "hint": "rename the entry, or use --on-conflict rename"})
            return None
    if clash is None:
        return name
    if on_conflict == "skip":
        skipped.append({"entry": _where(entry), "reason": clash,
                        "hint": "use --on-conflict rename (keep both) or replace (this one wins)"})
        return None
    if on_conflict == "rename":
        n = 2
        while f"{name}-{n}" in taken or f"{name}-{n}" in servers:
            n += 1
        taken.add(f"{name}-{n}")
        return f"{name}-{n}"
    if item is not None:  # replace: the later definition wins
        for earlier in item["entries"]:
            skipped.append({"entry": _where(earlier), "reason": f"replaced by {_where(entry)} (--on-conflict replace)"})
        del servers[name]
    return name


def _describe(item: dict) -> dict:
    adopted = item["adopted"]
    server = adopted.manifest["server"]
    return {"name": item["name"], "transport": server.get("transport", "stdio"),
            "from": [_where(e) for e in item["entries"]],
            "scope": "global" if item["global"] else "project",
            "projects": [str(p) for p in item["projects"]], "replace": item["replace"], "existing": item["existing"],
            "secrets": adopted.secrets(), "manifest": adopted.manifest}


# ---- backups ----------------------------------------------------------------------------------

def backups_dir() -> Path:
    return paths.state_home() / "claudex" / BACKUPS


def _backup_root(create: bool = False) -> Path:
    from . import safepath

    root = backups_dir()
    if create:
        root.parent.mkdir(parents=True, exist_ok=True)
    safepath.real_dir(root, create=0o700 if create else None, private=True)
    return root


def _touched_files(p: dict) -> list[Path]:
    """Every file a migration may write: the sources it rewrites, the user layer, the layers of
    the projects it enables servers for, and the clients' files that claudex regenerates after
    each mutation (and its record of them)."""
    from . import generate

    found: list[Path] = [Path(path) for path in p["_"]["files"]]
    found.append(paths.user_config_file())
    from .project import Project

    for item in p["_"]["servers"].values():
        for folder in item["projects"]:
            found.append(Project(folder.name, folder).config_file)
    found.append(generate.state_file())
    try:
        for target in generate.load_state():  # regenerated at the end, with their .bak copies
            found += [Path(target), Path(target + ".bak")]
    except ClaudexError:
        pass
    unique: dict[str, Path] = {}
    for path in found:
        real = Path(os.path.realpath(path))
        unique.setdefault(str(real), real)
    return list(unique.values())


def _new_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(3).hex()


def _write_backup(p: dict, report: Report) -> tuple[str, Path, dict]:
    from . import safepath

    root = _backup_root(create=True)
    ident = _new_id()
    folder = root / ident
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    (folder / "files").mkdir(mode=0o700)
    record: dict = {"id": ident, "createdAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "complete": False,
                    "files": [], "servers": [], "replaced": []}
    for index, path in enumerate(_touched_files(p)):
        item = {"path": str(path), "existed": os.path.lexists(path)}
        if not item["existed"]:  # the folders a new file would need, removed again on rollback
            missing = [q for q in path.parents if not os.path.lexists(q)]
            item["createdDirs"] = [str(q) for q in missing]
        if item["existed"]:
            fd = safepath.open_regular(path, os.O_RDONLY)
            try:
                data = b""
                while chunk := os.read(fd, 1 << 20):
                    data += chunk
                item["mode"] = os.fstat(fd).st_mode & 0o7777
            finally:
                os.close(fd)
            item["digest"] = "sha256:" + hashlib.sha256(data).hexdigest()
            item["copy"] = f"files/{index}"
            atomic.write_bytes(folder / item["copy"], data, mode=0o600)
        record["files"].append(item)
    report("backup", str(folder))
    atomic.write_json(folder / "backup.json", record, mode=0o600)
    return ident, folder, record


def _load_backup(ident: str | None) -> tuple[Path, dict]:
    root = _backup_root()
    if ident is None:
        ids = sorted(d for d in os.listdir(root) if _ID.fullmatch(d)) if root.is_dir() else []
        if not ids:
            raise NotFound("there is no migration backup", path=str(root), code="no_backup",
                           hint="'claudex mcp migrate --list-backups' lists them; a migration makes one")
        ident = ids[-1]
    if not _ID.fullmatch(ident):
        raise UsageError(f"invalid backup id {ident!r}", code="invalid_backup_id",
                         hint="'claudex mcp migrate --list-backups' shows the ids")
    folder = root / ident
    if not (folder / "backup.json").is_file():
        raise NotFound(f"no migration backup {ident}", path=str(folder), code="no_backup",
                       hint="'claudex mcp migrate --list-backups' shows the ids")
    return folder, jsonio.load(folder / "backup.json")


def list_backups() -> list[dict]:
    root = backups_dir()
    if not root.is_dir():
        return []
    found = []
    for ident in sorted(d for d in os.listdir(root) if _ID.fullmatch(d)):
        try:
            _, record = _load_backup(ident)
        except ClaudexError:
            continue
        found.append({"id": ident, "createdAt": record.get("createdAt"), "complete": record.get("complete"),
                      "rolledBack": record.get("rolledBackAt"), "files": [f["path"] for f in record["files"]],
                      "servers": record.get("servers", []), "folder": str(root / ident)})
    return found


# ---- applying and rolling back ----------------------------------------------------------------

def migrate(registry: Path, files: list[str] | None = None, *, auto: bool = False, on_conflict: str = "skip",
            dry_run: bool = False, cwd: Path | None = None, report: Report = quiet) -> dict:
    """Plan, and unless ``dry_run`` apply: backup, servers, client files. Any failure after the
    backup rolls back, then raises."""
    from . import lock

    if not paths.registry_file(registry).exists():
        from .errors import no_registry

        raise no_registry(registry)
    p = plan(registry, files, on_conflict, cwd, auto)
    result = {k: v for k, v in p.items() if k != "_"}
    result["dryRun"] = dry_run
    if dry_run or (not p["_"]["servers"] and not p["_"]["codex"]["entries"]):
        result["backup"] = None
        return result
    _backup_root(create=True)
    with lock.path_lock(backups_dir()):
        ident, folder, record = _write_backup(p, report)
        fault("backup")
        try:
            done = _apply(registry, p, ident, folder, record, report)
        except BaseException as exc:
            try:
                rollback(registry, ident, report=report, locked=True)
            except Exception as again:  # the backup set stays; say where
                raise InvalidInput(f"the migration failed ({getattr(exc, 'message', exc)}) and so did its "
                                   f"rollback ({getattr(again, 'message', again)})", code="rollback_failed",
                                   path=str(folder), hint=f"'claudex mcp migrate --rollback {ident}' tries again") from None
            raise
    result["warnings"] = result["warnings"] + done.pop("warnings", [])
    result.update(done, backup={"id": ident, "folder": str(folder)})
    return result


def _apply(registry: Path, p: dict, ident: str, folder: Path, record: dict, report: Report) -> dict:
    from . import mutation
    from .project import Project

    servers, files, codex = p["_"]["servers"], p["_"]["files"], p["_"]["codex"]
    record["servers"] = sorted(n for n, item in servers.items() if not item["existing"])
    record["replaced"] = sorted(n for n, item in servers.items() if item["replace"])
    for name in record["replaced"]:  # a copy of the server that --on-conflict replace removes
        old = adopt.locate(registry, name)
        if old is not None:
            shutil.copytree(old[1], folder / "servers" / name, symlinks=True)
    atomic.write_json(folder / "backup.json", record, mode=0o600)
    added = []
    for name, item in servers.items():
        first = item["entries"][0]
        source = {"type": "migrated", "origin": {
            "file": str(first.source.path), "pointer": first.pointer, "digest": first.source.digest,
            "client": first.source.client, "backup": ident, "identity": hashlib.sha256(item["identity"].encode()).hexdigest(),
            **({"project": str(item["projects"][0])} if item["projects"] else {})}}
        projects = [Project(f.name, f) for f in item["projects"]]
        if item["existing"]:  # migrated before from the same definition: only its entries are rewritten
            adopt.enable_in_projects(registry, name, projects, report)
            continue
        report("server", name)
        done = adopt.add(registry, item["adopted"], source, project=projects[0] if projects else None,
                         replace=item["replace"], regenerate=False, report=report)
        if projects[1:]:
            adopt.enable_in_projects(registry, name, projects[1:], report)
        added.append(done)
        fault("server")
    if codex["env"]:
        adopt.set_user_secrets(registry, "codex", codex["env"], report, regenerate=False)
    fault("clients")
    rewritten = []
    for path, f in files.items():
        report("client", path)
        rewritten.append(_rewrite(registry, f["source"], f["entries"]))
        fault("client")
    # Once, at the end: the files claudex writes get the new servers (the files just rewritten
    # have claimed their launcher entries, so they stay as they are).
    fault("regenerate")
    regenerated = mutation.regenerate(registry)
    record["complete"] = True
    atomic.write_json(folder / "backup.json", record, mode=0o600)
    return {"added": added, "rewritten": rewritten, **regenerated}


def _effective(registry: Path, project: Path | None, cache_: dict) -> dict:
    from . import cache, effective, project as project_mod

    if project not in cache_:
        index, _ = cache.load(registry, refresh=True)
        cache_[project] = effective.build(index, project_mod.Project(project.name, project) if project else None, registry)
    return cache_[project]


def _rewrite(registry: Path, source: Source, entries: list[tuple[Entry, str]]) -> dict:
    """Each migrated entry of ``source`` replaced by its server's launcher entry, in one atomic
    write; every other byte kept. The file must not have changed since it was read."""
    from . import clients

    real = atomic.target_of(source.path)
    data = jsonio.read_bytes(real, limit=256 * 1024 * 1024)
    if data != source.data:
        raise Conflict(f"{source.path} changed while it was being migrated", path=str(source.path),
                       code="source_changed", hint="run the migration again")
    rendered: dict[tuple, dict] = {}
    warnings: list[str] = []
    effective_cache: dict = {}
    for entry, name in entries:
        doc = _effective(registry, entry.project, effective_cache)
        out = clients.render(source.client, doc)
        if name in out.entries:
            rendered[(entry.container, entry.key)] = {"name": name, "entry": out.entries[name]}
        else:
            why = next((w for w in out.warnings if w.startswith(f"skipped {name}:")), f"{name} is not enabled there")
            warnings.append(f"{source.path}: kept the entry {entry.key} ({why})")
    text = data.decode("utf-8")
    if source.kind == "codex":
        new = _rewrite_toml(source, text, rendered, warnings)
    else:
        new = _rewrite_json(text, rendered, warnings, source)
    mode = os.stat(real).st_mode & 0o7777
    if new != text:
        # A file claudex writes anyway (generate's record): the launcher entries become its own.
        top = sorted(v["name"] for (container, _), v in rendered.items() if len(container) == 1)
        from . import generate

        generate.claim(real, top)
    changed = atomic.write_bytes(real, new.encode("utf-8"), mode=mode) if new != text else False
    return {"file": str(source.path), "client": source.client, "changed": changed,
            "entries": sorted(f"{k}->{v['name']}" for (_, k), v in rendered.items()), "warnings": warnings}


def _render_value(value, indent: str) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)


def _rewrite_json(text: str, rendered: dict, warnings: list[str], source: Source) -> str:
    blank = blank_jsonc(text)
    offset = 1 if blank.startswith("\ufeff") else 0
    top = _skip(blank, offset)
    edits: list[tuple[int, int, str]] = []
    by_container: dict[tuple, dict] = {}
    for (container, key), item in rendered.items():
        by_container.setdefault(container, {})[key] = item
    for container, wanted in by_container.items():
        start = top
        for part in container:
            found, _ = jsonedit.members(blank, start)
            member = next(m for m in found if m.key == part)
            start = member.value_start
        found, _ = jsonedit.members(blank, start)
        present = {m.key for m in found}
        for member in found:
            if member.key not in wanted:
                continue
            item = wanted[member.key]
            if item["name"] != member.key and item["name"] in present:
                warnings.append(f"{source.path}: kept the entry {member.key}; an entry {item['name']} is there too")
                continue
            line_start = blank.rfind("\n", 0, member.key_start) + 1
            indent = re.match(r"[ \t]*", blank[line_start:]).group(0)
            edits.append((member.value_start, member.value_end, _render_value(item["entry"], indent)))
            if item["name"] != member.key:
                edits.append((member.key_start, member.key_end, json.dumps(item["name"])))
    for start, end, body in sorted(edits, reverse=True):
        text = text[:start] + body + text[end:]
    jsonio.parse(blank_jsonc(text).encode("utf-8"), str(source.path))  # still a valid document
    return text


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\n\r":
        i += 1
    return i


def _rewrite_toml(source: Source, text: str, rendered: dict, warnings: list[str]) -> str:
    import tomllib

    from . import codex_toml

    blocks = codex_toml.codex_blocks(text)
    put, remove = {}, set()
    for (_, key), item in rendered.items():
        if key not in blocks:
            warnings.append(f"{source.path}: kept the entry {key}; it is not written as a [mcp_servers.{key}] table")
            continue
        remove.add(key)
        put[item["name"]] = item["entry"]
    if not put:
        return text
    new = codex_toml.splice_codex(text, remove, codex_toml.render_codex(put))
    before, after = tomllib.loads(text), tomllib.loads(new)
    expected = {k: v for k, v in (before.get("mcp_servers") or {}).items() if k not in remove}
    expected.update(put)
    if {k: v for k, v in before.items() if k != "mcp_servers"} != {k: v for k, v in after.items() if k != "mcp_servers"} \
            or after.get("mcp_servers") != expected:
        raise InvalidInput(f"{source.path}: the mcp_servers tables cannot be rewritten in place", path=str(source.path),
                           code="invalid_target", hint="write the servers as [mcp_servers.NAME] tables; nothing was changed")
    return new


def rollback(registry: Path, ident: str | None = None, *, report: Report = quiet, locked: bool = False) -> dict:
    """Undo a migration: remove the servers it added (those whose origin names this backup
    set), put back those it replaced, then restore every file byte for byte (a file it created
    is removed)."""
    from . import lifecycle, lock, registry as registry_mod

    if not locked:
        _backup_root(create=True)
        with lock.path_lock(backups_dir()):
            return rollback(registry, ident, report=report, locked=True)
    from . import mutation

    folder, record = _load_backup(ident)
    ident = record["id"]
    with mutation.begin(registry, "rollback", report, regenerate_clients=False):
        pass  # recovery: what a killed migration's last mutation left in .staging goes
    removed, restored_servers = [], []
    for name in record.get("servers", []):
        # The folder's own install marker says where it came from, even when a kill kept
        # registry.json from recording it.
        where = adopt.locate(registry, name)
        marker = registry_mod.read_marker(where[1]) if where is not None else {}
        origin = (marker.get("source") or {}).get("origin") or {}
        if origin.get("backup") == ident:
            report("remove", name)
            lifecycle.uninstall(registry, name, report=report)
            removed.append(name)
    for name in record.get("replaced", []):
        copy_dir = folder / "servers" / name
        if copy_dir.is_dir() and adopt.locate(registry, name) is None:
            adopt.put_back(registry, name, copy_dir, report=report)
            restored_servers.append(name)
    restored = []
    (folder / "at-rollback").mkdir(mode=0o700, exist_ok=True)
    for item in record["files"]:
        path = Path(item["path"])
        if item["existed"]:
            data = (folder / item["copy"]).read_bytes()
            if hashlib.sha256(data).hexdigest() != item["digest"].split(":", 1)[1]:
                raise InvalidInput(f"the backup copy of {path} is damaged", path=str(folder / item["copy"]),
                                   code="backup_damaged", hint="restore that file by hand")
            current = path.read_bytes() if path.is_file() else None
            if current is not None and current != data:  # what is replaced now is kept too
                atomic.write_bytes(folder / "at-rollback" / Path(item["copy"]).name, current, mode=0o600)
            if current != data:
                atomic.write_bytes(atomic.target_of(path) if os.path.lexists(path) else path, data, mode=item["mode"])
                restored.append(str(path))
            elif (os.stat(path).st_mode & 0o7777) != item["mode"]:
                os.chmod(path, item["mode"])
        elif os.path.lexists(path):
            st = os.lstat(path)
            import stat as stat_mod

            if stat_mod.S_ISREG(st.st_mode):
                atomic.write_bytes(folder / "at-rollback" / f"created-{record['files'].index(item)}",
                                   path.read_bytes(), mode=0o600)
                os.unlink(path)
                restored.append(str(path))
        for created in item.get("createdDirs", []):  # deepest first; only when left empty
            try:
                os.rmdir(created)
            except OSError:
                break
    record["rolledBackAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    atomic.write_json(folder / "backup.json", record, mode=0o600)
    from . import cache

    cache.invalidate()
    return {"action": "rollback", "id": ident, "removed": removed, "restoredServers": restored_servers,
            "restored": restored, "folder": str(folder)}

"""Migration: the servers that clients already define in their own files become registry servers
(through install/adopt.py), and each entry in those files becomes the launcher entry of its server, with
every other byte of the file kept (comments too). Backed up first (backup.py), rolled back
on any failure, and by hand with ``migrate_backup.rollback(ID)``. Nothing here prints.

Sources (``discover``): Claude Code ``~/.claude.json`` (``mcpServers`` and each
``projects[<dir>].mcpServers``), ``.mcp.json`` (home and the working folder), Claude Desktop
``$XDG_CONFIG_HOME/Claude/claude_desktop_config.json``, Codex ``$CODEX_HOME/config.toml``
(``[mcp_servers.*]``), Cursor ``~/.cursor/mcp.json`` and ``.cursor/mcp.json``, VS Code
``.vscode/mcp.json`` (``servers``; JSON with comments).

The order of a migration, each step safe to kill: plan (read only) -> backup set (what each
later step changes: the entries, the layers' keys; no secret) -> the servers, one mutation each,
their origin naming the backup set, their secrets in the user layer -> the client files, one
atomic write each, each recorded in the set before it is written -> the clients regenerated ->
the backup set marked complete. A failure or Ctrl-C after the backup rolls everything back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable
from pathlib import Path

from claudex_mcp.install import adopt
from claudex_mcp import atomic, jsonio, paths
from claudex_mcp.clients import jsonedit
from claudex_mcp.migrate import backup
from claudex_mcp.errors import ClaudexError, Conflict, InvalidInput, NotFound, UsageError
from claudex_mcp.store.mutation import Report, quiet
from claudex_mcp.store.staging import fault

CONFLICT_POLICIES = ("skip", "rename", "replace")
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


def project_problem(folder: str) -> str | None:
    """Why the folder of a ``projects[<folder>]`` key of ~/.claude.json may not get a project
    layer (``<folder>/.claudex/mcp.json``), or None. The key is only text in a file: it must be a
    canonical absolute path (no ``..``, no link on the way) inside the home folder, and a real
    folder of this user, or the migration would write where the user never worked."""
    home = os.path.realpath(paths.home())
    if not os.path.isabs(folder) or os.path.normpath(folder) != folder or folder.startswith("//"):
        return f"{folder!r} is not a canonical absolute path"
    if folder != home and not folder.startswith(home.rstrip("/") + "/"):
        return f"{folder} is outside your home folder ({home})"
    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        return None  # said as "does not exist" by the plan
    except OSError as exc:
        return f"{folder} cannot be read ({exc.strerror})"
    if stat.S_ISLNK(st.st_mode) or os.path.realpath(folder) != folder:
        return f"{folder} is or goes through a symbolic link"
    if not stat.S_ISDIR(st.st_mode):
        return f"{folder} is not a folder"
    if st.st_uid != os.geteuid():
        return f"{folder} is not yours (owner uid {st.st_uid})"
    return None


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
        doc, source.jsonc = backup.parse_json(source.data, str(path))
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


# ---- the plan ---------------------------------------------------------------------------------

def _where(entry: Entry) -> str:
    return f"{entry.source.path}#{entry.pointer}"


def plan(registry: Path, files: list[str] | None = None, on_conflict: str = "skip",
         cwd: Path | None = None, auto: bool = False) -> dict:
    """What a migration would do, read-only: {sources, servers, files, skipped, warnings}, plus
    the internal parts apply() needs (under "_"). ``files`` (None: auto) are read, and with
    ``auto`` also every client file found."""
    from claudex_mcp.store import registry as registry_mod

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
    codex: dict = {"entries": [], "env": {}, "of": {}}  # "of": each entry's own secrets
    taken = set(recorded)
    user_env = _user_env()
    from claudex_mcp.clients import generate

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
                _legacy_codex(entry, raw, codex, recorded, skipped)
                continue
            name = adopt.suggest_name(entry.key)
            try:
                _check_project(entry)
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
            # In memory only: the definition with its secrets, so that two entries that differ in
            # a secret are two definitions.
            identity = json.dumps([spec], sort_keys=True)
            same = _same(recorded, name, adopted, user_env)
            if spec["transport"] != "stdio" and same:
                # A remote server's entry reads the same before and after its migration.
                skipped.append({"entry": _where(entry), "reason": f"already migrated (the registry's {name})"})
                continue
            chosen = _resolve(name, identity, same, entry, servers, recorded, taken, on_conflict, skipped)
            if chosen is None:
                continue
            item = servers.get(chosen)
            if item is None or item["identity"] != identity:
                if chosen != name:
                    adopted = adopt.to_manifest(chosen, spec, adopted.manifest["metadata"]["description"])
                    for var in inputs:
                        adopted.export.setdefault(var, "")
                    same = _same(recorded, chosen, adopted, user_env)
                item = servers[chosen] = {"name": chosen, "adopted": adopted, "identity": identity, "entries": [],
                                          "projects": [], "global": False,
                                          "replace": chosen in recorded and not same, "existing": same}
            item["entries"].append(entry)
            if entry.project is None:
                item["global"] = True
            elif entry.project not in item["projects"]:
                item["projects"].append(entry.project)
            warnings += [w for w in adopted.warnings if w not in warnings]
    # Each file's entries: (entry, the server it becomes, the secrets it moves to that server's
    # part of the user layer).
    files_plan: dict[str, dict] = {}
    for item in servers.values():
        for entry in item["entries"]:
            files_plan.setdefault(str(entry.source.path), {"source": entry.source, "entries": []})["entries"].append(
                (entry, item["name"], item["adopted"].user_env))
    for entry in codex["entries"]:
        files_plan.setdefault(str(entry.source.path), {"source": entry.source, "entries": []})["entries"].append(
            (entry, "codex", codex["of"][id(entry)]))
    for item in servers.values():
        if item["global"]:
            item["projects"] = []
    for path in files_plan:
        atomic.target_of(path)  # refused (read-only, not a file, a dangling link) before anything changes
    return {"sources": [s.describe() for s in sources],
            "servers": [_describe(item) for item in servers.values()],
            "codex": {"entries": [_where(e) for e in codex["entries"]], "secrets": sorted(codex["env"])} if codex["entries"] else None,
            "files": [{"file": path, "client": f["source"].client,
                       "entries": [{"entry": e.pointer, "server": n} for e, n, _ in f["entries"]]}
                      for path, f in files_plan.items()],
            "skipped": skipped, "warnings": warnings,
            "_": {"servers": servers, "files": files_plan, "codex": codex}}


def _legacy_codex(entry: Entry, raw: dict, codex: dict, recorded: dict, skipped: list) -> None:
    """The original Claudex's codex entry: mapped to the core codex server, its literal secrets
    for that server's part of the user layer (skipped when the server is not there, or when
    another such entry holds a different value of the same secret)."""
    from claudex_mcp import secrets

    if "codex" not in recorded:
        skipped.append({"entry": _where(entry), "reason": "the original Claudex codex entry; the core "
                        "codex server that replaces it is not in the registry ('claudex mcp init')"})
        return
    env = {k: v for k, v in (raw.get("env") or {}).items() if isinstance(v, str) and secrets.is_secret(("env", k), v)}
    clash = sorted(k for k, v in env.items() if codex["env"].get(k, v) != v)
    if clash:
        skipped.append({"entry": _where(entry), "reason": f"its {clash[0]} differs from that of "
                        f"{_where(codex['entries'][0])}, which goes to the core codex server",
                        "hint": "keep one value, then migrate again"})
        return
    codex["entries"].append(entry)
    codex["env"].update(env)
    codex["of"][id(entry)] = env


def _check_project(entry: Entry) -> None:
    """Refuse an entry whose project folder is gone, or (a key of ~/.claude.json's projects) is
    not a folder that may get a project layer."""
    if entry.project is None:
        return
    problem = project_problem(entry.container[1]) if entry.container[0] == "projects" else None
    if problem:
        raise InvalidInput(f"its project folder {problem}", code="unsafe_project",
                           hint="only a real folder of yours inside your home folder gets a project layer; "
                                "the entry stays as it is")
    if not entry.project.is_dir():
        raise NotFound(f"its project folder {entry.project} does not exist", code="no_project",
                       hint="remove the stale project from the client's file")


def _user_env() -> dict:
    """The user layer's env of each server ({} when it cannot be read: adding to it will say why)."""
    from claudex_mcp.settings import config

    try:
        doc = config.load_layer(paths.user_config_file()) or {}
    except ClaudexError:
        return {}
    return {name: (server or {}).get("env") or {} for name, server in (doc.get("servers") or {}).items()}


def _fingerprint(adopted: adopt.Adopted) -> str:
    """What a migrated server's origin records of its definition: a digest of its manifest's
    server part, which holds no secret (a digest of a secret, even salted by the rest, could be
    tested against guesses). requiredEnv is left out: an entry read back after its migration
    refers to the same variables without declaring them."""
    server = {k: v for k, v in adopted.manifest["server"].items() if k != "requiredEnv"}
    return hashlib.sha256(json.dumps(server, sort_keys=True).encode()).hexdigest()


def _same(recorded: dict, name: str, adopted: adopt.Adopted, user_env: dict) -> bool:
    """Whether the registry's server ``name`` was migrated before from the same definition: the
    same manifest, and its secrets in the user layer are the ones ``adopted`` moves."""
    source = (recorded.get(name) or {}).get("source") or {}
    if source.get("type") != "migrated" or (source.get("origin") or {}).get("identity") != _fingerprint(adopted):
        return False
    have = user_env.get(name) or {}
    return all(have.get(var) == value for var, value in adopted.user_env.items())


def _resolve(name: str, identity: str, same: bool, entry: Entry, servers: dict, recorded: dict, taken: set,
             on_conflict: str, skipped: list) -> str | None:
    """The registry name an entry goes to under the conflict policy, or None (skipped)."""
    item = servers.get(name)
    clash = None
    if item is not None and item["identity"] != identity:
        clash = f"{name} is defined differently in {_where(item['entries'][0])}"
    elif item is None and name in recorded and not same:
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


# ---- the backup set --------------------------------------------------------------------------

def _entry_texts(source: Source, text: str, entries: list[Entry]) -> list[str | None]:
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


def _layer_keys(p: dict) -> list[tuple[Path, str, list[list[str]]]]:
    """The config layers the migration writes, and the keys it sets in each: each new server's
    secrets (and the core codex server's) in the user layer, ``enabled`` in project layers."""
    from claudex_mcp.settings.project import Project

    found: dict[Path, tuple[str, list]] = {}
    user = paths.user_config_file()
    for item in p["_"]["servers"].values():
        if not item["existing"]:
            for var in item["adopted"].user_env:
                found.setdefault(user, ("user", []))[1].append(["servers", item["name"], "env", var])
        for folder in item["projects"]:
            found.setdefault(Project(folder.name, folder).config_file, ("project", []))[1].append(
                ["servers", item["name"], "enabled"])
    for var in p["_"]["codex"]["env"]:
        found.setdefault(user, ("user", []))[1].append(["servers", "codex", "env", var])
    return [(path, layer, keys) for path, (layer, keys) in found.items()]


def _write_backup(p: dict, report: Report) -> tuple[str, Path, dict]:
    sources = []
    for f in p["_"]["files"].values():
        source = f["source"]
        texts = _entry_texts(source, source.data.decode("utf-8"), [entry for entry, _, _ in f["entries"]])
        sources.append(backup.source_record(str(source.path), source.kind, source.data, [
            {"container": entry.container, "key": entry.key, "name": name, "raw": entry.raw, "text": text,
             "secrets": {(name, var): v for var, v in moved.items()}}
            for (entry, name, moved), text in zip(f["entries"], texts)]))
    layers = [backup.layer_record(path, layer, keys) for path, layer, keys in _layer_keys(p)]
    servers = p["_"]["servers"]
    return backup.create(sources, layers, sorted(n for n, item in servers.items() if not item["existing"]),
                         sorted(n for n, item in servers.items() if item["replace"]), report)


# ---- applying and rolling back ----------------------------------------------------------------

def migrate(registry: Path, files: list[str] | None = None, *, auto: bool = False, on_conflict: str = "skip",
            dry_run: bool = False, cwd: Path | None = None, report: Report = quiet) -> dict:
    """Plan, and unless ``dry_run`` apply: backup, servers, client files. Any failure after the
    backup rolls back, then raises."""
    from claudex_mcp.store import lock

    if not paths.registry_file(registry).exists():
        from claudex_mcp.errors import no_registry

        raise no_registry(registry)
    p = plan(registry, files, on_conflict, cwd, auto)
    result = {k: v for k, v in p.items() if k != "_"}
    result["dryRun"] = dry_run
    if dry_run or (not p["_"]["servers"] and not p["_"]["codex"]["entries"]):
        result["backup"] = None
        return result
    backup.backup_root(create=True)
    with lock.path_lock(backup.backups_dir()):
        ident, folder, record = _write_backup(p, report)
        fault("backup")
        try:
            done = _apply(registry, p, ident, folder, record, report)
        except BaseException as exc:
            try:
                backup.rollback(registry, ident, report=report, locked=True)
            except Exception as again:  # the backup set stays; say where
                raise InvalidInput(f"the migration failed ({getattr(exc, 'message', exc)}) and so did its "
                                   f"rollback ({getattr(again, 'message', again)})", code="rollback_failed",
                                   path=str(folder), hint=f"'claudex mcp migrate --rollback {ident}' tries again") from None
            raise
    result["warnings"] = result["warnings"] + done.pop("warnings", [])
    result.update(done, backup={"id": ident, "folder": str(folder)})
    return result


def _apply(registry: Path, p: dict, ident: str, folder: Path, record: dict, report: Report) -> dict:
    from claudex_mcp.clients import regeneration
    from claudex_mcp.settings.project import Project

    servers, files, codex = p["_"]["servers"], p["_"]["files"], p["_"]["codex"]
    for name in record["replaced"]:  # a copy of the server that --on-conflict replace removes
        old = adopt.locate(registry, name)
        if old is not None:
            shutil.copytree(old[1], folder / "servers" / name, symlinks=True)
    added = []
    for name, item in servers.items():
        first = item["entries"][0]
        source = {"type": "migrated", "origin": {
            "file": str(first.source.path), "pointer": first.pointer, "digest": first.source.digest,
            "client": first.source.client, "backup": ident, "identity": _fingerprint(item["adopted"]),
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
    for index, (path, f) in enumerate(files.items()):
        report("client", path)
        rewritten.append(_rewrite(registry, f["source"], f["entries"], record["sources"][index],
                                  lambda: backup.save(folder, record)))
        fault("client")
    # Once, at the end: the files claudex writes get the new servers (the files just rewritten
    # have claimed their launcher entries, so they stay as they are).
    fault("regenerate")
    regenerated = regeneration.regenerate(registry)
    for kept in record["sources"]:  # how the migration leaves each file, regenerated or not
        try:
            now = backup.digest(jsonio.read_bytes(os.path.realpath(kept["path"]), limit=backup.MAX_FILE))
        except ClaudexError:
            continue
        if now not in kept["written"] and now != kept["digest"]:
            kept["written"].append(now)
    record["complete"] = True
    backup.save(folder, record)
    return {"added": added, "rewritten": rewritten, **regenerated}


def _effective(registry: Path, project: Path | None, cache_: dict) -> dict:
    from claudex_mcp.store import cache
    from claudex_mcp.settings import effective, project as project_mod

    if project not in cache_:
        index, _ = cache.load(registry, refresh=True)
        cache_[project] = effective.build(index, project_mod.Project(project.name, project) if project else None, registry)
    return cache_[project]


def _rewrite(registry: Path, source: Source, entries: list[tuple[Entry, str, dict]], kept: dict,
             save: Callable[[], None]) -> dict:
    """Each migrated entry of ``source`` replaced by its server's launcher entry, in one atomic
    write; every other byte kept. The file must not have changed since it was read. What it
    writes goes into ``kept`` (the backup set's part for this file; ``save`` writes the set)
    before it is written."""
    from claudex_mcp.clients import renderers, generate

    real = atomic.target_of(source.path)
    data = jsonio.read_bytes(real, limit=backup.MAX_FILE)
    if data != source.data:
        raise Conflict(f"{source.path} changed while it was being migrated", path=str(source.path),
                       code="source_changed", hint="run the migration again")
    rendered: dict[tuple, dict] = {}
    warnings: list[str] = []
    effective_cache: dict = {}
    for entry, name, _ in entries:
        doc = _effective(registry, entry.project, effective_cache)
        out = renderers.render(source.client, doc)
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
    if new == text:
        return {"file": str(source.path), "client": source.client, "changed": False, "entries": [], "warnings": warnings}
    for item in kept["entries"]:
        done = rendered.get((tuple(item["container"]), item["key"]))
        if done is not None:
            item["written"] = done["entry"]
    kept["written"].append(backup.digest(new.encode("utf-8")))
    # A file claudex writes anyway (generate's record): the launcher entries become its own,
    # recorded in the backup set before they are claimed, so that a rollback gives them back.
    top = sorted(v["name"] for (container, _), v in rendered.items() if len(container) == 1)
    state = generate.load_state().get(str(real))
    if state is not None and set(top) - set(state["servers"]):
        kept["claimed"] = {"target": str(real), "names": sorted(set(top) - set(state["servers"]))}
    save()
    generate.claim(real, top)
    changed = atomic.write_bytes(real, new.encode("utf-8"), mode=os.stat(real).st_mode & 0o7777)
    return {"file": str(source.path), "client": source.client, "changed": changed,
            "entries": sorted(f"{k}->{v['name']}" for (_, k), v in rendered.items()), "warnings": warnings}


def _render_value(value, indent: str) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)


def _rewrite_json(text: str, rendered: dict, warnings: list[str], source: Source) -> str:
    """``text`` with the ``rendered`` entries in place (an entry that cannot be renamed, as its
    new name is taken, is kept and left out of ``rendered``)."""
    doc, _ = backup.parse_json(text.encode("utf-8"), str(source.path))
    by_container: dict[tuple, dict] = {}
    for (container, key), item in list(rendered.items()):
        present = doc
        for part in container:
            present = present[part]  # it was read from there
        if item["name"] != key and item["name"] in present:
            warnings.append(f"{source.path}: kept the entry {key}; an entry {item['name']} is there too")
            del rendered[(container, key)]
            continue
        by_container.setdefault(container, {})[key] = (
            item["name"], lambda indent, value=item["entry"]: _render_value(value, indent))
    for container, changes in by_container.items():
        text = jsonedit.replace_members(text, container, changes, jsonc=source.jsonc)
    backup.parse_json(text.encode("utf-8"), str(source.path))  # still a valid document
    return text


def _rewrite_toml(source: Source, text: str, rendered: dict, warnings: list[str]) -> str:
    import tomllib

    from claudex_mcp.clients import codex_toml

    blocks = codex_toml.codex_blocks(text)
    put, remove = {}, set()
    for (container, key), item in list(rendered.items()):
        if key not in blocks:
            warnings.append(f"{source.path}: kept the entry {key}; it is not written as a [mcp_servers.{key}] table")
            del rendered[(container, key)]
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

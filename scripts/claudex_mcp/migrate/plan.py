"""The plan of a migration, read only: which entries become which registry servers (a name
each, under the conflict policy), which are skipped and why, the original Claudex's codex entry
mapped to the core codex server, and which files are rewritten. ``apply.migrate`` carries it out;
nothing here writes or prints."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from claudex_mcp.install import adopt
from claudex_mcp import atomic, paths, safepath
from claudex_mcp.migrate import read
from claudex_mcp.errors import ClaudexError, InvalidInput, NotFound, UsageError

CONFLICT_POLICIES = ("skip", "rename", "replace")


def _where(entry: read.Entry) -> str:
    return f"{entry.source.path}#{entry.pointer}"


def plan(registry: Path, files: list[str] | None = None, on_conflict: str = "skip",
         cwd: Path | None = None, auto: bool = False) -> dict:
    """What a migration would do, read-only: {sources, servers, files, skipped, warnings}, plus
    the internal parts apply() needs (under "_"). ``files`` (None: auto) are read, and with
    ``auto`` also every client file found."""
    from claudex_mcp.store import registry as registry_mod

    if on_conflict not in CONFLICT_POLICIES:
        raise UsageError(f"unknown conflict policy {on_conflict!r}", hint="skip, rename or replace")
    wanted = read.discover(cwd) if auto or not files else []
    if files:
        for given in files:
            path = Path(given).expanduser().absolute()
            if not os.path.lexists(path):
                raise NotFound(f"no such file: {given}", path=given, hint="give a client's config file, or --from auto")
            wanted.append((path, read.kind_of(path)))
    sources, seen = [], set()
    for path, kind in wanted:
        source = read.read_source(path, kind)
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
            if read.is_launcher(raw) or (len(entry.container) == 1 and entry.key in ours):
                skipped.append({"entry": _where(entry), "reason": "already a claudex launcher entry" if read.is_launcher(raw)
                                else "written by claudex (generate)"})
                continue
            if read.is_legacy_codex(raw):
                _legacy_codex(entry, raw, codex, recorded, skipped)
                continue
            name = adopt.suggest_name(entry.key)
            try:
                _check_project(entry)
                if name is None:
                    raise InvalidInput(f"{entry.key!r} cannot be made a server name", code="invalid_name",
                                       hint="rename the entry: lowercase letters, digits and dashes")
                spec, inputs = read.to_definition(entry)
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


def _legacy_codex(entry: read.Entry, raw: dict, codex: dict, recorded: dict, skipped: list) -> None:
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


def _check_project(entry: read.Entry) -> None:
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
        why = safepath.folder_problem(folder)
    except FileNotFoundError:
        return None  # said as "does not exist" by the plan
    except OSError as exc:
        return f"{folder} cannot be read ({exc.strerror})"
    if why == safepath.LINK or os.path.realpath(folder) != folder:
        return f"{folder} is or goes through a symbolic link"
    return f"{folder} {why}" if why else None

def _user_env() -> dict:
    """The user layer's env of each server ({} when it cannot be read: adding to it will say why)."""
    from claudex_mcp.settings import config

    try:
        doc = config.load_layer(paths.user_config_file()) or {}
    except ClaudexError:
        return {}
    return {name: (server or {}).get("env") or {} for name, server in (doc.get("servers") or {}).items()}


def fingerprint(adopted: adopt.Adopted) -> str:
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
    if source.get("type") != "migrated" or (source.get("origin") or {}).get("identity") != fingerprint(adopted):
        return False
    have = user_env.get(name) or {}
    return all(have.get(var) == value for var, value in adopted.user_env.items())


def _resolve(name: str, identity: str, same: bool, entry: read.Entry, servers: dict, recorded: dict, taken: set,
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


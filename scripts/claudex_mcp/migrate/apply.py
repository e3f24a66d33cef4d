"""Carrying out a migration's plan, each step safe to kill: the backup set (what each later
step changes: the entries, the layers' keys; no secret) -> the servers, one mutation each
(install/adopt.py), their origin naming the backup set, their secrets in the user layer -> the
client files, one atomic write each, each entry replaced by its server's launcher entry with
every other byte kept (comments too), recorded in the set before it is written -> the clients
regenerated -> the set marked complete. A failure or Ctrl-C after the backup rolls everything
back (backup.rollback). Nothing here prints."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from claudex_mcp.install import adopt
from claudex_mcp import atomic, jsonio, paths
from claudex_mcp.clients import jsonedit
from claudex_mcp.migrate import backup, plan, read
from claudex_mcp.errors import ClaudexError, Conflict, InvalidInput
from claudex_mcp.store.mutation import Report, quiet
from claudex_mcp.store.staging import fault


# ---- the backup set --------------------------------------------------------------------------

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
        texts = read.entry_texts(source, source.data.decode("utf-8"), [entry for entry, _, _ in f["entries"]])
        sources.append(backup.source_record(str(source.path), source.kind, source.data, [
            {"container": entry.container, "key": entry.key, "name": name, "raw": entry.raw, "text": text,
             "secrets": {(name, var): v for var, v in moved.items()}}
            for (entry, name, moved), text in zip(f["entries"], texts)]))
    layers = [backup.layer_record(path, layer, keys) for path, layer, keys in _layer_keys(p)]
    servers = p["_"]["servers"]
    return backup.create(sources, layers, sorted(n for n, item in servers.items() if not item["existing"]),
                         sorted(n for n, item in servers.items() if item["replace"]), report)


# ---- applying ---------------------------------------------------------------------------------

def migrate(registry: Path, files: list[str] | None = None, *, auto: bool = False, on_conflict: str = "skip",
            dry_run: bool = False, cwd: Path | None = None, report: Report = quiet) -> dict:
    """Plan, and unless ``dry_run`` apply: backup, servers, client files. Any failure after the
    backup rolls back, then raises."""
    from claudex_mcp.store import lock

    if not paths.registry_file(registry).exists():
        from claudex_mcp.errors import no_registry

        raise no_registry(registry)
    p = plan.plan(registry, files, on_conflict, cwd, auto)
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
            "client": first.source.client, "backup": ident, "identity": plan.fingerprint(item["adopted"]),
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


def _rewrite(registry: Path, source: read.Source, entries: list[tuple[read.Entry, str, dict]], kept: dict,
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


def _rewrite_json(text: str, rendered: dict, warnings: list[str], source: read.Source) -> str:
    """``text`` with the ``rendered`` entries in place (an entry that cannot be renamed, as its
    new name is taken, is kept and left out of ``rendered``)."""
    doc, _ = jsonio.parse_json_or_jsonc(text.encode("utf-8"), str(source.path))
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
    jsonio.parse_json_or_jsonc(text.encode("utf-8"), str(source.path))  # still a valid document
    return text


def _rewrite_toml(source: read.Source, text: str, rendered: dict, warnings: list[str]) -> str:
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

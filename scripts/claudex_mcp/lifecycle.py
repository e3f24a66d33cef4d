"""install, uninstall, upgrade, enable and disable: each holds the registry lock, works in the
staging area, commits with one rename (or one atomic exchange) and records the result in
registry.json. A failure, Ctrl-C or SIGTERM before the commit leaves the registry as it was;
a SIGKILL at any instant leaves it valid, and the next operation puts the leftovers right.

Progress goes to a ``report(step, detail)`` callback; nothing here prints.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

from . import __version__, atomic, cache, deps, jsonio, paths, registry as registry_mod, sources, staging
from .errors import Conflict, InvalidInput, NotFound, UsageError
from .lock import registry_lock
from .staging import fault

# The MCP protocol revisions claudex's launcher and health checks speak (the SDK's range).
PROTOCOL_REVISIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")
_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")

Report = Callable[..., None]


def _quiet(step: str, detail: str | None = None) -> None:
    pass


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise UsageError(f"invalid server name {name!r}", code="invalid_name",
                         hint="names are lowercase letters, digits and dashes, 1-63 characters")
    return name


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _begin(registry: Path) -> None:
    """Every mutation starts here, with the lock held: finish what a killed process left."""
    if not paths.registry_file(registry).exists():
        raise NotFound(f"there is no registry at {registry}", path=str(registry),
                       hint="run 'claudex mcp init', or set CLAUDEX_MCP_REGISTRY", code="no_registry")
    staging.recover(registry)


def _locate(registry: Path, name: str) -> tuple[str, Path] | None:
    for location in paths.LOCATIONS:
        folder = registry / location / name
        if folder.is_dir():
            return location, folder
    return None


def _installed(registry: Path, name: str) -> tuple[str, Path]:
    where = _locate(registry, name)
    if where is None:
        raise NotFound(f"{name} is not installed", code="no_server", hint="see 'claudex mcp list'")
    return where


def _validated_manifest(folder: Path) -> dict:
    from . import validation

    problems = validation.validate_folder(folder)
    if problems:
        listed = "; ".join(f"{p['pointer'] or Path(p['file']).name}: {p['message']}" for p in problems[:5])
        raise InvalidInput(f"the server is not valid ({len(problems)} problem{'s' * (len(problems) > 1)}): {listed}",
                           code="invalid_server", hint="run 'claudex mcp validate' on the source folder for every problem")
    return jsonio.load(folder / validation.MANIFEST)


def _check_compatibility(manifest: dict) -> None:
    from .versions import parse, satisfies, satisfies_date

    wanted = manifest.get("compatibility", {})
    if "claudex" in wanted and not satisfies(parse(__version__), wanted["claudex"]):
        raise InvalidInput(f"the server needs claudex {wanted['claudex']}; this is claudex {__version__}",
                           code="incompatible", hint="upgrade claudex, or install a version of the server made for this one")
    if "mcp" in wanted and not any(satisfies_date(r, wanted["mcp"]) for r in PROTOCOL_REVISIONS):
        raise InvalidInput(f"the server needs MCP protocol {wanted['mcp']}; claudex speaks {', '.join(PROTOCOL_REVISIONS)}",
                           code="incompatible", hint="install a version of the server for these protocol revisions")


def _prepare(txn: staging.Transaction, source: dict, report: Report) -> tuple[dict, dict]:
    """Fetch, validate, check and build the server in txn.new; (manifest, source record)."""
    report("fetch", source.get("url") or source.get("path"))
    fault("fetch")
    record = sources.fetch(source, txn.new, txn.scratch)
    report("validate")
    fault("validate")
    manifest = _validated_manifest(txn.new)
    check_name(manifest["metadata"]["name"])
    report("compatibility")
    _check_compatibility(manifest)
    return manifest, record


def _build(txn: staging.Transaction, manifest: dict, record: dict, report: Report, tree: str | None = None) -> None:
    report("dependencies")
    fault("dependencies")
    done = deps.install(txn.new, ignore_scripts=bool(record.get("ignoreScripts")))
    if done:
        report("dependencies", done)
    deps.check_command(txn.new, manifest)
    report("permissions")
    fault("permissions")
    deps.normalise_permissions(txn.new)
    marker = {"source": record, "installedAt": _now()}
    if tree:
        marker["treeDigest"] = tree  # a folder source: upgrade copies it again only when it changed
    atomic.write_json(txn.new / staging.MARKER, marker)


def _tree_of(source: dict) -> str | None:
    return tree_digest(Path(source["path"])) if source["type"] == "path" else None


def _installed_tree(folder: Path) -> str | None:
    import json

    try:
        return json.loads((folder / staging.MARKER).read_text()).get("treeDigest")
    except (OSError, ValueError):
        return None


def _record(manifest: dict, location: str, source: dict, folder: Path, installed_at: str | None = None) -> dict:
    import hashlib

    data = (folder / "manifest.json").read_bytes()
    record = {"location": location, "version": manifest["metadata"]["version"], "source": source,
              "manifestDigest": "sha256:" + hashlib.sha256(data).hexdigest(), "installedAt": installed_at or _now()}
    if installed_at:
        record["updatedAt"] = _now()
    return record


def _finish(registry: Path, report: Report) -> list[str]:
    cache.invalidate()
    report("regenerate")
    return regenerate()


def regenerate() -> list[str]:
    """Rewrite every client config claudex wrote before (their list is in its state file), so
    the agents see the change; a failure here is a warning, never a failed operation."""
    from . import effective, generate, project

    warnings = []
    try:
        targets = generate.load_state()
    except Exception as exc:  # a broken state file must not fail an install
        return [f"client configs not regenerated: {exc}"]
    if not targets:
        return warnings
    try:
        registry = paths.registry_dir()
        index, _ = cache.load(registry)
    except Exception as exc:
        return [f"client configs not regenerated: {exc}"]
    for target, info in sorted(targets.items()):
        try:
            where = project.by_dir(info["project"]) if info.get("project") else None
            doc = effective.build(index, where, registry)
            generate.write(doc, info["client"], "default", target)
        except Exception as exc:
            warnings.append(f"could not regenerate {target}: {getattr(exc, 'message', exc)}")
    return warnings


def _sigterm_as_interrupt() -> None:
    """SIGTERM rolls back like Ctrl-C: the transaction's `finally` runs."""
    def interrupt(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)


def install(registry: Path, spec: str, *, ref: str | None = None, submodules: bool = False,
            subdir: str | None = None, ignore_scripts: bool = False, report: Report = _quiet) -> dict:
    source = sources.parse(spec)
    if source["type"] == "path":
        folder, home = Path(source["path"]), registry.resolve()
        if folder == home or home in folder.parents or folder in home.parents:
            raise InvalidInput(f"{folder} {'holds' if folder in home.parents else 'is inside'} the registry "
                               f"({home}); a server cannot be installed from there", path=str(folder),
                               code="source_overlaps_registry",
                               hint="install from the server's own folder, outside the registry")
    if (ref or submodules or subdir is not None) and source["type"] != "git":
        raise UsageError("--ref, --submodules and --subdir are for git sources", code="git_option_without_git",
                         hint="for a folder, give the server's folder itself (or install a git URL)")
    if ref and source.get("ref") not in (None, ref):
        raise UsageError(f"the ref is given twice: {source['ref']!r} in the URL and {ref!r} with --ref",
                         code="ref_conflict", hint="give the ref once: URL@ref, or the URL and --ref")
    if ref:
        source["ref"] = sources.check_ref(ref)
    if subdir is not None:
        source["subdir"] = sources.check_subdir(subdir)
    if ignore_scripts:
        source["ignoreScripts"] = True  # recorded, so upgrades keep it
    if submodules:
        source["submodules"] = True
    _sigterm_as_interrupt()
    with registry_lock(registry):
        _begin(registry)
        txn = staging.Transaction(registry, "install")
        try:
            manifest, record = _prepare(txn, source, report)
            name = manifest["metadata"]["name"]
            report("conflicts")
            where = _locate(registry, name)
            if where is not None:
                location = where[0]
                if location == "core":
                    raise Conflict(f"{name} is a core server; an installed server cannot shadow it", code="core_name",
                                   hint="rename the server (metadata.name)")
                raise Conflict(f"{name} is already installed ({location}/)", code="already_installed",
                               hint=f"run 'claudex mcp upgrade {name}', or uninstall it first")
            txn.write_journal(name=name, location="installed")
            _build(txn, manifest, record, report, _tree_of(source))
            target = registry / "installed" / name
            report("commit")
            fault("commit")
            os.rename(txn.new, target)
            atomic.fsync_dir(target.parent)
            try:
                fault("record")
                records = registry_mod.reconciled(registry)
                records[name] = _record(manifest, "installed", record, target)
                registry_mod.write_records(registry, records)
            except BaseException:
                os.rename(target, txn.new)  # not recorded: not installed
                raise
        finally:
            txn.remove()
        fault("done")
    warnings = _finish(registry, report)
    return {"action": "install", "name": name, "version": manifest["metadata"]["version"], "location": "installed",
            "folder": str(target), "source": record, "warnings": warnings}


def uninstall(registry: Path, name: str, *, purge: bool = False, report: Report = _quiet) -> dict:
    check_name(name)
    _sigterm_as_interrupt()
    with registry_lock(registry):
        _begin(registry)
        location, folder = _installed(registry, name)
        if location == "core":
            raise Conflict(f"{name} is a core server and cannot be uninstalled", code="core_server",
                           hint=f"run 'claudex mcp disable {name}' instead")
        txn = staging.Transaction(registry, "uninstall", name)
        txn.write_journal(location=location)
        try:
            report("remove")
            fault("commit")
            os.rename(folder, txn.removed)
            try:
                fault("record")
                records = registry_mod.reconciled(registry)
                records.pop(name, None)
                registry_mod.write_records(registry, records)
            except BaseException:
                os.rename(txn.removed, folder)
                raise
        finally:
            txn.remove()
        fault("done")
    stopped = stop_running(name)
    purged = _purge_user_config(name) if purge else False
    warnings = _finish(registry, report)
    return {"action": "uninstall", "name": name, "location": location, "purged": purged, "stopped": stopped,
            "warnings": warnings}


def _purge_user_config(name: str) -> bool:
    from . import config

    def drop(doc: dict | None) -> dict | None:
        if not doc or name not in doc.get("servers", {}):
            return doc
        return dict(doc, servers={k: v for k, v in doc["servers"].items() if k != name})

    return config.update_layer(paths.user_config_file(), "user", drop)


def _newer_git_ref(source: dict) -> tuple[dict | None, str]:
    """(new source, why) for a git source: a semver tag goes to the newest semver tag, a branch
    (or the default branch, when no ref was given) to its head; a commit stays where it is."""
    from .versions import parse

    ref = source.get("ref")
    if ref is not None and parse(ref) is not None:
        tags = [(parse(t), t) for t in sources.remote_tags(source["url"])]
        newest = max(((v, t) for v, t in tags if v is not None and not v.pre), default=None)
        if newest is None or newest[0] <= parse(ref):
            return None, f"{ref} is the newest release tag"
        return {**source, "ref": newest[1]}, f"tag {newest[1]}"
    if ref is None:
        listed = sources.git("ls-remote", "--", source["url"], "HEAD").split()
        head = listed[0] if listed else None
    else:
        head = sources.remote_head(source["url"], ref)
        if head is None:
            if re.fullmatch(r"[0-9a-f]{7,40}", ref):
                return None, f"pinned to commit {ref}"
            raise NotFound(f"the branch {ref} is gone from {source['url']}", code="no_ref",
                           hint="reinstall from another branch or tag: uninstall, then install URL@ref")
    if head is None or head == source.get("commit"):
        return None, f"{ref or 'the default branch'} has no new commits"
    return dict(source), f"{ref or 'the default branch'} moved to {head[:12]}"


def _health_check(registry: Path, folder: Path, manifest: dict, location: str, report: Report) -> dict | None:
    """A real MCP handshake with the staged server, configured as the launcher would (every
    config layer but a project's); skipped (None) for remote servers, and when a required
    variable is set nowhere here."""
    from . import config, expand, health

    server = manifest["server"]
    if server.get("transport", "stdio") != "stdio":
        return None
    entry = {"name": manifest["metadata"]["name"], "folder": str(folder), "location": location, "manifest": manifest}
    merged, _ = config.merge(config.Layers(registry, None).sources(entry))
    missing = config.env_reference_problems(entry, merged, dict(os.environ))
    if missing:
        report("health", f"skipped: {', '.join(missing)} not set")
        return None
    scope = dict(os.environ, SERVER_DIR=str(folder))
    env = {k: expand.expand(v, scope) for k, v in (merged.get("env") or {}).items()}
    argv = [expand.expand(server["command"], scope)] + [expand.expand(a, scope) for a in merged.get("args") or []]
    report("health")
    timeout = float(manifest.get("healthCheck", {}).get("timeout", health.DEFAULT_TIMEOUT))
    return health.handshake(argv, {**os.environ, **env, "SERVER_DIR": str(folder)}, str(folder), max(timeout, 10.0),
                            label=manifest["metadata"]["name"])


def upgrade(registry: Path, name: str, *, check: bool = False, force: bool = False,
            report: Report = _quiet) -> dict:
    from .versions import parse

    check_name(name)
    _sigterm_as_interrupt()
    with registry_lock(registry):
        _begin(registry)
        location, folder = _installed(registry, name)
        if location == "core":
            raise Conflict(f"{name} is a core server; it is upgraded with claudex itself", code="core_server",
                           hint="upgrade claudex; 'claudex mcp init' then updates the core servers")
        record = registry_mod.reconciled(registry).get(name, {})
        current = jsonio.load(folder / "manifest.json")["metadata"]["version"]
        source = record.get("source") or {"type": "path", "path": str(folder)}
        report("check", source.get("url") or source.get("path"))
        if source["type"] == "git":
            new_source, why = _newer_git_ref(source)
        elif source["type"] == "path":
            if not Path(source["path"]).is_dir():
                raise NotFound(f"{name}'s source folder {source['path']} is gone", code="source_gone",
                               hint="install it again from where it lives now")
            if _installed_tree(folder) == tree_digest(Path(source["path"])) and not force:
                new_source, why = None, "its folder has not changed"
            else:
                new_source, why = dict(source), "re-copied from its folder"
        else:
            new_source, why = None, "no source to upgrade from"
        result = {"action": "upgrade", "name": name, "from": current, "location": location, "reason": why}
        if check or new_source is None:
            return dict(result, check=check, available=new_source is not None, to=None, upgraded=False)
        txn = staging.Transaction(registry, "upgrade", name)
        txn.write_journal(location=location)
        try:
            manifest, new_record = _prepare(txn, new_source, report)
            if manifest["metadata"]["name"] != name:
                raise InvalidInput(f"the source now holds {manifest['metadata']['name']!r}, not {name!r}",
                                   code="name_changed", hint="install it under its new name instead")
            new_version = manifest["metadata"]["version"]
            if parse(new_version) < parse(current) and not force:
                raise Conflict(f"{new_version} is older than the installed {current}", code="downgrade",
                               hint="pass --force to downgrade")
            _build(txn, manifest, new_record, report, _tree_of(new_source))
            health = _health_check(registry, txn.new, manifest, location, report)
            report("commit")
            fault("commit")
            staging.exchange(txn.new, folder)  # txn.new now holds the old version
            try:
                fault("record")
                records = registry_mod.reconciled(registry)
                records[name] = _record(manifest, location, new_record, folder, record.get("installedAt") or _now())
                registry_mod.write_records(registry, records)
            except BaseException:
                staging.exchange(txn.new, folder)  # put the old version back
                raise
        finally:
            txn.remove()
        fault("done")
    stopped = stop_running(name)
    warnings = _finish(registry, report)
    return dict(result, to=new_version, upgraded=True, source=new_record, health=health, stopped=stopped,
                warnings=warnings)


def set_enabled(registry: Path, name: str, enabled: bool, *, project=None, report: Report = _quiet) -> dict:
    """Globally: installed/ <-> disabled/ (core servers: the global config layer). For a
    project: its layer. Disabling stops an instance the launcher started."""
    from . import config

    check_name(name)
    with registry_lock(registry):
        _begin(registry)
        location, folder = _installed(registry, name)
        changed, layer_file = False, None
        if project is not None:
            layer_file = project.config_file
        elif location == "core" or enabled:
            layer_file = config.global_file(registry)
        if layer_file is not None:
            def change(doc: dict | None) -> dict | None:
                if project is not None:
                    return config.set_value(doc, name, "enabled", enabled)
                if enabled:  # a global `enabled: false` would keep it off: drop it
                    return config.unset_value(doc, name, "enabled")
                return config.set_value(doc, name, "enabled", False)

            changed |= config.update_layer(layer_file, "project" if project is not None else "global", change)
        if project is None and location != "core" and (location == "disabled") == enabled:
            target = registry / ("installed" if enabled else "disabled") / name
            report("move", f"{location}/ -> {target.parent.name}/")
            os.rename(folder, target)
            atomic.fsync_dir(target.parent)
            records = registry_mod.reconciled(registry)
            if name in records:
                records[name]["location"] = target.parent.name
            registry_mod.write_records(registry, records)
            changed = True
    stopped = [] if enabled else stop_running(name, project)
    warnings = _finish(registry, report) if changed else []
    return {"action": "enable" if enabled else "disable", "name": name, "changed": changed,
            "scope": "project" if project is not None else "global",
            "project": project.to_dict() if project is not None else None, "stopped": stopped, "warnings": warnings}


def stop_running(name: str, project=None) -> list[int]:
    """Stop the instance `claudex mcp run` recorded for ``name`` (only for that project when
    one is given): SIGTERM, a grace period, then SIGKILL; then whatever it started (its
    descendants, and its process group when it leads one). Only a process that is still the
    recorded server (same executable) is signalled."""
    import json

    from . import procs
    from .launcher import run_record_file

    try:
        record = json.loads(run_record_file(name).read_text())
        pid = int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if project is not None and (record.get("project") or {}).get("dir") != str(project.dir):
        return []
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return []
    if os.path.realpath(record.get("command", "")) != os.path.realpath(exe):
        return []  # the pid now belongs to another program
    children = procs.descendants(pid)  # now: once the server is gone, they are reparented
    leads_group = False
    try:
        leads_group = os.getpgid(pid) == pid
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            time.sleep(0.1)
            os.kill(pid, 0)
            if _zombie(pid):
                break
        else:
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    procs.kill_all(children)
    if leads_group:
        procs.kill_group(pid)
    return [pid]


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def core_source() -> Path | None:
    """Where the core servers that ship with claudex are: CLAUDEX_MCP_CORE_SOURCE (empty: none),
    else mcp-servers/core/ of this claudex."""
    value = os.environ.get("CLAUDEX_MCP_CORE_SOURCE")
    if value is not None:
        return Path(value) if value else None
    return paths.PROJECT_ROOT / "mcp-servers" / "core"


tree_digest = sources.tree_digest


def sync_core(registry: Path, report: Report = _quiet) -> list[str]:
    """Put the shipped core servers into core/ with their dependencies, or bring them up to date
    (atomically, like an upgrade); a core server that did not change is left alone."""
    import json

    source_root = core_source()
    if source_root is None or not source_root.is_dir():
        return []
    synced = []
    shared_root = source_root.parent  # mcp-servers/: the core servers' shared packages are in its lib/
    for folder in sorted(p for p in source_root.iterdir() if (p / "manifest.json").is_file()):
        digest = tree_digest(folder, shared_root)
        target = registry / "core" / folder.name
        try:
            if json.loads((target / staging.MARKER).read_text()).get("treeDigest") == digest:
                continue
        except (OSError, ValueError):
            pass
        with registry_lock(registry):
            _begin(registry)
            txn = staging.Transaction(registry, "core", folder.name)
            txn.write_journal(location="core")
            try:
                manifest, record = _prepare(txn, {"type": "path", "path": str(folder), "root": str(shared_root)}, report)
                if manifest["metadata"]["name"] != folder.name:
                    raise InvalidInput(f"core server folder {folder} holds {manifest['metadata']['name']!r}",
                                       code="name_mismatch")
                _build(txn, manifest, {"type": "core"}, report)
                atomic.write_json(txn.new / staging.MARKER, {"source": {"type": "core"}, "installedAt": _now(),
                                                            "treeDigest": digest})
                if target.exists():
                    staging.exchange(txn.new, target)
                else:
                    os.rename(txn.new, target)
                    atomic.fsync_dir(target.parent)
                records = registry_mod.reconciled(registry)
                records[folder.name] = _record(manifest, "core", {"type": "core"}, target)
                registry_mod.write_records(registry, records)
            finally:
                txn.remove()
        synced.append(folder.name)
    if synced:
        cache.invalidate()
    return synced

"""install, uninstall, upgrade, enable, disable, config set and the core servers' sync: each
verb's own logic, run inside the one mutation path (regeneration.after: mutation.begin's lock,
recover, stage, commit or roll back, record, invalidate; then the clients' files regenerated;
the core sync, which clients see at the next generate, uses mutation.begin alone). A failure, Ctrl-C or SIGTERM before the commit leaves the
registry as it was; a SIGKILL at any instant leaves it valid.

Progress goes to a ``report(step, detail)`` callback; nothing here prints.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

from claudex_mcp import __version__, atomic, jsonio, paths
from claudex_mcp.install import deps, sources
from claudex_mcp.runtime import launcher
from claudex_mcp.clients import regeneration
from claudex_mcp.store import mutation, registry as registry_mod, staging
from claudex_mcp.errors import Conflict, InvalidInput, NotFound, UsageError, invalid_server, no_server
from claudex_mcp.store.mutation import Report, quiet as _quiet
from claudex_mcp.store.staging import fault

_NAME = re.compile(paths.NAME_PATTERN)
STDERR_TAIL_LINES = 10  # of a server that failed upgrade's handshake, as `test` shows them


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise UsageError(f"invalid server name {name!r}", code="invalid_name",
                         hint="names are lowercase letters, digits and dashes, 1-63 characters")
    return name


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _locate(registry: Path, name: str) -> tuple[str, Path] | None:
    for location in paths.LOCATIONS:
        folder = registry / location / name
        if folder.is_dir() and not folder.is_symlink():  # a link is no server folder (index.scan agrees)
            return location, folder
    return None


def server_names(registry: Path) -> list[str]:
    """The names of the server folders in the registry (core, installed and disabled)."""
    names = []
    for location in paths.LOCATIONS:
        try:
            names += [e.name for e in os.scandir(registry / location) if e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
    return sorted(set(names))


def _installed(registry: Path, name: str) -> tuple[str, Path]:
    where = _locate(registry, name)
    if where is None:
        raise no_server(name, server_names(registry), registry)
    return where


def _validated_manifest(folder: Path) -> dict:
    from claudex_mcp.schemas import validation

    problems = validation.validate_folder(folder)
    if problems:
        listed = "; ".join(f"{p['pointer'] or Path(p['file']).name}: {p['message']}" for p in problems[:5])
        raise invalid_server("the source", None, f"{len(problems)} problem{'s' * (len(problems) > 1)}: {listed}",
                             hint="run 'claudex mcp validate' on the source folder for every problem")
    return jsonio.load(folder / validation.MANIFEST)


def _check_compatibility(manifest: dict) -> None:
    from claudex_mcp.versions import MCP_PROTOCOL_REVISIONS, parse, satisfies, satisfies_date

    wanted = manifest.get("compatibility", {})
    if "claudex" in wanted and not satisfies(parse(__version__), wanted["claudex"]):
        raise InvalidInput(f"the server needs claudex {wanted['claudex']}; this is claudex {__version__}",
                           code="incompatible", hint="upgrade claudex, or install a version of the server made for this one")
    if "mcp" in wanted and not any(satisfies_date(r, wanted["mcp"]) for r in MCP_PROTOCOL_REVISIONS):
        raise InvalidInput(f"the server needs MCP protocol {wanted['mcp']}; claudex speaks {', '.join(MCP_PROTOCOL_REVISIONS)}",
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


def _build(txn: staging.Transaction, manifest: dict, record: dict, report: Report, tree: str | None = None,
           prefer_cache: bool = True, extras: list[str] = ()) -> None:
    _dependencies(txn, record, report, prefer_cache, [manifest["extras"][x]["requirements"] for x in extras])
    _finish(txn, manifest, record, report, tree, extras)


def _dependencies(txn: staging.Transaction, record: dict, report: Report, prefer_cache: bool = True,
                  extra_files: list[str] = ()) -> None:
    report("dependencies", deps.installer(txn.new))
    fault("dependencies")
    done = deps.install(txn.new, ignore_scripts=bool(record.get("ignoreScripts")), prefer_cache=prefer_cache,
                        extras=extra_files)
    if done:
        report("dependencies", f"{done}: done")


def _finish(txn: staging.Transaction, manifest: dict, record: dict, report: Report, tree: str | None = None,
            extras: list[str] = ()) -> None:
    """The staged server made ready to commit: its command checked, its modes normalised, and
    its install record (the marker) written with the digest of everything in it, which
    `verify` recomputes, and the extras its venv holds (registry.json follows the marker)."""
    deps.check_command(txn.new, manifest)
    report("permissions")
    fault("permissions")
    deps.normalise_permissions(txn.new)
    marker = {"source": record, "installedAt": _now(), "contentDigest": registry_mod.content_digest(txn.new),
              "statFingerprint": registry_mod.content_fingerprint(txn.new)}
    if tree:
        marker["treeDigest"] = tree  # a folder source: upgrade copies it again only when it changed
    if extras:
        marker["extras"] = list(extras)
    atomic.write_json(txn.new / staging.MARKER, marker)


def declared_extras(manifest: dict) -> dict:
    """{name: {"description", "requirements"}} of the extras a (valid) manifest declares."""
    extras = manifest.get("extras")
    return extras if isinstance(extras, dict) else {}


def _extras(name: str, manifest: dict, wanted=(), *, keep=(), drop=()) -> tuple[list[str], list[str]]:
    """(the extras to install: ``keep`` and ``wanted`` less ``drop``, among those ``manifest``
    declares; the kept ones it no longer declares). An extra named in ``wanted`` or ``drop`` that
    it does not declare is an error that lists the ones it does."""
    declared = declared_extras(manifest)
    unknown = [x for x in dict.fromkeys([*wanted, *drop]) if x not in declared]
    if unknown:
        which = ", ".join(repr(x) for x in unknown)
        listed = ", ".join(sorted(declared))
        raise InvalidInput(f"{name} {manifest['metadata']['version']} has no extra {which}; "
                           + (f"its extras: {listed}" if declared else "it declares no extras"),
                           code="unknown_extra",
                           hint=(f"choose among {listed} (claudex mcp info {name} describes them)" if declared
                                 else f"install {name} without --with"))
    chosen = sorted((set(keep) & set(declared) | set(wanted)) - set(drop))
    return chosen, sorted(set(keep) - set(declared))


def _tree_of(source: dict) -> str | None:
    return sources.tree_digest(Path(source["path"])) if source["type"] == "path" else None


def _installed_tree(folder: Path) -> str | None:
    return registry_mod.read_marker(folder).get("treeDigest")


def _record(manifest: dict, location: str, source: dict, folder: Path, installed_at: str | None = None,
            extras: list[str] = ()) -> dict:
    record = {"location": location, "version": manifest["metadata"]["version"], "source": source,
              "manifestDigest": registry_mod.manifest_digest((folder / "manifest.json").read_bytes()),
              "installedAt": installed_at or _now()}
    if installed_at:
        record["updatedAt"] = _now()
    if extras:
        record["extras"] = list(extras)
    return record


def install(registry: Path, spec: str, *, ref: str | None = None, submodules: bool = False,
            subdir: str | None = None, ignore_scripts: bool = False, extras: list[str] = (),
            report: Report = _quiet) -> dict:
    """Install the server at ``spec`` (a folder or a git URL) with the ``extras`` its manifest
    declares (an unknown one fails the install before its dependencies, changing nothing)."""
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
    with regeneration.after(registry, "install", report) as m:
        txn = m.stage()
        manifest, record = _prepare(txn, source, report)
        name = manifest["metadata"]["name"]
        report("conflicts")
        where = _locate(registry, name)
        if where is not None:
            if where[0] == "core":
                raise Conflict(f"{name} is a core server; an installed server cannot shadow it", code="core_name",
                               hint="rename the server (metadata.name)")
            raise Conflict(f"{name} is already installed ({where[0]}/)", code="already_installed",
                           hint=f"run 'claudex mcp upgrade {name}', or uninstall it first")
        chosen, _ = _extras(name, manifest, extras)
        txn.write_journal(name=name, location="installed")
        _build(txn, manifest, record, report, _tree_of(source), extras=chosen)
        target = registry / "installed" / name
        m.commit(lambda: _rename(txn.new, target), undo=lambda: os.rename(target, txn.new))
        m.record(name, _record(manifest, "installed", record, target, extras=chosen))
    return {"action": "install", "name": name, "version": manifest["metadata"]["version"], "location": "installed",
            "folder": str(target), "source": record, "extras": chosen, **m.result}


def install_generated(registry: Path, name: str, populate, source: dict, *, finish=None,
                      user_env: dict[str, str] | None = None, upgrading: dict | None = None,
                      report: Report = _quiet) -> dict:
    """Install a server whose folder claudex writes itself (a catalog entry): ``populate(folder,
    scratch)`` writes its files (a manifest, a package.json or requirements.txt naming the pinned
    package, an unpacked bundle); the dependencies are installed; ``finish(folder)`` may then
    write the manifest (the command is known once the package is there) and returns what to add
    to the source record. Then as every install: validated, checked, committed with one rename,
    recorded; ``user_env`` (the secrets) goes into the user layer, put back if the commit fails.
    ``upgrading``: the registry record of ``name``, upgraded instead (the new version passes an
    MCP handshake, then the two are exchanged atomically)."""
    from claudex_mcp.install import adopt

    check_name(name)
    op = "upgrade" if upgrading is not None else "install"
    with regeneration.after(registry, op, report) as m:
        where = _locate(registry, name)
        if upgrading is None and where is not None:
            if where[0] == "core":
                raise Conflict(f"{name} is a core server; an installed server cannot shadow it", code="core_name",
                               hint="choose another name with --name")
            raise Conflict(f"{name} is already installed ({where[0]}/)", code="already_installed",
                           hint=f"run 'claudex mcp upgrade {name}', choose another name with --name, or uninstall it first")
        if upgrading is not None and where is None:
            raise no_server(name, server_names(registry), registry)
        location = where[0] if where is not None else "installed"
        txn = m.stage(name, location=location)
        txn.write_journal(name=name, location=location)
        os.mkdir(txn.new, 0o755)
        report("fetch", source.get("name") or name)
        fault("fetch")
        populate(txn.new, txn.scratch)
        record = dict(source)
        _dependencies(txn, record, report, prefer_cache=upgrading is None)
        if finish is not None:
            record.update(finish(txn.new) or {})
        report("validate")
        manifest = _validated_manifest(txn.new)
        if manifest["metadata"]["name"] != name:
            raise InvalidInput(f"the generated manifest names {manifest['metadata']['name']!r}, not {name!r}",
                               code="name_mismatch", hint="this is a bug in claudex; report it")
        _finish(txn, manifest, record, report)
        previous_env = adopt.set_user_env(name, user_env) if user_env else None
        try:
            if upgrading is not None:
                folder = where[1]
                health = _health_check(registry, txn.new, manifest, location, report)
                m.commit(lambda: staging.exchange(txn.new, folder), undo=lambda: staging.exchange(txn.new, folder))
                target = folder
            else:
                health = None
                target = registry / "installed" / name
                m.commit(lambda: _rename(txn.new, target), undo=lambda: os.rename(target, txn.new))
        except BaseException:
            if user_env:
                adopt.set_user_env(name, previous_env, replace=True)
            raise
        installed_at = (upgrading or {}).get("installedAt")
        m.record(name, _record(manifest, location, record, target, installed_at))
    stopped = launcher.stop_running(name) if upgrading is not None else []
    return {"action": op, "name": name, "version": manifest["metadata"]["version"], "location": location,
            "folder": str(target), "source": record, "health": health, "stopped": stopped, **m.result}


def _rename(src: Path, dst: Path) -> None:
    os.rename(src, dst)
    atomic.fsync_dir(dst.parent)


def uninstall(registry: Path, name: str, *, purge: bool = False, report: Report = _quiet) -> dict:
    check_name(name)
    with regeneration.after(registry, "uninstall", report) as m:
        location = uninstall_in(m, name)
    stopped = launcher.stop_running(name)
    purged = _purge_user_config(name) if purge else False
    return {"action": "uninstall", "name": name, "location": location, "purged": purged, "stopped": stopped,
            **m.result}


def uninstall_in(m: mutation.Mutation, name: str) -> str:
    """An uninstall as one commit of the mutation ``m`` (the verb's own, or a migration's
    rollback, which removes several servers and restores config layers in one): the server's
    folder leaves the registry; its location. Stopping what runs of it is the caller's, after
    the mutation."""
    location, folder = _installed(m.registry, name)
    if location == "core":
        raise Conflict(f"{name} is a core server and cannot be uninstalled", code="core_server",
                       hint=f"run 'claudex mcp disable {name}' instead")
    txn = m.stage(name, location=location)
    m.report("remove")
    m.commit(lambda: os.rename(folder, txn.removed), undo=lambda: os.rename(txn.removed, folder))
    m.record(name, None)
    return location


def _purge_user_config(name: str) -> bool:
    from claudex_mcp.settings import config

    def drop(doc: dict | None) -> dict | None:
        if not doc or name not in doc.get("servers", {}):
            return doc
        return dict(doc, servers={k: v for k, v in doc["servers"].items() if k != name})

    return config.update_layer(paths.user_config_file(), "user", drop)


def _newer_git_ref(source: dict) -> tuple[dict | None, str]:
    """(new source, why) for a git source: a semver tag goes to the newest semver tag, a branch
    (or the default branch, when no ref was given) to its head; a commit stays where it is."""
    from claudex_mcp.versions import parse

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
    from claudex_mcp.settings import config
    from claudex_mcp.runtime import sdk_probe

    server = manifest["server"]
    if server.get("transport", "stdio") != "stdio":
        return None
    entry = {"name": manifest["metadata"]["name"], "folder": str(folder), "location": location, "manifest": manifest}
    merged, _ = config.merge(config.Layers(registry, None).sources(entry))
    missing = config.env_reference_problems(entry, merged, dict(os.environ))
    if missing:
        report("health", f"skipped: {', '.join(missing)} not set")
        return None
    argv, env = launcher.start_command(str(folder), server["command"], merged.get("args"), merged.get("env"),
                                       dict(os.environ))
    report("health")
    timeout = float(manifest.get("healthCheck", {}).get("timeout", sdk_probe.DEFAULT_TIMEOUT))
    meta = manifest["metadata"]
    with tempfile.NamedTemporaryFile("w+", prefix="claudex-upgrade-", suffix=".log") as err:
        try:
            found = sdk_probe.probe(argv, env, str(folder), max(timeout, 10.0), errlog=err.name, label=meta["name"])
            found.pop("toolSchemas", None)  # `info` shows them; the upgrade's report names the tools
            return found
        except sdk_probe.ProbeFailure as exc:
            err.seek(0)
            tail = [line for line in err.read().splitlines() if line.strip()][-STDERR_TAIL_LINES:]
            raise sdk_probe.ProbeFailure(
                f"{meta['name']} {meta['version']} failed its MCP handshake, so the upgrade was rolled back: "
                f"{exc.message}", code=exc.code, details=tail,
                hint=("its last stderr lines are shown" if tail else "it wrote nothing to stderr")
                + "; fix the server, then upgrade again") from None


def upgrade(registry: Path, name: str, *, check: bool = False, force: bool = False, add: list[str] = (),
            remove: list[str] = (), report: Report = _quiet) -> dict:
    """Upgrade ``name`` to its source's newest version, keeping its extras, plus ``add`` and less
    ``remove``. When only the extras change (no newer version), the installed copy is rebuilt
    with them: the same files, a new venv, the same health check and atomic exchange."""
    from claudex_mcp.versions import parse

    check_name(name)
    both = [x for x in add if x in remove]
    if both:
        raise UsageError(f"{', '.join(repr(x) for x in both)} is given to both --with and --without",
                         code="extras_conflict", hint="name each extra once")
    if check and (add or remove):
        raise UsageError("--check only reports; --with and --without change the server",
                         code="check_with_extras", hint=f"run 'claudex mcp upgrade {name} --check' alone")
    with regeneration.after(registry, "upgrade", report) as m:
        location, folder = _installed(registry, name)
        if location == "core":
            raise Conflict(f"{name} is a core server; it is upgraded with claudex itself", code="core_server",
                           hint="upgrade claudex; 'claudex mcp init' then updates the core servers")
        record = registry_mod.reconciled(registry).get(name, {})
        installed = jsonio.load(folder / "manifest.json")
        current = installed["metadata"]["version"]
        kept = record.get("extras") or []
        source = record.get("source") or {"type": "path", "path": str(folder)}
        report("check", source.get("url") or source.get("path"))
        new_source, why = _newer_source(name, folder, source, force)
        result = {"action": "upgrade", "name": name, "from": current, "location": location, "reason": why,
                  "extras": sorted(kept)}
        rebuild = False
        if new_source is None and (add or remove):
            extras, _ = _extras(name, installed, add, keep=kept, drop=remove)
            rebuild = extras != sorted(kept)
            if rebuild:
                result["reason"] = _extras_change(kept, extras)
        if check or (new_source is None and not rebuild):
            return dict(result, check=check, available=new_source is not None, to=None, upgraded=False)
        txn = m.stage(name, location=location)
        if rebuild:  # the same version: its installed files (shared packages vendored), a new venv
            report("fetch", f"{folder} (the installed copy)")
            fault("fetch")
            sources.copy_tree(folder, txn.new)
            report("validate")
            manifest, new_record, tree = _validated_manifest(txn.new), dict(source), _installed_tree(folder)
            dropped = []
        else:
            manifest, new_record = _prepare(txn, new_source, report)
            if manifest["metadata"]["name"] != name:
                raise InvalidInput(f"the source now holds {manifest['metadata']['name']!r}, not {name!r}",
                                   code="name_changed", hint="install it under its new name instead")
            new_version = manifest["metadata"]["version"]
            if parse(new_version) < parse(current) and not force:
                raise Conflict(f"{new_version} is older than the installed {current}", code="downgrade",
                               hint="pass --force to downgrade")
            extras, dropped = _extras(name, manifest, add, keep=kept, drop=remove)
            tree = _tree_of(new_source)
        new_version = manifest["metadata"]["version"]
        _build(txn, manifest, new_record, report, tree, prefer_cache=rebuild, extras=extras)
        health = _health_check(registry, txn.new, manifest, location, report)
        # After the exchange txn.new holds the old version; exchanging again puts it back.
        m.commit(lambda: staging.exchange(txn.new, folder), undo=lambda: staging.exchange(txn.new, folder))
        m.record(name, _record(manifest, location, new_record, folder, record.get("installedAt") or _now(), extras))
    stopped = launcher.stop_running(name)
    if dropped:  # the new version no longer has them
        result["extrasDropped"] = dropped
    return dict(result, to=new_version, upgraded=True, source=new_record, health=health, stopped=stopped,
                extras=extras, **m.result)


def _extras_change(before: list[str], after: list[str]) -> str:
    """What an upgrade of the extras alone does, in words: "extras: +chat, -server"."""
    changes = [f"+{x}" for x in after if x not in before] + [f"-{x}" for x in before if x not in after]
    return "extras: " + ", ".join(changes)


def _newer_source(name: str, folder: Path, source: dict, force: bool) -> tuple[dict | None, str]:
    """(the source to upgrade from, why), or (None, why not)."""
    if source["type"] == "git":
        return _newer_git_ref(source)
    if source["type"] != "path":
        return None, "no source to upgrade from"
    if not Path(source["path"]).is_dir():
        raise NotFound(f"{name}'s source folder {source['path']} is gone", code="source_gone",
                       hint="install it again from where it lives now")
    if _installed_tree(folder) == sources.tree_digest(Path(source["path"])) and not force:
        return None, "its folder has not changed"
    return dict(source), "re-copied from its folder"


def set_enabled(registry: Path, name: str, enabled: bool, *, project=None, report: Report = _quiet) -> dict:
    """Globally: installed/ <-> disabled/ (core servers: the global config layer). For a
    project: its layer (and, through the regeneration, the local scope of its folder in Claude
    Code's user file). Disabling stops an instance the launcher started."""
    from claudex_mcp.settings import config

    from claudex_mcp.clients import generate

    check_name(name)
    with regeneration.after(registry, "enable" if enabled else "disable", report, project=project) as m:
        location, folder = _installed(registry, name)
        # The user decides about it again: an entry of it they removed from a client's file (or
        # a folder's disabled list they took it off) is written back.
        if generate.readmit(name, enabled, str(project.dir) if project is not None else None):
            m.touched()
        if project is not None:
            layer_file = project.config_file
        elif location == "core" or enabled:
            layer_file = config.global_file(registry)
        else:
            layer_file = None
        if layer_file is not None and _set_enabled_in_layer(layer_file, name, enabled, project is not None):
            m.touched()
        if project is None and location != "core" and (location == "disabled") == enabled:
            target = registry / ("installed" if enabled else "disabled") / name
            report("move", f"{location}/ -> {target.parent.name}/")
            m.commit(lambda: _rename(folder, target), undo=lambda: os.rename(target, folder))
    stopped = [] if enabled else launcher.stop_running(name, project)
    return {"action": "enable" if enabled else "disable", "name": name, "changed": m.changed,
            "scope": "project" if project is not None else "global",
            "project": project.to_dict() if project is not None else None, "stopped": stopped, **m.result}


def _set_enabled_in_layer(layer_file: Path, name: str, enabled: bool, project: bool) -> bool:
    """A project's layer says enabled true/false; globally, enabling drops an `enabled: false`
    (which would keep the server off) and disabling a core server sets it. True when written."""
    from claudex_mcp.settings import config

    def change(doc: dict | None) -> dict | None:
        if project:
            return config.set_value(doc, name, "enabled", enabled)
        if enabled:
            return config.unset_value(doc, name, "enabled")
        return config.set_value(doc, name, "enabled", False)

    return config.update_layer(layer_file, "project" if project else "global", change)


def configure(registry: Path, target: Path, layer: str, change, secrets=frozenset(), *, project=None,
              report: Report = _quiet) -> dict:
    """`config set` / `config unset`: one layer file changed (config.update_layer: its lock, its
    validation) inside the one mutation path, so it waits for a running install and the clients'
    files follow; ``project`` is the project whose layer it is."""
    from claudex_mcp.settings import config

    if config.checked_change(target, layer, change, secrets) is None:  # refused before any lock
        return {"changed": False, "regenerated": [], "warnings": []}
    with regeneration.after(registry, "config", report, project=project) as m:
        if config.update_layer(target, layer, change, secrets):
            m.touched()
    return {"changed": m.changed, **m.result}


def core_source() -> Path | None:
    """Where the core servers that ship with claudex are: CLAUDEX_MCP_CORE_SOURCE (empty: none),
    else mcp-servers/core/ of this claudex."""
    value = os.environ.get("CLAUDEX_MCP_CORE_SOURCE")
    if value is not None:
        return Path(value) if value else None
    return paths.PROJECT_ROOT / "mcp-servers" / "core"


def init(registry: Path, report: Report = _quiet) -> dict:
    """Create what is missing of the registry, then put the core servers in (or bring them up
    to date)."""
    created = mutation.create(registry)
    return {"created": created, "core": sync_core(registry, report), "registry": str(registry)}


def sync_core(registry: Path, report: Report = _quiet) -> list[str]:
    """Put the shipped core servers into core/ with their dependencies, or bring them up to date
    (atomically, like an upgrade, with the same rollback); a core server that did not change is
    left alone."""
    source_root = core_source()
    if source_root is None or not source_root.is_dir():
        return []
    synced = []
    shared_root = source_root.parent  # mcp-servers/: the core servers' shared packages are in its lib/
    for folder in sorted(p for p in source_root.iterdir() if (p / "manifest.json").is_file()):
        digest = sources.tree_digest(folder, shared_root)
        target = registry / "core" / folder.name
        if _installed_tree(target) == digest:
            continue
        with mutation.begin(registry, "core", report) as m:
            txn = m.stage(folder.name, location="core")
            manifest, _ = _prepare(txn, {"type": "path", "path": str(folder), "root": str(shared_root)}, report)
            if manifest["metadata"]["name"] != folder.name:
                raise InvalidInput(f"core server folder {folder} holds {manifest['metadata']['name']!r}",
                                   code="name_mismatch")
            _build(txn, manifest, {"type": "core"}, report, digest)
            if target.exists():
                m.commit(lambda: staging.exchange(txn.new, target), undo=lambda: staging.exchange(txn.new, target))
            else:
                m.commit(lambda: _rename(txn.new, target), undo=lambda: os.rename(target, txn.new))
            m.record(folder.name, _record(manifest, "core", {"type": "core"}, target))
        synced.append(folder.name)
    return synced

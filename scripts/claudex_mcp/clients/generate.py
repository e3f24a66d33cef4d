"""Writing a client's MCP config file: where it lives, the per-file lock, the backup, the record
of which entries claudex wrote there, and the atomic write. Never prints.

Entries claudex did not write are the user's: they are kept, and one with the name of a server
claudex would write wins (with a warning). An entry claudex wrote that is gone from the file the
next time was removed by the user there (``claude mcp remove``, ``codex mcp remove``, an edit):
it stays out of that file, with a warning the first time, until ``enable``/``disable`` of that
server decides again (``readmit``); a whole file that is gone is written anew. Beside a user-level
file, each project folder gets what its decisions need (folders.py decides): Claude Code's local
scope in its user file (``projects[<dir>]`` of ``.claude.json``), Codex's
``<dir>/.codex/config.toml``.

The record is ``$XDG_STATE_HOME/claudex/generated.json``: ``{target: {"client", "project",
"servers": [names written], "pending"?: [names being written], "excluded"?: [names the user
removed], "folders"?: {dir: {part: {"servers", "pending"?, "excluded"?}}}}}``, where a part is
``mcpServers`` or ``disabledMcpServers`` (Claude Code) or ``mcp_servers`` (Codex's folder file).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from collections.abc import Callable, Iterable, Mapping
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from claudex_mcp import atomic, jsonio, paths
from claudex_mcp.clients import renderers, codex_toml, folders as folders_mod
from claudex_mcp.store import lock
from claudex_mcp.clients.folders import Folders
from claudex_mcp.errors import InvalidInput, UsageError

SCOPES = ("default", "project", "user")
# What `generate` writes when no client is named (the entrypoint and `make run` too): what makes
# Claude Code and Codex see the servers from any working folder. Claude Code reads ~/.mcp.json
# only as a project file, so its user scope (~/.claude.json) comes first; ~/.mcp.json stays as a
# compatibility copy.
DEFAULT_TARGETS = (("claude-code", "user"), ("claude-code", "default"), ("codex", "user"))
STATE_FILE = "generated.json"
# ~/.claude.json can grow large (Claude Code keeps per-project history in it); read it whole.
MAX_TARGET_BYTES = 256 * 1024 * 1024
PRIVATE = renderers.PRIVATE
PUBLIC = renderers.PUBLIC


class Target:
    __slots__ = ("path", "scope", "new_mode")

    def __init__(self, path: Path, scope: str, new_mode: int) -> None:
        self.path, self.scope = path, scope
        self.new_mode = new_mode  # the mode of a file claudex creates; an existing file keeps its own


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _project_dir(effective: Mapping[str, Any]) -> Path | None:
    project = effective.get("project")
    return Path(project["dir"]) if isinstance(project, dict) and project.get("dir") else None


def _need_project(project: Path | None, client: str) -> Path:
    if project is None:
        raise UsageError(f"--scope project needs a project, and the effective config has none",
                         code="no_project",
                         hint=f"generate with a project in effect, or use --scope user for {client} "
                              f"(or --output PATH)")
    return project


def codex_home(env: Mapping[str, str] | None = None) -> Path:
    value = _env(env).get("CODEX_HOME")
    return Path(value).expanduser().absolute() if value else paths.home(env) / ".codex"


def resolve_target(client: str, scope: str, effective: Mapping[str, Any], output: str | None = None,
                   env: Mapping[str, str] | None = None) -> Target:
    """The file ``client`` reads for ``scope`` (renderers.TABLE); ``output`` overrides the path but
    not the mode."""
    if client not in renderers.TABLE:
        raise UsageError(f"unknown client {client!r}", hint="the clients are: " + ", ".join(renderers.CLIENTS))
    project = _project_dir(effective)
    files = renderers.TABLE[client].files
    if client == renderers.CURSOR and scope == "default":
        scope = "project" if project is not None else "user"
    if scope not in files:
        if output is None:
            if client == renderers.CLAUDE_DESKTOP:
                raise UsageError("Claude Desktop has no project config", code="bad_scope",
                                 hint="use --scope user (its one file), or --output PATH")
            raise UsageError("claudex writes VS Code's workspace config (.vscode/mcp.json) only",
                             code="bad_scope", hint="use --scope project, or --output PATH")
        scope = "default" if "default" in files else next(iter(files))
    base, relative, mode = files[scope]
    if base == "project":
        if project is None and output is None:
            if client == renderers.VSCODE and scope == "default":
                raise UsageError("VS Code's config lives in the project (.vscode/mcp.json), and the "
                                 "effective config has no project", code="no_project",
                                 hint="generate with a project in effect, or use --output PATH")
            _need_project(project, client)
        folder = project or Path("/")
    elif base == "codex_home":
        folder = codex_home(env)
    elif base == "config_home":
        folder = paths.config_home(env)
    else:
        folder = paths.home(env)
    shown_scope = "user" if base != "project" and scope == "default" and client != renderers.CLAUDE_CODE else scope
    if base == "project" and scope == "default":
        shown_scope = "project"
    target = Target(folder / relative, shown_scope, mode)
    if output is not None:
        target = Target(Path(output).expanduser().absolute(), target.scope, target.new_mode)
    return target


def outside(where: Any, effective: Mapping[str, Any], client: str, scope: str, output: str | None) -> Path | None:
    """The client file ``client``/``scope`` would write when it lies outside the project ``where``
    (a project found from the working directory must not shape a file in the home folder, nor
    make later mutations regenerate that file for it); None when the file is in the project."""
    target = Path(resolve_target(client, scope, effective, output).path).absolute()
    return None if target.is_relative_to(where.dir) else target


def render_document(effective: Mapping[str, Any], client: str) -> tuple[bytes, list[str]]:
    """The whole file ``client`` would get from an empty one (for ``--output -``), and warnings."""
    rendered = renderers.render(client, effective)
    if client == renderers.CODEX:
        return codex_toml.render_codex(rendered.entries).encode("utf-8"), rendered.warnings
    doc: dict = {renderers.servers_key(client): rendered.entries}
    if rendered.inputs:
        doc["inputs"] = [rendered.inputs[i] for i in sorted(rendered.inputs)]
    return renderers.dump_json(doc), rendered.warnings


# ---- the record of what claudex wrote where -----------------------------------------------

def state_file(env: Mapping[str, str] | None = None) -> Path:
    return paths.state_home(env) / "claudex" / STATE_FILE


def load_state(env: Mapping[str, str] | None = None) -> dict:
    path = state_file(env)
    if not path.exists():
        return {}
    state = jsonio.load(path)
    if not isinstance(state, dict) or not all(
            isinstance(v, dict) and isinstance(v.get("servers"), list) for v in state.values()):
        raise InvalidInput(f"{path} is not claudex's record of generated entries", path=str(path),
                           code="invalid_state",
                           hint="delete it; claudex then treats the entries it finds as yours")
    return state


def _record(key: str, entry: dict) -> None:
    """What claudex wrote to ``key``, and for which client and project, so that install,
    upgrade, enable and disable can regenerate the same targets."""
    path = state_file()
    with lock.path_lock(path):  # one record for every target: its own lock, held briefly
        state = load_state()
        state[key] = entry
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(path, state, mode=PRIVATE)


def readmit(name: str, enabled: bool, folder: str | None = None) -> bool:
    """Forget that the user removed ``name`` where ``enable`` or ``disable`` decides about it
    again, so that the next write puts it back as claudex decides: enabling everywhere, in every
    file and folder part; enabling or disabling for a project, in the parts for its ``folder``
    (Claude Code's local scope, Codex's folder file). True when something was forgotten."""
    path = state_file()
    if not path.exists() or (folder is None and not enabled):
        return False
    with lock.path_lock(path):
        state = load_state()
        found = []
        for entry in state.values():
            parts = entry.get("folders") if isinstance(entry.get("folders"), dict) else {}
            chosen = [parts.get(folder)] if folder is not None else list(parts.values())
            found += ([entry] if folder is None else []) + [
                record for part in chosen if isinstance(part, dict) for record in part.values()]
        forgot = False
        for record in found:
            if isinstance(record, dict) and name in (record.get("excluded") or []):
                record["excluded"] = [n for n in record["excluded"] if n != name]
                if not record["excluded"]:
                    del record["excluded"]
                forgot = True
        if forgot:
            atomic.write_json(path, state, mode=PRIVATE)
    return forgot


def _previous(backup: Path | None) -> bytes | None:
    try:
        return backup.read_bytes() if backup is not None else None
    except OSError:
        return None


def _restore(backup: Path | None, previous: bytes | None, key: str, entry: dict) -> None:
    """Undo the backup and the record of a write that failed; best effort, as the disk may be full."""
    import contextlib

    with contextlib.suppress(OSError):
        if backup is not None:
            if previous is None:
                backup.unlink(missing_ok=True)
            else:
                atomic.write_bytes(backup, previous, mode=backup.stat().st_mode & 0o7777)
    with contextlib.suppress(OSError), lock.path_lock(state_file()):
        state = load_state()
        if entry:
            state[key] = entry
        else:
            state.pop(key, None)
        if state:
            atomic.write_json(state_file(), state, mode=PRIVATE)
        else:  # an empty record is no record
            state_file().unlink(missing_ok=True)


# ---- reading and updating a target --------------------------------------------------------

def _refuse(target: Path, message: str) -> InvalidInput:
    return InvalidInput(message, path=str(target), code="invalid_target",
                        hint=f"fix {target}, or move it away and generate again; nothing was written")


def _read_target(target: Path) -> bytes | None:
    if not target.exists():
        return None
    return jsonio.read_bytes(target, limit=MAX_TARGET_BYTES)


class _Owned:
    """What claudex wrote into one collection of a file (a servers object or table, a list of
    names), by its record: ``servers`` it wrote and found there since, ``pending`` (recorded just
    before a write, should the write be cut short: claudex's, not known to be in the file) and
    ``excluded`` (written once, then removed there by the user, and left out since)."""

    __slots__ = ("servers", "pending", "excluded")

    def __init__(self, record: Mapping | None) -> None:
        record = record if isinstance(record, Mapping) else {}
        self.servers, self.pending, self.excluded = (set(record.get(k) or []) for k in ("servers", "pending", "excluded"))


def _names(servers: Iterable[str], pending: Iterable[str] = (), excluded: Iterable[str] = ()) -> dict:
    record: dict = {"servers": sorted(servers)}
    for key, names in (("pending", pending), ("excluded", excluded)):
        if names:
            record[key] = sorted(names)
    return record


class _Plan:
    """What one write does to one collection: ``put`` (claudex's entries now), ``removed``
    (claudex's, taken out), ``kept`` (the user's own, which won over claudex's of the same name),
    ``excluded`` (left out: the user removed them there), ``theirs`` (every entry of the user's),
    and the records to keep before and after the write."""

    __slots__ = ("put", "removed", "kept", "excluded", "theirs", "warnings", "before", "after", "folders", "skipped")

    def __init__(self, put: dict, removed: list[str], kept: list[str], excluded: list[str], theirs: set[str],
                 warnings: list[str], before: dict, after: dict) -> None:
        self.put, self.removed, self.kept, self.excluded, self.theirs = put, removed, kept, excluded, theirs
        self.warnings, self.before, self.after = warnings, before, after
        self.folders: list[_Folder] = []  # Claude Code's user file: its local scopes written
        self.skipped: list[dict] = []  # and those that could not be (_folder_result)


def _plan(where: str, present: Mapping[str, Any] | None, owned: _Owned, wanted: Mapping[str, Any], *,
          gone_message: Callable[[str], str] | None = None) -> _Plan:
    """Merge claudex's ``wanted`` entries with what a collection holds: ``present``, by name (None
    when the file, or the folder's part of it, does not exist: it is then written anew, and
    nothing counts as removed by the user). ``where`` names the collection in messages."""
    mine = owned.servers | owned.pending
    here = set(present or ())
    theirs = here - mine
    gone = set() if present is None else owned.servers - here
    excluded = {n for n in ((owned.excluded if present is not None else set()) | gone) if n in wanted and n not in theirs}
    put = {name: entry for name, entry in wanted.items() if name not in theirs and name not in excluded}
    kept = sorted(name for name in wanted if name in theirs)
    removed = sorted(name for name in mine & here if name not in put)
    say = gone_message or (lambda name: (
        f"{name} was removed from {where} outside claudex (with 'claude mcp remove', 'codex mcp remove' "
        f"or an edit): claudex leaves it out of that file from now on; 'claudex mcp enable {name}' "
        f"writes it back, 'claudex mcp disable {name}' switches it off everywhere"))
    warnings = [f"kept your entry {name} in {where}; claudex's {name} was not written"
                for name in kept if present[name] != wanted[name]]  # the same entry is no conflict
    warnings += [say(name) for name in sorted(gone & excluded)]
    # Before the write, a name counts as written only if it is in the file now and stays: after a
    # crash in between, the others are neither mistaken for the user's nor for removed by the user.
    confirmed = {name for name in owned.servers if name in here and name in put}
    before = _names(confirmed, (mine | set(put)) - confirmed - excluded, excluded)
    return _Plan(put, removed, kept, sorted(excluded), theirs, warnings, before, _names(put, (), excluded))


class _Folder:
    """What one write does to the local scope of one project folder in Claude Code's user file: its
    servers (``mcpServers``) and the names disabled there (``disabledMcpServers``). Its result
    names the servers written there, those disabled, the entries removed, the names taken off
    the disabled list (``reenabled``) and those left out because the user removed them."""

    __slots__ = ("dir", "servers", "disabled")

    def __init__(self, folder: str, servers: _Plan, disabled: _Plan) -> None:
        self.dir, self.servers, self.disabled = folder, servers, disabled

    def record(self, stage: str) -> dict | None:
        parts = {key: getattr(plan, stage) for key, plan in (("mcpServers", self.servers),
                                                             ("disabledMcpServers", self.disabled))
                 if any(getattr(plan, stage).values())}
        return parts or None

    def result(self, target: str) -> dict | None:
        return _folder_result(self.dir, target, servers=self.servers.put, disabled=self.disabled.put,
                              removed=self.servers.removed, reenabled=self.disabled.removed,
                              excluded=set(self.servers.excluded) | set(self.disabled.excluded))


def _folder_result(folder: str, target: str, skipped: str | None = None, **names: Iterable[str]) -> dict | None:
    """What a write did for one project folder: the file (``target``), the servers written for
    it, those switched off there, the entries removed, the names taken off a disabled list, those
    left out because the user removed them; or why nothing was written (``skipped``). None when
    there is nothing to say."""
    found = {key: sorted(names.get(key) or ()) for key in ("servers", "disabled", "removed", "reenabled", "excluded")}
    if not skipped and not any(found.values()):
        return None
    return {"dir": folder, "target": target, **found, "skipped": skipped}


def _update_json(target: Path, old: bytes | None, client: str, entry: dict, rendered: renderers.Rendered,
                 folders: Folders | None = None, known: Iterable[str] = ()) -> tuple[bytes, _Plan]:
    key = renderers.servers_key(client)
    doc: Any = {}
    # VS Code reads its mcp.json as JSONC (comments, trailing commas) and so does claudex; the
    # other clients' files are strict JSON, and a comment in them is refused as their clients would.
    jsonc = client == renderers.VSCODE
    if old is not None:
        try:
            doc = (jsonio.parse_jsonc if jsonc else jsonio.parse)(old, str(target))
        except InvalidInput as exc:
            raise _refuse(target, exc.message) from None
    if not isinstance(doc, dict):
        raise _refuse(target, f"{target}: the top level is not a JSON object")
    current = doc.get(key, {})
    if not isinstance(current, dict):
        raise _refuse(target, f"{target} /{key}: expected an object of servers")
    plan = _plan(str(target), None if old is None else current, _Owned(entry), rendered.entries)
    plan.warnings[:0] = rendered.warnings
    merged = renderers.merge_servers(current, plan.removed, plan.put)
    inputs = _inputs(target, doc, rendered, plan)
    from claudex_mcp.clients import jsonedit

    if old is None:
        fresh = {key: merged}
        if inputs:
            fresh["inputs"] = inputs[0]
        text = renderers.dump_json(fresh).decode("utf-8")
    else:
        # Only the servers object is rewritten, and in it only claudex's entries: every other value
        # keeps its bytes (1e400, big integers, escapes, key order) - see jsonedit.
        text = old.decode("utf-8")
        if merged != current or (key not in doc and merged):
            text = jsonedit.replace_object(text, key, merged, keep=set(current) - set(plan.put), jsonc=jsonc)
        if inputs is not None:
            text = jsonedit.replace_array(text, "inputs", inputs[0], inputs[1], jsonc=jsonc)
    if folders is not None:
        text = _claude_folders(target, doc, text, entry, plan, rendered, folders, known)
    if old is not None and text == old.decode("utf-8"):
        return old, plan  # nothing of ours changed: the user's formatting stays as it is
    return (text if text.endswith("\n") else text + "\n").encode("utf-8"), plan


def _claude_folders(target: Path, doc: dict, text: str, entry: dict, plan: _Plan, rendered: renderers.Rendered,
                    folders: Folders, known: Iterable[str]) -> str:
    """``text`` with the local scope of every project folder claudex knows made what the
    project's decisions need (folders.local), next to the user scope in ``plan``; each
    folder's plans go to ``plan.folders``, its messages to ``plan.warnings``."""
    from claudex_mcp.clients import jsonedit
    from claudex_mcp.errors import ClaudexError

    projects = doc.get("projects", {})
    if not isinstance(projects, dict):
        raise _refuse(target, f"{target} /projects: expected an object of folders")
    recorded = entry.get("folders") if isinstance(entry.get("folders"), dict) else {}
    changes: dict[str, dict[str, tuple]] = {}  # folder -> its members to set: (value, what to keep as written)
    added: dict[str, dict] = {}  # folders new to the file, whole
    for folder in folders.dirs(set(recorded) | set(known)):
        try:
            here = folders.rendered(folder, renderers.CLAUDE_CODE)
        except ClaudexError as exc:
            plan.warnings.append(f"left the local scope of {folder} in {target} as it was: {exc.message}")
            continue
        # Neither an entry of the user's nor one they removed comes back through a local scope.
        wanted, disabled = folders_mod.local(plan.put, here, folder, plan.theirs | set(plan.excluded))
        root = folders_mod.settings_root(folder)
        if root != folder:
            if wanted or disabled:
                plan.skipped.append(_folder_result(folder, str(target), skipped=(
                    f"Claude Code keeps one local scope for the whole git repository {root}, so a project below "
                    f"its root cannot have its own (claudex's launcher still refuses there a server the project "
                    f"switches off)")))
            continue
        own = projects.get(folder)
        if own is not None and not isinstance(own, dict):
            raise _refuse(target, f"{target} /projects/{folder}: expected an object")
        own = own or {}
        servers, names = own.get("mcpServers"), own.get("disabledMcpServers")
        if servers is not None and not isinstance(servers, dict):
            raise _refuse(target, f"{target} /projects/{folder}/mcpServers: expected an object of servers")
        if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise _refuse(target, f"{target} /projects/{folder}/disabledMcpServers: expected a list of names")
        record = recorded.get(folder) if isinstance(recorded.get(folder), dict) else {}
        exists = folder in projects  # a folder Claude Code no longer keeps is written anew
        where = f"the local scope of {folder} in {target}"
        on = _plan(where, (servers or {}) if exists else None, _Owned(record.get("mcpServers")), wanted,
                   gone_message=lambda name: (
                       f"{name} was removed from {where} outside claudex (with 'claude mcp remove -s local' or an "
                       f"edit): claudex leaves it out there from now on; 'claudex mcp enable {name} --project-dir "
                       f"{folder}' writes it back"))
        off = _plan(where, {name: name for name in names or []} if exists else None,
                    _Owned(record.get("disabledMcpServers")), {name: name for name in disabled}, gone_message=lambda name: (
                        f"{name} was switched back on for {folder} in Claude Code (taken off disabledMcpServers "
                        f"in {target}), though the project there switches it off: claudex leaves it on there from "
                        f"now on; 'claudex mcp disable {name} --project-dir {folder}' switches it off again"))
        if here is not None:
            plan.warnings += [f"in {folder}: {w}" for w in here.warnings if w not in rendered.warnings]
        plan.warnings += on.warnings + off.warnings
        merged = renderers.merge_servers(servers or {}, on.removed, on.put)
        listed = names or []
        kept = [i for i, name in enumerate(listed) if name not in off.removed]
        new = [listed[i] for i in kept] + [name for name in off.put if name not in listed]
        change = {}
        if merged != (servers or {}) or (servers is None and merged):
            change["mcpServers"] = (merged, set(servers or {}) - set(on.put))
        if new != listed:
            change["disabledMcpServers"] = (new, dict(enumerate(kept)))
        if change and folder in projects:
            changes[folder] = change
        elif change:
            added[folder] = {k: v for k, v in (("mcpServers", merged), ("disabledMcpServers", new)) if v}
        plan.folders.append(_Folder(folder, on, off))
    # ~/.claude.json can be megabytes: the folders' objects are found in one reading and edited
    # each on its own, from the last to the first, so that every other byte stays in place.
    spans, unit = (jsonedit.spans(text, ("projects",)) if changes else None) or ({}, "  ")
    for start, end, indent, folder in sorted(((*spans[f], f) for f in changes), reverse=True):
        sub, change = text[start:end], changes[folder]
        if "mcpServers" in change:
            merged, keep = change["mcpServers"]
            sub = jsonedit.replace_object(sub, "mcpServers", merged, keep, within=(indent, unit))
        if "disabledMcpServers" in change:
            new, raw_from = change["disabledMcpServers"]
            sub = jsonedit.replace_array(sub, "disabledMcpServers", new, raw_from, within=(indent, unit))
        text = text[:start] + sub + text[end:]
    return jsonedit.add_members(text, ("projects",), added)


def _inputs(target: Path, doc: dict, rendered: renderers.Rendered, plan: _Plan) -> tuple[list, dict] | None:
    """VS Code's ``inputs`` with claudex's prompts (ids starting ``claudex-``) made those of the
    entries written now: (the new list, {new index: old index} of the user's items, kept as
    written), or None when nothing changes."""
    current = doc.get("inputs")
    if current is None and not rendered.inputs:
        return None
    if not isinstance(current, (list, type(None))):
        raise _refuse(target, f"{target} /inputs: expected a list of prompts")
    current = current or []
    wanted = {i: p for i, p in rendered.inputs.items()
              if any(f"${{input:{i}}}" in json.dumps(plan.put.get(name)) for name in plan.put)}
    ours = lambda item: isinstance(item, dict) and str(item.get("id", "")).startswith(renderers.INPUT_PREFIX)
    kept = [index for index, item in enumerate(current) if not ours(item)]
    new = [current[index] for index in kept] + [wanted[i] for i in sorted(wanted)]
    if new == current:
        return None
    return new, dict(enumerate(kept))


_TOML_READ: dict[str, dict] = {}


def _toml_document(text: str) -> dict:
    """tomllib.loads, once per text in this process: a write reads the user file, checks the
    spliced text and reads the folders' trust from the result, and an unchanged file is the same
    text all three times (the entrypoint's cost, 50 servers). The documents are only read."""
    import tomllib

    if text not in _TOML_READ:
        if len(_TOML_READ) > 8:
            _TOML_READ.clear()
        _TOML_READ[text] = tomllib.loads(text)
    return _TOML_READ[text]


def _update_toml(target: Path, old: bytes | None, entry: dict, rendered: renderers.Rendered,
                 gone_message: Callable[[str], str] | None = None) -> tuple[bytes, _Plan]:
    import tomllib

    try:
        text = "" if old is None else old.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(target, f"{target}: not UTF-8 (byte offset {exc.start})") from None
    try:
        before = _toml_document(text)
    except tomllib.TOMLDecodeError as exc:
        raise _refuse(target, f"{target}: invalid TOML: {exc}") from None
    servers = before.get("mcp_servers", {})
    if not isinstance(servers, dict):
        raise _refuse(target, f"{target}: mcp_servers is not a table")
    # Only a [mcp_servers.<name>] table can be taken out again; anything else there is the user's.
    blocks = codex_toml.codex_blocks(text)
    owned = _Owned(entry)
    owned.servers = {name for name in owned.servers if name in blocks or name not in servers}
    owned.pending = {name for name in owned.pending if name in blocks or name not in servers}
    plan = _plan(str(target), None if old is None else servers, owned, rendered.entries, gone_message=gone_message)
    plan.warnings[:0] = rendered.warnings
    new_text = codex_toml.splice_codex(text, set(plan.removed) | set(plan.put), codex_toml.render_codex(plan.put))
    if _check_toml(target, before, new_text, plan) == before and old is not None:
        return old, plan  # the same settings: the user's arrangement of the file stays
    return new_text.encode("utf-8"), plan


def _switched_off(rendered: renderers.Rendered) -> renderers.Rendered:
    """A project's whole ``.codex/config.toml`` (``--scope project``) with, besides the project's
    servers, claudex's tables of the user file that the project switches off, whole, with
    ``enabled = false``: Codex merges the folder's file over the user file, so leaving a server
    out of it would leave it on there."""
    import tomllib

    user = atomic.target_of(codex_home() / "config.toml")
    try:
        tables = tomllib.loads((_read_target(user) or b"").decode("utf-8")).get("mcp_servers") or {}
        ours = load_state().get(str(user), {}).get("servers") or []
    except (ValueError, OSError, InvalidInput):  # a broken user file is its own write's business
        return rendered
    off = {name: {**tables[name], "enabled": False} for name in ours
           if name not in rendered.entries and isinstance(tables.get(name), dict)}
    if not off:
        return rendered
    result = renderers.Rendered(rendered.client)
    result.entries, result.warnings = {**rendered.entries, **off}, rendered.warnings
    return result


def _codex_folders(key: str, user_text: str, plan: _Plan, folders: Folders, state: dict,
                   known: Iterable[str]) -> list[dict]:
    """Write ``<dir>/.codex/config.toml`` for each project folder claudex knows, as its decisions
    need (folders.codex_tables) next to the user file ``key`` that ``plan`` wrote; only in a folder
    Codex trusts, or one claudex writes already. Messages go to ``plan.warnings``; returns what
    was written, per folder."""
    from claudex_mcp.errors import ClaudexError

    trusted = _toml_document(user_text).get("projects")
    trusted = trusted if isinstance(trusted, dict) else {}
    recorded = (state.get(key) or {}).get("folders")
    recorded = recorded if isinstance(recorded, dict) else {}
    results = []
    for folder in folders.dirs(set(recorded) | set(known)):
        file = Path(folder) / ".codex" / "config.toml"
        part = recorded.get(folder) if isinstance(recorded.get(folder), dict) else None
        try:
            here = folders.rendered(folder, renderers.CODEX)
        except ClaudexError as exc:
            plan.warnings.append(f"left {file} as it was: {exc.message}")
            continue
        if here is None or os.path.realpath(file) in state:  # gone; or written in full (--scope project)
            if part is not None:
                if here is not None:  # claudex writes it in full for the project now: those tables are its
                    claim(os.path.realpath(file), (part.get("mcp_servers") or {}).get("servers") or [])
                _set_folder_record(key, folder, None)
            continue
        tables = folders_mod.codex_tables(plan.put, here, folder, plan.theirs | set(plan.excluded))
        root = folders_mod.settings_root(folder)
        said = trusted.get(root)
        if part is None and (not tables or not (isinstance(said, dict) and said.get("trust_level") == "trusted")):
            if tables:
                results.append(_folder_result(folder, str(file), skipped=(
                    f"Codex reads this file only in a folder it trusts, and it does not trust {root} yet (it asks "
                    f"when started there; generate again then); claudex's launcher still refuses there a server the "
                    f"project switches off")))
            continue
        plan.warnings += [f"in {folder}: {w}" for w in here.warnings if w not in plan.warnings]
        results.append(_write_codex_folder(key, folder, file, tables, part or {}, plan))
    return [found for found in results if found]


def _write_codex_folder(key: str, folder: str, file: Path, tables: dict[str, dict], part: dict,
                        plan: _Plan) -> dict | None:
    """One folder's ``.codex/config.toml``: claudex's ``tables`` merged in as in any file it
    writes, the record of them kept in the user file's entry; a file left empty is removed."""
    path = atomic.target_of(file)
    wanted = renderers.Rendered(renderers.CODEX)
    wanted.entries = tables
    with lock.path_lock(path):
        old = _read_target(path)
        new, own = _update_toml(path, old, part.get("mcp_servers") or {}, wanted, gone_message=lambda name: (
            f"{name} was removed from {path} outside claudex (with an edit): claudex leaves it out there from "
            f"now on; 'claudex mcp enable {name} --project-dir {folder}' (or disable) decides again"))
        plan.warnings += own.warnings
        entry = load_state().get(key) or {}
        after = own.after if any(own.after.values()) else None
        if old is not None and not new.strip() and not file.is_symlink():  # only claudex's tables were there
            import contextlib

            _set_folder_record(key, folder, {"mcp_servers": own.before})
            path.unlink()
            with contextlib.suppress(OSError):  # the .codex folder, when nothing else is in it
                path.parent.rmdir()
            _set_folder_record(key, folder, None)
        else:
            mode = (path.stat().st_mode & 0o7777) if old is not None else PRIVATE
            _commit(path, old, new, mode, key, entry, _with_folder(entry, folder, {"mcp_servers": own.before}),
                    _with_folder(entry, folder, after and {"mcp_servers": after}))
    return _folder_result(folder, str(path), servers=[n for n, t in own.put.items() if t.get("enabled") is not False],
                          disabled=[n for n, t in own.put.items() if t.get("enabled") is False],
                          removed=own.removed, excluded=own.excluded)


def _with_folder(entry: dict, folder: str, part: dict | None) -> dict:
    """``entry`` with the record of ``folder`` set to ``part`` (None: dropped)."""
    entry = dict(entry)
    found = dict(entry.get("folders") or {})
    if part:
        found[folder] = part
    else:
        found.pop(folder, None)
    entry.pop("folders", None)
    if found:
        entry["folders"] = {k: found[k] for k in sorted(found)}
    return entry


def _set_folder_record(key: str, folder: str, part: dict | None) -> None:
    path = state_file()
    with lock.path_lock(path):
        state = load_state()
        state[key] = _with_folder(state.get(key) or {}, folder, part)
        atomic.write_json(path, state, mode=PRIVATE)


def _check_toml(target: Path, before: dict, new_text: str, plan: _Plan) -> dict:
    """The spliced text must parse and differ from the old document only in claudex's servers."""
    import tomllib

    try:
        after = _toml_document(new_text)
    except tomllib.TOMLDecodeError as exc:
        after, reason = None, str(exc)
    else:
        servers = {k: v for k, v in before.get("mcp_servers", {}).items() if k not in plan.removed}
        servers.update(plan.put)
        rest_before = {k: v for k, v in before.items() if k != "mcp_servers"}
        rest_after = {k: v for k, v in after.items() if k != "mcp_servers"}
        reason = "the result would change more than claudex's servers"
        # An emptied [mcp_servers] may vanish with its last table; that is the same config.
        if rest_after == rest_before and after.get("mcp_servers", {}) == servers:
            return after
    raise _refuse(target, f"{target}: cannot update the mcp_servers tables in place ({reason}); "
                          f"the file defines them in a form claudex does not edit (an inline table or "
                          f"dotted keys)")


def holds_folders(client: str, path: Path) -> bool:
    """Whether ``path`` is Claude Code's user file, which holds a local scope per folder
    (``projects``) beside the user scope: ``.claude.json`` (in HOME, or in CLAUDE_CONFIG_DIR)."""
    return client == renderers.CLAUDE_CODE and path.name == ".claude.json"


def holds_codex_folders(client: str, path: Path) -> bool:
    """Whether ``path`` is Codex's user file ($CODEX_HOME/config.toml), beside which each project
    folder's ``.codex/config.toml`` gets the project's decisions."""
    return client == renderers.CODEX and os.path.realpath(path) == os.path.realpath(codex_home() / "config.toml")


def write(effective: Mapping[str, Any], client: str = renderers.CLAUDE_CODE, scope: str = "default",
          output: str | None = None, folders: Folders | None = None) -> dict:
    """Render ``effective`` for ``client`` and merge it into the target file. Returns the result:
    client, scope, target, changed, backup, servers (written), removed, kept (yours, which won
    over claudex's of the same name), excluded (left out: you removed them from this file),
    folders (Claude Code's user file: per project folder, the servers written to its local scope,
    those disabled there, removed and excluded), warnings. With ``folders``, Claude Code's user
    file also gets the local scope of every project folder claudex knows; without, the local
    scopes claudex wrote before stay as they are."""
    if client not in renderers.CLIENTS:
        raise UsageError(f"unknown client {client!r}", hint="the clients are: " + ", ".join(renderers.CLIENTS))
    if scope not in SCOPES:
        raise UsageError(f"unknown scope {scope!r}", hint="the scopes are: " + ", ".join(SCOPES))
    target = resolve_target(client, scope, effective, output)
    # One rule for every file claudex shares with the user (atomic.target_of): write through a
    # symlink to a regular file (dotfile managers link ~/.claude.json and friends); refuse a
    # dangling link and a read-only file.
    path = atomic.target_of(target.path)
    key = str(path)
    project_dir = (effective.get("project") or {}).get("dir")
    rendered = renderers.render(client, effective)
    codex_folders = folders if holds_codex_folders(client, path) else None
    if client == renderers.CODEX and project_dir and not codex_folders and \
            os.path.realpath(path) == os.path.realpath(Path(project_dir) / ".codex" / "config.toml"):
        rendered = _switched_off(rendered)
    if not holds_folders(client, path):
        folders = None
    with lock.path_lock(path):  # under <state>/claudex/locks/, never beside the user's file
        old = _read_target(path)
        mode = (path.stat().st_mode & 0o7777) if old is not None else target.new_mode
        state = load_state()
        entry = state.get(key) or {}
        known = {e["project"] for e in state.values() if isinstance(e.get("project"), str)}
        if client == renderers.CODEX:
            new, plan = _update_toml(path, old, entry, rendered)
        else:
            new, plan = _update_json(path, old, client, entry, rendered, folders, known)
        backup = _commit(path, old, new, mode, key, entry, _entry(client, project_dir, entry, plan, "before"),
                         _entry(client, project_dir, entry, plan, "after"))
        changed = new != old
        folder_results = [found for part in plan.folders if (found := part.result(key))] + plan.skipped
        if codex_folders is not None:
            folder_results += _codex_folders(key, new.decode("utf-8"), plan, codex_folders, state, known)
    return {
        "client": client,
        "scope": target.scope,
        "target": str(path),
        "changed": changed,
        "backup": str(backup) if backup else None,
        "servers": sorted(plan.put),
        "removed": plan.removed,
        "kept": plan.kept,
        "excluded": plan.excluded,
        "folders": folder_results,
        "warnings": plan.warnings,
    }


def _commit(path: Path, old: bytes | None, new: bytes, mode: int, key: str, entry: dict, before: dict,
            after: dict) -> Path | None:
    """Write ``new`` at ``path`` when it differs from ``old``: the backup, the record ``before``
    (what a crash in between leaves right, see _plan), the atomic write, then the record
    ``after``. A failure (a full disk, an immutable file) puts the backup and the record
    ``entry`` back. Returns the backup (None: none written)."""
    backup = None
    if new != old:
        path.parent.mkdir(parents=True, exist_ok=True)
        backup = path.with_name(path.name + ".bak") if old is not None else None
        previous = _previous(backup)
        try:
            if backup is not None:
                atomic.write_bytes(backup, old, mode=mode)
            _record(key, before)
            atomic.write_bytes(path, new, mode=mode)
        except Exception:
            _restore(backup, previous, key, entry)
            raise
    _record(key, after)
    return backup


def _entry(client: str, project_dir: str | None, previous: dict, plan: _Plan, stage: str) -> dict:
    """The record of a target before (``stage`` "before") or after its write."""
    entry = {"client": client, **getattr(plan, stage), "project": project_dir}
    folders = dict(previous.get("folders") or {}) if isinstance(previous.get("folders"), dict) else {}
    for part in plan.folders:
        record = part.record(stage)
        if record:
            folders[part.dir] = record
        else:
            folders.pop(part.dir, None)
    if folders:
        entry["folders"] = {k: folders[k] for k in sorted(folders)}
    return entry


def trust_claude_folders(folders: list[str], env: Mapping[str, str] | None = None) -> dict:
    """Mark each folder trusted in Claude Code's ``~/.claude.json``, as accepting its trust dialog
    there does (``projects[<dir>].hasTrustDialogAccepted``): Claude Code starts no MCP server, user
    scope included, in a folder nobody trusted, nor below it (HOME itself counts as trusted).
    Every other byte of the file is kept. Returns {"target", "trusted": [dirs], "changed"}."""
    dirs = []
    for folder in folders:
        real = os.path.realpath(os.path.expanduser(folder))
        if not os.path.isdir(real):
            from claudex_mcp.errors import NotFound

            raise NotFound(f"no such folder to trust in Claude Code: {folder}", path=folder,
                           code="folder_not_found", hint="name an existing folder (a workspace the agents work in)")
        dirs.append(real)
    path = atomic.target_of(paths.home(env) / ".claude.json")
    with lock.path_lock(path):
        old = _read_target(path)
        doc: Any = {}
        if old is not None:
            try:
                doc = jsonio.parse(old, str(path))
            except InvalidInput as exc:
                raise _refuse(path, exc.message) from None
        projects = doc.get("projects", {}) if isinstance(doc, dict) else None
        if not isinstance(projects, dict) or not all(isinstance(v, dict) for v in projects.values()):
            raise _refuse(path, f"{path} /projects: expected an object of folders")
        todo = [d for d in dict.fromkeys(dirs) if projects.get(d, {}).get("hasTrustDialogAccepted") is not True]
        if todo:
            merged = dict(projects)
            for d in todo:
                merged[d] = {**projects.get(d, {}), "hasTrustDialogAccepted": True}
            if old is None:
                new = renderers.dump_json({"projects": merged})
            else:
                from claudex_mcp.clients import jsonedit

                text = jsonedit.replace_object(old.decode("utf-8"), "projects", merged, keep=set(projects) - set(todo))
                new = (text if text.endswith("\n") else text + "\n").encode("utf-8")
            path.parent.mkdir(parents=True, exist_ok=True)
            mode = (path.stat().st_mode & 0o7777) if old is not None else PRIVATE
            atomic.write_bytes(path, new, mode=mode)
    return {"target": str(path), "trusted": dirs, "changed": bool(todo)}


def write_defaults(effective: Mapping[str, Any], folders: Folders | None = None) -> list[dict]:
    """``write`` for each of DEFAULT_TARGETS, in order."""
    return [write(effective, client, scope, folders=folders) for client, scope in DEFAULT_TARGETS]


def claim(target: str | os.PathLike, names: list[str]) -> bool:
    """Record ``names`` as claudex's own entries in ``target``, a file claudex already writes (it
    is in the record): `migrate` has just replaced the user's entries of those names with launcher
    entries, which later regenerations must keep up to date instead of keeping as the user's.
    False (and nothing recorded) when claudex does not write ``target``."""
    path = state_file()
    key = str(atomic.target_of(target))
    with lock.path_lock(path):
        state = load_state()
        if key not in state:
            return False
        entry = state[key]
        entry["servers"] = sorted(set(entry["servers"]) | set(names))
        atomic.write_json(path, state, mode=PRIVATE)
    return True


def unclaim(target: str | os.PathLike, names: list[str]) -> bool:
    """``names`` are no longer claudex's entries in ``target``: a rolled-back migration has put
    the user's own entries back under them. False when the record did not hold them."""
    path = state_file()
    with lock.path_lock(path):
        state = load_state()
        entry = state.get(str(target))
        if entry is None or not set(names) & set(entry["servers"]):
            return False
        entry["servers"] = sorted(set(entry["servers"]) - set(names))
        atomic.write_json(path, state, mode=PRIVATE)
    return True

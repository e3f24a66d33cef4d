"""The backup set of a migration (apply.py makes it before it changes anything), and the
rollback that undoes what the migration changed and nothing else. Nothing here prints.

A backup set keeps what the migration changes, not copies of files: for each client file it
rewrites, the entries it replaces (their text and their value; the text of a whole TOML file);
for each config layer, the keys it sets and what they held before; the names it claims in
generate's record; the servers it adds and replaces. The secrets that the migration moves to the
user layer are cut out of every text it keeps: a reference to the user layer's value stands in
their place, so the set holds none of them.

The rollback, in this order: every client file is planned first (the migrated entries go back
in place, so a file as the migration left it is as it was, byte for byte; one written since, as
Claude Code rewrites ~/.claude.json all the time, keeps every other change), and an entry changed
or removed since, or a file that no longer parses, refuses the whole rollback (Conflict) before
anything changes; then the files and the claims; then, in one mutation, the servers (each one
commit of it) and the layers, the clients regenerated after it. Run again after an interruption,
it finishes the job: each step sees what is already undone.

    $XDG_STATE_HOME/claudex/migrations/<ID>/     700
      backup.json                                600
      servers/<name>/                            a server that --on-conflict replace removed
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import time
from pathlib import Path

from claudex_mcp import atomic, jsonio, paths
from claudex_mcp.errors import ClaudexError, Conflict, InvalidInput, NotFound, UsageError
from claudex_mcp.store.mutation import Mutation, Report, quiet

BACKUPS = "migrations"
VERSION = 2
MAX_FILE = 256 * 1024 * 1024
SEGMENTS = "claudex:segments"  # in a kept value: a string that held a secret, as segments
_ID = re.compile(r"[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4,16}")
_FORMS = {"json": ("raw", "json", "ascii"), "toml": ("raw", "toml")}
_MISSING = object()


# ---- the folder --------------------------------------------------------------------------------

def backups_dir() -> Path:
    return paths.state_home() / "claudex" / BACKUPS


def backup_root(create: bool = False) -> Path:
    from claudex_mcp import safepath

    root = backups_dir()
    if create:
        root.parent.mkdir(parents=True, exist_ok=True)
    safepath.real_dir(root, create=0o700 if create else None, private=True)
    return root


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# ---- secrets cut out of kept text --------------------------------------------------------------

def _encode(value: str, form: str) -> str:
    """``value`` as it is written in a file: raw, or inside a JSON or TOML string."""
    if form == "json":
        return json.dumps(value, ensure_ascii=False)[1:-1]
    if form == "ascii":
        return json.dumps(value)[1:-1]
    if form == "toml":
        from claudex_mcp.clients.codex_toml import toml_string

        return toml_string(value)[1:-1]
    return value


def cut(text: str, secrets: dict[tuple[str, str], str], syntax: str | None = None) -> list:
    """``text`` as segments: strings, and ``{"server", "variable", "form"}`` where the value of
    a secret of ``secrets`` ((server, variable) -> value) was written (raw, or escaped in a JSON
    or TOML string, by ``syntax``)."""
    segments: list = [text]
    for (server, var), value in sorted(secrets.items(), key=lambda item: -len(item[1])):
        for form in _FORMS.get(syntax, ("raw",)) if value else ():
            needle = _encode(value, form)
            out: list = []
            for segment in segments:
                if not isinstance(segment, str) or needle not in segment:
                    out.append(segment)
                    continue
                for index, part in enumerate(segment.split(needle)):
                    if index:
                        out.append({"server": server, "variable": var, "form": form})
                    if part:
                        out.append(part)
            segments = out
    return segments


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _strings(k) + _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def cut_clean(text: str, secrets: dict[tuple[str, str], str], syntax: str) -> list | None:
    """``cut``, proved: the text left (the secrets taken out) still parses and holds none of
    them in any spelling. None when that fails (an escape the cut does not know): then the
    text is not kept."""
    segments = cut(text, secrets, syntax)
    left = "".join(s for s in segments if isinstance(s, str))
    try:
        if syntax == "toml":
            import tomllib

            parsed = tomllib.loads(left)
        else:
            parsed, _ = jsonio.parse_json_or_jsonc(left.encode("utf-8"))
    except (ClaudexError, ValueError):
        return None
    if any(v and v in s for v in secrets.values() for s in _strings(parsed) + [left]):
        return None
    return segments


def join(segments: list, values: dict[tuple[str, str], str]) -> str:
    """The text of ``segments`` with each secret's value from ``values``; KeyError names a
    secret that is not there."""
    return "".join(s if isinstance(s, str) else _encode(values[_ref(s)], s["form"]) for s in segments)


def _ref(segment: dict) -> tuple[str, str]:
    return segment["server"], segment["variable"]


def _is_ref(value) -> bool:
    return isinstance(value, dict) and set(value) == {"server", "variable", "form"}


def pattern(value, secrets: dict[tuple[str, str], str]):
    """``value`` with every string that held a secret as ``{SEGMENTS: [...]}``."""
    if isinstance(value, str):
        segments = cut(value, secrets)
        return value if segments == [value] or not value else {SEGMENTS: segments}
    if isinstance(value, dict):
        return {k: pattern(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [pattern(v, secrets) for v in value]
    return value


def _is_segments(value) -> bool:
    return isinstance(value, dict) and set(value) == {SEGMENTS}


def matches(value, kept, values: dict[tuple[str, str], str]) -> bool:
    """Whether ``value`` reads as the ``kept`` pattern; a secret no longer in the user layer
    matches any text."""
    if _is_segments(kept):
        if not isinstance(value, str):
            return False
        regex = "".join(re.escape(s) if isinstance(s, str) else
                        re.escape(values[_ref(s)]) if _ref(s) in values else ".+" for s in kept[SEGMENTS])
        return re.fullmatch(regex, value, re.S) is not None
    if isinstance(kept, dict):
        return isinstance(value, dict) and set(value) == set(kept) and all(
            matches(value[k], v, values) for k, v in kept.items())
    if isinstance(kept, list):
        return isinstance(value, list) and len(value) == len(kept) and all(
            matches(a, b, values) for a, b in zip(value, kept))
    return type(value) is type(kept) and value == kept


def fill(kept, values: dict[tuple[str, str], str]):
    """The value of a ``pattern`` with the secrets put back; KeyError names one that is gone."""
    if _is_segments(kept):
        return join(kept[SEGMENTS], values)
    if isinstance(kept, dict):
        return {k: fill(v, values) for k, v in kept.items()}
    if isinstance(kept, list):
        return [fill(v, values) for v in kept]
    return kept


def _references(value) -> set[tuple[str, str]]:
    """The (server, variable) of every secret that a record refers to."""
    if _is_ref(value):
        return {_ref(value)}
    if isinstance(value, dict):
        return set().union(*(_references(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(_references(v) for v in value)) if value else set()
    return set()


# ---- making the set ----------------------------------------------------------------------------

def source_record(path: str, kind: str, data: bytes, entries: list[dict]) -> dict:
    """What a backup set keeps of one client file: its digest, its text (TOML) and each entry
    that the migration may replace (``entries``: container, key, name, raw value, text of the value
    or of the TOML table, and the secrets it moves: (server, variable) -> value), secrets cut
    out. ``written`` (the digests the migration leaves it with), each entry's ``written`` (what
    replaced it) and ``claimed`` (the names it claimed in generate's record for the file) are
    filled in as the migration goes."""
    syntax = "toml" if kind == "codex" else "json"
    text = data.decode("utf-8")
    every = {key: value for entry in entries for key, value in entry["secrets"].items()}
    kept = []
    for entry in entries:
        kept.append({"container": list(entry["container"]), "key": entry["key"], "name": entry["name"],
                     "value": pattern(entry["raw"], entry["secrets"]),
                     "text": cut_clean(entry["text"], entry["secrets"], syntax) if entry["text"] is not None else None,
                     "written": None})
    # The whole text only of a TOML file, whose tables the migration moves: a JSON file's entries
    # go back in place, and a copy of ~/.claude.json (every prompt Claude Code keeps) is not wanted.
    return {"path": path, "kind": kind, "digest": digest(data),
            "original": cut_clean(text, every, syntax) if kind == "codex" else None,
            "written": [], "entries": kept, "claimed": None}


def _get(doc, key: list):
    node = doc
    for part in key:
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def layer_record(path: Path, layer: str, keys: list[list[str]]) -> dict:
    """What a backup set keeps of a config layer: whether it existed (and the folders a new one
    needs), and what each key that the migration sets held before."""
    from claudex_mcp.settings import config

    doc = config.load_layer(path) if os.path.lexists(path) else None
    record: dict = {"path": str(path), "layer": layer, "existed": doc is not None, "keys": []}
    if doc is None:
        record["createdDirs"] = [str(q) for q in path.parents if not os.path.lexists(q)]
    for key in keys:
        before = _get(doc or {}, key)
        record["keys"].append({"key": key} if before is _MISSING else {"key": key, "before": before})
    return record


def _new_id() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(3).hex()


def create(sources: list[dict], layers: list[dict], servers: list[str], replaced: list[str],
           report: Report = quiet) -> tuple[str, Path, dict]:
    """A new backup set (folder 700, backup.json 600), written before anything changes."""
    root = backup_root(create=True)
    ident = _new_id()
    folder = root / ident
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    record = {"version": VERSION, "id": ident, "createdAt": _now(), "complete": False, "sources": sources,
              "layers": layers, "servers": servers, "replaced": replaced}
    save(folder, record)
    report("backup", str(folder))
    return ident, folder, record


def save(folder: Path, record: dict) -> None:
    atomic.write_json(folder / "backup.json", record, mode=0o600)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def load(ident: str | None) -> tuple[Path, dict]:
    root = backup_root()
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
            _, record = load(ident)
        except ClaudexError:
            continue
        files = [f["path"] for f in record.get("sources", []) + record.get("layers", []) + record.get("files", [])]
        found.append({"id": ident, "createdAt": record.get("createdAt"), "complete": record.get("complete"),
                      "rolledBack": record.get("rolledBackAt"), "files": files,
                      "servers": record.get("servers", []), "folder": str(root / ident)})
    return found


# ---- rolling back ------------------------------------------------------------------------------

def rollback(registry: Path, ident: str | None = None, *, report: Report = quiet, locked: bool = False) -> dict:
    """Undo a migration: its entries back in the clients' files (every later change of a
    client kept), the servers it added removed and those it replaced put back, the keys it set
    in config layers as they were, then the clients regenerated. Raises Conflict, changing
    nothing, when an entry it would put back was changed since."""
    from claudex_mcp.store import lock

    if not locked:
        backup_root(create=True)
        with lock.path_lock(backups_dir()):
            return rollback(registry, ident, report=report, locked=True)
    folder, record = load(ident)
    ident = record["id"]
    if record.get("version") != VERSION:
        raise InvalidInput(f"migration {ident} was made by an older claudex, whose backup sets this one cannot "
                           f"roll back", path=str(folder), code="old_backup",
                           hint=f"its copies are in {folder}/files (backup.json says which file each is)")
    if record.get("rolledBackAt"):
        raise InvalidInput(f"migration {ident} was rolled back already ({record['rolledBackAt']})", path=str(folder),
                           code="rolled_back", hint="'claudex mcp migrate --list-backups' shows the others")
    values = _user_secrets(record)
    plans, problems = [], []
    for item in record["sources"]:
        try:
            plans.append(_plan_source(item, values))
        except _Refused as why:
            problems += [f"{item['path']}: {reason}" for reason in why.args[0]]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise Conflict(f"cannot roll back migration {ident}: {problems[0]}{more}", path=str(folder),
                       code="rollback_conflict", details=problems if len(problems) > 1 else None,
                       hint="the migration's entry was changed or removed since: put it back as the migration wrote "
                            "it, or remove the entry and restore yours by hand; nothing was changed")
    restored = []
    for plan in plans:
        if plan is not None:
            report("restore", plan["file"])
            _write(plan)
            restored.append({"file": plan["file"], "whole": plan["whole"], "entries": plan["entries"]})
    _unclaim(record)
    from claudex_mcp.clients import regeneration
    from claudex_mcp.runtime import launcher

    # One mutation: the servers and the layers come back together, or (a failure) not at all.
    # The clients are regenerated after it, always: a rollback run again after a kill between
    # its record and the regeneration finds nothing left to undo, but still this to do.
    with regeneration.after(registry, "rollback", report) as m:
        removed, put_back = _registry_side(m, record, folder, ident)
        layers = _restore_layers(record)
        m.touched()
    for name in removed:
        launcher.stop_running(name)
    record["rolledBackAt"] = _now()
    save(folder, record)
    return {"action": "rollback", "id": ident, "removed": removed, "restoredServers": put_back,
            "restored": restored, "layers": layers, "folder": str(folder), **m.result}


class _Refused(Exception):
    """A client file that the rollback cannot tell how to put back (args[0]: the reasons)."""


def _user_secrets(record: dict) -> dict[tuple[str, str], str]:
    """The current value of every secret the record refers to, from the user layer."""
    from claudex_mcp.settings import config

    wanted = _references(record["sources"])
    doc = config.load_layer(paths.user_config_file()) if wanted else None
    found = {}
    for server, var in wanted:
        value = _get(doc or {}, ["servers", server, "env", var])
        if isinstance(value, str):
            found[(server, var)] = value
    return found


def _pointer(parts) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def _ours(current, written, name: str) -> bool:
    """Whether an entry is still the one the migration wrote: the same value, or a launcher
    entry of the same server that claudex has regenerated since (its claim)."""
    if current == written:
        return True
    args = current.get("args") if isinstance(current, dict) else None
    return isinstance(args, list) and any(args[i:i + 3] == ["mcp", "run", name] for i in range(len(args)))


def _plan_source(item: dict, values: dict) -> dict | None:
    """The text a client file gets back ({file, real, data (now), new, whole, entries}), None
    when there is nothing to put back. Raises _Refused with the reasons."""
    if not any(entry["written"] is not None for entry in item["entries"]):
        return None  # the migration did not get to rewrite it
    path = Path(item["path"])
    if not os.path.lexists(path):
        raise _Refused(["the file is gone"])
    real = atomic.target_of(path)
    data = jsonio.read_bytes(real, limit=MAX_FILE)
    if digest(data) == item["digest"]:
        return None  # as it was before the migration
    moved = [e for e in item["entries"] if e["written"] is not None]
    plan = {"file": str(path), "real": real, "data": data,
            "entries": [_pointer(e["container"] + [e["key"]]) for e in moved]}
    new = None
    if digest(data) in item["written"] and item.get("original") is not None:
        try:  # untouched since: the old text (a TOML file, whose tables the migration moved)
            new = join(item["original"], values).encode("utf-8")
        except KeyError:
            pass  # a secret left the user layer: entry by entry, which says which
    if new is None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise _Refused(["it is no longer UTF-8"]) from None
        new = (_restore_toml if item["kind"] == "codex" else _restore_json)(text, moved, values).encode("utf-8")
    # Byte for byte when the file is as the migration left it: each JSON entry goes back where it was.
    return dict(plan, new=new, whole=digest(new) == item["digest"]) if new != data else None


def _entry_body(entry: dict, values: dict) -> str | None:
    """The text an entry gets back (None: a secret it needs is not in the user layer)."""
    try:
        if entry["text"] is not None:
            return join(entry["text"], values)
        return json.dumps(fill(entry["value"], values), indent=2, ensure_ascii=False)
    except KeyError:
        return None


def _decide(container, entry: dict, values: dict, problems: list[str]) -> bool:
    """Whether ``entry`` is to be put back into ``container`` (its object in the file now):
    False when it is back already; a reason in ``problems`` when it cannot tell."""
    key, name = entry["key"], entry["name"]
    where = _pointer(entry["container"] + [name])
    if not isinstance(container, dict):
        problems.append(f"{_pointer(entry['container'])} is gone, and the entry {name} with it")
        return False
    current = container.get(name, _MISSING)
    if current is not _MISSING and _ours(current, entry["written"], name):
        if key != name and key in container:
            problems.append(f"an entry {key} is there again beside {name}, to which the migration renamed it")
            return False
        return True
    if (key != name or current is not _MISSING) and key in container and matches(container[key], entry["value"], values):
        return False  # put back already
    problems.append(f"the entry {where} was {'removed' if current is _MISSING else 'changed'} since the migration")
    return False


def _missing_secret(entry: dict, values: dict, problems: list[str]) -> None:
    gone = sorted({f"{s}.env.{v}" for s, v in _references([entry["text"], entry["value"]]) if (s, v) not in values})
    problems.append(f"the entry {_pointer(entry['container'] + [entry['key']])} needs the secret servers."
                    f"{gone[0] if gone else '?'} of your user layer, which is gone")


def _restore_json(text: str, entries: list[dict], values: dict) -> str:
    from claudex_mcp.clients import jsonedit

    try:
        doc, jsonc = jsonio.parse_json_or_jsonc(text.encode("utf-8"))
    except ClaudexError as exc:
        raise _Refused([f"it no longer parses: {exc.message}"]) from None
    problems: list[str] = []
    changes: dict[tuple, dict] = {}
    for entry in entries:
        if not _decide(_get(doc, entry["container"]), entry, values, problems):
            continue
        body = _entry_body(entry, values)
        if body is None:
            _missing_secret(entry, values, problems)
            continue
        verbatim = entry["text"] is not None  # as it was written; a value rendered anew is indented here
        changes.setdefault(tuple(entry["container"]), {})[entry["name"]] = (
            entry["key"], lambda indent, body=body, verbatim=verbatim: body if verbatim else body.replace("\n", "\n" + indent))
    if problems:
        raise _Refused(problems)
    for container, wanted in changes.items():
        text = jsonedit.replace_members(text, container, wanted, jsonc=jsonc)
    try:
        doc, _ = jsonio.parse_json_or_jsonc(text.encode("utf-8"))
    except ClaudexError as exc:
        raise _Refused([f"the entries cannot be put back in place: {exc.message}"]) from None
    _check_back(doc, [e for e in entries if e["name"] in changes.get(tuple(e["container"]), {})], values)
    return text


def _check_back(doc, entries: list[dict], values: dict) -> None:
    """Each entry put back reads as it did before the migration (a last check of the edit)."""
    wrong = [e["key"] for e in entries if not matches(_get(_get(doc, e["container"]), [e["key"]]), e["value"], values)]
    if wrong:
        raise _Refused([f"the entry {wrong[0]} cannot be put back in place"])


def _restore_toml(text: str, entries: list[dict], values: dict) -> str:
    import tomllib

    from claudex_mcp.clients import codex_toml

    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _Refused([f"it no longer parses: {exc}"]) from None
    blocks = codex_toml.codex_blocks(text)
    problems: list[str] = []
    edits: list[tuple[int, int, str]] = []
    put: list[dict] = []
    for entry in entries:
        if not _decide(doc.get("mcp_servers"), entry, values, problems):
            continue
        if entry["name"] not in blocks:
            problems.append(f"[mcp_servers.{entry['name']}] is no longer written as a table")
            continue
        try:
            body = join(entry["text"], values) if entry["text"] is not None else codex_toml.toml_table(
                ("mcp_servers", entry["key"]), fill(entry["value"], values))
        except KeyError:
            _missing_secret(entry, values, problems)
            continue
        except TypeError:  # a value TOML has no form for here (the entry's text could not be kept)
            problems.append(f"[mcp_servers.{entry['key']}] cannot be written back; restore it by hand")
            continue
        put.append(entry)
        spans = sorted(blocks[entry["name"]])
        if spans[0][1] < len(text) and not body.endswith("\n"):
            body += "\n"
        edits.append((spans[0][0], spans[0][1], body))
        edits += [(start, stop, "") for start, stop in spans[1:]]
    if problems:
        raise _Refused(problems)
    for start, stop, body in sorted(edits, reverse=True):
        text = text[:start] + body + text[stop:]
    try:
        after = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _Refused([f"the entries cannot be put back in place: {exc}"]) from None
    if {k: v for k, v in after.items() if k != "mcp_servers"} != {k: v for k, v in doc.items() if k != "mcp_servers"}:
        raise _Refused(["the entries cannot be put back in place without changing other tables"])
    _check_back(after, put, values)
    return text


def _write(plan: dict) -> None:
    """One client file back, in one atomic write; it must not have changed since it was read."""
    real = atomic.target_of(plan["file"])
    if jsonio.read_bytes(real, limit=MAX_FILE) != plan["data"]:
        raise Conflict(f"{plan['file']} changed while it was being rolled back", path=plan["file"],
                       code="source_changed", hint="run the rollback again")
    atomic.write_bytes(real, plan["new"], mode=os.stat(real).st_mode & 0o7777)


def _unclaim(record: dict) -> None:
    """The names the migration claimed in generate's record are the user's again."""
    from claudex_mcp.clients import generate

    for item in record["sources"]:
        if item.get("claimed"):
            generate.unclaim(item["claimed"]["target"], item["claimed"]["names"])


def _registry_side(m: Mutation, record: dict, folder: Path, ident: str) -> tuple[list, list]:
    """The servers the migration added go (those whose origin names this backup set, by their
    folder's own install marker, even where a kill kept registry.json from recording them), and
    those it replaced come back: each one commit of the rollback's mutation ``m``."""
    from claudex_mcp.install import adopt, lifecycle
    from claudex_mcp.store import registry as registry_mod

    removed, put_back = [], []
    for name in record.get("servers", []):
        where = adopt.locate(m.registry, name)
        marker = registry_mod.read_marker(where[1]) if where is not None else {}
        if ((marker.get("source") or {}).get("origin") or {}).get("backup") == ident:
            m.report("remove", name)
            lifecycle.uninstall_in(m, name)
            removed.append(name)
    for name in record.get("replaced", []):
        copy_dir = folder / "servers" / name
        if copy_dir.is_dir() and adopt.locate(m.registry, name) is None:
            adopt.put_back_in(m, name, copy_dir)
            put_back.append(name)
    return removed, put_back


def _set(doc: dict, key: list, before) -> None:
    """``key`` of ``doc`` set to ``before`` (_MISSING: removed, with the objects it leaves
    empty below ``servers``)."""
    if before is not _MISSING:
        node = doc
        for part in key[:-1]:
            node = node.setdefault(part, {})
        node[key[-1]] = before
        return
    chain = [doc]
    for part in key[:-1]:
        node = chain[-1].get(part)
        if not isinstance(node, dict):
            return
        chain.append(node)
    chain[-1].pop(key[-1], None)
    for depth in range(len(key) - 1, 1, -1):  # servers.<name>.env {} and servers.<name> {} go
        if chain[depth] == {}:
            chain[depth - 1].pop(key[depth - 1], None)


def _restore_layers(record: dict) -> list[dict]:
    """Each key the migration set in a config layer as it was before; a layer it created goes
    again when nothing else is in it (with the folders made for it, when empty)."""
    from claudex_mcp.settings import config
    from claudex_mcp.store import lock

    done = []
    for layer in record.get("layers", []):
        path = Path(layer["path"])
        if not os.path.lexists(path):
            continue

        def change(doc: dict | None, keys=layer["keys"]) -> dict | None:
            if doc is None:
                return None
            for key in keys:
                _set(doc, key["key"], key.get("before", _MISSING))
            return doc

        changed = config.update_layer(path, layer["layer"], change)
        deleted = False
        if not layer["existed"]:
            with lock.path_lock(atomic.target_of(path)):
                doc = config.load_layer(path)
                st = os.lstat(path)
                if (doc is None or (set(doc) <= {"apiVersion", "servers"} and not doc.get("servers"))) \
                        and stat.S_ISREG(st.st_mode):
                    os.unlink(path)
                    deleted = True
            for created in layer.get("createdDirs", []) if deleted else ():  # deepest first
                try:
                    os.rmdir(created)
                except OSError:
                    break
        if changed or deleted:
            done.append({"file": str(path), "keys": [".".join(k["key"]) for k in layer["keys"]], "removed": deleted})
    return done

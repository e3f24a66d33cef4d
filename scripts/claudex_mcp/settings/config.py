"""Layered configuration: Global -> Registry -> Project -> User, the later layer wins.

Objects deep-merge; scalars and arrays are replaced; null removes the key (``enabled: null`` has no
opinion: the lower layer decides). Every leaf remembers the layer and file it came from and the
values it shadows, which is what `config explain` shows.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any
    from collections.abc import Callable

from claudex_mcp import jsonio, paths
from claudex_mcp.errors import ClaudexError, InvalidInput, NotFound
from claudex_mcp.settings.project import Project

LAYERS = ("global", "registry", "project", "user")
SERVER_KEYS = ("enabled", "shared", "env", "args", "headers", "settings")
MASK = "********"  # the same as secrets.MASK; kept here for the readers of config


def global_file(registry: Path) -> Path:
    return registry / "config.json"


def layer_files(registry: Path, project: Project | None) -> list[tuple[str, Path]]:
    """The config files of the file-backed layers, lowest first (registry layer excluded)."""
    files = [("global", global_file(registry))]
    if project is not None:
        files.append(("project", project.config_file))
    files.append(("user", paths.user_config_file()))
    return files


def load_layer(path: Path) -> dict | None:
    """A layer file's document, validated against config-v1; None when the file is absent."""
    from claudex_mcp.schemas import memo

    try:
        data = jsonio.read_bytes(path)
    except NotFound:
        return None
    doc = jsonio.parse(data, str(path))
    problems = memo.problems(path, data, doc, "config")
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise InvalidInput(f"invalid config layer {path}: {first['pointer'] or '/'}: {first['message']}{more}",
                           path=str(path), hint=f"run 'claudex mcp validate --schema config {path}' to see every problem",
                           code="invalid_config")
    return doc


def registry_entry(entry: dict) -> dict:
    """The registry layer for one server: the manifest's defaults."""
    server = entry["manifest"]["server"]
    doc: dict = {}
    for key in ("shared", "env", "args", "headers"):
        if key in server:
            doc[key] = copy.deepcopy(server[key])
    return doc


def trusted_projects(user_doc: dict | None) -> list[str]:
    """The project folders the user trusts (``trustedProjects`` of the user layer; the key means
    nothing in another layer, least of all in a project's own)."""
    found = (user_doc or {}).get("trustedProjects") or []
    return [item for item in found if isinstance(item, str)]


def untrusted_view(doc: dict) -> tuple[dict, list[str]]:
    """What an untrusted project layer may do: switch servers on and off. Returns that part of
    ``doc`` and the JSON pointers of everything left out."""
    kept: dict = {"servers": {}}
    ignored = [f"/{key}" for key in doc if key not in ("$schema", "apiVersion", "servers")]
    for name, server in (doc.get("servers") or {}).items():
        if not isinstance(server, dict):
            continue
        if "enabled" in server:
            kept["servers"][name] = {"enabled": server["enabled"]}
        ignored += [f"/servers/{name}/{key}" for key in server if key != "enabled"]
    return kept, ignored


class Layers:
    """The loaded layers for one registry and project; asks for each server's sources.

    A project layer comes from a folder the user may just have cloned: until the user trusts
    that folder (``claudex mcp config trust``), it may only enable and disable servers; its
    env, args, headers and settings are ignored, and ``ignored`` lists them."""

    def __init__(self, registry: Path, project: Project | None, strict: bool = True) -> None:
        self.registry = registry
        self.project = project
        # strict: a broken layer file stops the command (run: no server starts with half its
        # config). Otherwise (status) it is left out and listed in ``problems``, so that the
        # reader can still show the rest and say once, first, what is broken.
        self.problems: list[dict] = []
        self.files = []
        for name, path in layer_files(registry, project):
            try:
                doc = load_layer(path)
            except ClaudexError as exc:
                if strict:
                    raise
                self.problems.append(_layer_problem(name, path, exc))
                doc = None
            self.files.append((name, path, doc))
        self.ignored: list[str] = []
        self._untrusted: dict | None = None  # the project layer as written, when only its view applies
        user_doc = next((doc for name, _, doc in self.files if name == "user"), None)
        self.trusted = project is not None and str(project.dir) in trusted_projects(user_doc)
        for index, (name, path, doc) in enumerate(self.files):
            if name == "project" and doc is not None and not self.trusted:
                view, self.ignored = untrusted_view(doc)
                self._untrusted = doc
                self.files[index] = (name, path, view)

    def ignored_values(self, entry: dict) -> list[dict]:
        """What the untrusted project layer sets for ``entry`` and is ignored: each leaf as
        {key, value (secrets masked), layer, file, why}; empty when the layer is trusted."""
        server = ((self._untrusted or {}).get("servers") or {}).get(entry["name"])
        if not isinstance(server, dict) or self.project is None:
            return []
        secrets = secret_names(entry)
        why = (f"the project {self.project.dir} is not trusted: its layer may only enable and disable "
               f"servers until 'claudex mcp config trust {self.project.dir}'")
        found = []
        for key, value in server.items():
            if key == "enabled":
                continue
            for path, leaf in _leaves(value, (key,)):
                found.append({"key": pointer_key(list(path)), "value": mask(path, leaf, secrets), "layer": "project",
                              "file": str(self.project.config_file), "why": why})
        return found

    def describe(self) -> list[dict]:
        described = []
        broken = {p["file"] for p in self.problems}
        for name, path, doc in self.files:
            item = {"layer": name, "file": str(path), "exists": doc is not None or str(path) in broken}
            if str(path) in broken:
                item["problem"] = next(p["message"] for p in self.problems if p["file"] == str(path))
            if name == "project":
                item["trusted"] = self.trusted
                item["ignored"] = list(self.ignored)
            described.append(item)
        return described

    def notice(self) -> str | None:
        """What to tell the user when part of an untrusted project layer was ignored."""
        if not self.ignored or self.project is None:
            return None
        shown = ", ".join(self.ignored[:3]) + (f" and {len(self.ignored) - 3} more" if len(self.ignored) > 3 else "")
        return (f"the project layer {self.project.config_file} is not trusted, so only its enabled "
                f"settings apply ({shown} ignored); trust it with "
                f"'claudex mcp config trust {self.project.dir}'")

    def configured_servers(self) -> set[str]:
        return {name for _, _, doc in self.files if doc for name in doc.get("servers", {})}

    def sources(self, entry: dict) -> list[tuple[str, str, dict]]:
        """(layer, file, server document) for one server, lowest layer first."""
        by_layer = {layer: (path, doc) for layer, path, doc in self.files}
        # Whether a server is on by default follows where it is in the registry (core/ and
        # installed/ on, disabled/ off); every file layer, the global one included, can override it.
        found = [("registry", entry["folder"], {"enabled": entry["location"] != "disabled"})]
        for layer in LAYERS:
            if layer == "registry":
                found.append(("registry", str(Path(entry["folder"]) / "manifest.json"), registry_entry(entry)))
            elif layer in by_layer:
                path, doc = by_layer[layer]
                server = (doc or {}).get("servers", {}).get(entry["name"])
                if server is not None:
                    found.append((layer, str(path), server))
        return found


def _layer_problem(layer: str, path: Path, exc: ClaudexError) -> dict:
    return {"layer": layer, "file": str(path), "code": exc.code,
            "message": f"the {layer} config layer is broken: {exc.message}",
            "hint": exc.hint or f"fix {path}, then check it with 'claudex mcp validate --schema config {path}'"}


def layer_problems(registry: Path, project: Project | None) -> list[dict]:
    """What is wrong with each config layer file (a syntax error with its line and column, or
    the first schema problem): {layer, file, code, message, hint}; empty when every file is fine.
    The readers that go on without a broken layer (status) show these."""
    return Layers(registry, project, strict=False).problems


def pointer_key(parts: list) -> str:
    return ".".join(str(p) for p in parts)


def merge(sources: list[tuple[str, str, dict]]) -> tuple[dict, dict[tuple, list[dict]]]:
    """Merge layer documents, lowest first. Returns (merged, history) where history maps each
    key path ever set or removed to the list of {layer, file, value[, removed]}, oldest first."""
    merged: dict = {}
    history: dict[tuple, list[dict]] = {}

    def into(target: dict, doc: dict, prefix: tuple, layer: str, file: str) -> None:
        for key, value in doc.items():
            here = prefix + (key,)
            if value is None and here == ("enabled",):
                continue  # documented as "fall back to the lower layer": no opinion
            if value is None:
                target.pop(key, None)
                history.setdefault(here, []).append({"layer": layer, "file": file, "value": None, "removed": True})
            elif isinstance(value, dict):
                if not isinstance(target.get(key), dict):
                    target[key] = {}
                if not value:
                    history.setdefault(here, []).append({"layer": layer, "file": file, "value": {}})
                into(target[key], value, here, layer, file)
            else:
                target[key] = copy.deepcopy(value)
                history.setdefault(here, []).append({"layer": layer, "file": file, "value": copy.deepcopy(value)})

    for layer, file, doc in sources:
        into(merged, doc, (), layer, file)
    return merged, history


def _leaves(value: Any, prefix: tuple = ()) -> list[tuple[tuple, Any]]:
    if isinstance(value, dict) and value:
        return [leaf for key, item in value.items() for leaf in _leaves(item, prefix + (key,))]
    return [(prefix, value)]


def secret_names(entry: dict) -> set[str]:
    """Variables whose values are secret: declared so in the manifest (secret defaults to true)."""
    server = entry.get("manifest", {}).get("server", {})
    names = set()
    for item in server.get("requiredEnv", []) + server.get("optionalEnv", []):
        if isinstance(item, str):
            names.add(item)
        elif item.get("secret", True):
            names.add(item["name"])
    return names


def mask(path: tuple, value: Any, secrets: set[str]) -> Any:
    """``value`` with its literal secrets masked (the one detector, ``claudex_mcp.secrets``): by
    the key's name, by the value's shape, and the variables the manifest declares secret. A
    ``${VAR}`` reference is not a secret and stays; the default of ``${VAR:-default}`` is literal."""
    from claudex_mcp import secrets as detector

    return detector.mask(path, value, secrets)


def _record(path: tuple, r: dict, secrets: set[str]) -> dict:
    item = {"layer": r["layer"], "file": r["file"], "value": mask(path, r["value"], secrets)}
    if r.get("removed"):
        item["removed"] = True
    return item


def explain(entry: dict, layers: Layers) -> dict:
    """Every leaf of the server's effective config with the layer and file it came from and the
    values it shadows; keys removed by a null are listed too, with what they removed."""
    merged, history = merge(layers.sources(entry))
    secrets = secret_names(entry)
    present = {path for path, _ in _leaves(merged) if path}
    values = []
    for path in sorted(history, key=lambda p: (p[0] != "enabled", tuple(str(x) for x in p))):
        record = history[path]
        if path in present:
            shadows = [_record(path, r, secrets) for r in reversed(record[:-1])]
        elif record[-1].get("removed") and not any(q[:len(path)] == path for q in present):
            gone = [(q, history[q][-1]) for q in history
                    if len(q) > len(path) and q[:len(path)] == path and q not in present]
            shadows = [_record(path, r, secrets) for r in reversed(record[:-1])] + \
                      [dict(_record(q, r, secrets), key=pointer_key(list(q))) for q, r in gone if not r.get("removed")]
        else:
            continue  # a member of an object that a later layer replaced or removed
        item = dict(_record(path, record[-1], secrets), key=pointer_key(list(path)), shadows=shadows)
        values.append(item)
    return {"server": entry["name"], "enabled": bool(merged.get("enabled")), "location": entry["location"],
            "layers": layers.describe(), "values": values, "ignored": layers.ignored_values(entry)}


def show(entry: dict, layers: Layers) -> dict:
    merged, _ = merge(layers.sources(entry))
    merged = mask((), merged, secret_names(entry))
    server = entry["manifest"]["server"]
    result = {"server": entry["name"], "location": entry["location"], "folder": entry["folder"],
              "transport": server.get("transport", "stdio"), "config": merged}
    for key in ("command", "url"):
        if key in server:
            result[key] = server[key]
    return result


LAYER_MODES = {"user": 0o600, "global": 0o644, "project": 0o644}


def _refuse_linked_project_layer(path: Path) -> None:
    """Refuse to write ``<project>/.claudex/mcp.json`` when it or its folder is a symbolic link."""
    import stat

    from claudex_mcp.safepath import unsafe

    for part in (path.parent, path):
        try:
            st = os.lstat(part)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(st.st_mode):
            raise unsafe(part, "is a symbolic link in the project (a project layer is written only as a real file "
                         "in a real .claudex folder)",
                         f"replace the link with a real {'folder' if part == path.parent else 'file'}, or use --user")
MAX_KEY_DEPTH = 32


def update_layer(path: Path, layer: str, change: Callable[[dict | None], dict | None],
                 secrets: set[str] = frozenset()) -> bool:
    """The one way a config layer file is changed: under its lock, read it, apply ``change``
    (the current document or None in, the new one out), validate the result, refuse a literal
    secret new to a shared (global or project) layer, and write it atomically, through a
    symlink to a regular file (see atomic.target_of). The user layer, which holds secrets, is
    written 0600, the shared layers 0644. A project layer is the project's own file: one that is
    a link, or whose .claudex folder is one, is refused (a repository's committed link would carry
    the write into the user layer or anywhere else). Returns whether the file changed."""
    from claudex_mcp import atomic
    from claudex_mcp.store import lock

    target = _layer_target(path, layer)
    with lock.path_lock(target):
        updated = checked_change(path, layer, change, secrets)
        if updated is None:
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        return atomic.write_text(target, jsonio.dumps(updated), mode=LAYER_MODES[layer])


def _layer_target(path: Path, layer: str) -> Path:
    from claudex_mcp import atomic

    if layer == "project":
        _refuse_linked_project_layer(path)
    return atomic.target_of(path)


def checked_change(path: Path, layer: str, change: Callable[[dict | None], dict | None],
                   secrets: set[str] = frozenset()) -> dict | None:
    """The layer document ``change`` makes of ``path``'s, validated and with no literal secret new
    to a shared layer; None when it changes nothing. Writes nothing: a caller checks a change
    with it before taking a lock (a refused change leaves no trace), update_layer again under it."""
    from claudex_mcp import secrets as detector
    from claudex_mcp.schemas import validation

    target = _layer_target(path, layer)
    current = load_layer(target)
    updated = change(copy.deepcopy(current))
    if updated is None or updated == current:
        return None
    problems = validation.validate_document(updated, "config", str(path))
    if problems:
        first = problems[0]
        raise InvalidInput(f"{path} {first['pointer'] or '/'}: {first['message']}", path=str(path),
                           hint=first.get("hint") or "see docs/configuration.md", code="invalid_value")
    if layer != "user":
        before = set(detector.secret_pointers((current or {}).get("servers") or {}, (), secrets))
        new = [p for p in detector.secret_pointers(updated.get("servers") or {}, (), secrets)
               if p not in before]
        if new:
            where = ".".join(str(p) for p in new[0])
            raise InvalidInput(f"servers.{where} holds a secret; it is not written in plain text to the "
                               f"{layer} layer ({path})", path=str(path), code="secret_in_shared_layer",
                               hint=f"set a reference such as '${{{_variable_for(new[0])}}}' and export the "
                                    f"variable, or set it in the user layer (--user)")
    return updated


def set_trust(project: Project, trusted: bool) -> dict:
    """Record in the user layer whether ``project``'s layer is trusted."""
    target = paths.user_config_file()
    folder = str(project.dir)

    def change(doc: dict | None) -> dict:
        doc = doc or {"apiVersion": "v1", "servers": {}}
        listed = [d for d in trusted_projects(doc) if d != folder] + ([folder] if trusted else [])
        if listed:
            doc["trustedProjects"] = sorted(listed)
        else:
            doc.pop("trustedProjects", None)
        return doc

    changed = update_layer(target, "user", change)
    return {"dir": folder, "trusted": trusted, "changed": changed, "file": str(target)}


def _variable_for(pointer: tuple) -> str:
    import re

    name = re.sub(r"[^A-Za-z0-9_]", "_", str(pointer[-1] if isinstance(pointer[-1], str) else pointer[-2])).upper()
    return name if name and not name[0].isdigit() else "SECRET"


_NOT_JSON = object()
_TYPE_OF = {str: "string", bool: "boolean", int: "number", float: "number", list: "array", dict: "object",
            type(None): "null"}
_EXAMPLES = {"boolean": "true or false", "array": "a JSON array, e.g. '[\"--port\", \"8080\"]'",
             "object": "a JSON object, e.g. '{\"NAME\": \"value\"}'", "string": "a string",
             "number": "a number"}


def split_key(key: str) -> tuple[str, ...]:
    """A dotted key of a server's config (``env.API_URL``, ``settings.a.b``), checked."""
    parts = tuple(key.split("."))
    if len(parts) > MAX_KEY_DEPTH:
        raise InvalidInput(f"the key has {len(parts)} levels; the limit is {MAX_KEY_DEPTH}", code="key_too_deep",
                           hint="settings are small documents; set a whole object as a JSON value instead")
    if not all(parts) or parts[0] not in SERVER_KEYS:
        raise InvalidInput(f"unknown config key {_json(key)}", code="unknown_key",
                           hint=f"keys start with one of: {', '.join(SERVER_KEYS)} (e.g. env.API_URL, settings.limit)")
    if parts[0] in ("enabled", "shared", "args") and len(parts) > 1:
        raise InvalidInput(f"{_json(parts[0])} has no sub-keys", code="unknown_key",
                           hint=f"use the key {parts[0]}")
    return parts


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


def key_types(key: str) -> set[str] | None:
    """The JSON types the layer schema (config-v1) allows at servers.<name>.<key>, None for a
    free-form place (inside settings)."""
    from claudex_mcp.schemas import engine

    root = engine.load_schema("config")
    node: Any = root["$defs"]["serverConfig"]["properties"].get(split_key(key)[0])
    for part in split_key(key)[1:]:
        node = node.get("additionalProperties") if isinstance(node, dict) else None
    if not isinstance(node, dict) or "type" not in node:
        return None
    return set(node["type"] if isinstance(node["type"], list) else [node["type"]])


def parse_value(raw: str, key: str | None = None) -> Any:
    """``_parse_value``, refusing what JSON would read but no layer file can carry afterwards: a
    number that overflows to infinity (``1e999999``, written back as ``Infinity``, which no JSON
    reader takes), a NUL or a lone surrogate."""
    from claudex_mcp.schemas.validation import uncarriable

    value = _parse_value(raw, key)
    found = uncarriable(value)
    if found is not None:
        what = {"infinite": "is a number too large for JSON (it overflows to infinity)",
                "nul": "holds a NUL character (\\u0000)",
                "surrogate": "holds a lone surrogate (\\ud800-\\udfff)"}[found[1]]
        where = f" at {found[0]}" if found[0] else ""
        raise InvalidInput(f"the value of {key or 'the setting'}{where} {what}; nothing was written",
                           code="invalid_value", hint="write a smaller number, or the value as a string ('\"1e999999\"')"
                           if found[1] == "infinite" else "remove that character")
    return value


def _parse_value(raw: str, key: str | None = None) -> Any:
    """The value of ``config set SERVER KEY RAW``, read as the key's schema wants it: the text
    itself where a string is expected (env.X, headers.X: ``60`` is the string "60"), JSON where
    JSON is needed (enabled, args, a whole env object), JSON or else a string in settings.
    ``null`` is null everywhere (it removes the inherited value)."""
    import json

    if raw == "null":
        return None
    types = key_types(key) if key is not None else None
    if types is not None and types - {"null"} == {"string"}:
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        value = _NOT_JSON
    if types is None:
        return raw if value is _NOT_JSON else value
    if value is not _NOT_JSON and _TYPE_OF.get(type(value)) in types:
        return value
    if "string" in types:
        return raw
    wanted = [t for t in ("boolean", "array", "object", "string", "number") if t in types]
    expected = " or ".join(_EXAMPLES[t] for t in wanted) + (" (or null)" if "null" in types else "")
    got = "text that is not JSON" if value is _NOT_JSON else f"a JSON {_TYPE_OF.get(type(value), 'value')}"
    raise InvalidInput(f"{key} takes {expected}; {_json(raw)} is {got}", code="invalid_value",
                       hint=f"for example: claudex mcp config set SERVER {key} " +
                            {"boolean": "true", "array": "'[\"--verbose\"]'",
                             "object": "'{\"NAME\": \"value\"}'"}.get(wanted[0] if wanted else "", "null"))


def set_value(doc: dict | None, server: str, key: str, value: Any) -> dict | None:
    """A copy of layer document ``doc`` with servers.<server>.<key> set (dotted key). ``enabled``
    set to null is taken out of the layer: the lower layer decides, as documented."""
    parts = split_key(key)
    if value is None and parts == ("enabled",):
        return unset_value(doc, server, key)
    result = copy.deepcopy(doc) if doc else {"apiVersion": "v1", "servers": {}}
    node = result.setdefault("servers", {}).setdefault(server, {})
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
    return result


def unset_value(doc: dict | None, server: str, key: str) -> dict | None:
    """A copy of ``doc`` without servers.<server>.<key> (not null: the lower layers apply
    again); the objects it leaves empty are taken out too, up to the server's entry."""
    parts = split_key(key)
    nodes = [(doc or {}).get("servers", {}).get(server)]
    for part in parts[:-1]:
        nodes.append(nodes[-1].get(part) if isinstance(nodes[-1], dict) else None)
    if not isinstance(nodes[-1], dict) or parts[-1] not in nodes[-1]:
        return doc
    result = copy.deepcopy(doc)
    chain = [result["servers"][server]]
    for part in parts[:-1]:
        chain.append(chain[-1][part])
    del chain[-1][parts[-1]]
    for depth in range(len(parts) - 1, 0, -1):  # prune the emptied parents, deepest first
        if chain[depth]:
            break
        del chain[depth - 1][parts[depth - 1]]
    if not result["servers"][server]:
        del result["servers"][server]
    return result


def get_value(entry: dict, layers: Layers, key: str) -> dict:
    """The effective value of servers.<name>.<key> (secrets masked) with the layer and file it
    came from and what it shadows; NotFound when no layer sets it."""
    parts = split_key(key)
    merged, history = merge(layers.sources(entry))
    node: Any = merged
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            raise NotFound(f"{entry['name']} has no value for {key}", code="no_such_key",
                           hint=f"'claudex mcp config show {entry['name']}' shows what is set")
        node = node[part]
    secrets = secret_names(entry)
    records = history.get(parts) or []
    origin = _record(parts, records[-1], secrets) if records else {"layer": "registry", "file": entry["folder"]}
    if isinstance(node, dict):  # an object merged from several layers: each leaf has its own origin
        origin = {"layer": None, "file": None}
    return {"server": entry["name"], "key": key, "value": mask(parts, node, secrets),
            "layer": origin["layer"], "file": origin["file"],
            "shadows": [_record(parts, r, secrets) for r in reversed(records[:-1])] if records else []}


def shadowing(entry: dict, layers: Layers, layer: str, key: str) -> dict | None:
    """The higher layer that wins over servers.<name>.<key> set in ``layer`` (it sets the key,
    or replaces or removes an object above it): {layer, file, key}, or None when ``layer`` wins."""
    parts = split_key(key)
    rank = LAYERS.index(layer)
    for src_layer, file, doc in reversed(layers.sources(entry)):
        if LAYERS.index(src_layer) <= rank:
            break
        node: Any = doc
        for depth, part in enumerate(parts):
            if not isinstance(node, dict) or part not in node:
                break
            node = node[part]
            if node is None and parts[:depth + 1] == ("enabled",):
                break  # enabled: null has no opinion
            if depth == len(parts) - 1 or not isinstance(node, dict):
                return {"layer": src_layer, "file": file, "key": ".".join(parts[:depth + 1])}
    return None


def env_reference_problems(entry: dict, merged: dict, environ: dict) -> list[str]:
    """Names of required variables that neither the environment nor the config provides."""
    from claudex_mcp.expand import expand

    server = entry["manifest"]["server"]
    env = merged.get("env") or {}
    missing = []
    for item in server.get("requiredEnv", []):
        name = item if isinstance(item, str) else item["name"]
        value = env.get(name)
        provided = expand(value, environ) if isinstance(value, str) else environ.get(name)
        if not provided:
            missing.append(name)
    return missing

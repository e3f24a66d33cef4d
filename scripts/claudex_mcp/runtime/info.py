"""Everything known about one server, in one document (`claudex mcp info`): its manifest, where
it is and where it came from, the variables it accepts and whether they are set (never their
values), its tools with their input schemas (a listing kept by the last check, or asked now), and
where each config value comes from.

A reader: it reads the index and the config layers, and writes nothing but the status results
(checks.py) when it asks the server for its tools.
"""

from __future__ import annotations

import json
import time

from claudex_mcp.runtime import checks
from claudex_mcp.settings import config
from claudex_mcp import secrets


def describe(entry: dict, layers: config.Layers, environ: dict, checked: dict | None) -> dict:
    """The info document of the index ``entry``; ``checked`` is its last status result (or None)."""
    name = entry["name"]
    doc: dict = {"name": name, "version": entry.get("version"), "description": entry.get("description"),
                 "location": entry["location"], "folder": entry["folder"], "valid": bool(entry.get("valid")),
                 "source": _source(entry)}
    for key in ("installedAt", "updatedAt"):
        if entry.get(key):
            doc[key] = entry[key]
    doc["extras"] = entry.get("extras") or {"available": {}, "installed": []}
    if not entry.get("valid"):
        doc["problems"] = entry.get("problems", [])
        return doc
    manifest = entry["manifest"]
    server = manifest["server"]
    transport = server.get("transport", "stdio")
    doc["transport"] = transport
    if transport == "stdio":
        doc["command"] = [server["command"], *server.get("args", [])]
    else:
        doc["url"] = secrets.redact_url(server["url"])
    doc["capabilities"] = server.get("capabilities", [])
    for key in ("license", "author", "homepage", "repository"):
        if isinstance(manifest["metadata"].get(key), (str, dict)):
            doc[key] = manifest["metadata"][key]
    explained = config.explain(entry, layers)
    doc["enabled"] = explained["enabled"]
    doc["project"] = layers.project.to_dict() if layers.project else None
    doc["variables"] = variables(entry, layers, environ)
    doc["config"] = [{"key": v["key"], "layer": v["layer"], "file": v["file"],
                      **({"removed": True} if v.get("removed") else {"value": v.get("value")})}
                     for v in explained["values"]]
    doc["tools"] = tools(checked)
    return doc


def _source(entry: dict):
    """Where the server came from: registry.json's record, else the folder's install marker
    (registry.json may be missing or not yet reconciled), else the index's default."""
    from pathlib import Path

    from claudex_mcp.store.registry import default_source, read_marker

    source = entry.get("source")
    if source == default_source(entry["location"], Path(entry["folder"])):
        source = read_marker(Path(entry["folder"])).get("source") or source
    if isinstance(source, dict) and isinstance(source.get("url"), str):
        source = dict(source, url=secrets.redact_url(source["url"]))
    return source


def variables(entry: dict, layers: config.Layers, environ: dict) -> list[dict]:
    """Each variable the manifest declares: required or optional, secret or not, its description,
    and where its value would come from when the server starts (a config layer, the
    environment, or nowhere). Values are never included."""
    from claudex_mcp import expand

    server = entry["manifest"]["server"]
    merged, history = config.merge(layers.sources(entry))
    env = merged.get("env") or {}
    out = []
    for required, items in ((True, server.get("requiredEnv", [])), (False, server.get("optionalEnv", []))):
        for item in items:
            spec = {"name": item} if isinstance(item, str) else item
            name = spec["name"]
            row = {"name": name, "required": required, "secret": bool(spec.get("secret", True)),
                   "description": spec.get("description")}
            if name in env and isinstance(env[name], str):
                record = history.get(("env", name), [{}])[-1]
                row["set"] = bool(expand.expand(env[name], environ))
                row["from"] = f"{record.get('layer', 'config')} layer"
                row["file"] = record.get("file")
            else:
                row["set"] = bool(environ.get(name))
                row["from"] = "environment" if row["set"] else None
            out.append(row)
    return out


LISTING_MAX_AGE = 600.0  # seconds a kept tool listing is shown without asking the server again
LISTED = ("healthy", "degraded")  # the states of a check that listed the tools


def check(entry: dict, layers: config.Layers, environ: dict, refresh: bool = False,
          timeout: float | None = None) -> dict:
    """The check whose tools `info` shows: the listing `status` or an earlier `info` kept, when
    it is under LISTING_MAX_AGE old and of the server as it is now (checks.kept_result); else a
    check now (kept in turn for `status` and the next `info`)."""
    if not refresh:
        kept = checks.kept_result(entry, layers, environ)
        if (kept and kept.get("state") in LISTED and isinstance(kept.get("toolSchemas"), dict)
                and 0 <= kept["ageSeconds"] < LISTING_MAX_AGE):
            return kept
    result = checks.check_all([entry], layers, environ, refresh=refresh, timeout=timeout)[0]
    return result if result.get("cached") else dict(result, checkedAt=time.time(), ageSeconds=0.0)


def reachable(checked: dict | None) -> bool:
    """False when the server was started (or its URL asked) and did not answer: `info` exits 5.
    Disabled and missing env are states the document says, not failures."""
    return not checked or checked.get("state") in (*LISTED, "disabled", "missing env")


def tools(checked: dict | None) -> dict:
    """The tools the check listed, each with its description and input schema; or why there
    are none (state, error, hint)."""
    if not checked:
        return {"checked": False, "list": None}
    at = checked.get("checkedAt")
    out: dict = {"checked": True, "state": checked.get("state"), "list": None, "cached": bool(checked.get("cached")),
                 "ageSeconds": checked.get("ageSeconds"),
                 "checkedAt": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(at)) if at else None}
    names = checked.get("toolNames")
    if checked.get("state") in LISTED and isinstance(names, list):
        described = checked.get("toolDescriptions") or {}
        schemas = checked.get("toolSchemas") or {}
        out["list"] = [{"name": n, "description": described.get(n), "inputSchema": schemas.get(n)} for n in names]
    else:
        for key in ("cause", "error", "hint"):
            if checked.get(key):
                out[key] = checked[key]
    return out


def arguments(schema) -> list[dict]:
    """A tool's input schema as one short row per argument, for people: name, type (a nested
    object with its keys, a reference resolved), required or its default, the allowed values,
    the description's first line. The schema itself is in the JSON."""
    if not isinstance(schema, dict):
        return []
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    props = schema.get("properties")
    if not isinstance(props, dict):
        return []
    required = set(schema.get("required") or []) if isinstance(schema.get("required"), list) else set()
    rows = []
    for name, prop in props.items():
        prop = prop if isinstance(prop, dict) else {}
        row = {"name": name, "type": type_of(prop, defs), "required": name in required}
        if "default" in prop:
            row["default"] = prop["default"]
        values = _values(prop, defs)
        if values is not None:
            row["enum"] = values
        lines = str(prop.get("description") or "").strip().splitlines()
        if lines:
            row["description"] = lines[0]
        rows.append(row)
    return rows


MAX_KEYS = 6  # of a nested object shown inline; more are "…"


def _resolve(schema: dict, defs: dict, depth: int = 0) -> dict:
    ref = schema.get("$ref")
    if isinstance(ref, str) and depth < 10:
        found = defs.get(ref.rsplit("/", 1)[-1]) if ref.startswith(("#/$defs/", "#/definitions/")) else None
        if isinstance(found, dict):
            return _resolve(found, defs, depth + 1)
    return schema


def type_of(schema, defs: dict, depth: int = 0) -> str:
    """A schema as a short type: ``string``, ``array of integer``, ``object {a, b}``, ``string or null``."""
    if not isinstance(schema, dict):
        return "any"
    schema = _resolve(schema, defs)
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list) and schema[key]:
            return " or ".join(dict.fromkeys(type_of(s, defs, depth) for s in schema[key]))
    if "const" in schema:
        return _json(schema["const"])
    kind = schema.get("type")
    if isinstance(kind, list):
        return " or ".join(str(k) for k in kind)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else (
            type(schema["enum"][0]).__name__.replace("str", "string") if schema.get("enum") else "any")
    if kind == "array":
        return f"array of {type_of(schema.get('items'), defs, depth + 1)}" if "items" in schema else "array"
    if kind == "object" and isinstance(schema.get("properties"), dict) and schema["properties"] and depth < 2:
        keys = list(schema["properties"])
        return "object {" + ", ".join(keys[:MAX_KEYS]) + (", …" if len(keys) > MAX_KEYS else "") + "}"
    return str(kind)


def _values(schema: dict, defs: dict) -> list | None:
    """The allowed values of an enum, also inside anyOf/oneOf (an optional enum); None when any value of its type goes."""
    schema = _resolve(schema, defs)
    if isinstance(schema.get("enum"), list):
        return schema["enum"]
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            for option in schema[key]:
                if isinstance(option, dict):
                    found = _values(option, defs)
                    if found is not None:
                        return found
    return None


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)

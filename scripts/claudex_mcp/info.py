"""Everything known about one server, in one document (`claudex mcp info`): its manifest, where
it is and where it came from, the variables it accepts and whether they are set (never their
values), its tools as the last check listed them, and where each config value comes from.

A reader: it reads the index, the config layers and the status results, and writes nothing.
"""

from __future__ import annotations

import time

from . import checks, config, secrets


def describe(entry: dict, layers: config.Layers, environ: dict, checked: dict | None) -> dict:
    """The info document of the index ``entry``; ``checked`` is its last status result (or None)."""
    name = entry["name"]
    doc: dict = {"name": name, "version": entry.get("version"), "description": entry.get("description"),
                 "location": entry["location"], "folder": entry["folder"], "valid": bool(entry.get("valid")),
                 "source": _source(entry)}
    for key in ("installedAt", "updatedAt"):
        if entry.get(key):
            doc[key] = entry[key]
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

    from .registry import default_source, read_marker

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
    from . import expand

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


def last_check(name: str) -> dict | None:
    """``name``'s last status result with when it was taken, or None."""
    found = checks.kept_results().get(name)
    return dict(found["result"], checkedAt=found["at"]) if found else None


def tools(checked: dict | None) -> dict:
    """The tools of the last check, with descriptions; or why there are none."""
    if not checked:
        return {"checked": False, "list": None}
    at = checked.get("checkedAt")
    out: dict = {"checked": True, "state": checked.get("state"), "list": None,
                 "checkedAt": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(at)) if at else None}
    names = checked.get("toolNames")
    if isinstance(names, list):
        described = checked.get("toolDescriptions") or {}
        out["list"] = [{"name": n, "description": described.get(n)} for n in names]
    else:
        out["error"] = checked.get("error")
    return out

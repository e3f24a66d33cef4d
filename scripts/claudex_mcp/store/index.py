"""Scanning the registry folders into the index: every server, where it is, its version,
manifest digest and source, and whether it is valid (with the reasons when not).

registry.json records what a scan cannot know (source, install time); when it is missing or
corrupt the index is built from the folders alone, with a warning. A scan only reads: the next
mutation (or `claudex mcp cache refresh`) writes registry.json again. No server folder is
dropped silently.
"""

from __future__ import annotations

import os
from pathlib import Path

from claudex_mcp import jsonio, paths
from claudex_mcp.errors import ClaudexError, NotFound, invalid_server, no_registry
from claudex_mcp.store.registry import default_source, manifest_digest, read_recorded

MAX_PROBLEMS = 5


def scan_server(folder: Path, location: str, recorded: dict | None) -> dict:
    from claudex_mcp.schemas import validation

    name = folder.name
    entry: dict = {"name": name, "location": location, "folder": str(folder), "valid": False,
                   "problems": [], "version": None, "manifestDigest": None,
                   "source": (recorded or {}).get("source") or default_source(location, folder)}
    for key in ("installedAt", "updatedAt"):
        if recorded and key in recorded:
            entry[key] = recorded[key]
    manifest_file = folder / validation.MANIFEST
    manifest = None
    try:
        data = jsonio.read_bytes(manifest_file)
        entry["manifestDigest"] = manifest_digest(data)
        manifest = jsonio.parse(data, str(manifest_file))
    except (OSError, ClaudexError):
        pass  # validate_folder below says what is wrong
    try:
        problems = validation.validate_folder(folder)
    except ClaudexError as exc:
        problems = [{"file": str(folder), "pointer": "", "rule": exc.code, "message": exc.message, "hint": exc.hint}]
    if isinstance(manifest, dict):
        meta = manifest.get("metadata") if isinstance(manifest.get("metadata"), dict) else {}
        entry["version"] = meta.get("version") if isinstance(meta.get("version"), str) else None
        entry["description"] = meta.get("description") if isinstance(meta.get("description"), str) else None
        if meta.get("name") != name:
            problems.append({"file": str(manifest_file), "pointer": "/metadata/name", "rule": "folder-name",
                             "message": f"the folder is named {name!r} but metadata.name is {meta.get('name')!r}",
                             "hint": "rename the folder or fix metadata.name; they must be equal"})
    if not problems:
        entry["valid"] = True
        entry["manifest"] = manifest
    entry["problems"] = problems[:MAX_PROBLEMS]
    entry["extras"] = _extras(folder, manifest if entry["valid"] else None, recorded)
    return entry


def _extras(folder: Path, manifest: dict | None, recorded: dict | None) -> dict:
    """The extras a server declares ({name: description}, of a valid manifest) and those installed
    (registry.json's record, else the folder's install marker, which a scan may read)."""
    from claudex_mcp.store.registry import read_marker

    declared = manifest.get("extras") if isinstance(manifest, dict) else None
    installed = (recorded or {}).get("extras") if recorded is not None else read_marker(folder).get("extras")
    return {"available": {k: v["description"] for k, v in sorted((declared or {}).items())},
            "installed": sorted(x for x in installed if isinstance(x, str)) if isinstance(installed, list) else []}


def scan(registry: Path) -> dict:
    """The index of the registry at ``registry`` (a plain dict, JSON-ready)."""
    if not registry.is_dir():
        raise no_registry(registry)
    recorded, why = read_recorded(registry)
    warnings = []
    servers: dict[str, dict] = {}
    for location in paths.LOCATIONS:
        base = registry / location
        try:
            names = sorted(os.listdir(base))
        except FileNotFoundError:
            warnings.append(f"{base} is missing; run 'claudex mcp init'")
            continue
        for name in names:
            if name.startswith("."):
                continue  # staging leftovers and editor files
            folder = base / name
            if folder.is_symlink() or not folder.is_dir():
                warnings.append(f"{folder} is not a server folder (only folders are servers); ignored")
                continue
            entry = scan_server(folder, location, (recorded or {}).get(name))
            if name in servers:
                other = servers[name]["location"]
                entry["valid"] = False
                entry["problems"].insert(0, {"file": str(folder), "pointer": "", "rule": "duplicate",
                                             "message": f"{name!r} is also in {other}/", "hint":
                                             f"remove one of {registry}/{other}/{name} and {folder}"})
                warnings.append(f"{name} is in both {other}/ and {location}/; {folder} is ignored")
                servers[f"{location}/{name}"] = entry
                continue
            servers[name] = entry
    if recorded is not None:
        for name in sorted(set(recorded) - set(servers)):
            warnings.append(f"registry.json lists {name!r} but there is no folder for it")
    else:
        warnings.append(f"{why}; the index is rebuilt from the server folders (the next change, or "
                        f"'claudex mcp cache refresh', writes registry.json again)")
    return {"apiVersion": "v1", "registry": str(registry), "servers": servers, "warnings": warnings}


def server_entry(index: dict, name: str) -> dict:
    """The index entry of ``name``; NotFound (with the closest names) when there is none."""
    entry = index["servers"].get(name)
    if entry is None:
        from claudex_mcp.errors import no_server

        raise no_server(name, [k for k in index["servers"] if "/" not in k], index["registry"])
    return entry


def require_valid(entry: dict) -> dict:
    """``entry`` itself when it is a valid server, else the one invalid-server error."""
    if not entry.get("valid"):
        raise invalid_server(entry["name"], entry["folder"],
                             entry["problems"][0]["message"] if entry["problems"] else "invalid")
    return entry


def folder_entry(folder: Path) -> dict:
    """An index entry for a server folder outside the registry (what `test ./folder` checks);
    its name is the manifest's, whatever the folder is called."""
    from claudex_mcp.schemas import validation

    problems = validation.validate_folder(folder)
    if problems:
        first = problems[0]
        raise invalid_server(folder, folder, f"{first['pointer'] or first['file']}: {first['message']}")
    entry = scan_server(folder.resolve(), "installed", None)
    manifest = jsonio.load(folder / validation.MANIFEST)
    entry.update(name=manifest["metadata"]["name"], manifest=manifest, valid=True,
                 problems=[p for p in entry["problems"] if p.get("rule") != "folder-name"])
    return entry

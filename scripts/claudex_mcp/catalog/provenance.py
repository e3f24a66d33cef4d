"""Whether each installed server is still what was installed: its content digest (every file,
its environment too; install/sources.content_digest) recomputed and compared with the one its
install record (the marker written at install) holds. A server installed before claudex kept
digests has no record to compare with ("unrecorded"), which is no failure. Nothing here prints."""

from __future__ import annotations

from pathlib import Path

from claudex_mcp import paths
from claudex_mcp.install import sources
from claudex_mcp.store import registry as registry_mod

OK, CHANGED, UNRECORDED, MISSING = "ok", "changed", "unrecorded", "missing"


def check(name: str, location: str, folder: Path) -> dict:
    marker = registry_mod.read_marker(folder)
    recorded = marker.get("contentDigest") if isinstance(marker.get("contentDigest"), str) else None
    result = {"name": name, "location": location, "folder": str(folder), "recorded": recorded,
              "installedAt": marker.get("installedAt"), "source": _provenance(marker.get("source"))}
    if not folder.is_dir():
        return dict(result, state=MISSING, actual=None)
    if recorded is None:
        return dict(result, state=UNRECORDED, actual=None)
    actual = sources.content_digest(folder)
    return dict(result, state=OK if actual == recorded else CHANGED, actual=actual)


def _provenance(source) -> dict | None:
    if not isinstance(source, dict):
        return None
    keep = ("type", "catalog", "file", "name", "version", "package", "remote", "url", "commit", "path")
    return {k: source[k] for k in keep if k in source}


def verify(registry: Path, names: list[str] | None = None) -> list[dict]:
    """The check of each server named (all when None), in name order."""
    folders = paths.server_folders(registry)
    chosen = sorted(folders) if not names else names
    return [check(n, *folders[n]) for n in chosen if n in folders]


def failing(result: dict) -> bool:
    return result["state"] in (CHANGED, MISSING)

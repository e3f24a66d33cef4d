"""Whether each installed server is still what was installed: its content digest (every file,
its environment too; store/registry.content_digest) recomputed and compared with the one its
install record (the marker written at install) holds. A server installed before claudex kept
digests has no record to compare with ("unrecorded"), which is no failure. Nothing here prints."""

from __future__ import annotations

from pathlib import Path

from claudex_mcp import paths
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
    actual = registry_mod.content_digest(folder)
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


def _fingerprint(folder: Path) -> str:
    """What the folder's files look like to stat (path, size, mtime, ctime, inode, mode): when it
    is the same as at the last check, so is the content (ctime cannot be set back by a user)."""
    import hashlib
    import os

    digest = hashlib.sha256()
    for current, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            try:
                st = os.lstat(os.path.join(current, name))
            except OSError:
                continue
            digest.update(f"{current}/{name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\0"
                          f"{st.st_mode}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def quick(registry: Path, names: list[str]) -> list[dict]:
    """The verify result of each of ``names`` that has a record, for `status`: the content digest
    is recomputed only for a server whose files look different to stat since the last check
    (kept in the cache folder, verify.json: digests and states, no secret)."""
    from claudex_mcp import cachedir

    kept = cachedir.read_json(cachedir.VERIFY)
    kept = kept if isinstance(kept, dict) else {}
    folders = paths.server_folders(registry)
    results, changed = [], False
    for name in names:
        if name not in folders:
            continue
        location, folder = folders[name]
        recorded = registry_mod.read_marker(folder).get("contentDigest")
        if not isinstance(recorded, str):
            continue
        seen = _fingerprint(folder)
        memo = kept.get(str(folder))
        if isinstance(memo, dict) and memo.get("fingerprint") == seen and memo.get("recorded") == recorded:
            results.append({"name": name, "state": memo.get("state")})
            continue
        result = check(name, location, folder)
        kept[str(folder)] = {"fingerprint": seen, "recorded": recorded, "state": result["state"]}
        changed = True
        results.append({"name": name, "state": result["state"]})
    if changed or not cachedir.present(cachedir.VERIFY):
        cachedir.write_json(cachedir.VERIFY, kept)
    return results

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


def quick(registry: Path, names: list[str]) -> list[dict]:
    """The verify result of each of ``names`` that has a record, for `status`, reading as little
    as it can: a server whose files look to ``stat`` as they did at install (the record's
    fingerprint) or at the last check (kept in the cache folder, verify.json: fingerprints,
    digests and states, no secret) is not read again; only the others get their content digest
    recomputed. The servers are looked at in parallel (the work is stat and read calls)."""
    from concurrent.futures import ThreadPoolExecutor

    from claudex_mcp import cachedir

    kept = cachedir.read_json(cachedir.VERIFY)
    kept = kept if isinstance(kept, dict) else {}
    folders = paths.server_folders(registry)
    chosen = [(n, *folders[n]) for n in names if n in folders]

    def one(name: str, location: str, folder: Path) -> tuple[dict, dict | None] | None:
        marker = registry_mod.read_marker(folder)
        recorded = marker.get("contentDigest")
        if not isinstance(recorded, str):
            return None
        seen = registry_mod.content_fingerprint(folder)
        memo = kept.get(str(folder))
        if seen == marker.get("statFingerprint"):
            return {"name": name, "state": OK}, None
        if isinstance(memo, dict) and memo.get("fingerprint") == seen and memo.get("recorded") == recorded:
            return {"name": name, "state": memo.get("state")}, None
        state = check(name, location, folder)["state"]
        return {"name": name, "state": state}, {"fingerprint": seen, "recorded": recorded, "state": state}

    with ThreadPoolExecutor(max_workers=min(8, len(chosen) or 1)) as pool:
        done = list(pool.map(lambda args: one(*args), chosen))
    results = []
    for (name, _location, folder), outcome in zip(chosen, done):
        if outcome is None:
            continue
        result, memo = outcome
        results.append(result)
        if memo is not None:
            kept[str(folder)] = memo
    if any(o is not None and o[1] is not None for o in done) or not cachedir.present(cachedir.VERIFY):
        cachedir.write_json(cachedir.VERIFY, kept)
    return results

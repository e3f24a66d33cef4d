"""The local copy of each catalog: ``$XDG_STATE_HOME/claudex/catalog/<host>-<hash>.json`` (folder
700, files 600), kept whole across `cache clear` so that search works with the registry down.

A sync reads the registry's pages (``updated_since`` the newest change of the last sync, so a
second sync reads only what changed), keeps each server's active versions and drops a version
whose status is not active (deleted, deprecated). An entry that is not a server document at all
(no name, version or description) is skipped and counted; a full validation happens at install.
The copy is written once, atomically, at the end: a sync that fails leaves the last copy."""

from __future__ import annotations

import hashlib
import re
import time
import urllib.parse
from pathlib import Path

from claudex_mcp import atomic, jsonio, paths, safepath
from claudex_mcp.catalog import client
from claudex_mcp.errors import ClaudexError, ExternalFailure, NotFound

OFFICIAL = "io.modelcontextprotocol.registry/official"
FORMAT = "catalog-v1"
MAX_PAGES = 10000
MAX_BYTES = 256 * 1024 * 1024
_NAME = re.compile(r"^[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+$")


def folder(create: bool = False) -> Path:
    parent = paths.state_home() / "claudex"
    if create:
        parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = parent / "catalog"
    safepath.real_dir(path, create=0o700 if create else None, private=True)
    return path


def file_for(url: str) -> Path:
    host = re.sub(r"[^a-z0-9.-]+", "-", urllib.parse.urlsplit(url).netloc.lower()).strip("-") or "catalog"
    return folder() / f"{host}-{hashlib.sha256(url.encode()).hexdigest()[:12]}.json"


def load(url: str) -> dict | None:
    """The copy of the catalog at ``url``; None when there is none, or it is unreadable or of
    another shape (the next sync rebuilds it)."""
    try:
        path = file_for(url)
        doc = jsonio.parse(jsonio.read_bytes(path, limit=MAX_BYTES, follow_symlinks=False), str(path))
    except (ClaudexError, OSError):
        return None
    if not (isinstance(doc, dict) and doc.get("format") == FORMAT and doc.get("url") == url
            and isinstance(doc.get("servers"), dict) and isinstance(doc.get("syncedAt"), (int, float))):
        return None
    return doc


def _save(url: str, doc: dict) -> None:
    folder(create=True)
    atomic.write_json(file_for(url), doc, mode=0o600)


def official(item: dict) -> dict:
    """The registry's own metadata of a listed item (status, publishedAt, updatedAt, isLatest)."""
    meta = item.get("_meta") if isinstance(item.get("_meta"), dict) else {}
    mine = meta.get(OFFICIAL) if isinstance(meta.get(OFFICIAL), dict) else {}
    return mine


def is_server(server: object) -> bool:
    return (isinstance(server, dict) and isinstance(server.get("name"), str) and bool(_NAME.match(server["name"]))
            and isinstance(server.get("version"), str) and bool(server["version"])
            and isinstance(server.get("description"), str))


def active(item: dict) -> bool:
    return official(item).get("status", "active") == "active"


def _latest(entry: dict) -> str | None:
    versions = entry["versions"]
    flagged = [v for v, e in versions.items() if e.get("isLatest")]
    if flagged:
        return flagged[-1]
    return max(versions, key=lambda v: (versions[v].get("publishedAt") or "", v), default=None)


def sync(url: str, *, full: bool = False, report=lambda *a: None) -> dict:
    """Bring the copy of ``url`` up to date; what changed, by count."""
    old = None if full else load(url)
    servers: dict = dict(old["servers"]) if old else {}
    since = old.get("since") if old else None
    newest = since
    counts = {"added": 0, "updated": 0, "dropped": 0, "skipped": 0}
    cursor, seen, pages = None, set(), 0
    started = time.time()
    while True:
        report("sync", f"{url} page {pages + 1}")
        doc = client.page(url, cursor, since)
        pages += 1
        for item in doc["servers"]:
            server = item.get("server") if isinstance(item, dict) else None
            if not is_server(server):
                counts["skipped"] += 1
                continue
            meta = official(item)
            name, version = server["name"], server["version"]
            updated = meta.get("updatedAt") or meta.get("publishedAt")
            if isinstance(updated, str) and (newest is None or updated > newest):
                newest = updated
            entry = servers.get(name)
            entry = {"versions": dict(entry["versions"])} if entry else {"versions": {}}
            if not active(item):
                if version in entry["versions"]:
                    del entry["versions"][version]
                    counts["dropped"] += 1
            else:
                counts["updated" if version in entry["versions"] else "added"] += 1
                entry["versions"][version] = {
                    "server": server, "status": "active", "isLatest": bool(meta.get("isLatest")),
                    "publishedAt": meta.get("publishedAt"), "updatedAt": meta.get("updatedAt")}
                if meta.get("isLatest"):
                    for other, kept in entry["versions"].items():
                        if other != version and kept.get("isLatest"):
                            entry["versions"][other] = dict(kept, isLatest=False)
            if entry["versions"]:
                entry["latest"] = _latest(entry)
                servers[name] = entry
            else:
                servers.pop(name, None)
        metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
        cursor = metadata.get("nextCursor") or metadata.get("next_cursor")
        if not cursor or not isinstance(cursor, str) or cursor in seen or pages >= MAX_PAGES:
            break
        seen.add(cursor)
    _save(url, {"format": FORMAT, "url": url, "syncedAt": started, "since": newest, "servers": servers})
    return {"catalog": url, "servers": len(servers), "pages": pages, "incremental": since is not None,
            "syncedAt": _iso(started), **counts}


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def ensure(url: str, max_age: float, *, report=lambda *a: None) -> tuple[dict, str | None]:
    """The copy of ``url``, synced first when it is missing or older than ``max_age`` seconds;
    (copy, why it is older than asked) — the registry could not be reached and the last copy
    answers instead. No copy and no registry: the registry's error."""
    doc = load(url)
    if doc is not None and time.time() - doc["syncedAt"] <= max_age:
        return doc, None
    try:
        sync(url, report=report)
    except ExternalFailure as exc:  # down, timing out, or answering errors: the copy stands in
        if doc is None:
            raise
        return doc, f"{exc.message}; answering from the copy synced {_iso(doc['syncedAt'])}"
    fresh = load(url)
    if fresh is None:  # written a moment ago: only a hostile state folder gets here
        raise NotFound(f"the copy of {url} could not be read back", code="catalog_unreadable",
                       path=str(file_for(url)), hint=f"check {folder()}")
    return fresh, None


def summary(url: str, doc: dict | None) -> dict:
    return {"catalog": url, "file": str(file_for(url)), "servers": len(doc["servers"]) if doc else 0,
            "syncedAt": _iso(doc["syncedAt"]) if doc else None}

"""The registry cache: the index (store/index.py's scan), kept in claudex's cache folder while the
registry's fingerprint is unchanged and the TTL has not run out. Hits and misses are counted; an
unusable cache is never an error (cachedir.py says how its files are kept)."""

from __future__ import annotations

import os
import time
from pathlib import Path
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from claudex_mcp import cachedir, paths

FORMAT = 1
DEFAULT_TTL = 300.0
MAX_STATS_BYTES = 1024 * 1024  # the counters read are those of the last million lookups


def ttl() -> float:
    return paths.env_number("CLAUDEX_MCP_CACHE_TTL", DEFAULT_TTL)


def _stat(path: str) -> list | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns, st.st_ino]


def fingerprint(registry: Path) -> list:
    """Cheap to compute, changes whenever a scan could give another answer: registry.json and
    each manifest (size, mtime_ns, inode) and the folder listings."""
    root = str(registry)
    parts: list = [_stat(os.path.join(root, paths.REGISTRY_FILE))]
    for location in paths.LOCATIONS:
        base = os.path.join(root, location)
        try:
            names = sorted(os.listdir(base))
        except OSError:
            parts.append([location, None])
            continue
        parts.append([location, [[n, _stat(os.path.join(base, n, "manifest.json"))] for n in names]])
    return parts


def stats_file() -> Path:
    return cachedir.file(cachedir.STATS)


def _count(outcome: bytes) -> None:
    # One byte appended per lookup (O_APPEND writes are atomic): no read-modify-write, no lock.
    where = cachedir.folder(create=True)
    if where is None:
        return
    from claudex_mcp.errors import ClaudexError
    from claudex_mcp.safepath import open_regular

    try:
        fd = open_regular(where / cachedir.STATS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, cachedir.PRIVATE)
    except (OSError, ClaudexError):
        return  # a link, a FIFO or a device in its place: not counted
    try:
        os.write(fd, outcome)
    except OSError:
        pass
    finally:
        os.close(fd)


def _usable(cached: Any, registry: Path, current: list) -> bool:
    if not isinstance(cached, dict) or not isinstance(cached.get("index"), dict):
        return False
    created = cached.get("createdAt")
    return (cached.get("format") == FORMAT and cached.get("registry") == str(registry)
            and cached.get("fingerprint") == current and isinstance(created, (int, float))
            and 0 <= time.time() - created < ttl() and isinstance(cached["index"].get("servers"), dict))


def load(registry: Path, refresh: bool = False) -> tuple[dict, bool]:
    """(index, hit): the cached index when still valid, else a fresh scan (then cached)."""
    current = fingerprint(registry)
    if not refresh:
        cached = cachedir.read_json(cachedir.INDEX)
        if _usable(cached, registry, current):
            _count(b"h")
            return cached["index"], True
    from claudex_mcp.store.index import scan

    index = scan(registry)
    cachedir.write_json(cachedir.INDEX, {"format": FORMAT, "registry": str(registry), "createdAt": time.time(),
                       "fingerprint": fingerprint(registry), "index": index})
    _count(b"m")
    return index, False


def invalidate() -> None:
    """Called by every registry mutation."""
    cachedir.remove(cachedir.INDEX)


def stats() -> dict:
    counts = cachedir.tail(cachedir.STATS, MAX_STATS_BYTES)
    hits, misses = counts.count(b"h"), counts.count(b"m")
    cache_file = cachedir.file(cachedir.INDEX)
    result = {"file": str(cache_file), "cached": cachedir.read_json(cachedir.INDEX) is not None, "hits": hits, "misses": misses,
              "hitRate": round(hits / (hits + misses), 4) if hits + misses else None, "ttl": ttl(),
              "folder": str(cache_file.parent), "files": [n for n in cachedir.FILES if cachedir.present(n)]}
    why = cachedir.problem()
    if why:
        result["problem"] = why
    return result

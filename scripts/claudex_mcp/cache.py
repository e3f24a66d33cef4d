"""The registry cache: the index, kept while the registry's fingerprint is unchanged and the
TTL has not run out. Hits and misses are counted; an unusable cache is never an error."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from . import atomic, paths

FORMAT = 1
DEFAULT_TTL = 300.0


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
    return paths.cache_file().with_suffix(".stats")


def _count(outcome: bytes) -> None:
    # One byte appended per lookup (O_APPEND writes are atomic): no read-modify-write, no lock.
    try:
        fd = os.open(stats_file(), os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    except OSError:
        return
    try:
        os.write(fd, outcome)
    finally:
        os.close(fd)


def load(registry: Path, refresh: bool = False) -> tuple[dict, bool]:
    """(index, hit): the cached index when still valid, else a fresh scan (then cached)."""
    cache_file = paths.cache_file()
    current = fingerprint(registry)
    if not refresh:
        try:
            cached = json.loads(cache_file.read_bytes())
            if (cached["format"] == FORMAT and cached["registry"] == str(registry)
                    and cached["fingerprint"] == current and 0 <= time.time() - cached["createdAt"] < ttl()):
                _count(b"h")
                return cached["index"], True
        except (OSError, ValueError, KeyError, TypeError):
            pass  # missing, corrupt or unreadable: rebuilt below
    from .index import scan

    index = scan(registry)
    try:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_json(cache_file, {"format": FORMAT, "registry": str(registry), "createdAt": time.time(),
                                       "fingerprint": fingerprint(registry), "index": index})
    except OSError:
        pass  # an unwritable cache folder means working without a cache
    _count(b"m")
    return index, False


def refresh(registry: Path) -> dict:
    """Reconcile registry.json with the folders, then rescan: the one reader that writes."""
    from . import registry as registry_mod

    reconciled = registry_mod.reconcile(registry) if registry.is_dir() else False
    invalidate()
    index, _ = load(registry, refresh=True)
    return {"registry": index["registry"], "servers": len(index["servers"]), "reconciled": reconciled}


def invalidate() -> None:
    """Called by every registry mutation."""
    try:
        paths.cache_file().unlink()
    except OSError:
        pass


def stats() -> dict:
    try:
        counts = stats_file().read_bytes()
    except OSError:
        counts = b""
    hits, misses = counts.count(b"h"), counts.count(b"m")
    cache_file = paths.cache_file()
    return {"file": str(cache_file), "cached": cache_file.exists(), "hits": hits, "misses": misses,
            "hitRate": round(hits / (hits + misses), 4) if hits + misses else None, "ttl": ttl()}


def clear() -> dict:
    removed = []
    for path in (paths.cache_file(), stats_file()):
        try:
            path.unlink()
            removed.append(str(path))
        except OSError:
            pass
    return {"removed": removed}

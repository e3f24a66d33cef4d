"""claudex's cache folder ($XDG_CACHE_HOME/claudex) and the registry cache in it: the index, kept
while the registry's fingerprint is unchanged and the TTL has not run out. Hits and misses are
counted; an unusable cache is never an error.

Every file claudex keeps there is named in FILES (`cache clear` removes them all). The folder is
private (700, files 600) and none of its files holds a secret value: the status results are keyed
by a keyed digest (checks.py), never by the config's values. A cache file is read only through
jsonio.read_bytes (no blocking open, no symlink, a regular file, a size cap): one that is
missing, corrupt, hostile or of the wrong shape reads as absent and is rebuilt."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from . import atomic, paths

FORMAT = 1
DEFAULT_TTL = 300.0

# Every file of the cache folder, in one place. uv/ (uv's package cache, hard-linked into the
# servers' venvs) is uv's own: `uv cache clean` clears it.
INDEX = "mcp-registry.json"    # the registry index (this module)
STATS = "mcp-registry.stats"   # one byte per index lookup: h(it) or m(iss)
STATUS = "mcp-status.json"     # status results by server, for healthCheck.interval (checks.py)
STATUS_KEY = "mcp-status.key"  # the random key of the status results' digests (checks.py)
VALIDATED = "validated.json"   # config files found valid, by file identity (validated.py)
FILES = (INDEX, STATS, STATUS, STATUS_KEY, VALIDATED)

# The index of a large registry holds every manifest: more than a document's 8 MiB is possible.
MAX_BYTES = 64 * 1024 * 1024
MAX_STATS_BYTES = 1024 * 1024  # the counters read are those of the last million lookups
PRIVATE = 0o600


def file(name: str) -> Path:
    return paths.cache_home() / "claudex" / name


def folder(create: bool = False) -> Path | None:
    """The cache folder when it may be used: a real folder of this user, made private (700)
    when it is looser; created 700 when missing and ``create``. None means working without a
    cache: it is missing, a symlink, not a folder, or another user's (whose files could be
    planted links, or read by that user)."""
    path = paths.cache_home() / "claudex"
    if create:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(path, 0o700)  # the umask may take bits away, never add one
        except FileExistsError:
            pass
        except OSError:
            return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None  # missing, a symlink (ELOOP) or not a folder (ENOTDIR)
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid():
            return None
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(fd, 0o700)  # the fd, not the name: a swapped-in link is never followed
    except OSError:
        return None
    finally:
        os.close(fd)
    return path


def problem() -> str | None:
    """Why the cache folder is not used (None when it is fine or not made yet)."""
    path = paths.cache_home() / "claudex"
    try:
        st = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISLNK(st.st_mode):
        return f"{path} is a symbolic link; claudex works without a cache (remove it to have one)"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a folder; claudex works without a cache (remove it to have one)"
    if st.st_uid != os.geteuid():
        return f"{path} belongs to another user; claudex works without a cache"
    return None


def read(name: str, limit: int = MAX_BYTES) -> bytes | None:
    """The bytes of cache file ``name``; None when it cannot be used (see folder) or is not a
    regular file of at most ``limit`` bytes."""
    from .errors import ClaudexError
    from .jsonio import read_bytes

    if folder() is None:
        return None
    try:
        return read_bytes(file(name), limit=limit, follow_symlinks=False)
    except ClaudexError:
        return None


def read_json(name: str) -> Any:
    """The document in cache file ``name``; None when it is missing, unusable or corrupt. A
    lone surrogate (which claudex never writes) counts as corrupt: it could not be written back."""
    import re

    data = read(name)
    if data is None or re.search(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}", data):
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # not UTF-8, not JSON, NaN, nested too deeply
        return None


def write(name: str, data: bytes) -> bool:
    """Atomically write cache file ``name`` (600, in the private folder); False when there is no
    usable cache folder or the write fails: working without a cache is never an error."""
    where = folder(create=True)
    if where is None:
        return False
    try:
        atomic.write_bytes(where / name, data, mode=PRIVATE)
    except OSError:
        return False
    return True


def write_json(name: str, obj: Any) -> bool:
    try:
        data = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except (ValueError, TypeError):  # a name that is not UTF-8 (a lone surrogate): not cached
        return False
    return write(name, data)


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
    return file(STATS)


def _count(outcome: bytes) -> None:
    # One byte appended per lookup (O_APPEND writes are atomic): no read-modify-write, no lock.
    where = folder(create=True)
    if where is None:
        return
    from .errors import ClaudexError
    from .safepath import open_regular

    try:
        fd = open_regular(where / STATS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, PRIVATE)
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
        cached = read_json(INDEX)
        if _usable(cached, registry, current):
            _count(b"h")
            return cached["index"], True
    from .index import scan

    index = scan(registry)
    write_json(INDEX, {"format": FORMAT, "registry": str(registry), "createdAt": time.time(),
                       "fingerprint": fingerprint(registry), "index": index})
    _count(b"m")
    return index, False


def refresh(registry: Path) -> dict:
    """Reconcile registry.json with the folders, then rescan: the one reader that writes."""
    from . import registry as registry_mod

    reconciled = registry_mod.reconcile(registry) if registry.is_dir() else False
    invalidate()
    index, _ = load(registry, refresh=True)
    return {"registry": index["registry"], "servers": len(index["servers"]), "reconciled": reconciled}


def _tail(name: str, size: int) -> bytes:
    """The last ``size`` bytes of cache file ``name`` (b"" when it cannot be used), opened like
    every cache file: no blocking open, no link, a regular file."""
    from .errors import ClaudexError
    from .safepath import open_regular

    if folder() is None:
        return b""
    try:
        fd = open_regular(file(name), os.O_RDONLY)
    except (OSError, ClaudexError):
        return b""
    try:
        os.lseek(fd, max(0, os.fstat(fd).st_size - size), os.SEEK_SET)
        return os.read(fd, size)
    except OSError:
        return b""
    finally:
        os.close(fd)


def _remove(name: str) -> bool:
    where = folder()
    if where is None:
        return False
    try:
        os.unlink(where / name)  # unlink never follows a link: a planted one goes, its target stays
    except OSError:
        return False
    return True


def invalidate() -> None:
    """Called by every registry mutation."""
    _remove(INDEX)


def stats() -> dict:
    counts = _tail(STATS, MAX_STATS_BYTES)
    hits, misses = counts.count(b"h"), counts.count(b"m")
    cache_file = file(INDEX)
    result = {"file": str(cache_file), "cached": read_json(INDEX) is not None, "hits": hits, "misses": misses,
              "hitRate": round(hits / (hits + misses), 4) if hits + misses else None, "ttl": ttl(),
              "folder": str(cache_file.parent), "files": [n for n in FILES if _present(n)]}
    why = problem()
    if why:
        result["problem"] = why
    return result


def _present(name: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(file(name)).st_mode)
    except OSError:
        return False


def clear() -> dict:
    """Remove every file of FILES (and the temporary files of an interrupted write of one)."""
    removed = []
    where = folder()
    if where is None:
        return {"removed": removed}
    leftovers = []
    try:
        with os.scandir(where) as found:
            leftovers = sorted(e.name for e in found if e.name.startswith(".") and e.name.endswith(".tmp")
                               and any(e.name.startswith(f".{n}.") for n in FILES))
    except OSError:
        pass
    for name in (*FILES, *leftovers):
        if _remove(name):
            removed.append(str(where / name))
    return {"removed": removed}

"""claudex's cache folder ($XDG_CACHE_HOME/claudex): private (700, files 600), every file it
holds named here, each read and written whole. Used by the registry cache (store/cache.py), the
status results (runtime/checks.py) and the validation memo (schemas/memo.py).

None of its files holds a secret value: the status results are keyed by a keyed digest, never by
the config's values. A cache file is read only through jsonio.read_bytes (no blocking open, no
symlink, a regular file, a size cap): one that is missing, corrupt, hostile or of the wrong shape
reads as absent and is rebuilt. Working without a cache is never an error."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from claudex_mcp import atomic, paths, safepath

# Every file of the cache folder, in one place. uv/ (uv's package cache, hard-linked into the
# servers' venvs) is uv's own: `uv cache clean` clears it.
INDEX = "mcp-registry.json"    # the registry index (this module)
STATS = "mcp-registry.stats"   # one byte per index lookup: h(it) or m(iss)
STATUS = "mcp-status.json"     # status results by server, for healthCheck.interval (runtime/checks.py)
STATUS_KEY = "mcp-status.key"  # the random key of the status results' digests (runtime/checks.py)
VALIDATED = "validated.json"   # config files found valid, by file identity (schemas/memo.py)
FILES = (INDEX, STATS, STATUS, STATUS_KEY, VALIDATED)

# The index of a large registry holds every manifest: more than a document's 8 MiB is possible.
MAX_BYTES = 64 * 1024 * 1024
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
        if safepath.folder_problem(fd) is not None:
            return None
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
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
        why = safepath.folder_problem(path)
    except OSError:
        return None
    if why is None:
        return None
    return f"{path} {why}; claudex works without a cache" + ("" if why == safepath.NOT_YOURS else " (remove it to have one)")


def read(name: str, limit: int = MAX_BYTES) -> bytes | None:
    """The bytes of cache file ``name``; None when it cannot be used (see folder) or is not a
    regular file of at most ``limit`` bytes."""
    from claudex_mcp.errors import ClaudexError
    from claudex_mcp.jsonio import read_bytes

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


def tail(name: str, size: int) -> bytes:
    """The last ``size`` bytes of cache file ``name`` (b"" when it cannot be used), opened like
    every cache file: no blocking open, no link, a regular file."""
    from claudex_mcp.errors import ClaudexError
    from claudex_mcp.safepath import open_regular

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


def remove(name: str) -> bool:
    where = folder()
    if where is None:
        return False
    try:
        os.unlink(where / name)  # unlink never follows a link: a planted one goes, its target stays
    except OSError:
        return False
    return True


def present(name: str) -> bool:
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
        if remove(name):
            removed.append(str(where / name))
    return {"removed": removed}

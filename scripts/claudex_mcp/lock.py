"""Locks: the registry lock (every registry mutation holds it) and per-file locks for the files
claudex writes outside the registry (client configs, config layers).

Both are advisory ``flock`` locks on a lock file. The stdlib ``fcntl`` is used rather than the
filelock package, whose import alone costs 25-50 ms on the start-up path of `claudex mcp generate`
(the Docker entrypoint); flock is what filelock uses on Linux anyway, so the two interoperate.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Iterator

from . import paths, safepath
from .errors import Conflict

DEFAULT_TIMEOUT = 30.0
_POLL = 0.05


def _timeout() -> float:
    return paths.env_number("CLAUDEX_MCP_LOCK_TIMEOUT", DEFAULT_TIMEOUT)


@contextmanager
def file_lock(lock_path: Path, timeout: float | None = None, what: str | None = None) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_path`` (created when missing); raise Conflict (exit 3)
    after ``timeout`` seconds (default ``$CLAUDEX_MCP_LOCK_TIMEOUT`` or 30)."""
    what = what or str(lock_path)
    timeout = _timeout() if timeout is None else timeout
    # O_NOFOLLOW, and only a regular file: a `.lock` symlinked to another file would otherwise
    # have that file locked and chmodded (safepath.open_regular refuses both).
    fd = safepath.open_regular(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.fstat(fd).st_uid == os.geteuid():
            try:
                os.fchmod(fd, 0o644)  # the umask filtered the mode; another user's lock file stays as it is
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise Conflict(f"{what} is locked by another claudex process", path=str(lock_path),
                                   code="locked", hint="wait for the other command to finish, "
                                   "or raise CLAUDEX_MCP_LOCK_TIMEOUT") from None
                time.sleep(_POLL)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def registry_lock(registry: Path, timeout: float | None = None):
    """Hold the registry's lock; raise Conflict (exit 3) when another process keeps it longer
    than ``timeout`` seconds (default ``$CLAUDEX_MCP_LOCK_TIMEOUT`` or 30), NotFound (exit 4)
    when there is no registry."""
    if not Path(registry).is_dir():
        from .errors import no_registry

        raise no_registry(registry)
    return file_lock(paths.registry_lock_file(registry), timeout, f"the registry at {registry}")


def path_lock(target: Path, timeout: float | None = None):
    """Hold the lock for a file claudex writes outside the registry. Lock files live under
    the state folder, never beside the user's files."""
    lock_file = path_lock_file(target)
    lock_file.parent.parent.mkdir(parents=True, exist_ok=True)
    safepath.real_dir(lock_file.parent, create=0o700)
    return file_lock(lock_file, timeout, str(Path(target).absolute()))


def path_lock_file(target: Path) -> Path:
    """The lock file of ``target``, under the state folder."""
    # crc32, not sha256: hashlib's import costs 2 ms here; two targets sharing a lock file would
    # only wait for each other.
    target = Path(target).absolute()
    return paths.state_home() / "claudex" / "locks" / f"{zlib.crc32(str(target).encode()):08x}-{target.name}.lock"

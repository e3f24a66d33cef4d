"""Locks: the registry lock (every registry mutation holds it) and per-file locks for the files
claudex writes outside the registry (client configs, config layers).

Both are advisory ``flock`` locks on a lock file. The stdlib ``fcntl`` is used rather than the
filelock package, whose import alone costs 25-50 ms on the start-up path of `claudex mcp generate`
(the Docker entrypoint); flock is what filelock uses on Linux anyway, so the two interoperate.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import sys
import time
import zlib
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Callable, Iterator

from claudex_mcp import paths, safepath
from claudex_mcp.errors import Conflict

DEFAULT_TIMEOUT = 30.0
_POLL = 0.05
_NO_RECORD_GRACE = 0.5  # a new holder writes its record at once; after this long without one, say so
_WORD = re.compile(r"[a-z][a-z0-9-]{0,62}")


def _timeout() -> float:
    return paths.env_number("CLAUDEX_MCP_LOCK_TIMEOUT", DEFAULT_TIMEOUT)


@contextmanager
def file_lock(lock_path: Path, timeout: float | None = None, what: str | None = None,
              on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold an exclusive flock on ``lock_path`` (created when missing); raise Conflict (exit 3)
    after ``timeout`` seconds (default ``$CLAUDEX_MCP_LOCK_TIMEOUT`` or 30). While another
    process holds it, ``on_wait`` is told once who that is and that this one waits (by default
    a line on stderr when it is a terminal: no command waits silently)."""
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
        started = time.monotonic()
        deadline = started + timeout
        on_wait = on_wait or tell_terminal
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                holder = read_holder(fd)
                if not told and (holder is not None or time.monotonic() - started >= _NO_RECORD_GRACE):
                    on_wait(f"{what} is held by {describe(holder)}; waiting up to {timeout:g} s for it "
                            "(CLAUDEX_MCP_LOCK_TIMEOUT)")
                    told = True
                if time.monotonic() >= deadline:
                    raise Conflict(f"{what} is locked by {describe(holder)}", path=str(lock_path),
                                   code="locked", hint="wait for the other command to finish, "
                                   "or raise CLAUDEX_MCP_LOCK_TIMEOUT") from None
                time.sleep(_POLL)
        _write_holder(fd)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def tell_terminal(said: str) -> None:
    """Say on stderr, when a person reads it, what a lock waits for."""
    try:
        if sys.stderr.isatty():
            sys.stderr.write(f"waiting: {said}\n")
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


def holder_command(argv: list[str] | None = None) -> str:
    """What holds a lock, for others to read: the program and its verb words (`claudex mcp
    config set`), never the values after them (a `config set` value may be a secret; the lock
    file is world-readable)."""
    argv = sys.argv if argv is None else argv
    words = [os.path.basename(argv[0]) if argv else "python"]
    for arg in argv[1:4]:
        if not _WORD.fullmatch(arg):
            break
        words.append(arg)
    return " ".join(words)


def _write_holder(fd: int) -> None:
    """Who holds the lock, in the lock file itself: written through the held descriptor, not
    replaced (a new file would be a new lock that the waiters do not share). Best effort: a
    lock file that cannot be written (another user's) only says less to those who wait."""
    record = json.dumps({"pid": os.getpid(), "command": holder_command(), "since": round(time.time(), 3)})
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode() + b"\n", 0)
    except OSError:
        pass


def read_holder(fd: int) -> dict | None:
    """The holder's record ({"pid", "command", "since"}) from a lock file, or None when there is
    none, it is being written, or its process is gone (a lock taken by another program)."""
    try:
        record = json.loads(os.pread(fd, 4096, 0) or b"null")
        pid = int(record["pid"])
    except (OSError, ValueError, TypeError, KeyError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # another user's process: alive
    return record


def describe(holder: dict | None) -> str:
    """"pid 4242 (claudex mcp install, since 20:15:03, 12 s ago)", or what is known."""
    if holder is None:
        return "another process (it left no record of itself)"
    since = holder.get("since")
    when = ""
    if isinstance(since, (int, float)):
        when = f", since {time.strftime('%H:%M:%S', time.localtime(since))}, {max(0, time.time() - since):.0f} s ago"
    return f"pid {holder.get('pid')} ({holder.get('command') or 'unknown command'}{when})"


def registry_lock(registry: Path, timeout: float | None = None, on_wait: Callable[[str], None] | None = None):
    """Hold the registry's lock; raise Conflict (exit 3) when another process keeps it longer
    than ``timeout`` seconds (default ``$CLAUDEX_MCP_LOCK_TIMEOUT`` or 30), NotFound (exit 4)
    when there is no registry. ``on_wait`` hears once who holds it, when this one must wait."""
    if not Path(registry).is_dir():
        from claudex_mcp.errors import no_registry

        raise no_registry(registry)
    return file_lock(paths.registry_lock_file(registry), timeout, f"the registry at {registry}", on_wait)


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

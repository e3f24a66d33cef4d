"""The one way claudex writes a file: temp file in the same directory, fsync, os.replace."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from claudex_mcp.jsonio import dumps


def write_bytes(path: str | os.PathLike, data: bytes, *, mode: int = 0o644) -> bool:
    """Atomically replace ``path`` with ``data``. Returns False (and touches nothing) when
    the file already holds exactly these bytes, so watchers of the file stay quiet."""
    target = Path(path)
    if _holds(target, data, mode):
        return False
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(target.parent)
    return True


def _holds(target: Path, data: bytes, mode: int) -> bool:
    """Whether ``target`` is already a regular file of ``mode`` holding ``data``. Looked at
    without blocking and without following a link: a FIFO or a device in its place must not
    hang the writer, and a symlink is replaced, never compared through."""
    import stat

    try:
        fd = os.open(target, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_size != len(data) or stat.S_IMODE(st.st_mode) != mode:
            return False
        found = b""
        while len(found) <= len(data):
            chunk = os.read(fd, len(data) + 1 - len(found))
            if not chunk:
                break
            found += chunk
        return found == data
    except OSError:
        return False
    finally:
        os.close(fd)


def write_text(path: str | os.PathLike, text: str, *, mode: int = 0o644) -> bool:
    return write_bytes(path, text.encode("utf-8"), mode=mode)


def write_json(path: str | os.PathLike, obj: Any, *, mode: int = 0o644) -> bool:
    return write_text(path, dumps(obj), mode=mode)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def target_of(path: str | os.PathLike) -> Path:
    """The file that writing ``path`` replaces, under the one rule for config files that claudex
    shares with the user (config layers, generated client files): a symlink to an existing
    regular file is written through (dotfile managers link these files), so the link stays; a
    dangling link, a link to anything else, a folder, or a file without its owner's write
    permission (chmod 444: the user froze it) is refused, and nothing is written."""
    import stat

    from claudex_mcp.errors import InvalidInput

    given = Path(path)
    real = Path(os.path.realpath(given))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        if given.is_symlink():
            raise InvalidInput(f"{given} is a symlink to {os.readlink(given)}, which does not exist",
                               path=str(given), code="dangling_symlink",
                               hint="create the file it points to, or remove the link; nothing was written") from None
        return real
    except OSError as exc:
        raise InvalidInput(f"cannot use {given}: {exc.strerror}", path=str(given), code="unusable_target",
                           hint="check the path; nothing was written") from None
    if not stat.S_ISREG(st.st_mode):
        raise InvalidInput(f"{given} is not a regular file", path=str(given), code="not_a_file",
                           hint="move it away; nothing was written")
    if not st.st_mode & stat.S_IWUSR:
        raise InvalidInput(f"{given} is read-only (mode {stat.S_IMODE(st.st_mode):o})", path=str(given),
                           code="read_only_target",
                           hint=f"claudex leaves a read-only file alone; 'chmod u+w {given}' to let it write")
    # An immutable file or a read-only mount: access(2) says so even to root, before anything is written.
    for needed in (real, real.parent):
        if not os.access(needed, os.W_OK):
            raise InvalidInput(f"{needed} cannot be written (an immutable file, a read-only mount, or "
                               f"no permission)", path=str(needed), code="not_writable",
                               hint="check it with 'lsattr' and 'ls -ld' (chattr -i, remount read-write, "
                                    "chmod); nothing was written")
    return real

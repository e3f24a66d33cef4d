"""Refusing hostile paths: what claudex deletes, chmods, locks or writes under the registry and
its state folders must be what it looks like (a real folder, a regular file), never a symlink
that would carry the operation somewhere else."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from claudex_mcp.errors import InvalidInput


def unsafe(path: Path, why: str, hint: str | None = None) -> InvalidInput:
    return InvalidInput(f"{path} {why}; claudex will not use it", path=str(path), code="unsafe_path",
                        hint=hint or f"remove {path} (claudex recreates it), and check who else can write there")


# Why a folder is not one claudex may use, each said after its path.
LINK = "is a symbolic link"
NOT_A_FOLDER = "is not a folder"
NOT_YOURS = "belongs to another user"
SHARED = "may be written by other users"


def folder_problem(where: Path | str | int, *, root: bool = False, private: bool = False) -> str | None:
    """Why ``where`` (a path, never followed if it is a link; or the descriptor of a folder
    opened with O_NOFOLLOW) is not a real folder of the current user (with ``root``, or of root)
    that, when ``private``, no one else may write: one of the phrases above, or None when it is
    one. OSError (FileNotFoundError: it is missing) is the caller's to judge."""
    st = os.fstat(where) if isinstance(where, int) else os.lstat(where)
    if stat.S_ISLNK(st.st_mode):
        return LINK
    if not stat.S_ISDIR(st.st_mode):
        return NOT_A_FOLDER
    if st.st_uid != os.geteuid() and not (root and st.st_uid == 0):
        return NOT_YOURS
    if private and st.st_mode & 0o022:
        return SHARED
    return None


def real_dir(path: Path, *, create: int | None = None, private: bool = False) -> bool:
    """True when ``path`` is a folder of the current user (or root) and not a symlink (and, when
    ``private``, that no one else may write); False when it is missing (after creating it with
    mode ``create`` when given). Anything else is refused."""
    try:
        # root's folders are trusted too: root can do anything already, and the image keeps the
        # server code (core/) root's so that the user who runs claudex cannot rewrite it.
        why = folder_problem(path, root=True, private=private)
    except FileNotFoundError:
        if create is None:
            return False
        try:
            os.mkdir(path, create)
        except FileExistsError:
            pass
        return real_dir(path, private=private)
    if why is not None:
        raise unsafe(path, why, f"run 'chmod go-w {path}'" if why == SHARED else None)
    return True


def open_regular(path: Path, flags: int, mode: int = 0o644, *, follow: bool = False) -> int:
    """os.open without following a final symlink (unless ``follow``), refusing anything but a
    regular file; opened without blocking, so a FIFO or a device in its place never hangs."""
    try:
        fd = os.open(path, flags | (0 if follow else os.O_NOFOLLOW) | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK,
                     mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise unsafe(path, "is a symbolic link") from None
        if exc.errno == errno.EISDIR:
            raise unsafe(path, "is a folder, not a file") from None
        if exc.errno == errno.EROFS:
            raise InvalidInput(f"cannot open {path}: {exc.strerror}", path=str(path), code="read_only",
                               hint="run it where the folder is writable, or remount it read-write") from None
        if exc.errno in (errno.EACCES, errno.EPERM):
            raise InvalidInput(f"cannot open {path}: {exc.strerror}", path=str(path), code="permission_denied",
                               hint="run claudex as the user who owns this folder, or make it writable") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise unsafe(path, "is not a regular file")
    os.set_blocking(fd, True)
    return fd

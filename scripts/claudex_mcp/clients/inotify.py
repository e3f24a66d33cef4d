"""Linux inotify through ctypes: enough to wait for changes under a few folders. Never prints.

Hand-written rather than `watchfiles`: that adds a compiled dependency, and `import watchfiles`
(which brings anyio) took 230-280 ms on the 2-core build machine against 56-79 ms for this module
with the claudex_mcp package (python -X importtime, under load), for ~60 lines of libc calls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import select
import struct

IN_MODIFY = 0x002
IN_ATTRIB = 0x004
IN_CLOSE_WRITE = 0x008
IN_MOVED_FROM = 0x040
IN_MOVED_TO = 0x080
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_IGNORED = 0x8000
IN_ISDIR = 0x40000000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
CHANGES = (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
           | IN_DELETE_SELF | IN_MOVE_SELF)
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len


class Unavailable(OSError):
    """inotify cannot be used here (not Linux, or the kernel's limits are reached)."""


class Inotify:
    """One inotify instance. ``watch(dir)`` adds a folder (not recursive); ``read(timeout)``
    returns [(folder, name, mask)] for what happened, [] on timeout."""

    def __init__(self) -> None:
        name = ctypes.util.find_library("c") or "libc.so.6"
        try:
            self._libc = ctypes.CDLL(name, use_errno=True)
            self._add = self._libc.inotify_add_watch
        except (OSError, AttributeError) as exc:
            raise Unavailable(errno.ENOSYS, f"inotify is not available: {exc}") from None
        self._add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self._rm = self._libc.inotify_rm_watch
        self._rm.argtypes = [ctypes.c_int, ctypes.c_int]
        fd = self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise Unavailable(err, f"inotify_init1: {os.strerror(err)}")
        self.fd = fd
        self.folders: dict[int, str] = {}

    def watch(self, folder: str) -> bool:
        """Watch ``folder`` (a directory, not followed when a symlink); False when it is gone."""
        wd = self._add(self.fd, os.fsencode(folder), CHANGES | IN_ONLYDIR | 0x02000000)  # IN_DONT_FOLLOW
        if wd < 0:
            err = ctypes.get_errno()
            if err in (errno.ENOENT, errno.ENOTDIR, errno.EACCES):
                return False
            raise Unavailable(err, f"inotify_add_watch {folder}: {os.strerror(err)}")
        self.folders[wd] = folder
        return True

    def unwatch_all(self) -> None:
        for wd in list(self.folders):
            self._rm(self.fd, wd)  # fails harmlessly for a folder that is already gone
        self.folders.clear()

    def read(self, timeout: float | None) -> list[tuple[str, str, int]]:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return []
        try:
            data = os.read(self.fd, 64 * 1024)
        except BlockingIOError:
            return []
        events, pos = [], 0
        while pos + _HEADER.size <= len(data):
            wd, mask, _cookie, length = _HEADER.unpack_from(data, pos)
            raw = data[pos + _HEADER.size:pos + _HEADER.size + length]
            pos += _HEADER.size + length
            folder = self.folders.get(wd)
            if mask & IN_IGNORED:
                self.folders.pop(wd, None)
            if folder is not None:
                events.append((folder, os.fsdecode(raw.rstrip(b"\0")), mask))
        return events

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Inotify":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

"""The one atomic write of the servers: a reader (another process, a crash) sees the old file or
the new one, never a part."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` to ``path`` whole or not at all: a temp file in the same folder, fsync,
    ``os.replace`` (a symlink at ``path`` is replaced, never followed). ``mode``: the file's
    permission bits (default: a new file's, 0o666 under the umask). The folder must exist."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    # Made by open(2) with 0o666, so the kernel applies the umask: reading the umask would mean
    # setting it, which races with the threads of the server.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600 if mode is not None else 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            if mode is not None:
                os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise

"""The one way claudex writes a file: temp file in the same directory, fsync, os.replace."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
TYPE_CHECKING = False  # typing costs 2 ms of start-up; it is only needed by checkers
if TYPE_CHECKING:
    from typing import Any

from .jsonio import dumps


def write_bytes(path: str | os.PathLike, data: bytes, *, mode: int = 0o644) -> bool:
    """Atomically replace ``path`` with ``data``. Returns False (and touches nothing) when
    the file already holds exactly these bytes, so watchers of the file stay quiet."""
    target = Path(path)
    try:
        if target.read_bytes() == data and (target.stat().st_mode & 0o7777) == mode:
            return False
    except OSError:
        pass
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

"""The registry lock: every mutation of the registry holds it."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from . import paths
from .errors import Conflict

DEFAULT_TIMEOUT = 30.0


def _timeout() -> float:
    raw = os.environ.get("CLAUDEX_MCP_LOCK_TIMEOUT", "")
    try:
        return float(raw) if raw else DEFAULT_TIMEOUT
    except ValueError:
        return DEFAULT_TIMEOUT


@contextmanager
def registry_lock(registry: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the registry's lock; raise Conflict (exit 3) when another process keeps it
    longer than ``timeout`` seconds (default ``$CLAUDEX_MCP_LOCK_TIMEOUT`` or 30)."""
    from filelock import FileLock, Timeout

    lock_path = paths.registry_lock_file(registry)
    lock = FileLock(str(lock_path), timeout=_timeout() if timeout is None else timeout, mode=0o644)
    try:
        lock.acquire()
    except Timeout:
        raise Conflict(f"the registry at {registry} is locked by another claudex process",
                       path=str(lock_path), code="locked",
                       hint="wait for the other command to finish, or raise CLAUDEX_MCP_LOCK_TIMEOUT") from None
    try:
        yield
    finally:
        lock.release()

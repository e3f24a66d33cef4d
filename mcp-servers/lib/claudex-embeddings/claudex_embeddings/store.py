"""The embedded Qdrant store shared by several server processes (Claude Code's and Codex's own
servers on one folder). qdrant-client's local mode lets one process open a folder at a time, so
the store is opened only for the span of a call, under an exclusive flock with bounded waiting:
a second process waits its turn instead of failing with "already accessed by another instance".
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

LOCK_TIMEOUT = 60.0  # seconds one call waits for another process's call on the same store
LOCK_FILE = "claudex-store.lock"  # beside qdrant-client's own `.lock`, inside the store folder
_POLL = 0.01


# What qdrant-client raises when a Qdrant server cannot be reached (httpx, grpc, requests): by
# class name, so that telling them apart needs none of those packages imported.
_UNREACHABLE = {"ResponseHandlingException", "ConnectError", "ConnectTimeout", "ReadTimeout", "RpcError",
                "ConnectionError"}


def unreachable(exc: BaseException) -> bool:
    """Whether a qdrant-client failure means the Qdrant server could not be reached."""
    return exc.__class__.__name__ in _UNREACHABLE or "Connection refused" in str(exc)


class StoreBusy(Exception):
    """Another process held the store for longer than the bounded wait."""

    def __init__(self, path: Path, waited: float) -> None:
        super().__init__(f"the embedded Qdrant store {path} stayed in use by another process for {waited:.0f} s "
                         "(each call holds it only while it runs)")
        self.path = path
        self.hint = "retry; if it persists, a process may be stuck in a long call: see its log, or set QDRANT_URL " \
                    "to share a Qdrant server instead"


@contextlib.contextmanager
def store_lock(path: Path, timeout: float | None = None) -> Iterator[float]:
    """Hold the store's exclusive lock; yields the seconds spent waiting for it."""
    timeout = LOCK_TIMEOUT if timeout is None else timeout
    path.mkdir(parents=True, exist_ok=True)
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= timeout:
                    raise StoreBusy(path, waited) from None
                time.sleep(min(_POLL * (1 + waited * 10), 0.2))
        yield time.monotonic() - start
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@contextlib.contextmanager
def open_embedded(path: Path, timeout: float | None = None):
    """A QdrantClient on the embedded store at ``path``, open only inside the block."""
    from qdrant_client import QdrantClient

    with store_lock(path, timeout):
        try:
            client = QdrantClient(path=str(path))
        except RuntimeError as exc:
            # A process that does not take our lock (an older server) holds qdrant-client's own.
            if "already accessed" in str(exc):
                raise StoreBusy(path, 0.0) from None
            raise
        try:
            yield client
        finally:
            client.close()

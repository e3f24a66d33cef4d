"""The embedded Qdrant store's entry point and the locks around it. The store is qdrant-edge,
owned by one process (edge.py): the gateway shares that process between every agent. ``exclusive``
is the flock with bounded waiting that other one-at-a-time work uses (codequery's index runs);
``store_lock`` is the lock the per-call store of qdrant-client's local mode took, still taken while
such a store is migrated (or dropped).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable, Iterator
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


def server_problem(url: str, api_key: str | None = None, timeout: float = 5.0) -> str | None:
    """None when the Qdrant server at ``url`` answers (the servers' self-checks), else what is
    wrong, naming the URL. Plain HTTP with the standard library: a self-check must be quick, and
    a qdrant-client would not say more than "no answer"."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url.rstrip("/") + "/readyz", headers={"api-key": api_key} if api_key else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError as exc:
        if exc.code in (401, 403):
            return f"the Qdrant server at QDRANT_URL={url} refused the request (HTTP {exc.code}): check QDRANT_API_KEY"
        if exc.code == 404:  # a Qdrant older than /readyz still answers: it is there
            return None
        return f"the Qdrant server at QDRANT_URL={url} is not ready (HTTP {exc.code})"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return f"the Qdrant server at QDRANT_URL={url} is not reachable: {reason}"


SERVER_HINT = "start the Qdrant server (or the qdrant_start tool), or unset QDRANT_URL to use the embedded store"


class ClientMissing(Exception):
    """QDRANT_URL is set and qdrant-client, which a server's ``server`` extra installs, is not."""

    def __init__(self, server: str) -> None:
        super().__init__("QDRANT_URL is set, but qdrant-client, which talks to a Qdrant server, is not installed "
                         f"({server}'s server extra)")
        self.hint = f"run 'claudex mcp upgrade {server} --with server', or unset QDRANT_URL to use the embedded store"


def qdrant_client(server: str):
    """The qdrant_client module (its models imported too), for a Qdrant server at QDRANT_URL;
    ClientMissing, in the words every server uses, when ``server``'s server extra is not installed."""
    try:
        import qdrant_client
        import qdrant_client.models  # noqa: F401  (a submodule: the servers build models with it)
    except ImportError:
        raise ClientMissing(server) from None
    return qdrant_client


class StoreBusy(Exception):
    """Another process held the store for longer than the bounded wait."""

    def __init__(self, path: Path, waited: float) -> None:
        super().__init__(f"the embedded Qdrant store {path} stayed in use by another process for {waited:.0f} s "
                         "(each call holds it only while it runs)")
        self.path = path
        self.hint = "retry; if it persists, a process may be stuck in a long call: see its log, or set QDRANT_URL " \
                    "to share a Qdrant server instead"


@contextlib.contextmanager
def exclusive(lock_file: Path, timeout: float, busy: Callable[[float], Exception]) -> Iterator[float]:
    """Hold an exclusive flock on ``lock_file`` (made when missing, never through a symlink),
    waiting at most ``timeout`` seconds for another process to let go; yields the seconds waited.
    After that, ``busy(waited)`` is raised: the caller says what was busy and what to do."""
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        start = time.monotonic()
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= timeout:
                    raise busy(waited) from None
                time.sleep(min(_POLL * (1 + waited * 10), 0.2))
        yield time.monotonic() - start
    finally:
        os.close(fd)  # closing the descriptor releases the flock


@contextlib.contextmanager
def store_lock(path: Path, timeout: float | None = None) -> Iterator[float]:
    """Hold the store's exclusive lock; yields the seconds spent waiting for it."""
    path.mkdir(parents=True, exist_ok=True)
    with exclusive(path / LOCK_FILE, LOCK_TIMEOUT if timeout is None else timeout,
                   lambda waited: StoreBusy(path, waited)) as waited:
        yield waited


@contextlib.contextmanager
def open_embedded(path: Path, timeout: float | None = None, legacy: str = "migrate"):
    """The embedded store at ``path`` (qdrant-edge, see edge.py): opened by this process on first
    use and kept open, so a call costs no open. Raises StoreOwned when another process owns it.
    ``timeout`` is accepted for the callers of the per-call store, and unused: an owned store
    never waits. ``legacy``: a store of qdrant-client's local mode found there is copied
    ("migrate", read from its files: no qdrant-client needed) or deleted unread ("drop", for
    vectors computed again)."""
    from .edge import owned

    yield owned(path, legacy)

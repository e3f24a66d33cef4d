"""The staging area: every install, upgrade and uninstall works in
$CLAUDEX_MCP_REGISTRY/.staging/<transaction>/, on the registry's own filesystem, so that its one
commit step is a rename (a rename from /tmp would be a copy across filesystems, not atomic).

A transaction folder holds `journal.json` and `new/` (what is being installed; after an upgrade's
exchange, the old version) or `removed/` (what an uninstall moved out). Whatever a killed process leaves there is put right by `recover()`, which every
mutation runs first while it holds the registry lock.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import secrets
import shutil
import signal
import time
from pathlib import Path

from . import atomic

STAGING = ".staging"
MARKER = ".claudex-install.json"
_RENAME_EXCHANGE = 2


def staging_dir(registry: Path) -> Path:
    return registry / STAGING


class Transaction:
    def __init__(self, registry: Path, op: str, name: str | None = None) -> None:
        root = staging_dir(registry)
        root.mkdir(mode=0o755, exist_ok=True)
        self.dir = root / f"{op}-{os.getpid()}-{secrets.token_hex(4)}"
        self.dir.mkdir(mode=0o700)
        self.op = op
        self.journal: dict = {"op": op, "name": name, "pid": os.getpid(), "startedAt": time.time()}
        self.write_journal()

    @property
    def new(self) -> Path:
        return self.dir / "new"

    @property
    def removed(self) -> Path:
        return self.dir / "removed"

    @property
    def scratch(self) -> Path:
        path = self.dir / "scratch"
        path.mkdir(exist_ok=True)
        return path

    def write_journal(self, **changes) -> None:
        self.journal.update(changes)
        atomic.write_json(self.dir / "journal.json", self.journal, mode=0o600)

    def remove(self) -> None:
        remove_tree(self.dir)


def remove_tree(path: Path) -> None:
    def writable(func, target, _exc):  # a read-only file inside (e.g. from a git pack) must still go
        os.chmod(os.path.dirname(target), 0o755)
        os.chmod(target, 0o755) if not os.path.islink(target) else None
        func(target)
    if path.exists() or path.is_symlink():
        shutil.rmtree(path, onerror=writable)


def exchange(a: Path, b: Path) -> None:
    """Swap two folders in one atomic step (renameat2 RENAME_EXCHANGE); where the filesystem
    cannot, fall back to two renames, with the journal telling recover() how to finish."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd = -100
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            atomic.fsync_dir(a.parent)
            atomic.fsync_dir(b.parent)
            return
        if ctypes.get_errno() not in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(a))
    parked = a.with_name(a.name + ".swap")
    os.rename(b, parked)
    os.rename(a, b)
    os.rename(parked, a)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(registry: Path) -> list[str]:
    """Put right what interrupted transactions left; the caller holds the registry lock, so no
    transaction here is still running. Returns what was done, for the log."""
    root = staging_dir(registry)
    done: list[str] = []
    if not root.is_dir():
        return done
    for txn in sorted(root.iterdir()):
        try:
            journal = json.loads((txn / "journal.json").read_text())
        except (OSError, ValueError):
            journal = {}
        name, location = journal.get("name"), journal.get("location")
        target = registry / location / name if name and location else None
        # An upgrade whose exchange fell back to two renames and was killed between them: put
        # the old version back (the new one never became visible). Everything else in a
        # transaction folder is either not committed yet (dropped) or committed (the rename
        # happened; registry.json is brought up to date by registry.reconcile()).
        stop_installers(journal)
        parked = txn / "new.swap"
        if journal.get("op") == "upgrade" and target is not None and not target.exists() and parked.is_dir():
            os.rename(parked, target)
            done.append(f"restored {name} from an interrupted upgrade")
        remove_tree(txn)
        done.append(f"removed the leftovers of an interrupted {journal.get('op', 'operation')} ({txn.name})")
    return done


def stop_installers(journal: dict) -> None:
    """Hook for recovery: end what the dead transaction's installers (pip, npm, git) still run
    before its folder is removed (procs.py tags them with the owning claudex's pid)."""
    from . import procs

    procs.stop_installers(journal.get("pid"))


def fault(step: str) -> None:
    """Test hook: CLAUDEX_MCP_FAULT=<step> kills this process at that step (`<step>:term`
    sends SIGTERM instead), to prove every step can be interrupted safely."""
    wanted = os.environ.get("CLAUDEX_MCP_FAULT")
    if not wanted:
        return
    point, _, how = wanted.partition(":")
    if point == step:
        os.kill(os.getpid(), signal.SIGTERM if how == "term" else signal.SIGKILL)
        time.sleep(5)  # SIGTERM is delivered between bytecodes; do not run on meanwhile

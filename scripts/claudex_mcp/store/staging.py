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
import re
import secrets
import shutil
import signal
import stat
import time
from pathlib import Path

from claudex_mcp import atomic, paths, safepath

STAGING = ".staging"
MARKER = ".claudex-install.json"
JOURNAL = "journal.json"
_RENAME_EXCHANGE = 2
# The name of every transaction folder claudex makes: <op>-<pid>-<8 hex digits>.
_TXN_NAME = re.compile(r"([a-z]+)-[0-9]+-[0-9a-f]{8}")
_MAX_JOURNAL = 64 * 1024


def staging_dir(registry: Path) -> Path:
    return registry / STAGING


class Transaction:
    def __init__(self, registry: Path, op: str, name: str | None = None) -> None:
        root = staging_dir(registry)
        safepath.real_dir(root, create=0o755, private=True)
        self.dir = root / f"{op}-{os.getpid()}-{secrets.token_hex(4)}"
        self.dir.mkdir(mode=0o700)
        self.op = op
        self.committed = False
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
        atomic.write_json(self.dir / JOURNAL, self.journal, mode=0o600)

    def remove(self) -> None:
        """Delete the transaction folder. After a commit, one that holds an environment (the
        old version's venv or node_modules: tens of thousands of files, 15-60 s to delete on a
        busy disk) is deleted by a detached child; this waits for it only DISCARD_WAIT seconds,
        so an uninstall or an upgrade does not keep the user (or the registry lock) waiting on
        the disk. The child carries this claudex's installer tag: a later mutation's recover()
        ends it and finishes the job."""
        if not self.committed or not any(os.path.isdir(self.dir / part / env) and not os.path.islink(self.dir / part / env)
                   for part in ("new", "removed") for env in ENVIRONMENTS):
            remove_tree(self.dir)
            return
        if discard(self.dir, DISCARD_WAIT) not in (None, 0):
            remove_tree(self.dir)  # the child failed: again here, where an error is reported


# What installers make in a server folder: large trees, worth deleting in the background.
ENVIRONMENTS = (".venv", "node_modules")
DISCARD_WAIT = 0.5


def discard(path: Path, wait: float) -> int | None:
    """Delete ``path`` (as remove_tree does) in a detached child; its exit status when it ended
    within ``wait`` seconds, else None. The child outlives claudex (its own session, no
    parent-death signal)."""
    import subprocess
    import sys

    from claudex_mcp import procs

    package_parent = str(Path(__file__).resolve().parent.parent.parent)  # scripts/, above claudex_mcp/store/
    env = dict(os.environ, PYTHONPATH=package_parent, PYTHONDONTWRITEBYTECODE="1")
    env[procs.TAG] = str(os.getpid())
    child = subprocess.Popen([sys.executable, "-s", "-c",
                              "import sys; from claudex_mcp.store.staging import remove_tree; remove_tree(sys.argv[1])",
                              str(path)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
    try:
        return child.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        child.returncode = 0  # left to finish on its own (Popen would warn about it)
        return None


def remove_tree(path: Path) -> None:
    """Delete ``path``: a symlink or a file is unlinked (its target is never touched); a folder
    goes with everything in it, never following a link inside."""
    top = os.path.abspath(path)
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(top)
        return

    def writable(func, target, exc_info):
        # A read-only folder inside (e.g. from a git pack) must still be emptied: make it
        # writable, but only a real folder inside this tree, never a link or anything outside.
        if func in (os.path.islink, os.open, os.lstat) or not isinstance(exc_info[1], PermissionError):
            raise exc_info[1]
        parent = os.path.dirname(target)
        if parent != top and not parent.startswith(top + os.sep):
            raise exc_info[1]
        for folder in {parent, target} if func is os.rmdir else {parent}:
            try:
                if stat.S_ISDIR(os.lstat(folder).st_mode):
                    os.chmod(folder, 0o700)
            except FileNotFoundError:
                pass
        func(target)

    for attempt in range(5):
        try:
            shutil.rmtree(top, onerror=writable)
            return
        except OSError as exc:
            # A child a killed claudex left behind (git, pip) may still be writing in there.
            if exc.errno != errno.ENOTEMPTY or attempt == 4:
                raise
            time.sleep(0.2)


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


def _own_journal(txn: Path) -> dict | None:
    """The journal of a transaction folder this claudex made ({} when it has none yet), or None
    when that cannot be proved: it must be a real folder of the current user named like a
    transaction, inside a staging folder no one else can write (recover() checks that), and a
    journal, when there is one, must be a regular file whose operation matches the name."""
    match = _TXN_NAME.fullmatch(txn.name)
    if match is None:
        return None
    try:
        if safepath.folder_problem(txn) is not None:
            return None
        fd = safepath.open_regular(txn / JOURNAL, os.O_RDONLY)
    except FileNotFoundError:
        # Killed before its journal was written (or a surviving child re-created the folder):
        # still ours, as only this user can create entries in the staging folder.
        return {}
    except (OSError, ValueError, safepath.InvalidInput):
        return None
    try:
        journal = json.loads(os.read(fd, _MAX_JOURNAL))
    except ValueError:
        return None
    finally:
        os.close(fd)
    if not isinstance(journal, dict) or journal.get("op") != match.group(1):
        return None
    return journal


def recover(registry: Path) -> list[str]:
    """Put right what interrupted transactions left; the caller holds the registry lock, so no
    transaction here is still running. Only folders that prove to be claudex's own are touched;
    anything else in .staging is left alone (and said so). Returns what was done, for the log."""
    root = staging_dir(registry)
    done: list[str] = []
    if not safepath.real_dir(root, private=True):
        return done
    for txn in sorted(root.iterdir()):
        journal = _own_journal(txn)
        if journal is None:
            done.append(f"left alone {txn}: not a transaction folder of claudex's")
            continue
        name, location = journal.get("name"), journal.get("location")
        target = None
        if isinstance(name, str) and re.fullmatch(paths.NAME_PATTERN, name) and location in paths.LOCATIONS:
            target = registry / location / name
        # An upgrade whose exchange fell back to two renames and was killed between them: put
        # the old version back (the new one never became visible). Everything else in a
        # transaction folder is either not committed yet (dropped) or committed (the rename
        # happened; registry.json is brought up to date by the next mutation, or mutation.reconcile()).
        stop_installers(txn, journal)
        parked = txn / "new.swap"
        if (journal.get("op") == "upgrade" and target is not None and not os.path.lexists(target)
                and _is_real_dir(parked)):
            os.rename(parked, target)
            done.append(f"restored {name} from an interrupted upgrade")
        remove_tree(txn)
        done.append(f"removed the leftovers of an interrupted {journal.get('op', 'operation')} ({txn.name})")
    return done


def _is_real_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def stop_installers(txn: Path, journal: dict) -> None:
    """Hook for recovery: end what the dead transaction's installers (pip, npm, git) still run
    before its folder is removed (procs.py tags them with the owning claudex's pid; a folder
    killed before its journal was written names that pid)."""
    from claudex_mcp import procs

    procs.stop_installers(journal.get("pid") or txn.name.split("-")[1])


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

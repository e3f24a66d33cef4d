"""Running installer children (venv, pip, npm, git) so that nothing outlives claudex: each runs
in its own session (process group), the group is killed on every way out (success, failure,
timeout, Ctrl-C), the direct child gets SIGKILL when claudex dies (PR_SET_PDEATHSIG), and every
process carries CLAUDEX_MCP_INSTALLER=<claudex pid>, so that after a SIGKILL the next mutation's
recovery can find and end what still runs for the dead transaction (stop_installers)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time

TAG = "CLAUDEX_MCP_INSTALLER"
_PR_SET_PDEATHSIG = 1


class Finished:
    """What a child left: its exit code and output (stdout, stderr as text)."""

    __slots__ = ("returncode", "stdout", "stderr")

    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def _die_with_parent(parent: int):
    def preexec() -> None:  # in the child, between fork and exec: only async-signal-safe work
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # claudex died before the prctl: do not run on
            os._exit(1)
    return preexec


def kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(argv: list[str], *, cwd=None, env: dict | None = None, timeout: float) -> Finished:
    """Run ``argv`` as an installer child and wait for it; raises subprocess.TimeoutExpired
    (after killing the group) and FileNotFoundError like subprocess.run. Output goes to
    temporary files, not pipes: a grandchild left holding a pipe open cannot block the wait."""
    env = dict(os.environ if env is None else env)
    env[TAG] = str(os.getpid())
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                start_new_session=True, preexec_fn=_die_with_parent(os.getpid()))
        try:
            proc.wait(timeout=timeout)
        finally:
            kill_group(proc.pid)  # whatever it started and left behind, on every way out
            proc.kill() if proc.returncode is None else None
            proc.wait()
        out.seek(0)
        err.seek(0)
        return Finished(proc.returncode, out.read().decode("utf-8", "replace"), err.read().decode("utf-8", "replace"))


def _tagged(owner: str, tag: str = TAG) -> list[int]:
    """The processes (of this user) whose environment has ``tag``=``owner``: what an installer
    of claudex pid ``owner`` started, or a probed server and everything it started."""
    wanted = f"{tag}={owner}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as fh:
                if wanted in fh.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue  # gone, or not ours
    return found


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


def stop_installers(owner: int | str | None, grace: float = 5.0) -> list[int]:
    """Kill what still runs for a dead claudex's transaction (its installers' whole groups)
    and wait until it is gone, so recovery never removes a folder that is still being
    written. Only processes carrying that claudex's tag are touched."""
    return stop_tagged(TAG, owner, grace)


def stop_tagged(tag: str, owner: int | str | None, grace: float = 5.0) -> list[int]:
    """Kill every process whose environment has ``tag``=``owner`` (and the groups they are
    in), and wait until they are gone. Environments are inherited, so this reaches children
    that left the process group or were reparented."""
    if owner is None or not os.path.isdir("/proc"):
        return []
    killed = _tagged(str(owner), tag)
    for pid in killed:
        try:
            kill_group(os.getpgid(pid))
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and not all(_gone(pid) for pid in killed):
        time.sleep(0.02)
    return killed


def _stat(pid: int) -> tuple[int, int] | None:
    """(parent pid, start time in clock ticks) of a live process, else None."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (None if fields[0] in ("Z", "X") else (int(fields[1]), int(fields[19])))


def descendants(pid: int) -> list[tuple[int, int]]:
    """Every live descendant of ``pid`` as (pid, start time), so that they can be killed later
    without hitting a process that reused a pid meanwhile."""
    children: dict[int, list[int]] = {}
    started: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            found = _stat(int(entry))
            if found is not None:
                children.setdefault(found[0], []).append(int(entry))
                started[int(entry)] = found[1]
    out, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        out.append((child, started[child]))
        todo.extend(children.get(child, []))
    return out


def kill_all(processes: list[tuple[int, int]]) -> None:
    """SIGKILL each (pid, start time) that is still that same process."""
    for pid, start in processes:
        found = _stat(pid)
        if found is not None and found[1] == start:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

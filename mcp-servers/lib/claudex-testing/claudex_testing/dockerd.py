"""A private dockerd for tests: its own exec-root, pidfile and socket under a short temp folder,
no bridge and no iptables (nothing on the host network changes), stopped with everything it
started (its process group, containerd shims, mounts) even when the test fails.

    with dockerd.private() as host:          # "unix:///tmp/cdxdk-.../docker.sock"
        ...
``data_root`` keeps images and the build cache between runs (the image tests); without it the
data-root is temporary too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 20


class Unavailable(RuntimeError):
    """No dockerd can be started here; the message says why (a reason to skip)."""


def ping(host: str, timeout: float = 2.0) -> bool:
    """Whether a Docker engine answers on ``host`` (unix://PATH)."""
    if not host.startswith("unix://"):
        return False
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(host[len("unix://"):])
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return sock.recv(64).startswith((b"HTTP/1.0 200", b"HTTP/1.1 200"))
    except OSError:
        return False


def running() -> str | None:
    """The DOCKER_HOST of an engine that is already up ($DOCKER_HOST, else the default socket)."""
    for host in (os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock"):
        if host and ping(host):
            return host
    return None


def dockerd_path() -> str:
    found = shutil.which("dockerd") or next((p for p in ("/usr/sbin/dockerd", "/usr/bin/dockerd")
                                             if os.path.exists(p)), None)
    if found is None:
        raise Unavailable("dockerd is not installed (apt-get install docker.io)")
    if os.geteuid() != 0:
        raise Unavailable("dockerd needs root")
    return found


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            with contextlib.suppress(OSError):
                if text.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    pids.append(int(entry))
    return pids


def _mounts_under(base: str) -> list[str]:
    found = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split()[4].encode().decode("unicode_escape")
            if point == base or point.startswith(base + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def _stop(proc: subprocess.Popen, base: str, data_root: str) -> None:
    """Stop dockerd (its whole process group), then anything left that was started from our
    exec-root (containerd shims live in their own sessions), then unmount what it left mounted."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children of dockerd (containerd) if dockerd left them
    for pid in _processes_mentioning(base):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for point in _mounts_under(base) + _mounts_under(data_root):
        subprocess.run(["umount", "-l", point], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def private(data_root: str | os.PathLike | None = None) -> Iterator[str]:
    """Start a dockerd, yield its DOCKER_HOST, stop it and everything it started on exit. A
    persistent ``data_root`` is locked for the daemon's lifetime (one daemon per data-root)."""
    dockerd = dockerd_path()
    # Short, so the daemon's and containerd's unix socket paths stay under the 108-byte limit.
    base = tempfile.mkdtemp(prefix="cdxdk-", dir="/tmp")
    run_id = uuid.uuid4().hex[:8]
    lock_fd = None
    if data_root is None:
        root = f"{base}/data"
    else:
        root = str(data_root)
        os.makedirs(root, mode=0o700, exist_ok=True)
        lock_fd = os.open(os.path.join(os.path.dirname(root) or ".", os.path.basename(root) + ".lock"),
                          os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        fcntl.flock(lock_fd, fcntl.LOCK_EX)  # another run using this data-root: wait for it
    sock = f"{base}/docker.sock"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
    namespace = f"cdx-{run_id}" if data_root is None else "claudex-test"
    proc = None
    try:
        with open(f"{base}/dockerd.log", "wb") as log:
            proc = subprocess.Popen(
                [dockerd, "--data-root", root, "--exec-root", f"{base}/exec", "--pidfile", f"{base}/dockerd.pid",
                 "--host", f"unix://{sock}", "--bridge=none", "--iptables=false", "--ip6tables=false",
                 "--containerd-namespace", namespace, "--containerd-plugins-namespace", namespace + "p"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        host = f"unix://{sock}"
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not ping(host):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = Path(f"{base}/dockerd.log").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"dockerd did not come up (exit {proc.poll()}):\n{tail}")
            time.sleep(0.2)
        yield host
    finally:
        if proc is not None:
            _stop(proc, base, root)
        else:
            shutil.rmtree(base, ignore_errors=True)
        if lock_fd is not None:
            os.close(lock_fd)

"""Fixtures of the docker-mgmt server's tests: an isolated HOME per test, a private dockerd for the
session (temp data-root, exec-root, pidfile and socket; no bridge, no iptables) with a busybox image
imported from a local rootfs, and real MCP stdio sessions against `python server.py`."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import signal
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

import pytest

SERVER_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(SERVER_DIR))

IMAGE = "claudex-test/busybox:1"
RUN_LABEL = "claudex-test.run"
BUSYBOX_APPLETS = ("sh", "echo", "cat", "sleep", "env", "pwd", "id", "seq", "yes", "head", "ps", "true")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    """Every test gets its own HOME and none of the caller's DOCKER_* settings."""
    for name in list(os.environ):
        if name.startswith("DOCKER_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def static_busybox() -> tuple[str | None, str]:
    """The path of a statically linked busybox (it must run alone in an empty rootfs), or why not."""
    path = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(path):
        return None, "busybox is not installed (apt-get install busybox-static)"
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if head[:4] != b"\x7fELF" or head[4] != 2:
        return None, f"{path} is not a 64-bit ELF binary"
    phoff, = struct.unpack_from("<Q", head, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", head, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP: dynamically linked
            return None, f"{path} is dynamically linked (apt-get install busybox-static)"
    return path, ""


def rootfs_tar(busybox: str) -> bytes:
    """A minimal image: busybox, a few applet links, /etc/passwd with root and app (1000), /tmp."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        def add_dir(name, mode=0o755):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)

        def add_file(name, data: bytes, mode=0o644):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))

        for d in ("bin", "etc", "root", "home", "home/app"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        add_file("bin/busybox", Path(busybox).read_bytes(), 0o755)
        for applet in BUSYBOX_APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type, link.linkname = tarfile.SYMTYPE, "busybox"
            tar.addfile(link)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n")
        add_file("etc/group", b"root:x:0:\napp:x:1000:\n")
    return buf.getvalue()


class Engine:
    """The test dockerd: its DOCKER_HOST, an SDK client, and containers labelled with this run's id."""

    def __init__(self, host: str, client, run_id: str):
        self.host, self.client, self.run_id = host, client, run_id

    def container(self, name: str, command: list[str], labels: dict | None = None, start: bool = True, **kwargs):
        c = self.client.containers.create(IMAGE, command, name=f"{name}-{self.run_id[:6]}", network_mode="none",
                                          labels={RUN_LABEL: self.run_id, **(labels or {})}, **kwargs)
        if start:
            c.start()
            c.reload()
        return c

    def remove_all(self) -> None:
        for c in self.client.containers.list(all=True, filters={"label": f"{RUN_LABEL}={self.run_id}"}):
            with contextlib.suppress(Exception):
                c.remove(force=True)


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


def _shutdown(proc: subprocess.Popen, base: str, engine: Engine | None) -> None:
    """Remove what the tests made, stop dockerd (its whole process group), then anything left that
    was started from our exec-root (containerd shims live in their own sessions), then its mounts."""
    if engine is not None:
        with contextlib.suppress(Exception):
            engine.remove_all()
        with contextlib.suppress(Exception):
            engine.client.images.remove(IMAGE, force=True)
        with contextlib.suppress(Exception):
            engine.client.close()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)  # children of dockerd (containerd) if dockerd left them
    for pid in _processes_mentioning(base):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    for point in _mounts_under(base):
        subprocess.run(["umount", "-l", point], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def engine(request):
    """A private dockerd for the whole session, with IMAGE imported from a local rootfs (nothing is
    pulled). Skipped, with the reason, when dockerd or a static busybox is missing or we are not root."""
    dockerd = shutil.which("dockerd") or next((p for p in ("/usr/sbin/dockerd", "/usr/bin/dockerd")
                                               if os.path.exists(p)), None)
    if dockerd is None:
        pytest.skip("dockerd is not installed (apt-get install docker.io)")
    busybox, why = static_busybox()
    if busybox is None:
        pytest.skip(why)
    if os.geteuid() != 0:
        pytest.skip("dockerd needs root")
    import docker

    # Short, so the daemon's and containerd's unix socket paths stay under the 108-byte limit.
    base = tempfile.mkdtemp(prefix="cdxdk-", dir="/tmp")
    sock = f"{base}/docker.sock"
    run_id = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["PATH"] = env.get("PATH", "") + ":/usr/sbin:/sbin"
    with open(f"{base}/dockerd.log", "wb") as log:
        proc = subprocess.Popen(
            [dockerd, "--data-root", f"{base}/data", "--exec-root", f"{base}/exec", "--pidfile", f"{base}/dockerd.pid",
             "--host", f"unix://{sock}", "--bridge=none", "--iptables=false", "--ip6tables=false",
             "--containerd-namespace", f"cdx-{run_id[:8]}", "--containerd-plugins-namespace", f"cdx-{run_id[:8]}p"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    state: dict = {"engine": None}
    request.addfinalizer(lambda: _shutdown(proc, base, state["engine"]))

    client = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if os.path.exists(sock):
            try:
                client = docker.DockerClient(base_url=f"unix://{sock}", version="auto", timeout=60)
                client.ping()
                break
            except Exception:
                client = None
        time.sleep(0.2)
    if client is None:
        log_tail = Path(f"{base}/dockerd.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"dockerd did not come up (exit {proc.poll()}):\n{log_tail}")
    state["engine"] = Engine(f"unix://{sock}", client, run_id)
    client.api.import_image_from_data(rootfs_tar(busybox), repository=IMAGE.split(":")[0], tag=IMAGE.split(":")[1])
    return state["engine"]


@pytest.fixture
def containers(engine):
    """The session engine; every container a test makes is removed after it, pass or fail."""
    yield engine
    engine.remove_all()


def server_env(home: Path, docker_host: str, **extra: str) -> dict:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DOCKER_HOST": docker_host}
    env.update(extra)
    return env


class Session:
    """A live MCP session; `call` returns structured content or raises ToolFailed."""

    def __init__(self, session):
        self.session = session

    async def call(self, name: str, args: dict | None = None) -> dict:
        result = await self.session.call_tool(name, args or {})
        if result.is_error:
            raise ToolFailed(name, result.content[0].text)
        return result.structured_content

    async def error(self, name: str, args: dict | None = None) -> str:
        result = await self.session.call_tool(name, args or {})
        assert result.is_error, f"{name} {args} succeeded: {result.structured_content}"
        return result.content[0].text


class ToolFailed(AssertionError):
    def __init__(self, name, text):
        super().__init__(f"{name} failed: {text}")
        self.text = text


@contextlib.asynccontextmanager
async def mcp_server(env: dict):
    """`python server.py` over stdio with the SDK's client; the process ends when the block exits."""
    import anyio
    from mcp import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client

    params = StdioServerParameters(command=sys.executable, args=[str(SERVER_DIR / "server.py")], env=env,
                                   cwd=str(SERVER_DIR))
    with anyio.fail_after(120):
        with open(Path(env["HOME"]) / "server-stderr.log", "a") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    yield Session(session)

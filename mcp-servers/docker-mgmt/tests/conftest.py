"""Fixtures of the docker-mgmt server's tests: an isolated HOME per test, a private dockerd for the
session (temp data-root, exec-root, pidfile and socket; no bridge, no iptables) with a busybox image
imported from a local rootfs, and real MCP stdio sessions with the server (claudex_testing)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import struct
import tarfile
import uuid
from pathlib import Path

import pytest

SERVER_DIR = Path(__file__).resolve().parent.parent

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


@pytest.fixture(scope="session")
def engine():
    """A private dockerd for the whole session (claudex_testing.dockerd: temp data-root, exec-root
    and socket, no bridge, no iptables), with IMAGE imported from a local rootfs (nothing is
    pulled). Skipped, with the reason, when dockerd or a static busybox is missing or we are not root."""
    from claudex_testing import dockerd

    try:
        dockerd.dockerd_path()
    except dockerd.Unavailable as exc:
        pytest.skip(str(exc))
    busybox, why = static_busybox()
    if busybox is None:
        pytest.skip(why)
    import docker

    with dockerd.private() as host:
        client = docker.DockerClient(base_url=host, version="auto", timeout=60)
        engine = Engine(host, client, uuid.uuid4().hex)
        try:
            client.api.import_image_from_data(rootfs_tar(busybox), repository=IMAGE.split(":")[0],
                                              tag=IMAGE.split(":")[1])
            yield engine
        finally:
            with contextlib.suppress(Exception):
                engine.remove_all()
            with contextlib.suppress(Exception):
                client.close()


@pytest.fixture
def containers(engine):
    """The session engine; every container a test makes is removed after it, pass or fail."""
    yield engine
    engine.remove_all()


def server_env(home: Path, docker_host: str, **extra: str) -> dict:
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DOCKER_HOST": docker_host}
    env.update(extra)
    return env


def mcp_server(env: dict):
    """An MCP session (claudex_testing) with this folder, started from its manifest in ``env``
    alone; the server's stderr goes to HOME/server-stderr.log, and a session lasts 120 s at most."""
    from claudex_testing import open_session

    return open_session(SERVER_DIR, env=env, inherit=False, stderr=Path(env["HOME"]) / "server-stderr.log",
                        session_timeout=120)

"""#11.4: what the installer does with hostile source trees: special files are refused before
anything is copied, the size cap holds while copying, owner-only files stay owner-only, a FIFO
never hangs install or upgrade (which hold the registry lock), and --ignore-scripts."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
from pathlib import Path

import pytest

from lifecycle_helpers import server_files, snapshot, write_files
from claudex_mcp.store import registry as registry_mod
from claudex_mcp.install import sources
from claudex_mcp.errors import InvalidInput


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    return sandbox.registry


def source(sandbox, name="hello", version="1.0.0") -> Path:
    folder = sandbox.root / "src" / name
    write_files(folder, server_files(name, version, mcp=False))
    return folder


def refused(sandbox, reg, *argv, code, timeout=30):
    """The command fails quickly with ``code``, a hint and the path, and changes nothing."""
    before = snapshot(reg)
    proc = sandbox.run("mcp", *argv, timeout=timeout)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    error = json.loads(proc.stderr.splitlines()[-1])["error"]
    assert error["code"] == code and error["hint"] and error.get("path")
    assert snapshot(reg) == before and list((reg / ".staging").iterdir()) == []
    return error


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _socket(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    return sock


def _device(path: Path) -> None:
    try:
        os.mknod(path, stat.S_IFCHR | 0o644, os.makedev(1, 5))  # what /dev/zero is
    except PermissionError:
        pytest.skip("creating a device node needs CAP_MKNOD, which this machine does not give")


@pytest.mark.parametrize("make", [_fifo, _socket, _device], ids=["fifo", "socket", "device"])
def test_special_files_are_refused_before_copying(sandbox, reg, make):
    folder = source(sandbox)
    (folder / "data").mkdir()
    made = make(folder / "data" / "special")
    try:
        error = refused(sandbox, reg, "install", str(folder), code="special-file")
        assert error["path"].endswith("data/special")
    finally:
        if isinstance(made, socket.socket):
            made.close()


def test_a_fifo_never_hangs_upgrade_or_its_check_and_the_lock_is_free_after(sandbox, reg):
    folder = source(sandbox)
    assert sandbox.run("mcp", "install", str(folder)).returncode == 0
    os.mkfifo(folder / "pipe")
    refused(sandbox, reg, "upgrade", "hello", "--check", code="special-file")
    refused(sandbox, reg, "upgrade", "hello", code="special-file")
    assert sandbox.run("mcp", "disable", "hello", timeout=30).returncode == 0  # the lock was released


def test_a_link_to_a_device_or_outside_is_refused(sandbox, reg):
    folder = source(sandbox)
    os.symlink("/dev/zero", folder / "zero")
    error = refused(sandbox, reg, "install", str(folder), code="symlink-escape")
    assert "/dev/zero" in error["message"]


GROWER = """
import os, sys, time
src, started = sys.argv[1], sys.argv[2]
print("ready", flush=True)
deadline = time.monotonic() + 30
while not os.path.exists(started) and time.monotonic() < deadline:
    pass
os.truncate(src, 1 << 40)  # sparse: a terabyte at once, and no disk used
"""


def test_the_size_cap_holds_while_copying_a_file_that_grows(tmp_path):
    """lstat sees 19 MiB (under the 20 MiB cap); the file grows to 1 TiB once the copy has
    begun (a process watching for the copy's first file); the copy stops at the cap. On a
    loaded machine the grower can be too late for a 19 MiB copy: then the round is tried again."""
    import subprocess
    import sys

    for attempt in range(10):
        src, dest = tmp_path / f"src{attempt}", tmp_path / f"dest{attempt}"
        src.mkdir()
        (src / "a-first").write_text("x")  # copied first: its copy tells the grower to start
        with open(src / "grows", "wb") as fh:
            fh.truncate(19 * 1024 * 1024)
        grower = subprocess.Popen([sys.executable, "-c", GROWER, str(src / "grows"), str(dest / "a-first")],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert grower.stdout.readline() == "ready\n"
            sources.copy_tree(src, dest, sources.Budget("src", limit=20 * 1024 * 1024))
        except InvalidInput as exc:
            assert exc.code == "too_large"
            assert (dest / "grows").stat().st_size <= 21 * 1024 * 1024  # stopped at the cap
            return
        finally:
            grower.kill()
            grower.wait()
    pytest.fail("the copy never saw the file grow")


def test_owner_only_files_and_hard_links_stay_owner_only(sandbox, reg):
    folder = source(sandbox)
    secret = sandbox.root / "outside-secret"
    secret.write_text("s3cret\n")
    os.chmod(secret, 0o640)  # readable by a group, not by others
    os.link(secret, folder / "linked")
    (folder / "private").write_text("mine\n")
    os.chmod(folder / "private", 0o600)
    (folder / "private-dir").mkdir(mode=0o700)
    (folder / "private-dir" / "inside").write_text("x\n")
    assert sandbox.run("mcp", "install", str(folder)).returncode == 0
    target = reg / "installed" / "hello"
    modes = {name: stat.S_IMODE(os.lstat(target / name).st_mode)
             for name in ("linked", "private", "private-dir", "server.py", ".")}
    assert modes == {"linked": 0o600, "private": 0o600, "private-dir": 0o700, "server.py": 0o644, ".": 0o755}
    assert os.stat(target / "linked").st_ino != secret.stat().st_ino  # a copy, not the link


def test_ignore_scripts_keeps_npm_scripts_from_running(sandbox, reg):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    marker = sandbox.root / "npm-script-ran"
    folder = sandbox.root / "src" / "noder"
    write_files(folder, server_files("noder", "1.0.0", mcp=False, command="node", args=["${SERVER_DIR}/server.js"]))
    (folder / "server.js").write_text("console.log('hi')\n")
    (folder / "package.json").write_text(json.dumps({"name": "noder", "version": "1.0.0", "private": True,
                                                     "scripts": {"postinstall": f"touch {marker}"}}))
    proc = sandbox.run("mcp", "install", str(folder), "--ignore-scripts", "--json", timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists()
    assert json.loads(proc.stdout)["source"]["ignoreScripts"] is True
    assert sandbox.run("mcp", "uninstall", "noder").returncode == 0
    assert sandbox.run("mcp", "install", str(folder), timeout=120).returncode == 0
    assert marker.exists()  # without the option, npm runs it: the reason for the option


def _sdist(folder: Path, marker: Path) -> None:
    """dist/claudex-test-sdist-1.0.tar.gz whose setup.py writes ``marker`` when it runs."""
    import tarfile

    build = folder.parent / "sdist-build" / "claudex-test-sdist-1.0"
    write_files(build, {
        "setup.py": f"open({str(marker)!r}, 'w').close()\nfrom setuptools import setup\n"
                    "setup(name='claudex-test-sdist', version='1.0', py_modules=[])\n",
        "PKG-INFO": "Metadata-Version: 2.1\nName: claudex-test-sdist\nVersion: 1.0\n",
    })
    (folder / "dist").mkdir()
    with tarfile.open(folder / "dist" / "claudex-test-sdist-1.0.tar.gz", "w:gz") as tar:
        tar.add(build, arcname=build.name)


def test_ignore_scripts_installs_no_sdist_so_no_setup_py_runs(sandbox, reg):
    marker = sandbox.root / "setup-py-ran"
    folder = source(sandbox)
    _sdist(folder, marker)
    (folder / "requirements.txt").write_text("-f ./dist\nclaudex-test-sdist==1.0\n")
    before = snapshot(reg)
    proc = sandbox.run("mcp", "install", str(folder), "--ignore-scripts", timeout=300)
    assert proc.returncode == 5, proc.stderr
    assert json.loads(proc.stderr.splitlines()[-1])["error"]["code"] == "dependencies_failed"
    assert not marker.exists() and snapshot(reg) == before
    proc = sandbox.run("mcp", "install", str(folder), timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert marker.exists()  # without the option, pip builds the sdist and its setup.py runs


# ---- installer children: their own process group, gone with claudex ----------------------------

def _tagged(owner: int) -> list[int]:
    from claudex_mcp import procs

    return procs._tagged(str(owner))


def _python_server_with_a_local_build(sandbox) -> Path:
    """A server whose requirements name a package in its folder: pip builds it in an isolated
    build environment, so pip runs children of its own (the work a SIGKILL must cut short)."""
    folder = source(sandbox)
    write_files(folder, {
        "pkg/pyproject.toml": '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
                              '[project]\nname = "localpkg"\nversion = "0.1.0"\n',
        "pkg/localpkg/__init__.py": "",
        "requirements.txt": "./pkg\n",
    })
    return folder


def test_sigkill_mid_pip_leaves_nothing_running_after_the_next_mutation(sandbox, reg):
    import random
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT
    from lifecycle_helpers import check_invariants

    assert sandbox.run("mcp", "install", str(source(sandbox, "present"))).returncode == 0
    folder = _python_server_with_a_local_build(sandbox)
    rng = random.Random(4)
    enabled = True
    for _round in range(4):
        claudex = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "install", str(folder)],
                                   env=sandbox.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not _tagged(claudex.pid) and claudex.poll() is None and time.monotonic() < deadline:
                time.sleep(0.01)  # until the first installer child (venv) runs
            time.sleep(rng.uniform(0.0, 4.0))  # somewhere in venv or pip
        finally:
            claudex.send_signal(signal.SIGKILL)
            claudex.wait()
        flipped = "disable" if enabled else "enable"
        proc = sandbox.run("mcp", flipped, "present", timeout=60)  # the next mutation recovers first
        enabled = not enabled
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
        assert _tagged(claudex.pid) == []  # no orphan installer is left
        assert list((reg / ".staging").iterdir()) == []
        check_invariants(reg, {"present": {"1.0.0"}, "hello": {None, "1.0.0"}})
        if (reg / "installed" / "hello").exists():  # the kill came after the commit
            assert sandbox.run("mcp", "uninstall", "hello").returncode == 0


def test_a_daemon_an_install_script_leaves_behind_is_ended(sandbox, reg):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed")
    folder = sandbox.root / "src" / "noder"
    write_files(folder, server_files("noder", "1.0.0", mcp=False, command="node", args=["${SERVER_DIR}/server.js"]))
    (folder / "server.js").write_text("console.log('hi')\n")
    pidfile = sandbox.root / "daemon.pid"
    # A postinstall script that leaves a process behind (and holds npm's output open).
    script = f"sh -c 'echo $$ > {pidfile}; exec sleep 300' &"
    (folder / "package.json").write_text(json.dumps({"name": "noder", "version": "1.0.0", "private": True,
                                                     "scripts": {"postinstall": script}}))
    proc = sandbox.run("mcp", "install", str(folder), timeout=120)
    assert proc.returncode == 0, proc.stderr
    pid = int(pidfile.read_text())
    import time

    for _ in range(100):
        if not os.path.exists(f"/proc/{pid}") or open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z":
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"the daemon {pid} that postinstall started still runs")

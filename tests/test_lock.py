"""lock: the registry lock is exclusive across processes and times out into Conflict (exit 3)."""

from __future__ import annotations

import json
import selectors
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from claudex_mcp import errors, paths
from claudex_mcp.store import lock
from claudex_mcp.errors import Conflict

# Another process takes the lock with the filelock package (flock on Linux, which claudex's lock
# interoperates with); plain fcntl.flock when filelock is not installed.
HOLDER = """
import sys, time
try:
    from filelock import FileLock
except ImportError:
    import fcntl, os
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
else:
    lock = FileLock(sys.argv[1])
    lock.acquire()
print("held", flush=True)
time.sleep(300)
"""

TRY_LOCK = """
import sys
try:
    from filelock import FileLock, Timeout
except ImportError:
    import fcntl, os
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        sys.exit(1)
else:
    try:
        FileLock(sys.argv[1], timeout=0).acquire()
    except Timeout:
        sys.exit(1)
"""


@contextmanager
def lock_held_elsewhere(registry: Path):
    """Another process holds the registry lock until the block ends (always stopped, even on failure)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(paths.registry_lock_file(registry))],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            ready = sel.select(timeout=30)
        line = proc.stdout.readline() if ready else b""
        if line.strip() != b"held":
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"the lock holder did not start: {line!r} {err.decode(errors='replace')}")
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for stream in (proc.stdout, proc.stderr):
            if stream and not stream.closed:
                stream.close()


@pytest.fixture
def registry(sandbox) -> Path:
    sandbox.registry.mkdir()
    return sandbox.registry


def other_process_can_lock(registry: Path) -> bool:
    proc = subprocess.run([sys.executable, "-c", TRY_LOCK, str(paths.registry_lock_file(registry))],
                          capture_output=True, timeout=30)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode == 0


def test_acquire_and_release_twice(registry):
    with lock.registry_lock(registry):
        assert paths.registry_lock_file(registry).exists()
    with lock.registry_lock(registry, timeout=0.5):
        pass


def test_lock_is_exclusive_across_processes(registry):
    with lock.registry_lock(registry):
        assert not other_process_can_lock(registry)
    assert other_process_can_lock(registry)


def test_lock_is_released_when_the_body_raises(registry):
    with pytest.raises(RuntimeError):
        with lock.registry_lock(registry):
            raise RuntimeError("boom")
    assert other_process_can_lock(registry)


def test_held_by_another_process_raises_conflict(registry):
    with lock_held_elsewhere(registry):
        start = time.monotonic()
        with pytest.raises(Conflict) as info:
            with lock.registry_lock(registry, timeout=0.2):
                pytest.fail("the lock was acquired while another process held it")
        elapsed = time.monotonic() - start
    exc = info.value
    assert exc.exit_code == errors.CONFLICT == 3
    assert exc.code == "locked"
    assert exc.path == str(paths.registry_lock_file(registry))
    assert str(registry) in exc.message
    assert "CLAUDEX_MCP_LOCK_TIMEOUT" in exc.hint
    assert exc.to_dict()["error"]["code"] == "locked"
    assert 0.15 <= elapsed < 3


def test_lock_is_available_again_after_the_holder_exits(registry):
    with lock_held_elsewhere(registry) as holder:
        holder.kill()
        holder.wait(timeout=10)
        with lock.registry_lock(registry, timeout=5):
            pass


def test_env_timeout_is_honoured(registry, monkeypatch):
    monkeypatch.setenv("CLAUDEX_MCP_LOCK_TIMEOUT", "0.2")
    with lock_held_elsewhere(registry):
        start = time.monotonic()
        with pytest.raises(Conflict) as info:
            with lock.registry_lock(registry):
                pass
        elapsed = time.monotonic() - start
    assert info.value.code == "locked"
    assert 0.15 <= elapsed < 3  # the sandbox default is 5 s, the built-in default 30 s


def test_explicit_timeout_overrides_env(registry, monkeypatch):
    monkeypatch.setenv("CLAUDEX_MCP_LOCK_TIMEOUT", "30")
    with lock_held_elsewhere(registry):
        start = time.monotonic()
        with pytest.raises(Conflict):
            with lock.registry_lock(registry, timeout=0.2):
                pass
        assert time.monotonic() - start < 3


@pytest.mark.parametrize("value", ["", "not-a-number"])
def test_unset_or_bad_env_timeout_uses_the_default(registry, monkeypatch, value):
    monkeypatch.setenv("CLAUDEX_MCP_LOCK_TIMEOUT", value)
    monkeypatch.setattr(lock, "DEFAULT_TIMEOUT", 0.3)
    with lock_held_elsewhere(registry):
        start = time.monotonic()
        with pytest.raises(Conflict):
            with lock.registry_lock(registry):
                pass
        elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 3


def test_default_timeout_is_30_seconds():
    assert lock.DEFAULT_TIMEOUT == 30.0


def test_cli_init_while_locked_exits_3(sandbox, registry):
    with lock_held_elsewhere(registry):
        start = time.monotonic()
        proc = sandbox.run("mcp", "init", env={"CLAUDEX_MCP_LOCK_TIMEOUT": "0.3"})
        elapsed = time.monotonic() - start
    assert proc.returncode == 3, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    error = json.loads(lines[0])["error"]
    assert error["code"] == "locked"
    assert error["path"] == str(paths.registry_lock_file(registry))
    assert "hint" in error and "message" in error
    assert not paths.registry_file(registry).exists()  # nothing written without the lock
    assert elapsed < 20


def test_cli_init_while_locked_with_json_flag_still_prints_nothing(sandbox, registry):
    with lock_held_elsewhere(registry):
        proc = sandbox.run("mcp", "init", "--json", env={"CLAUDEX_MCP_LOCK_TIMEOUT": "0.3"})
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert json.loads(proc.stderr)["error"]["code"] == "locked"

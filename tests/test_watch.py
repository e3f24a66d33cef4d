"""`claudex mcp watch` as a real process over real files: it writes the client configs at start,
picks up an install and a config change (debounced, logged), waits out an invalid config, and
stops with exit 0 on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT
from lifecycle_helpers import server_files, write_files


class Watcher:
    def __init__(self, sandbox):
        self.log = sandbox.root / "watch.jsonl"
        self.errlog = sandbox.root / "watch.err"
        with open(self.log, "wb") as out, open(self.errlog, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(ROOT / "scripts" / "claudex"), "mcp", "watch", "--json", "--debounce", "0.2"],
                stdout=out, stderr=err, env=sandbox.env, start_new_session=True)

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def wait_for(self, count: int, timeout: float = 30) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if len(events) >= count:
                return events
            assert self.proc.poll() is None, self.errlog.read_text()
            time.sleep(0.05)
        raise AssertionError(f"expected {count} events, got {self.events()}; stderr: {self.errlog.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=10)
            finally:
                if self.proc.poll() is None:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
        return self.proc.returncode


@pytest.fixture
def watcher(sandbox):
    assert sandbox.run("mcp", "init").returncode == 0
    w = Watcher(sandbox)
    try:
        yield w
    finally:
        w.stop()


def claude_servers(sandbox) -> list[str]:
    return sorted(json.loads((sandbox.home / ".claude.json").read_text())["mcpServers"])


def test_watch_regenerates_on_install_survives_invalid_config_and_stops_on_sigterm(sandbox, watcher):
    first = watcher.wait_for(1)[0]
    assert first["event"] == "started" and first["servers"] == []  # the sandbox has no core servers
    assert claude_servers(sandbox) == []
    assert (sandbox.home / ".mcp.json").exists()

    source = sandbox.root / "src" / "tiny"
    write_files(source, server_files("tiny", "1.0.0"))
    proc = sandbox.run("mcp", "install", str(source))
    assert proc.returncode == 0, proc.stderr
    events = watcher.wait_for(2)
    # One regeneration for the whole install (debounced), which names the new server.
    assert any("tiny" in e.get("added", []) for e in events[1:]), events
    assert claude_servers(sandbox) == ["tiny"]

    user_config = sandbox.config / "claudex" / "mcp.json"
    user_config.parent.mkdir(parents=True, exist_ok=True)
    user_config.write_text('{"apiVersion": "v1", "servers": {"tiny": {"enabled": fal')  # mid-edit
    invalid = watcher.wait_for(len(watcher.events()) + 1)[-1]
    assert invalid["event"] == "invalid" and str(user_config) in invalid["error"]
    assert claude_servers(sandbox) == ["tiny"]  # the last good configs stay
    assert watcher.proc.poll() is None

    user_config.write_text('{"apiVersion": "v1", "servers": {"tiny": {"enabled": false}}}')
    fixed = watcher.wait_for(len(watcher.events()) + 1)[-1]
    assert fixed["event"] == "regenerated" and fixed["removed"] == ["tiny"], fixed
    assert claude_servers(sandbox) == []
    assert "tiny" not in (Path(sandbox.env.get("CODEX_HOME", sandbox.home / ".codex")) / "config.toml").read_text()

    assert watcher.stop() == 0
    assert watcher.errlog.read_text() == ""


def test_watch_ignores_changes_outside_what_it_watches(sandbox, watcher):
    watcher.wait_for(1)
    (sandbox.root / "unrelated.txt").write_text("x")
    (sandbox.registry / "installed" / "__pycache__").mkdir()
    time.sleep(1.0)
    assert len(watcher.events()) == 1
    assert watcher.stop() == 0


def test_watch_bad_debounce_is_a_usage_error(sandbox):
    proc = sandbox.run("mcp", "watch", "--debounce", "-1")
    assert proc.returncode == 2 and proc.stdout == ""
    assert json.loads(proc.stderr)["error"]["code"] == "usage"

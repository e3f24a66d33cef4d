"""The one mutation path (mutation.begin): what a verb's body does inside it is committed and
recorded, or rolled back whole; the client configs are regenerated only after a change."""

from __future__ import annotations

import json
import signal

import pytest

from conftest import add_server, manifest
from lifecycle_helpers import snapshot
from claudex_mcp.install import lifecycle
from claudex_mcp.store import mutation, registry as registry_mod


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    return sandbox.registry


@pytest.fixture
def restore_sigterm():
    old = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, old)


def test_a_failure_in_the_body_leaves_the_registry_as_it_was(reg, restore_sigterm):
    before = snapshot(reg)
    with pytest.raises(RuntimeError):
        with mutation.begin(reg, "install") as m:
            txn = m.stage("x", location="installed")
            (txn.new / "half").mkdir(parents=True)
            raise RuntimeError("the body failed")
    assert snapshot(reg) == before
    assert list((reg / ".staging").iterdir()) == []


def test_nothing_committed_means_nothing_written_or_regenerated(sandbox, reg, restore_sigterm):
    from claudex_mcp.clients import regeneration

    stamp = (reg / "registry.json").stat().st_mtime_ns
    with mutation.begin(reg, "upgrade") as m:
        pass
    assert m.result == {} and not m.changed  # the store regenerates nothing: it knows no clients
    with regeneration.after(reg, "upgrade") as m:
        pass
    assert m.result == {"regenerated": [], "warnings": []} and not m.changed
    assert (reg / "registry.json").stat().st_mtime_ns == stamp


def test_a_failure_while_recording_undoes_the_commit(sandbox, reg, monkeypatch, restore_sigterm):
    """sync_core had no rollback: a core server replaced but not recorded stayed replaced."""
    source = sandbox.root / "core-src"
    add_server(source, "tiny", ".", manifest("tiny", "1.0.0"))
    monkeypatch.setenv("CLAUDEX_MCP_CORE_SOURCE", str(source / "."))
    assert lifecycle.sync_core(reg) == ["tiny"]
    (source / "tiny" / "manifest.json").write_text(json.dumps(manifest("tiny", "2.0.0")))
    monkeypatch.setenv("CLAUDEX_MCP_FAULT", "record:term")
    with pytest.raises(KeyboardInterrupt):
        lifecycle.sync_core(reg)
    assert json.loads((reg / "core" / "tiny" / "manifest.json").read_text())["metadata"]["version"] == "1.0.0"
    assert json.loads((reg / "registry.json").read_text())["servers"]["tiny"]["version"] == "1.0.0"
    assert list((reg / ".staging").iterdir()) == []
    monkeypatch.delenv("CLAUDEX_MCP_FAULT")
    assert lifecycle.sync_core(reg) == ["tiny"]
    assert json.loads((reg / "registry.json").read_text())["servers"]["tiny"]["version"] == "2.0.0"


def test_regenerate_uses_the_registry_it_is_handed(sandbox, reg, monkeypatch, restore_sigterm):
    assert sandbox.run("mcp", "generate").returncode == 0
    source = sandbox.root / "src"
    add_server(source, "hello", ".", manifest("hello"))
    monkeypatch.setenv("CLAUDEX_MCP_REGISTRY", str(sandbox.root / "elsewhere"))  # not the registry changed
    result = lifecycle.install(reg, str(source / "hello"))
    assert result["warnings"] == []
    home_targets = [sandbox.home / ".claude.json", sandbox.home / ".mcp.json", sandbox.home / ".codex" / "config.toml"]
    assert sorted((r["target"], r["changed"]) for r in result["regenerated"]) == sorted((str(t), True) for t in home_targets)
    written = json.loads((sandbox.home / ".mcp.json").read_text())["mcpServers"]
    assert list(written) == ["hello"]
    assert written["hello"]["env"]["CLAUDEX_MCP_REGISTRY"] == str(reg)


def test_a_failure_after_two_commits_undoes_both(sandbox, reg, restore_sigterm):
    """A body may commit more than once (a migration's rollback); a failure before the record
    undoes every commit, the last first, and records nothing."""
    for name in ("one", "two"):
        add_server(reg, name)
    with mutation.begin(reg, "reconcile"):
        pass  # registry.json records the two folders
    before = snapshot(reg)
    with pytest.raises(RuntimeError):
        with mutation.begin(reg, "rollback") as m:
            lifecycle.uninstall_in(m, "one")
            lifecycle.uninstall_in(m, "two")
            assert not (reg / "installed" / "one").exists()
            raise RuntimeError("a layer could not be restored")
    assert snapshot(reg) == before
    assert list((reg / ".staging").iterdir()) == []
    with mutation.begin(reg, "rollback") as m:
        lifecycle.uninstall_in(m, "one")
        lifecycle.uninstall_in(m, "two")
    assert json.loads((reg / "registry.json").read_text())["servers"] == {}
    assert list((reg / "installed").iterdir()) == []

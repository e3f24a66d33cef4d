"""The registry index: every folder listed, invalid ones with reasons; readers never write
registry.json (only mutations and `cache refresh` do)."""

from __future__ import annotations

import json
import os

import pytest

from conftest import add_server, manifest
from claudex_mcp.store import index, registry as registry_mod
from claudex_mcp.errors import NotFound


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    return sandbox.registry


def test_scan_lists_core_installed_and_disabled(reg):
    add_server(reg, "codex", "core")
    add_server(reg, "qdrant", "installed", manifest("qdrant", "1.4.0"))
    add_server(reg, "old", "disabled")
    result = index.scan(reg)
    servers = result["servers"]
    assert {n: (s["location"], s["version"], s["valid"]) for n, s in servers.items()} == {
        "codex": ("core", "1.0.0", True), "qdrant": ("installed", "1.4.0", True), "old": ("disabled", "1.0.0", True)}
    assert servers["codex"]["source"] == {"type": "core"}
    assert servers["qdrant"]["manifestDigest"].startswith("sha256:") and len(servers["qdrant"]["manifestDigest"]) == 71
    assert servers["qdrant"]["folder"] == str(reg / "installed" / "qdrant")
    assert servers["qdrant"]["manifest"]["metadata"]["name"] == "qdrant"


def test_recorded_source_and_install_time_come_from_registry_json(reg):
    add_server(reg, "qdrant")
    source = {"type": "git", "url": "https://example.com/q.git", "ref": "v1.0.0", "commit": "a" * 40}
    (reg / "registry.json").write_text(json.dumps({"apiVersion": "v1", "servers": {"qdrant": {
        "location": "installed", "version": "1.0.0", "source": source, "installedAt": "2026-01-02T03:04:05Z"}}}))
    entry = index.scan(reg)["servers"]["qdrant"]
    assert entry["source"] == source and entry["installedAt"] == "2026-01-02T03:04:05Z"


def test_invalid_folder_is_listed_with_its_reason_and_the_rest_works(reg):
    add_server(reg, "good")
    add_server(reg, "bad", doc=manifest("bad", version="one"))
    add_server(reg, "misnamed", doc=manifest("other-name"))
    (reg / "installed" / "nomanifest").mkdir()
    servers = index.scan(reg)["servers"]
    assert servers["good"]["valid"]
    assert not servers["bad"]["valid"] and servers["bad"]["problems"][0]["pointer"] == "/metadata/version"
    assert [p["rule"] for p in servers["misnamed"]["problems"]] == ["folder-name"]
    assert servers["nomanifest"]["problems"][0]["rule"] == "not_a_server_folder"
    assert "manifest" not in servers["bad"]


def test_same_name_in_two_locations_is_reported(reg):
    add_server(reg, "dup", "core")
    add_server(reg, "dup", "installed")
    result = index.scan(reg)
    assert result["servers"]["dup"]["valid"] and result["servers"]["dup"]["location"] == "core"
    shadow = result["servers"]["installed/dup"]
    assert not shadow["valid"] and shadow["problems"][0]["rule"] == "duplicate"
    assert any("both core/ and installed/" in w for w in result["warnings"])


@pytest.mark.parametrize("damage", ["missing", "corrupt", "invalid"])
def test_missing_or_corrupt_registry_json_is_rebuilt_by_refresh_only(reg, damage):
    add_server(reg, "codex", "core")
    add_server(reg, "qdrant", "installed", manifest("qdrant", "2.0.0"))
    target = reg / "registry.json"
    if damage == "missing":
        target.unlink()
    elif damage == "corrupt":
        target.write_bytes(b"{\x00not json")
    else:
        target.write_text('{"apiVersion": "v9", "servers": {}}')
    before = target.read_bytes() if target.exists() else None
    result = index.scan(reg)
    assert set(result["servers"]) == {"codex", "qdrant"}
    assert any("rebuilt from the server folders" in w for w in result["warnings"])
    assert (target.read_bytes() if target.exists() else None) == before  # a scan only reads
    from claudex_mcp.store import mutation

    assert mutation.reconcile(reg)["reconciled"] is True
    rebuilt = json.loads(target.read_text())
    assert rebuilt["servers"]["qdrant"]["version"] == "2.0.0"
    assert rebuilt["servers"]["codex"]["source"] == {"type": "core"}
    assert index.scan(reg)["warnings"] == []  # the rebuilt file is valid


def test_stale_registry_json_entries_are_warned_about(reg):
    (reg / "registry.json").write_text(json.dumps({"apiVersion": "v1", "servers": {"ghost": {
        "location": "installed", "version": "1.0.0", "source": {"type": "core"}}}}))
    assert any("'ghost'" in w for w in index.scan(reg)["warnings"])


def test_files_and_hidden_entries_in_location_folders(reg):
    (reg / "installed" / "README").write_text("x")
    (reg / "installed" / ".staging-123").mkdir()
    os.symlink("/tmp", reg / "installed" / "link")
    result = index.scan(reg)
    assert result["servers"] == {}
    assert sum("not a server folder" in w for w in result["warnings"]) == 2


def test_no_registry_is_not_found(sandbox):
    with pytest.raises(NotFound) as info:
        index.scan(sandbox.registry)
    assert "claudex mcp init" in info.value.hint


@pytest.fixture
def held_lock(reg):
    """The registry lock, held by another process for the whole test."""
    import subprocess
    import sys

    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(reg / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(120)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        yield
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("damage", ["none", "missing", "stale"])
def test_readers_leave_the_registry_byte_identical_and_take_no_lock(sandbox, reg, held_lock, damage):
    import os
    import subprocess
    import sys

    from conftest import ROOT
    from lifecycle_helpers import snapshot

    add_server(reg, "codex", "core")
    add_server(reg, "off", "disabled")
    target = reg / "registry.json"
    if damage == "missing":
        target.unlink()
    elif damage == "stale":
        target.write_text(json.dumps({"apiVersion": "v1", "servers": {"ghost": {
            "location": "installed", "version": "1.0.0", "source": {"type": "core"}}}}))
    before = snapshot(reg)
    stamps = {p: os.stat(p).st_mtime_ns for p in reg.iterdir()}
    env = dict(sandbox.env, CLAUDEX_MCP_LOCK_TIMEOUT="0.2")
    bin_ = ROOT / ".venv" / "bin"
    for argv in (["claudex", "mcp", "list", "--json"], ["claudex", "mcp", "list", "--refresh"],
                 ["claudex", "mcp", "generate", "--output", "-"], ["claudex", "mcp", "generate"],
                 ["claudex", "mcp", "status", "--all", "--json"], ["claudex", "mcp", "config", "show", "codex"],
                 ["mcp-utils", "scan", "--refresh"], ["claudex", "mcp", "cache", "stats"]):
        proc = subprocess.run([str(bin_ / argv[0]), *argv[1:]], capture_output=True, text=True, env=env, timeout=60)
        assert proc.returncode in (0, 1), (argv, proc.stderr)
        assert "locked" not in proc.stderr, argv
        assert snapshot(reg) == before, argv
        assert {p: os.stat(p).st_mtime_ns for p in reg.iterdir()} == stamps, argv

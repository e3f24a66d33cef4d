"""The registry index: every folder listed, invalid ones with reasons, registry.json rebuilt."""

from __future__ import annotations

import json
import os

import pytest

from conftest import add_server, manifest
from claudex_mcp import index, registry as registry_mod
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
def test_missing_or_corrupt_registry_json_is_rebuilt_with_a_warning(reg, damage):
    add_server(reg, "codex", "core")
    add_server(reg, "qdrant", "installed", manifest("qdrant", "2.0.0"))
    target = reg / "registry.json"
    if damage == "missing":
        target.unlink()
    elif damage == "corrupt":
        target.write_bytes(b"{\x00not json")
    else:
        target.write_text('{"apiVersion": "v9", "servers": {}}')
    result = index.scan(reg)
    assert set(result["servers"]) == {"codex", "qdrant"}
    assert any("rebuilt from the server folders" in w for w in result["warnings"])
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

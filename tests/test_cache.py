"""The registry cache: hits while nothing changed, misses on any change, TTL, counters, and a
broken or unwritable cache is never an error."""

from __future__ import annotations

import json
import os
import time

import pytest

from conftest import add_server, manifest
from claudex_mcp import cache, paths, registry as registry_mod


@pytest.fixture
def reg(sandbox):
    registry_mod.init(sandbox.registry)
    add_server(sandbox.registry, "alpha")
    return sandbox.registry


def test_second_lookup_hits(reg):
    first, hit1 = cache.load(reg)
    second, hit2 = cache.load(reg)
    assert (hit1, hit2) == (False, True)
    assert first == second
    assert cache.stats()["hits"] == 1 and cache.stats()["misses"] == 1 and cache.stats()["hitRate"] == 0.5


@pytest.mark.parametrize("change", ["new server", "edit manifest", "remove server", "registry.json", "move"])
def test_any_registry_change_misses(reg, change):
    cache.load(reg)
    folder = reg / "installed" / "alpha"
    if change == "new server":
        add_server(reg, "beta")
    elif change == "edit manifest":
        (folder / "manifest.json").write_text(json.dumps(manifest("alpha", "1.0.1")))
    elif change == "remove server":
        import shutil
        shutil.rmtree(folder)
    elif change == "registry.json":
        (reg / "registry.json").write_text(json.dumps({"apiVersion": "v1", "servers": {}}) + " ")
    else:
        os.rename(folder, reg / "disabled" / "alpha")
    index, hit = cache.load(reg)
    assert not hit
    if change == "edit manifest":
        assert index["servers"]["alpha"]["version"] == "1.0.1"
    if change == "move":
        assert index["servers"]["alpha"]["location"] == "disabled"


def test_ttl_expiry_and_refresh(reg, monkeypatch):
    cache.load(reg)
    assert cache.load(reg, refresh=True)[1] is False
    monkeypatch.setenv("CLAUDEX_MCP_CACHE_TTL", "0")
    assert cache.load(reg)[1] is False
    monkeypatch.setenv("CLAUDEX_MCP_CACHE_TTL", "300")
    cache.load(reg)
    data = json.loads(paths.cache_file().read_text())
    data["createdAt"] = time.time() - 301
    paths.cache_file().write_text(json.dumps(data))
    assert cache.load(reg)[1] is False


def test_another_registry_does_not_reuse_the_cache(reg, sandbox):
    cache.load(reg)
    other = sandbox.root / "other"
    registry_mod.init(other)
    index, hit = cache.load(other)
    assert not hit and index["servers"] == {}


@pytest.mark.parametrize("garbage", [b"", b"{", b"[]", b'{"format": 1}', b"\xff\xfe"])
def test_corrupt_cache_is_rebuilt_silently(reg, garbage):
    cache.load(reg)
    paths.cache_file().write_bytes(garbage)
    index, hit = cache.load(reg)
    assert not hit and "alpha" in index["servers"]
    assert json.loads(paths.cache_file().read_text())["index"] == index


def test_unwritable_cache_folder_means_no_cache(reg, sandbox):
    blocker = sandbox.root / "not-a-dir"
    blocker.write_text("x")
    os.environ["XDG_CACHE_HOME"] = str(blocker)  # restored by monkeypatch in the sandbox fixture
    index, hit = cache.load(reg)
    assert not hit and "alpha" in index["servers"]
    assert cache.load(reg)[1] is False


def test_mutation_invalidates(reg):
    cache.load(reg)
    cache.invalidate()
    assert not paths.cache_file().exists()
    assert cache.load(reg)[1] is False


def test_cli_stats_clear_refresh(reg, sandbox):
    sandbox.run("mcp", "list")
    sandbox.run("mcp", "list")
    stats = json.loads(sandbox.run("mcp", "cache", "stats", "--json").stdout)
    assert (stats["hits"], stats["misses"], stats["hitRate"], stats["cached"]) == (1, 1, 0.5, True)
    assert "hit rate 50.0%" in sandbox.run("mcp", "cache", "stats").stdout
    refreshed = json.loads(sandbox.run("mcp", "cache", "refresh", "--json").stdout)
    assert refreshed["servers"] == 1
    cleared = sandbox.run("mcp", "cache", "clear", "--json")
    assert cleared.returncode == 0 and len(json.loads(cleared.stdout)["removed"]) == 2
    assert json.loads(sandbox.run("mcp", "cache", "stats", "--json").stdout)["hits"] == 0


def test_init_invalidates_the_cache(sandbox):
    sandbox.registry.mkdir()
    (sandbox.registry / "installed").mkdir()
    paths.cache_file().parent.mkdir(parents=True)
    paths.cache_file().write_text("{}")
    assert sandbox.run("mcp", "init").returncode == 0
    assert not paths.cache_file().exists()
